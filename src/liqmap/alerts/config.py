"""Alert configuration: a file (TOML, YAML or JSON) or the environment.

File layout (TOML shown; YAML/JSON have the same keys)::

    cooldown_s = 60                      # default per (rule, key); a rule may set its own

    [[sinks]]
    name = "tg"
    type = "telegram"                    # webhook | telegram | discord | slack
    token = "${TELEGRAM_BOT_TOKEN}"      # ${VAR} is read from the environment
    chat_id = "-1001234567890"

    [[sinks]]
    name = "ops"
    type = "webhook"
    url = "https://example.com/hooks/liqmap"
    headers = { Authorization = "Bearer ${OPS_TOKEN}" }

    [[rules]]
    name = "big-liquidations"
    type = "liquidation"                 # liquidation | cascade | arbitrage | whale | venue
    min_usd = 1_000_000
    bases = ["BTC", "ETH"]
    sinks = ["tg"]                       # default: every sink

Fields of each type: :mod:`liqmap.alerts.rules` and :mod:`liqmap.alerts.sinks`. Without a
file, :func:`config_from_env` builds one sink per ``LIQMAP_ALERT_*`` URL/token set and the
default rule set (liquidation >= 1M USD, cascade >= medium, arbitrage >= 20 bps net,
whale trade >= 1M USD, venue down/stale/failover), each threshold overridable or ``off``.

Errors: :class:`AlertConfigError` (a ``ValueError``) with the file/variable and what is wrong.
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from pathlib import Path
from typing import Any

import msgspec

from liqmap.alerts.dispatcher import AlertDispatcher
from liqmap.alerts.rules import Rule
from liqmap.alerts.sinks import AnySink
from liqmap.settings import Settings
from liqmap.units import ALERT_LIQUIDATION_USD, WHALE_TRADE_USD

DEFAULT_COOLDOWN_S = 60.0
DEFAULT_ARBITRAGE_BPS = 20.0
DEFAULT_CASCADE_SEVERITY = "medium"


class AlertConfigError(ValueError):
    """An alert configuration that cannot be used; the message names the file or variable."""


class AlertsConfig(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """``cooldown_s`` (default per rule, seconds), ``sinks``, ``rules``; ``source`` says where
    it came from (file path or ``environment``)."""

    cooldown_s: float = DEFAULT_COOLDOWN_S
    sinks: list[AnySink] = []
    rules: list[Rule] = []
    source: str = ""

    def dispatcher(self, **kwargs: Any) -> AlertDispatcher:
        """An :class:`AlertDispatcher` for this config (raises AlertConfigError if inconsistent)."""
        try:
            return AlertDispatcher(self.rules, self.sinks, cooldown_s=self.cooldown_s, **kwargs)
        except ValueError as exc:
            raise AlertConfigError(f"{self.source}: {exc}") from exc


_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def _expand(obj: Any, where: str) -> Any:
    if isinstance(obj, str):
        def sub(m: re.Match) -> str:
            val = os.environ.get(m.group(1))
            if val is None:
                raise AlertConfigError(f"{where}: environment variable {m.group(1)} is not set")
            return val
        return _VAR.sub(sub, obj)
    if isinstance(obj, list):
        return [_expand(x, where) for x in obj]
    if isinstance(obj, dict):
        return {k: _expand(v, where) for k, v in obj.items()}
    return obj


def _read(path: Path) -> Any:
    text = path.read_text(encoding="utf-8")
    suffix = path.suffix.lower()
    if suffix == ".toml":
        return tomllib.loads(text)
    if suffix in (".yaml", ".yml"):
        import yaml

        return yaml.safe_load(text) or {}
    if suffix == ".json":
        return json.loads(text)
    raise AlertConfigError(f"{path}: unknown config format {suffix or '(none)'}; use .toml, .yaml or .json")


def load_config(path: str | Path) -> AlertsConfig:
    """Read and validate an alert config file (module docstring).

    Raises:
        AlertConfigError: missing/unreadable file, syntax error, unknown or invalid field,
            unset ``${VAR}``, duplicate names, a rule naming an unknown sink.
    """
    p = Path(path)
    if not p.is_file():
        raise AlertConfigError(f"alert config not found: {p}")
    try:
        raw = _read(p)
    except AlertConfigError:
        raise
    except (OSError, ValueError, UnicodeDecodeError) as exc:  # tomllib/json errors are ValueErrors
        raise AlertConfigError(f"{p}: {str(exc).splitlines()[0]}") from exc
    except Exception as exc:  # yaml.YAMLError
        raise AlertConfigError(f"{p}: {str(exc).splitlines()[0]}") from exc
    if not isinstance(raw, dict):
        raise AlertConfigError(f"{p}: expected a table/mapping at the top level")
    cfg = _convert(_expand(raw, str(p)), str(p))
    cfg.dispatcher()  # cross-checks names now, so a bad file fails at start, not at first alert
    return cfg


def _convert(raw: dict, source: str) -> AlertsConfig:
    try:
        cfg = msgspec.convert(raw, AlertsConfig)
    except (msgspec.ValidationError, ValueError) as exc:
        raise AlertConfigError(f"{source}: {exc}") from exc
    return msgspec.structs.replace(cfg, source=source)


def _threshold(value: str | None, default: float, var: str) -> float | None:
    if value is None or not value.strip():
        return default
    if value.strip().lower() in ("off", "false", "no", "0"):
        return None
    try:
        x = float(value.replace("_", ""))
    except ValueError:
        raise AlertConfigError(f"{var}={value!r}: expected a number or 'off'") from None
    if not (x >= 0) or x == float("inf"):
        raise AlertConfigError(f"{var}={value!r}: expected a finite number >= 0 or 'off'")
    return x


def _env_sinks(s: Settings) -> list[dict]:
    sinks: list[dict] = []
    if s.alert_webhook_url:
        sinks.append({"type": "webhook", "name": "webhook", "url": s.alert_webhook_url})
    if s.alert_telegram_token or s.alert_telegram_chat_id:
        if not (s.alert_telegram_token and s.alert_telegram_chat_id):
            raise AlertConfigError("LIQMAP_ALERT_TELEGRAM_TOKEN and LIQMAP_ALERT_TELEGRAM_CHAT_ID must both be set")
        sinks.append({"type": "telegram", "name": "telegram", "token": s.alert_telegram_token,
                      "chat_id": s.alert_telegram_chat_id})
    if s.alert_discord_url:
        sinks.append({"type": "discord", "name": "discord", "url": s.alert_discord_url})
    if s.alert_slack_url:
        sinks.append({"type": "slack", "name": "slack", "url": s.alert_slack_url})
    return sinks


def _env_rules(s: Settings) -> list[dict]:
    rules: list[dict] = []
    liq = _threshold(s.alert_liquidation_usd, ALERT_LIQUIDATION_USD, "LIQMAP_ALERT_LIQUIDATION_USD")
    if liq is not None:
        rules.append({"type": "liquidation", "name": "liquidation", "min_usd": liq})
    whale = _threshold(s.alert_whale_usd, WHALE_TRADE_USD, "LIQMAP_ALERT_WHALE_USD")
    if whale is not None:
        rules.append({"type": "whale", "name": "whale", "min_usd": whale})
    arb = _threshold(s.alert_arbitrage_bps, DEFAULT_ARBITRAGE_BPS, "LIQMAP_ALERT_ARBITRAGE_BPS")
    if arb is not None:
        rules.append({"type": "arbitrage", "name": "arbitrage", "min_net_bps": arb})
    sev = (s.alert_cascade_severity or DEFAULT_CASCADE_SEVERITY).strip().lower()
    if sev not in ("off", "false", "no"):
        rules.append({"type": "cascade", "name": "cascade", "min_severity": sev})
    if (s.alert_venue or "on").strip().lower() not in ("off", "false", "no", "0"):
        rules.append({"type": "venue", "name": "venue"})
    return rules


def config_from_env(settings: Settings) -> AlertsConfig | None:
    """The config the ``LIQMAP_ALERT_*`` variables describe, or None when they name no sink.

    Raises:
        AlertConfigError: an invalid value (the message names the variable).
    """
    sinks = _env_sinks(settings)
    if not sinks:
        return None
    cooldown = _threshold(settings.alert_cooldown_s, DEFAULT_COOLDOWN_S, "LIQMAP_ALERT_COOLDOWN_S") or 0.0
    return _convert({"cooldown_s": cooldown, "sinks": sinks, "rules": _env_rules(settings)},
                    "environment (LIQMAP_ALERT_*)")


def resolve_config(path: str | Path | None, settings: Settings) -> AlertsConfig | None:
    """``path`` if given, else ``LIQMAP_ALERTS_CONFIG``, else the ``LIQMAP_ALERT_*`` variables;
    None when nothing configures alerts."""
    chosen = path or settings.alerts_config
    if chosen:
        return load_config(chosen)
    return config_from_env(settings)
