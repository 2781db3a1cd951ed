"""Recorded-file formats: names, opening (gzip or plain) and content sniffing.

Detection looks at the *content* (the first lines of the decompressed text),
never only at the file name; the name is used only as a tie-breaker where
the content is shared by two formats (none today). gzip is recognised by its
magic bytes ``1f 8b``, whatever the suffix.

Errors: :class:`UnknownFormatError` (a ``ValueError``) names the file and
says what its first line looked like and which formats are known.
"""

from __future__ import annotations

import gzip
import io
import re
import zlib
from pathlib import Path
from typing import IO

import msgspec

#: Every format name accepted by ``liqmap replay --format`` (besides ``auto``).
FORMATS: tuple[str, ...] = (
    "liqmap",
    "cryptofeed",
    "binance-forceorder-jsonl",
    "csv-forceorder",
    "csv-aggtrades",
    "bitmex-inserts",
    "hyperliquid-csv",
    "tardis",
)

_GZIP_MAGIC = b"\x1f\x8b"
_SNIFF_LINES = 8

# cryptofeed sample_data line shapes (cryptofeed/util/async_file.py writer)
CRYPTOFEED_OPEN = re.compile(r"^(?P<url>\S+) <-> (?P<ts>\d+(?:\.\d+)?)\s*$")
CRYPTOFEED_SENT = re.compile(r"^(?P<url>\S+) <- (?P<ts>\d+(?:\.\d+)?): (?P<data>.*)$", re.S)
CRYPTOFEED_REST = re.compile(r"^(?P<url>\S+) -> (?P<ts>\d+(?:\.\d+)?): (?P<data>.*)$", re.S)
CRYPTOFEED_RECV = re.compile(r"^(?P<ts>\d+\.\d+): (?P<data>[\[{].*)$", re.S)

HYPERLIQUID_LIQ_HEADER = "time,user,liquidated_ntl_pos,liquidated_account_value,leverage_type"
HYPERLIQUID_TRADES_HEADER = "time,user,coin,side,px,sz,crossed"


class UnknownFormatError(ValueError):
    """A file's content matches no known recording format.

    The message is one line: ``"<path>: format not recognized (looked like
    <what was seen>); known formats: <list>"``.
    """

    def __init__(self, path: str | Path, seen: str):
        self.path = str(path)
        self.seen = seen
        super().__init__(
            f"{path}: format not recognized (looked like {seen}); "
            f"known formats: {', '.join(FORMATS)}"
        )


def open_text(path: str | Path) -> IO[str]:
    """Open ``path`` as UTF-8 text, transparently gunzipping on the magic bytes.

    Undecodable bytes are replaced (U+FFFD) instead of raising, so one bad
    byte costs one line, not the file. Raises ``OSError`` if unreadable.
    """
    p = Path(path)
    with p.open("rb") as fh:
        magic = fh.read(2)
    if magic == _GZIP_MAGIC:
        return io.TextIOWrapper(gzip.open(p, "rb"), encoding="utf-8", errors="replace", newline="")
    return p.open("r", encoding="utf-8", errors="replace", newline="")


def _head(path: str | Path) -> list[str]:
    """First non-blank lines of the (decompressed) file, right-stripped."""
    lines: list[str] = []
    try:
        with open_text(path) as fh:
            for _ in range(_SNIFF_LINES * 8):
                line = fh.readline(1 << 20)
                if not line:
                    break
                line = line.rstrip("\r\n")
                if line.strip():
                    lines.append(line)
                if len(lines) >= _SNIFF_LINES:
                    break
    except (EOFError, zlib.error) as exc:
        if not lines:  # a gzip cut before its first line: nothing to sniff
            raise UnknownFormatError(path, f"a damaged gzip file ({exc})") from exc
    except OSError as exc:  # includes gzip.BadGzipFile
        raise UnknownFormatError(path, f"an unreadable file: {exc}") from exc
    return lines


def _json_obj(line: str) -> dict | None:
    try:
        obj = msgspec.json.decode(line)
    except msgspec.DecodeError:
        return None
    return obj if isinstance(obj, dict) else None


def _csv_fields(line: str) -> list[str]:
    return [f.strip() for f in line.split(",")]


def looks_like_forceorder_row(fields: list[str]) -> bool:
    """True for a datastreams forceOrder CSV row (12 or 13 columns, side BUY/SELL)."""
    return (
        len(fields) in (12, 13)
        and fields[1] in ("BUY", "SELL")
        and fields[10].isdigit()
    )


def looks_like_aggtrade_row(fields: list[str]) -> bool:
    """True for a datastreams large-aggTrade CSV row (7 or 9 columns)."""
    return (
        len(fields) in (7, 9)
        and fields[0].isdigit()
        and fields[2].isdigit()
        and fields[5].isdigit()
        and fields[6] in ("True", "False")
    )


def _binary_kind(path: str | Path) -> str | None:
    with Path(path).open("rb") as fh:
        head = fh.read(512)
    if head.startswith(_GZIP_MAGIC):
        with Path(path).open("rb") as fh:
            raw = fh.read(1 << 16)
        try:  # partial inflate: a stream cut short (no trailer) still shows its start
            head = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(raw, 512)
        except zlib.error:
            return "a damaged gzip file"
    if head.startswith(b"PK\x03\x04"):
        return "a ZIP archive"
    if head.startswith(b"PAR1"):
        return "a Parquet file"
    if b"\x00" in head:
        return "binary data"
    return None


def _describe(lines: list[str]) -> str:
    if not lines:
        return "an empty file"
    first = lines[0]
    obj = _json_obj(first)
    if obj is not None:
        keys = ", ".join(list(obj)[:6])
        return f"a JSON object with keys {keys}"
    if first.lstrip().startswith(("{", "[")):
        return f"JSON text starting {first[:60]!r}"
    if "," in first:
        return f"CSV with first line {first[:80]!r}"
    return f"text starting {first[:60]!r}"


def sniff(lines: list[str]) -> str | None:
    """Format name for the given first lines, or ``None`` when nothing matches."""
    if not lines:
        return None
    first = lines[0]
    obj = _json_obj(first)
    if obj is not None:
        if "liqmap_recording" in obj:
            return "liqmap"
        if {"exchange", "connection", "received_at", "data"} <= obj.keys():
            return "liqmap"  # header-less recording (still RawFrame lines)
        if {"ts", "msg"} <= obj.keys():
            return "binance-forceorder-jsonl"
        if "recorded_at" in obj and "orderID" in obj:
            return "bitmex-inserts"
        if {"exchange", "message"} <= obj.keys():
            return "tardis"
        return None
    if any(
        CRYPTOFEED_OPEN.match(x) or CRYPTOFEED_REST.match(x) or CRYPTOFEED_SENT.match(x)
        or CRYPTOFEED_RECV.match(x)
        for x in lines[:3]
    ):
        return "cryptofeed"
    header = first.strip().lstrip("\ufeff")
    if header in (HYPERLIQUID_LIQ_HEADER, HYPERLIQUID_TRADES_HEADER):
        return "hyperliquid-csv"
    rows = [_csv_fields(x) for x in lines]
    fo = sum(looks_like_forceorder_row(r) for r in rows)
    ag = sum(looks_like_aggtrade_row(r) for r in rows)
    # a stray first line (text prefix, generator repr) must not hide the rest
    if fo and fo >= max(1, len(rows) - 1) and fo > ag:
        return "csv-forceorder"
    if ag and ag >= max(1, len(rows) - 1):
        return "csv-aggtrades"
    return None


def detect_format(path: str | Path) -> str:
    """Return the format name of a recorded file by looking at its content.

    Returns one of :data:`FORMATS`. Raises :class:`UnknownFormatError` when
    nothing matches (the message names the file and what the first line looked
    like) and ``FileNotFoundError`` if the file does not exist.
    """
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"{path}: no such file")
    if p.is_dir():
        raise UnknownFormatError(path, "a directory")
    binary = _binary_kind(p)
    if binary is not None:
        raise UnknownFormatError(path, binary)
    lines = _head(p)
    fmt = sniff(lines)
    if fmt is None:
        raise UnknownFormatError(path, _describe(lines))
    return fmt
