"""A local data.binance.vision on 127.0.0.1 (aiohttp) serving REAL Binance rows, for `liqmap download` tests.

Archive files are built here, in the test, by zipping real CSVs (a container change only, no
value touched):

* ``klines/BTCUSDT/5m``: ``../shared/data/binance_usdm_5m_2025-12/BTCUSDT-5m_2025-12-01_to_2025-12-31.csv``
  is the byte-identical copy of Binance's monthly file ``BTCUSDT-5m-2025-12.csv``
  (shared/data/PROVENANCE.md); it is zipped as the monthly archive, and split by UTC day (same
  header) into the daily archives.
* ``metrics/BTCUSDT`` 2025-12-05..07 and ``aggTrades/BTCUSDT`` 2025-01-26, 01-27, 02-06: the
  data.binance.vision-format files of ``tests/fixtures/heatmap/binance_vision`` (real rows,
  see that folder's README), zipped where they are plain CSV.

Every zip gets a ``.CHECKSUM`` (``<sha256>  <name>``) like the real archive. The server speaks
the parts of HTTP the downloader relies on -- 200, 404, ``Range: bytes=N-`` -> 206 with
``Content-Range`` (416 past the end) -- and can inject faults per path: a wrong published
checksum, a transfer cut after K bytes (connection dropped), scripted statuses (429 +
``Retry-After``). Every request is logged as ``(path, Range header or None)``.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import os
import zipfile
from pathlib import Path

import pytest
from aiohttp import web

from conftest import ROOT, VISION
from localvenue import LocalHttpServer


def shared_data() -> Path:
    """``../shared/data`` beside the checkout (CI), or beside the worktrees folder; skip loudly if absent."""
    env = os.environ.get("LIQMAP_SHARED_DATA")
    for p in ([Path(env)] if env else []) + [ROOT.parent / "shared" / "data", ROOT.parent.parent / "shared" / "data"]:
        if (p / "binance_usdm_5m_2025-12").is_dir():
            return p
    pytest.skip("SKIPPED LOUDLY: ../shared/data (real Binance 5m klines/OI) not found beside the checkout; "
                "set LIQMAP_SHARED_DATA")


def btc_5m_dec_2025() -> Path:
    """The real monthly BTCUSDT 5m klines CSV of December 2025 (with header)."""
    return shared_data() / "binance_usdm_5m_2025-12" / "BTCUSDT-5m_2025-12-01_to_2025-12-31.csv"


def zip_bytes(member: str, data: bytes) -> bytes:
    """A deterministic zip holding one CSV member (fixed timestamp => same bytes every run)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zi = zipfile.ZipInfo(member, date_time=(2026, 1, 1, 0, 0, 0))
        zi.compress_type = zipfile.ZIP_DEFLATED
        zf.writestr(zi, data)
    return buf.getvalue()


def kline_archives() -> dict[str, bytes]:
    """Monthly + daily BTCUSDT 5m kline zips of 2025-12 from the real monthly CSV."""
    text = btc_5m_dec_2025().read_text()
    header, *lines = text.splitlines(keepends=True)
    out = {"data/futures/um/monthly/klines/BTCUSDT/5m/BTCUSDT-5m-2025-12.zip":
           zip_bytes("BTCUSDT-5m-2025-12.csv", text.encode())}
    days: dict[str, list[str]] = {}
    for line in lines:
        day = dt.datetime.fromtimestamp(int(line.split(",", 1)[0]) / 1000, dt.timezone.utc).date().isoformat()
        days.setdefault(day, []).append(line)
    for day, rows in days.items():
        name = f"BTCUSDT-5m-{day}"
        out[f"data/futures/um/daily/klines/BTCUSDT/5m/{name}.zip"] = zip_bytes(f"{name}.csv", (header + "".join(rows)).encode())
    return out


def fixture_archives(dataset: str) -> dict[str, bytes]:
    """The fixture files of ``dataset`` (metrics / aggTrades) as archive zips."""
    out = {}
    folder = VISION / "futures" / "um" / "daily" / dataset / "BTCUSDT"
    for p in sorted(folder.iterdir()):
        stem = p.name.rsplit(".", 1)[0]
        data = p.read_bytes() if p.suffix == ".zip" else zip_bytes(stem + ".csv", p.read_bytes())
        out[f"data/futures/um/daily/{dataset}/BTCUSDT/{stem}.zip"] = data
    return out


def csv_rows(path_or_zip: bytes) -> list[list[str]]:
    """Data rows (header dropped) of a zip built above."""
    with zipfile.ZipFile(io.BytesIO(path_or_zip)) as zf:
        text = zf.read(zf.namelist()[0]).decode()
    rows = list(csv.reader(io.StringIO(text)))
    return [r for r in rows if r and r[0][:1].isdigit()]


class ArchiveServer(LocalHttpServer):
    """aiohttp data.binance.vision look-alike (module docstring). ``files``: path -> zip bytes."""

    def __init__(self, files: dict[str, bytes]) -> None:
        self.files = dict(files)
        self.bad_checksum: set[str] = set()
        self.cut_after: dict[str, int] = {}          # path -> bytes sent before dropping (once)
        self.scripted: dict[str, list[tuple[int, dict]]] = {}  # path -> [(status, headers)] served first
        self.requests: list[tuple[str, str | None]] = []

    def gets(self, suffix: str = ".zip") -> list[tuple[str, str | None]]:
        """Logged requests whose path ends with ``suffix``."""
        return [r for r in self.requests if r[0].endswith(suffix)]

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        path = request.path.lstrip("/")
        rng = request.headers.get("Range")
        self.requests.append((path, rng))
        if self.scripted.get(path):
            status, headers = self.scripted[path].pop(0)
            return web.Response(status=status, headers=headers, text="scripted")
        if path.endswith(".CHECKSUM"):
            data = self.files.get(path[: -len(".CHECKSUM")])
            if data is None:
                raise web.HTTPNotFound()
            digest = hashlib.sha256(data + (b"x" if path[:-9] in self.bad_checksum else b"")).hexdigest()
            return web.Response(text=f"{digest}  {path.rsplit('/', 1)[-1][:-9]}\n")
        data = self.files.get(path)
        if data is None:
            raise web.HTTPNotFound()
        start = 0
        if rng:
            start = int(rng.split("=", 1)[1].split("-", 1)[0])
            if start >= len(data):
                return web.Response(status=416, headers={"Content-Range": f"bytes */{len(data)}"})
        body = data[start:]
        headers = {"Content-Length": str(len(body)), "Content-Type": "application/zip"}
        if rng:
            headers["Content-Range"] = f"bytes {start}-{len(data) - 1}/{len(data)}"
        resp = web.StreamResponse(status=206 if rng else 200, headers=headers)
        await resp.prepare(request)
        cut = self.cut_after.pop(path, None)
        if cut is not None:
            await resp.write(body[:cut])
            request.transport.close()  # drop the connection mid-body
            return resp
        await resp.write(body)
        await resp.write_eof()
        return resp
