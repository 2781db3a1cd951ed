"""Symbol query parsing and cross-venue matching (liqmap.symbols), checked on events the
real venue parsers produce from fixtures."""

from __future__ import annotations

import pytest

from liqmap.exchanges.registry import get_venue
from liqmap.models import Gap
from liqmap.symbols import parse_symbol, strict_symbols, symbol_filter
from localvenue import binance_forceorder_frames, bitmex_insert_frames, tardis_messages


@pytest.mark.parametrize(
    "query,base,quote",
    [
        ("BTCUSDT", "BTC", "USDT"),
        ("btcusdt", "BTC", "USDT"),
        ("BTC", "BTC", None),
        ("ETH-USDT", "ETH", "USDT"),
        ("ETH/USDC", "ETH", "USDC"),
        ("XBTUSD", "BTC", "USD"),
        ("XBT", "BTC", None),
        ("BTC-USDT-SWAP", "BTC", "USDT"),
        ("BTCUSD_PERP", "BTC", "USD"),
        ("BTC-PERPETUAL", "BTC", "USD"),
        ("BTC_USDC-PERPETUAL", "BTC", "USDC"),
        ("1000PEPEUSDT", "1000PEPE", "USDT"),
        ("BTCPERP", "BTC", "USDC"),
        ("BTC-USD-210326", "BTC", "USD"),
    ],
)
def test_parse_symbol(query, base, quote):
    q = parse_symbol(query)
    assert (q.base, q.quote) == (base, quote)


@pytest.mark.parametrize("bad", ["", "  ", "BTC USDT", "BTC$", "-"])
def test_parse_symbol_rejects_garbage(bad):
    with pytest.raises(ValueError, match="invalid symbol query"):
        parse_symbol(bad)


def test_strict_symbols_btcusdt_and_xbtusd():
    """The venue modules' quote families and symbol names, as the venues list them
    (sources in each module). A superset check: a new venue adds its own pairs."""
    assert strict_symbols("BTCUSDT") >= {
        ("binance", "BTCUSDT"),
        ("bybit", "BTCUSDT"),
        ("okx", "BTC-USDT-SWAP"),
        ("bitmex", "XBTUSDT"),
        ("deribit", "BTC_USDC-PERPETUAL"),
        ("hyperliquid", "BTC"),
    }
    assert strict_symbols("XBTUSD") >= {
        ("binance_coinm", "BTCUSD_PERP"),
        ("bybit", "BTCUSD"),
        ("okx", "BTC-USD-SWAP"),
        ("bitmex", "XBTUSD"),
        ("deribit", "BTC-PERPETUAL"),
    }
    assert ("binance", "BTCUSDT") not in strict_symbols("XBTUSD")  # USD family: inverse only
    assert ("hyperliquid", "BTC") not in strict_symbols("XBTUSD")
    assert strict_symbols("BTC") == strict_symbols("BTCUSDT")  # bare base = USDT family
    assert strict_symbols("BTCPERP") == strict_symbols("BTCUSDC")  # Bybit's name of a USDC perpetual
    assert ("bybit", "BTCPERP") in strict_symbols("BTCUSDC")
    assert strict_symbols("BTCUSDT", ["no-such-venue"]) == set()


def _events():
    out = []
    for name, frames in [
        ("binance", binance_forceorder_frames()),
        ("bybit", tardis_messages("bybit")),
        ("okx", tardis_messages("okex-swap") + tardis_messages("okex-futures")),
    ]:
        v = get_venue(name)
        for f in frames:
            out += v.parse(f, 1)
    try:
        bitmex = get_venue("bitmex")
        for f in bitmex_insert_frames():
            out += bitmex.parse(f, 1_573_704_949_024)
    except ImportError:
        pass
    return out


def test_filters_on_real_events():
    events = _events()
    btc = [e for e in events if symbol_filter("BTC")(e)]
    assert btc and all(e.base == "BTC" for e in btc)
    assert {e.exchange for e in btc} >= {"binance", "bybit", "okx"}
    strict = [e for e in events if symbol_filter("BTCUSDT", strict=True)(e)]
    assert {(e.exchange, e.symbol) for e in strict} <= strict_symbols("BTCUSDT")
    assert {e.exchange for e in strict} >= {"binance", "bybit", "okx"}
    # 1000-lot symbols are their own base
    pepe = [e for e in events if symbol_filter("1000PEPEUSDT")(e)]
    assert [e.symbol for e in pepe] == ["1000PEPEUSDT"]
    assert [e for e in events if symbol_filter("PEPE")(e)] == []
    # non-liquidation events without base pass through the filter (filter them by type)
    assert symbol_filter("BTC")(Gap("binance", "usdm", 1, 2, "closed"))
    if any(e.exchange == "bitmex" for e in events):
        xbt = [e for e in events if e.exchange == "bitmex" and symbol_filter("XBTUSD", strict=True)(e)]
        assert xbt and {e.symbol for e in xbt} == {"XBTUSD"}


@pytest.mark.parametrize(
    "text,base",
    [("BTCUSDT", "BTC"), ("BTC-USDT-SWAP", "BTC"), ("XBTUSD", "BTC"), ("BTC-PERPETUAL", "BTC"),
     ("BTCPERP", "BTC"), ("BTCUSD_PERP", "BTC"), ("ETHFDUSD", "ETH"), ("1000PEPEUSDT", "1000PEPE"),
     ("hype", "HYPE"), ("BTC USDT", "BTC USDT")],
)
def test_base_of_is_the_one_resolver(text, base):
    """analytics (level sizes), the API (symbol -> stored underlying) and storage (cascade
    lookups) all read the underlying with this one function."""
    from liqmap.analytics.levels import base_of as levels_base_of
    from liqmap.storage.duckdb_reads import resolve_underlying
    from liqmap.storage.duckdb_store import symbol_candidates
    from liqmap.symbols import base_of

    assert base_of(text) == levels_base_of(text) == base
    assert resolve_underlying(text, {base: []}) == base
    assert symbol_candidates(text)[-1] == base
