"""`liqmap record` and the recording writer: real Binance frames from a local venue
end up byte-identical in the gzip JSON-lines recording (header + RawFrames)."""

from __future__ import annotations

import asyncio
import gzip
import json
import os
import signal
import sys
import zlib

import msgspec

from liqmap.feed.recorder import RecordingWriter
from liqmap.frames import RawFrame
from localvenue import LocalWsVenue, Send, binance_forceorder_frames, wait_until

FRAMES = binance_forceorder_frames()


def read_recording(path, tolerate_truncation=False):
    """Lines of a recording; with ``tolerate_truncation`` stop at a missing gzip trailer."""
    lines = []
    with gzip.open(path, "rt") as fh:
        try:
            for line in fh:
                lines.append(line)
        except EOFError:
            if not tolerate_truncation:
                raise
    header = json.loads(lines[0])
    frames = [msgspec.json.decode(l, type=RawFrame) for l in lines[1:]]
    return header, frames


def test_writer_format_roundtrip(tmp_path):
    path = tmp_path / "sub" / "rec.jsonl.gz"
    with RecordingWriter(path, ["binance"]) as w:
        for i, f in enumerate(FRAMES[:3]):
            w(RawFrame("binance", "usdm", 1_759_417_432_000 + i, f))
    header, frames = read_recording(path)
    assert header["liqmap_recording"] == 1 and header["exchanges"] == ["binance"]
    assert header["created_at"] > 1_700_000_000_000
    assert [f.data for f in frames] == FRAMES[:3]
    assert frames[0] == RawFrame("binance", "usdm", 1_759_417_432_000, FRAMES[0])
    raw = gzip.open(path).read().decode().splitlines()[1]
    assert list(json.loads(raw)) == ["exchange", "connection", "received_at", "data"]


def test_unclosed_writer_is_readable_up_to_last_flush(tmp_path):
    path = tmp_path / "rec.jsonl.gz"
    w = RecordingWriter(path, ["binance"], flush_every_n=2, flush_every_s=3600)
    for f in FRAMES[:5]:
        w.write(RawFrame("binance", "usdm", 1, f))
    # simulate a kill: never close (no gzip trailer); frames 0-3 were sync-flushed
    data = path.read_bytes()
    text = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(data).decode()
    assert [json.loads(l)["data"] for l in text.splitlines()[1:]] == FRAMES[:4]
    w.close()


async def _run_record(tmp_path, venue, extra, kill=None):
    out = tmp_path / "rec.jsonl.gz"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "liqmap", "record", "-e", "binance", "--no-rest", "--market-symbols", "none",
        "--ws-url", f"binance={venue.url}", "-o", str(out), *extra,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env,
    )  # fmt: skip
    if kill is not None:
        # once the venue has sent everything, wait past the 1 s flush interval, then signal
        await wait_until(lambda: venue.sent and venue.sent[0] >= len(FRAMES), timeout_s=20, what="frames sent")
        await asyncio.sleep(1.6)
        proc.send_signal(kill)
    stdout, stderr = await asyncio.wait_for(proc.communicate(), 30)
    return proc.returncode, out, stderr.decode()


async def test_record_cli_duration_writes_every_frame(tmp_path):
    async with LocalWsVenue([[Send(FRAMES)]]) as venue:
        rc, out, err = await _run_record(tmp_path, venue, ["--duration", "2"])
    assert rc == 0, err
    header, frames = read_recording(out)
    assert header["exchanges"] == ["binance"]
    assert [f.data for f in frames] == FRAMES
    assert {(f.exchange, f.connection) for f in frames} == {("binance", "usdm")}
    assert "wrote 42 frames" in err


async def test_record_cli_ctrl_c_exits_cleanly(tmp_path):
    async with LocalWsVenue([[Send(FRAMES)]]) as venue:
        rc, out, err = await _run_record(tmp_path, venue, [], kill=signal.SIGINT)
    assert rc == 0, err
    _, frames = read_recording(out)  # complete gzip: trailer written
    assert [f.data for f in frames] == FRAMES


async def test_record_cli_sigkill_loses_little(tmp_path):
    async with LocalWsVenue([[Send(FRAMES)]]) as venue:
        rc, out, err = await _run_record(tmp_path, venue, [], kill=signal.SIGKILL)
    assert rc == -signal.SIGKILL
    _, frames = read_recording(out, tolerate_truncation=True)
    assert [f.data for f in frames] == FRAMES  # all 42 were flushed within ~1 s of arrival


def test_record_cli_bad_usage_exit_2(tmp_path):
    from typer.testing import CliRunner

    from liqmap.cli import app

    r = CliRunner().invoke(app, ["record", "-e", "binance", "-o", str(tmp_path / "x.gz"), "--ws-url", "binance"])
    assert r.exit_code == 2 and "--ws-url must be name=ws://" in r.output
    r = CliRunner().invoke(app, ["record", "-e", "bogus", "-o", str(tmp_path / "x.gz")])
    assert r.exit_code == 2 and "unknown exchange" in r.output
    assert not (tmp_path / "x.gz").exists()


async def test_record_cli_rest_url_records_the_local_venue_polls(tmp_path):
    """``--rest-url`` points the REST polls (Binance open interest) at a local venue, as
    ``serve --rest-url`` does: the recording holds the venue's answers (REAL Binance BTCUSDT
    open interest of December 2025, tests/market_venues.py), never a request to the internet."""
    from liqmap.units import now_ms
    from market_venues import LiveMarket

    out = tmp_path / "rest.jsonl.gz"
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "BINANCE_POLL_INTERVAL": "0.2"}
    async with LiveMarket(now_ms(), history_steps=12, live_steps=1) as m:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "liqmap", "record", "-e", "binance", "--market-symbols", "BTC",
            "--ws-url", f"binance=ws://127.0.0.1:{m.port}", "--rest-url", f"binance={m.url}",
            "-o", str(out), "--duration", "4",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env,
        )  # fmt: skip
        _, stderr = await asyncio.wait_for(proc.communicate(), 40)
    assert proc.returncode == 0, stderr.decode()
    _, frames = read_recording(out)
    polled = [json.loads(f.data) for f in frames if '"openInterest"' in f.data]
    assert polled and {p["symbol"] for p in polled} == {"BTCUSDT"}
    assert all(float(p["openInterest"]) > 0 for p in polled)
