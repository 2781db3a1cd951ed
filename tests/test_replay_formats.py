"""Format detection and per-format readers on the real fixtures (no venue parsing here)."""

from __future__ import annotations

import gzip
import json
from collections import Counter
from pathlib import Path

import pytest

from conftest import FIX
from liqmap.exchanges.registry import VENUES
from liqmap.replay import FORMATS, UnknownFormatError, detect_format, iter_frames
from liqmap.replay.binance_csv import restore_symbol
from liqmap.replay.tardis_reader import tardis_venue

DS = FIX / "binance_forceorder_datastreams"
CF = FIX / "cryptofeed_sample_data"
HL = FIX / "hyperliquid_historical_data"

EXPECTED_FORMAT = {
    "binance_forceorder_arbitra/binance_force_orders_ws.jsonl": "binance-forceorder-jsonl",
    "bitmex_liquidations_ticktrades/bitmex_liquidation_inserts_2019-11.jsonl": "bitmex-inserts",
    "hyperliquid_historical_data/liquidations.csv": "hyperliquid-csv",
    "hyperliquid_historical_data/non_mm_trades.csv.gz": "hyperliquid-csv",
    "tardis_node_fixtures/liquidation_messages.jsonl": "tardis",
    **{f"cryptofeed_sample_data/{p.name}": "cryptofeed" for p in sorted(CF.glob("*.gz"))},
    **{
        f"binance_forceorder_datastreams/{p.name}": (
            "csv-aggtrades" if "aggtrades" in p.name else "csv-forceorder"
        )
        for p in sorted(DS.iterdir())
    },
}


def frames_and_stats(path, **kw):
    stats = []
    frames = list(iter_frames([path], stats=stats, **kw))
    return frames, stats[0]


@pytest.mark.parametrize("rel,fmt", sorted(EXPECTED_FORMAT.items()))
def test_every_fixture_is_detected(rel, fmt):
    assert detect_format(FIX / rel) == fmt


def test_detection_sniffs_content_not_name(tmp_path):
    # a gzip file named .txt and a plain file named .gz: content decides
    src = (FIX / "binance_forceorder_arbitra/binance_force_orders_ws.jsonl").read_bytes()
    a = tmp_path / "capture.txt"
    a.write_bytes(gzip.compress(src))
    b = tmp_path / "bitmex.gz"
    b.write_bytes((FIX / "bitmex_liquidations_ticktrades/bitmex_liquidation_inserts_2019-11.jsonl").read_bytes())
    assert detect_format(a) == "binance-forceorder-jsonl"
    assert detect_format(b) == "bitmex-inserts"


@pytest.mark.parametrize(
    "rel,seen",
    [
        ("coinglass_btc_hourly/coinglass_BTC_regime_1h_2025-12-04_2026-06-02.csv.gz",
         "CSV with first line 'timestamp,datetime_utc,price_open"),
        ("coinglass_btc_hourly/coinglass_BTC_regime_1h_2025-12-04_2026-06-02.meta.json", "JSON"),
        ("PROVENANCE.md", "text starting '# Provenance"),
    ],
)
def test_unknown_format_names_file_and_what_was_seen(rel, seen):
    with pytest.raises(UnknownFormatError) as ei:
        detect_format(FIX / rel)
    msg = str(ei.value)
    assert msg.startswith(f"{FIX / rel}: format not recognized (looked like ")
    assert seen in msg
    assert "known formats: " + ", ".join(FORMATS) in msg


def test_missing_file_and_bad_format_name():
    with pytest.raises(FileNotFoundError):
        detect_format(FIX / "nope.jsonl")
    with pytest.raises(ValueError, match="unknown format 'parquet'"):
        list(iter_frames([FIX / "PROVENANCE.md"], fmt="parquet"))


def test_binance_jsonl_frames_are_the_raw_events():
    path = FIX / "binance_forceorder_arbitra/binance_force_orders_ws.jsonl"
    frames, st = frames_and_stats(path)
    assert (st.lines, st.frames, st.skipped_total) == (42, 42, 0)
    raw = [json.loads(line) for line in path.read_text().splitlines()]
    for f, rec in zip(frames, raw):
        assert (f.exchange, f.connection) == ("binance", "usdm")
        assert json.loads(f.data) == rec["msg"]  # lossless
    # ts 2025-10-02T15:03:52.206933+00:00 -> ms (rounded)
    assert frames[0].received_at == 1759417432207


@pytest.mark.parametrize(
    "name,lines,frames,skipped,repaired",
    [
        ("AlejandroME01_binance_liquidations_2024-06-20.csv", 102, 101, 1, 0),  # generator repr
        ("NeoParth_binance_liquidations_2025-06-23_2059-2122.csv", 446, 446, 0, 1),  # text prefix
        ("NeoParth_binance_liquidations_2025-06-23_2122-2156.csv", 700, 700, 0, 0),
        ("BandsThoBaby_binance_liquidations_2024-08-17.csv", 456, 456, 0, 0),
        ("PauliusMinialga_binance_liquidations_2025-01-26_2025-02-06.csv.gz", 3510, 3510, 0, 0),
        ("riftfern_binance_liquidations_2025-12-27_2025-12-28.csv.gz", 2045, 2045, 0, 0),
        ("AlejandroME01_binance_large_aggtrades_2024-06-19_2024-06-20.csv", 273, 273, 0, 0),
        ("BandsThoBaby_binance_large_aggtrades_2024-08-15_2024-08-16.csv.gz", 22181, 22181, 0, 1546),
        ("PauliusMinialga_binance_large_aggtrades_2025-01-26_2025-02-06.csv.gz", 16440, 16440, 0, 0),
        ("riftfern_binance_large_aggtrades_2025-12-18_2025-12-28.csv.gz", 4707, 4707, 0, 0),
    ],
)
def test_datastreams_csv_counts(name, lines, frames, skipped, repaired):
    fr, st = frames_and_stats(DS / name)
    assert (st.lines, st.frames, st.skipped_total, sum(st.repaired.values())) == (
        lines, frames, skipped, repaired,
    )
    assert len(fr) == frames


def test_forceorder_csv_reconstruction_is_the_documented_message():
    fr, st = frames_and_stats(DS / "NeoParth_binance_liquidations_2025-06-23_2059-2122.csv")
    first = json.loads(fr[0].data)
    # line 1: "Hello Arbitrage Trading BotADA,SELL,LIMIT,IOC,17616,0.55660,None,FILLED,3470,17616,1750712378119,..."
    assert first == {
        "e": "forceOrder", "E": 1750712378119,
        "o": {"s": "ADAUSDT", "S": "SELL", "o": "LIMIT", "f": "IOC", "q": "17616", "p": "0.55660",
              "X": "FILLED", "l": "3470", "z": "17616", "T": 1750712378119},
    }  # ap "None" omitted, USDT restored, numbers keep their text
    assert fr[0].received_at == 1750712378119
    assert st.repaired == {"stray text before symbol": 1}
    symbols = {json.loads(f.data)["o"]["s"] for f in fr}
    assert {"BTCUSDT", "BTCUSDT_250627"} <= symbols


def test_forceorder_csv_13th_column_and_usdc():
    fr, _ = frames_and_stats(DS / "riftfern_binance_liquidations_2025-12-27_2025-12-28.csv.gz")
    msgs = [json.loads(f.data) for f in fr]
    # 46 rows carry a 13th tier column; it is dropped, the rest kept
    ont = [m for m in msgs if m["o"]["T"] == 1766954472645][0]
    assert ont["o"] == {"s": "ONTUSDT", "S": "SELL", "o": "LIMIT", "f": "IOC", "q": "2288.2",
                        "p": "0.0600", "ap": "0.0606", "X": "FILLED", "l": "2288.2",
                        "z": "2288.2", "T": 1766954472645}
    fr2, _ = frames_and_stats(DS / "PauliusMinialga_binance_liquidations_2025-01-26_2025-02-06.csv.gz")
    syms = [json.loads(f.data)["o"]["s"] for f in fr2]
    assert syms.count("SUIUSDC") == 4 and "SUIUSDCUSDT" not in syms
    assert restore_symbol("SUIUSDC") == "SUIUSDC"
    assert restore_symbol("BTC") == "BTCUSDT"
    assert restore_symbol("1000PEPE") == "1000PEPEUSDT"
    assert restore_symbol("ETH_250627") == "ETHUSDT_250627"
    assert restore_symbol("币安人生") == "币安人生USDT"


def test_aggtrade_csv_reconstruction():
    fr, st = frames_and_stats(DS / "BandsThoBaby_binance_large_aggtrades_2024-08-15_2024-08-16.csv.gz")
    assert json.loads(fr[0].data) == {
        "e": "aggTrade", "E": 1723705562482, "s": "SOLUSDT", "a": 764936925, "p": "141.967",
        "q": "285.0", "T": 1723705562477, "m": False,
    }
    assert fr[0].received_at == 1723705562482
    # "1723711227426, ETHUSDT, 1745753451, 2612.89, 5.9,15:40:27, False": T was a time of day
    eth = [json.loads(f.data) for f in fr if '"a":1745753451' in f.data][0]
    assert eth["T"] == eth["E"] == 1723711227426
    assert st.repaired == {"T as time of day -> T = E": 1546}


def test_bitmex_inserts_rebuild_table_insert_frames():
    fr, st = frames_and_stats(FIX / "bitmex_liquidations_ticktrades/bitmex_liquidation_inserts_2019-11.jsonl")
    assert st.frames == 117 and st.skipped_total == 0
    msg = json.loads(fr[0].data)
    assert msg == {"table": "liquidation", "action": "insert", "data": [
        {"orderID": "d0292a27-86fc-fb2e-5b99-0b8bcb130352", "symbol": "ETHUSD", "side": "Sell",
         "price": 186.7, "leavesQty": 5250}]}
    assert fr[0].received_at == 1573704949024  # recorded_at 2019-11-14T04:15:49.024Z
    assert fr[0].exchange == "bitmex"


#: Frames (received and REST lines) in each cryptofeed sample session: facts of the recordings.
CF_FRAMES = {
    "BINANCE_FUTURES.ws.1.0.gz": 1535, "BINANCE_FUTURES.0.gz": 1, "BINANCE_DELIVERY.ws.1.0.gz": 4371,
    "BYBIT.ws.25.0.gz": 3342, "BYBIT.ws.26.0.gz": 1098, "OKX.ws.1.0.gz": 410, "BITMEX.ws.1.0.gz": 2120,
    "BITMEX.0.gz": 1, "DERIBIT.ws.1.0.gz": 136, "GATEIO_FUTURES.ws.1.0.gz": 450, "BITGET.ws.2.0.gz": 473,
    "DYDX.ws.1.0.gz": 4733, "KRAKEN_FUTURES.ws.1.0.gz": 7175,
}  # fmt: skip


def declared_venue(session: str) -> str | None:
    """The venue whose module declares the session's cryptofeed id (``Venue.recordings``)."""
    prefix = session.split(".")[0]
    return next((name for name, cls in VENUES.items() if prefix in cls.recordings.cryptofeed), None)


def test_the_original_sessions_have_their_venues():
    assert {n: declared_venue(n) for n in ("BINANCE_FUTURES.ws.1.0.gz", "BINANCE_DELIVERY.ws.1.0.gz", "BYBIT.ws.26.0.gz",
                                           "OKX.ws.1.0.gz", "BITMEX.0.gz", "DERIBIT.ws.1.0.gz")} == {
        "BINANCE_FUTURES.ws.1.0.gz": "binance", "BINANCE_DELIVERY.ws.1.0.gz": "binance_coinm",
        "BYBIT.ws.26.0.gz": "bybit", "OKX.ws.1.0.gz": "okx", "BITMEX.0.gz": "bitmex", "DERIBIT.ws.1.0.gz": "deribit"}


@pytest.mark.parametrize("name", sorted(CF_FRAMES))
def test_cryptofeed_sessions(name):
    """A session of a venue with a module replays whole through it; any other is skipped
    with a note (derived from the declarations: a new venue module turns its file on)."""
    venue = declared_venue(name)
    fr, st = frames_and_stats(CF / name)
    if venue is None:
        assert fr == [] and st.lines > 0 and st.skipped_total == st.lines
        assert list(st.skipped) == [f"{name.split('.')[0].lower()}: no liqmap venue yet"]
        return
    assert st.frames == len(fr) == CF_FRAMES[name]
    assert {f.exchange for f in fr} == {venue}
    assert st.skipped_total == 0
    ws = ".ws." in name
    if ws:  # every received line became a frame, sent lines were skipped
        assert st.control["connection opened"] == 1
        assert all(f.data.startswith(("{", "[")) for f in fr)
    else:
        assert [f.connection for f in fr] == ["rest"]


def test_cryptofeed_timestamps_and_bybit_connections():
    fr, _ = frames_and_stats(CF / "BINANCE_FUTURES.ws.1.0.gz")
    # "1626992741.06217: {...}" -> ms
    assert fr[0].received_at == 1626992741062
    assert fr[0].connection == "usdm"
    lin, _ = frames_and_stats(CF / "BYBIT.ws.25.0.gz")
    inv, _ = frames_and_stats(CF / "BYBIT.ws.26.0.gz")
    assert {f.connection for f in lin} == {"linear"} and {f.connection for f in inv} == {"inverse"}


def test_exchange_filter_on_multi_venue_files():
    fr, st = frames_and_stats(CF / "OKX.ws.1.0.gz", exchange="binance")
    assert fr == [] and st.notes
    fr, st = frames_and_stats(FIX / "tardis_node_fixtures/liquidation_messages.jsonl", exchange="bybit")
    assert len(fr) == 8 and {f.exchange for f in fr} == {"bybit"}


def test_tardis_mapping_and_skips():
    path = FIX / "tardis_node_fixtures/liquidation_messages.jsonl"
    fr, st = frames_and_stats(path)
    ids = Counter(json.loads(line)["exchange"] for line in path.read_text().splitlines() if line.strip())
    venues = {tid: tardis_venue(tid) for tid in ids}
    expected = Counter()
    for tid, n in ids.items():
        if venues[tid] is not None:
            expected[venues[tid]] += n
    assert st.lines == sum(ids.values()) == 36
    assert Counter(f.exchange for f in fr) == expected and st.frames == sum(expected.values())
    assert {k: expected[k] for k in ("deribit", "bitmex", "okx", "binance", "binance_coinm", "bybit")} == {
        "deribit": 2, "bitmex": 2, "okx": 7, "binance": 1, "binance_coinm": 1, "bybit": 8}
    # every message of an id without a venue module is skipped, counted under that id
    assert st.skipped_total == sum(n for tid, n in ids.items() if venues[tid] is None)
    assert {k: v for k, v in st.skipped.items()} == {
        f"{tid}: no liqmap venue": n for tid, n in ids.items() if venues[tid] is None}
    # received_at from the message's own time; BitMEX rows have none -> documented 0
    deribit = [f for f in fr if f.exchange == "deribit"][0]
    assert deribit.received_at == 1584058044032
    assert sorted(f.received_at for f in fr if f.exchange == "bitmex") == [0, 0]
    binance = [f for f in fr if f.exchange == "binance"][0]
    assert binance.received_at == 1584059031426  # E
    okx_v3 = [f for f in fr if f.exchange == "okx" and "futures/liquidation" in f.data][0]
    assert okx_v3.received_at == 1608251458559  # created_at 2020-12-18T00:30:58.559Z


def test_hyperliquid_liquidations_join_fills():
    fr, st = frames_and_stats(HL / "liquidations.csv")  # trades file found next to it
    assert (st.lines, st.frames, st.skipped_total) == (62, 62, 0)
    msgs = [json.loads(f.data) for f in fr]
    assert all(m["channel"] == "userFills" for m in msgs)
    fills = [fl for m in msgs for fl in m["data"]["fills"]]
    assert len(fills) == 69  # 5 cross liquidations closed 2-4 positions each
    for m in msgs:
        for fl in m["data"]["fills"]:
            assert fl["liquidation"]["liquidatedUser"] == m["data"]["user"]
            assert fl["side"] in ("A", "B") and float(fl["px"]) > 0 and fl["coin"]
    # provenance example: 2023-02-28T21:10:23Z, 0x677d...84e7, ntl 356.8 ~ 12.1137 x 29.21
    first = msgs[0]["data"]
    assert first["user"] == "0x677d831aef5328190852e24f13c46cac05f984e7"
    (fl,) = first["fills"]
    assert (fl["coin"], fl["px"], fl["sz"], fl["side"]) == ("ATOM", "12.1137", "29.21", "A")
    assert fr[0].received_at == 1677618623000
    # ids are stable across runs
    again, _ = frames_and_stats(HL / "liquidations.csv")
    assert [f.data for f in again] == [f.data for f in fr]


def test_hyperliquid_without_fills_file_says_so(tmp_path):
    lone = tmp_path / "liquidations.csv"
    lone.write_bytes((HL / "liquidations.csv").read_bytes())
    fr, st = frames_and_stats(lone)
    assert fr == []
    assert st.skipped == {"no fills file": 62}
    assert any("cannot be replayed without the fills file" in n for n in st.notes)


def test_hyperliquid_pairing_given_files_and_trades_alone():
    stats = []
    fr = list(iter_frames([HL / "liquidations.csv", HL / "non_mm_trades.csv.gz"], stats=stats))
    assert len(fr) == 62 and stats[1].frames == 0  # trades file used as the fill source only
    tr, st = frames_and_stats(HL / "non_mm_trades.csv.gz")
    assert st.frames == 35691
    m = json.loads(tr[0].data)
    # "2023-02-27T15:02:26Z,0x3b69...,ETH,Ask,1655.5,0.0452,true": taker sold
    assert m["channel"] == "trades"
    assert {k: m["data"][0][k] for k in ("coin", "side", "px", "sz", "time")} == {
        "coin": "ETH", "side": "A", "px": "1655.5", "sz": "0.0452", "time": 1677510146000}


def test_liqmap_recording_round_trip(tmp_path):
    src, _ = frames_and_stats(FIX / "binance_forceorder_arbitra/binance_force_orders_ws.jsonl")
    rec = tmp_path / "rec.jsonl.gz"
    with gzip.open(rec, "wt") as fh:
        fh.write(json.dumps({"liqmap_recording": 1, "created_at": 1, "exchanges": ["binance"]}) + "\n")
        for f in src:
            fh.write(json.dumps({"exchange": f.exchange, "connection": f.connection,
                                 "received_at": f.received_at, "data": f.data}) + "\n")
        fh.write("not json\n")
    assert detect_format(rec) == "liqmap"
    back, st = frames_and_stats(rec)
    assert back == src
    assert st.skipped == {"bad line": 1}


def test_binary_files_are_described(tmp_path):
    import zipfile

    z = tmp_path / "capture.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.write(FIX / "binance_forceorder_arbitra/binance_force_orders_ws.jsonl", "x.jsonl")
    with pytest.raises(UnknownFormatError, match=r"looked like a ZIP archive\)"):
        detect_format(z)


def test_directory_argument_replays_known_files_and_lists_the_rest(tmp_path):
    import shutil

    shutil.copy(FIX / "binance_forceorder_arbitra/binance_force_orders_ws.jsonl", tmp_path / "a.jsonl")
    (tmp_path / "sub").mkdir()
    shutil.copy(FIX / "bitmex_liquidations_ticktrades/bitmex_liquidation_inserts_2019-11.jsonl",
                tmp_path / "sub" / "b.jsonl")
    shutil.copy(FIX / "PROVENANCE.md", tmp_path / "notes.md")
    stats = []
    frames = list(iter_frames([tmp_path], stats=stats))
    assert len(frames) == 42 + 117
    assert {(Path(s.path).name, s.format) for s in stats} == {
        ("a.jsonl", "binance-forceorder-jsonl"), ("b.jsonl", "bitmex-inserts"), ("notes.md", "unknown")}
    # a file named explicitly must still fail loudly
    with pytest.raises(UnknownFormatError):
        list(iter_frames([tmp_path / "notes.md"]))


def test_exchange_option_on_single_venue_captures():
    path = FIX / "binance_forceorder_arbitra/binance_force_orders_ws.jsonl"
    fr, _ = frames_and_stats(path, exchange="binance_coinm")  # same protocol, other venue
    assert {(f.exchange, f.connection) for f in fr} == {("binance_coinm", "coinm")}
    fr, st = frames_and_stats(path, exchange="bybit")  # not a Bybit file: filtered out
    assert fr == [] and "filters it out" in st.notes[0]
    fr, st = frames_and_stats(HL / "liquidations.csv", exchange="okx")
    assert fr == []


def test_recording_cut_by_a_killed_recorder_is_read_up_to_the_last_flush(tmp_path):
    """A gzip stream without trailer (recorder killed after a flush) loses nothing flushed."""
    src, _ = frames_and_stats(FIX / "binance_forceorder_arbitra/binance_force_orders_ws.jsonl")
    full = tmp_path / "full.jsonl.gz"
    with gzip.open(full, "wt") as fh:
        fh.write('{"liqmap_recording": 1, "created_at": 0, "exchanges": ["binance"]}\n')
        for f in src:
            fh.write(json.dumps({"exchange": f.exchange, "connection": f.connection,
                                 "received_at": f.received_at, "data": f.data}) + "\n")
    cut = tmp_path / "cut.jsonl.gz"
    cut.write_bytes(full.read_bytes()[:-8])  # drop the gzip trailer (CRC + size)
    back, st = frames_and_stats(cut)
    assert back == src
    assert any("file ends early" in n for n in st.notes)
    part = tmp_path / "part.jsonl.gz"
    part.write_bytes(full.read_bytes()[: len(full.read_bytes()) // 2])  # cut mid-stream
    back, st = frames_and_stats(part)
    assert 0 < len(back) < len(src) and back == src[: len(back)]
    assert st.skipped_total <= 1  # at most the one half-written line


def test_tiny_cut_recording_is_still_detected(tmp_path):
    line = '{"exchange":"binance","connection":"usdm","received_at":1,"data":"{}"}\n'
    blob = gzip.compress(('{"liqmap_recording": 1, "created_at": 0, "exchanges": []}\n' + line).encode())
    cut = tmp_path / "tiny.gz"
    cut.write_bytes(blob[:-8])
    assert detect_format(cut) == "liqmap"
    back, _ = frames_and_stats(cut)
    assert len(back) == 1


def test_frames_written_by_the_live_recorder_replay_unchanged(tmp_path):
    from liqmap.feed import recorder
    src, _ = frames_and_stats(CF / "BINANCE_FUTURES.ws.1.0.gz")
    path = tmp_path / "rec.jsonl.gz"
    w = recorder.RecordingWriter(path, ["binance"])
    for f in src:
        w.write(f)
    w.close()
    assert detect_format(path) == "liqmap"
    back, st = frames_and_stats(path)
    assert back == src and st.skipped_total == 0
