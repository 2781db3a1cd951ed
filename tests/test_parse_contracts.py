"""Contract sizes: loading from recorded instruments responses, a local HTTP
server (127.0.0.1), the JSON cache, and the documented fallback table."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from liqmap.exchanges.contracts import ContractSizes, fallback_spec
from liqmap.exchanges.registry import venue_class
from test_parse_fixtures import cryptofeed_rest


def test_fallback_table_documented_values():
    assert fallback_spec("okx", "BTC-USDT-SWAP").size == 0.01
    assert fallback_spec("okx", "ETH-USDT-SWAP").size == 0.1
    s = fallback_spec("okx", "BTC-USD-SWAP")
    assert (s.kind, s.size) == ("inverse", 100.0)
    assert fallback_spec("okx", "ETH-USD-SWAP").size == 10.0
    assert fallback_spec("binance_coinm", "BTCUSD_PERP").size == 100.0
    assert fallback_spec("binance_coinm", "ETHUSD_PERP").size == 10.0
    assert fallback_spec("bitmex", "XBTUSD").kind == "inverse"
    eth = fallback_spec("bitmex", "ETHUSD")
    assert eth.kind == "quanto" and eth.size == pytest.approx(100e-8)
    assert fallback_spec("bitmex", "ADAZ19").quote == "XBT"
    assert fallback_spec("okx", "BTC-USDT-SWAP").source == "fallback"
    # linear majors are not "1 coin": DOGE-USDT-SWAP is 1,000 DOGE a contract, XRP 100
    assert fallback_spec("okx", "DOGE-USDT-SWAP").size == 1000.0
    assert fallback_spec("okx", "XRP-USDT-SWAP").size == 100.0
    assert fallback_spec("okx", "SOL-USDT-SWAP").size == 1.0
    assert fallback_spec("bitmex", "XBTUSDT").size == pytest.approx(1e-6)


def test_bitmex_recorded_instruments_match_fallback_for_majors():
    cs = ContractSizes()
    n = cs.load_response("bitmex", cryptofeed_rest("BITMEX.0.gz"))
    assert n == 34 and cs.known("bitmex", "XBTUSD")
    assert cs.get("bitmex", "XBTUSD").mark_price == 32184.89
    for sym in ("XBTUSD", "ETHUSD", "LTCUSD", "XRPUSD", "BCHUSD"):
        loaded, fb = cs.get("bitmex", sym), fallback_spec("bitmex", sym)
        assert (loaded.kind, loaded.size) == (fb.kind, pytest.approx(fb.size)), sym
    assert cs.get("bitmex", "XRPU21").kind == "linear" and cs.get("bitmex", "XRPU21").quote == "XBT"


def test_okx_and_coinm_response_parsers_on_documented_shapes():
    # Hand-written bodies in the documented response layout (not market data).
    okx = ('{"code":"0","data":[{"instId":"BTC-USD-SWAP","ctVal":"100","ctMult":"1","ctType":"inverse",'
           '"settleCcy":"BTC"},{"instId":"BTC-USDT-SWAP","ctVal":"0.01","ctMult":"1","ctType":"linear",'
           '"settleCcy":"USDT"},{"instId":"BTC-USDT","ctVal":"","ctType":""}]}')
    specs = {s.symbol: s for s in venue_class("okx").contract_specs(okx)}
    assert specs["BTC-USD-SWAP"].kind == "inverse" and specs["BTC-USDT-SWAP"].size == 0.01
    assert "BTC-USDT" not in specs
    cm = '{"symbols":[{"symbol":"BTCUSD_PERP","contractSize":100},{"symbol":"ETHUSD_PERP","contractSize":10}]}'
    assert [s.size for s in venue_class("binance_coinm").contract_specs(cm)] == [100.0, 10.0]


class _Handler(BaseHTTPRequestHandler):
    body = b""

    def do_GET(self):  # noqa: N802
        if self.path == "/api/v1/instrument/active":
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(self.body)
        else:
            self.send_response(500)
            self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture()
def local_server():
    _Handler.body = cryptofeed_rest("BITMEX.0.gz").encode()
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()


async def test_refresh_over_http_with_failure_and_cache(local_server, tmp_path):
    cs = ContractSizes()
    cache = tmp_path / "contracts.json"
    loaded = await cs.refresh(
        exchanges=("bitmex", "okx"),
        urls={"bitmex": (f"{local_server}/api/v1/instrument/active",), "okx": (f"{local_server}/broken",)},
        cache_path=cache,
    )
    assert loaded == {"bitmex": 34, "okx": 0}
    assert "okx" in cs.errors and "500" in cs.errors["okx"]
    assert cs.get("okx", "BTC-USDT-SWAP").source == "fallback"  # failure keeps the fallback
    again = ContractSizes.load(cache)
    assert len(again) == 34 and again.get("bitmex", "ETHUSD").source == "cache"
    assert len(ContractSizes.load(tmp_path / "missing.json")) == 0


def test_a_first_run_without_contract_cache_warns_nothing(tmp_path, caplog):
    """No cache yet is the normal first run (issue #11: a newcomer's `serve` opened on a warning);
    a cache that exists but cannot be read still warns."""
    with caplog.at_level("INFO", logger="liqmap.exchanges.contracts"):
        assert len(ContractSizes.load(tmp_path / "missing.json")) == 0
        assert [r.levelname for r in caplog.records] == ["INFO"]
        (tmp_path / "bad.json").write_text("{not json")
        assert len(ContractSizes.load(tmp_path / "bad.json")) == 0
    assert [r.levelname for r in caplog.records] == ["INFO", "WARNING"]


async def test_refresh_with_injected_fetch():
    body = cryptofeed_rest("BITMEX.0.gz")
    calls = []

    async def fetch(url: str) -> str:
        calls.append(url)
        return body

    cs = ContractSizes()
    assert await cs.refresh(fetch, exchanges=("bitmex",)) == {"bitmex": 34}
    assert calls == ["https://www.bitmex.com/api/v1/instrument/active"]


async def test_warm_up_uses_cache_then_refresh(tmp_path):
    body = cryptofeed_rest("BITMEX.0.gz")
    cache = tmp_path / "c.json"
    first = ContractSizes()
    first.load_response("bitmex", body)
    first.save(cache)

    async def failing(url: str) -> str:
        raise OSError("network down")

    cs = ContractSizes()
    loaded = await cs.warm_up(cache, fetch=failing, exchanges=("bitmex",))
    assert loaded == {"bitmex": 0} and "network down" in cs.errors["bitmex"]
    assert cs.known("bitmex", "XBTUSD") and cs.get("bitmex", "XBTUSD").source == "cache"
