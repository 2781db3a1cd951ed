"""Alert configuration from TOML/YAML/JSON files and LIQMAP_ALERT_* variables, and the
``liqmap alerts test`` command against the local sink server (tests/sinkservers.py)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading

import pytest
from conftest import ROOT
from sinkservers import SinkServer

from liqmap.alerts.config import AlertConfigError, config_from_env, load_config
from liqmap.alerts.rules import CascadeRule, LiquidationRule, WhaleRule
from liqmap.alerts.sinks import DiscordSink, SlackSink, TelegramSink, WebhookSink
from liqmap.settings import Settings

TOML = """
cooldown_s = 30

[[sinks]]
name = "tg"
type = "telegram"
token = "${TG_TOKEN_FOR_TEST}"
chat_id = "-1001"
api_url = "{base}"

[[sinks]]
name = "dc"
type = "discord"
url = "{base}/api/webhooks/1/tok"

[[sinks]]
name = "sl"
type = "slack"
url = "{base}/services/T/B/X"

[[sinks]]
name = "hook"
type = "webhook"
url = "{base}/hook/ops"
headers = {{ Authorization = "Bearer abc" }}

[[rules]]
name = "big"
type = "liquidation"
min_usd = 1_000_000
bases = ["BTC"]
sinks = ["tg", "hook"]

[[rules]]
name = "whales"
type = "whale"
min_usd_by_base = {{ BTC = 5e6 }}
cooldown_s = 0
"""


def write_toml(tmp_path, base="http://127.0.0.1:9"):
    p = tmp_path / "alerts.toml"
    p.write_text(TOML.replace("{base}", base).replace("{{", "{").replace("}}", "}"))
    return p


def test_toml_file_with_env_secrets(tmp_path, monkeypatch):
    monkeypatch.setenv("TG_TOKEN_FOR_TEST", "42:SECRET")
    cfg = load_config(write_toml(tmp_path))
    assert cfg.cooldown_s == 30
    assert [type(s) for s in cfg.sinks] == [TelegramSink, DiscordSink, SlackSink, WebhookSink]
    assert cfg.sinks[0].token == "42:SECRET" and "SECRET" not in cfg.sinks[0].target()
    assert cfg.sinks[3].headers == {"Authorization": "Bearer abc"}
    big, whales = cfg.rules
    assert isinstance(big, LiquidationRule) and big.min_usd == 1e6 and big.sinks == ["tg", "hook"]
    assert isinstance(whales, WhaleRule) and whales.cooldown_s == 0 and whales.min_usd_by_base == {"BTC": 5e6}


def test_yaml_and_json_files_mean_the_same(tmp_path, monkeypatch):
    monkeypatch.setenv("TG_TOKEN_FOR_TEST", "42:SECRET")
    import yaml

    raw = load_config(write_toml(tmp_path))
    doc = {"cooldown_s": 30, "sinks": [{"name": "hook", "type": "webhook", "url": "http://x/hook/a"}],
           "rules": [{"name": "c", "type": "cascade", "min_severity": "high", "on": ["start"]}]}
    (tmp_path / "a.yaml").write_text(yaml.safe_dump(doc))
    (tmp_path / "a.json").write_text(json.dumps(doc))
    y, j = load_config(tmp_path / "a.yaml"), load_config(tmp_path / "a.json")
    assert y.rules == j.rules and isinstance(y.rules[0], CascadeRule) and y.rules[0].min_severity == "high"
    assert raw.source.endswith("alerts.toml")


@pytest.mark.parametrize("text, message", [
    ('[[rules]]\nname = "x"\ntype = "liquidation"\nmin_usd = "lots"\n', "Expected `float`, got `str`"),
    ('[[rules]]\nname = "x"\ntype = "liquidations"\n', "Invalid value 'liquidations'"),
    ('[[rules]]\nname = "x"\ntype = "liquidation"\nmin_usdd = 5\n', "unknown field `min_usdd`"),
    ('[[rules]]\nname = "x"\ntype = "liquidation"\nsinks = ["nope"]\n', "unknown sink(s) nope"),
    ('[[sinks]]\nname = "t"\ntype = "telegram"\ntoken = "x"\nchat_id = 1\n', "token must look like"),
    ('[[sinks]]\nname = "w"\ntype = "webhook"\nurl = "${NOT_SET_ANYWHERE_42}"\n', "NOT_SET_ANYWHERE_42 is not set"),
    ('cooldown_s = [', "alerts.toml"),
])
def test_bad_files_name_the_problem(tmp_path, text, message):
    p = tmp_path / "alerts.toml"
    p.write_text(text)
    with pytest.raises(AlertConfigError) as exc:
        load_config(p)
    assert message in str(exc.value)


def test_environment_shortcuts(monkeypatch):
    s = Settings(alert_slack_url="http://h/services/a/b/c", alert_telegram_token="1:a", alert_telegram_chat_id="5",
                 alert_liquidation_usd="250_000", alert_whale_usd="off", alert_cascade_severity="high",
                 alert_cooldown_s="10")
    cfg = config_from_env(s)
    assert {s.kind for s in cfg.sinks} == {"slack", "telegram"} and cfg.cooldown_s == 10
    kinds = {type(r).__name__: r for r in cfg.rules}
    assert "WhaleRule" not in kinds and kinds["LiquidationRule"].min_usd == 250_000
    assert kinds["CascadeRule"].min_severity == "high"
    assert config_from_env(Settings()) is None
    with pytest.raises(AlertConfigError, match="LIQMAP_ALERT_LIQUIDATION_USD"):
        config_from_env(Settings(alert_webhook_url="http://h/x", alert_liquidation_usd="a lot"))
    with pytest.raises(AlertConfigError, match="must both be set"):
        config_from_env(Settings(alert_telegram_token="1:a"))


class ServerThread:
    """The sink server on its own loop/thread, so a CLI subprocess can talk to it."""

    def __enter__(self) -> SinkServer:
        self.loop = asyncio.new_event_loop()
        self.srv = SinkServer()
        ready = threading.Event()

        def run():
            asyncio.set_event_loop(self.loop)
            self.loop.run_until_complete(self.srv.__aenter__())
            ready.set()
            self.loop.run_forever()

        self.t = threading.Thread(target=run, daemon=True)
        self.t.start()
        ready.wait(10)
        return self.srv

    def __exit__(self, *exc) -> None:
        asyncio.run_coroutine_threadsafe(self.srv.__aexit__(None, None, None), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.t.join(10)


def run_cli(*args, env_extra=None, subprocess_=False):
    """``liqmap alerts ARGS``: in-process (typer's runner) or as a real process."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIQMAP_ALERT")}
    env |= {"TG_TOKEN_FOR_TEST": "42:SECRET", **(env_extra or {})}
    if subprocess_:
        return subprocess.run([sys.executable, "-m", "liqmap", "alerts", *args], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=60)
    from typer.testing import CliRunner

    from liqmap.cli import app

    r = CliRunner().invoke(app, ["alerts", *args], env={k: None for k in os.environ if k.startswith("LIQMAP_ALERT")}
                           | {"TG_TOKEN_FOR_TEST": "42:SECRET", **(env_extra or {})})
    return subprocess.CompletedProcess(args, r.exit_code, r.stdout, r.stderr)


def test_cli_alerts_test_reports_each_sink_and_exit_codes(tmp_path):
    with ServerThread() as srv:
        cfg = write_toml(tmp_path, base=srv.url)
        ok = run_cli("test", "--config", str(cfg))
        assert ok.returncode == 0, ok.stdout + ok.stderr
        for name in ("tg", "dc", "sl", "hook"):
            assert name in ok.stdout
        assert ok.stdout.count("ok") >= 4 and "SECRET" not in ok.stdout
        assert srv.invalid == [] and all(len(srv.received[k]) == 1 for k in ("telegram", "discord", "slack", "webhook"))
        assert "liqmap test alert" in srv.bodies("telegram")[0]["text"]

        srv.mode["discord"] = "reject"  # a real process: exit code 1, reasons printed, no traceback
        bad = run_cli("test", "--config", str(cfg), "--attempts", "1", subprocess_=True)
        assert bad.returncode == 1
        assert "FAILED" in bad.stdout and "Unknown Webhook" in bad.stdout
        assert "1 of 4 sink(s) failed" in bad.stderr and "Traceback" not in bad.stderr


def test_cli_without_configuration_is_a_one_line_user_error(tmp_path):
    r = run_cli("test")
    assert r.returncode == 2 and "no alert sink configured" in r.stderr and "Traceback" not in r.stderr
    (tmp_path / "bad.toml").write_text('[[rules]]\nname="x"\ntype="nope"\n')
    r = run_cli("test", "--config", str(tmp_path / "bad.toml"))
    assert r.returncode == 2 and "Invalid value 'nope'" in r.stderr and "Traceback" not in r.stderr
    r = run_cli("show", env_extra={"LIQMAP_ALERT_WEBHOOK_URL": "http://127.0.0.1:9/hook/x"})
    assert r.returncode == 0 and "liquidation" in r.stdout and "min_usd=1000000.0" in r.stdout
