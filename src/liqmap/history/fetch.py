"""Download one data.binance.vision file: published checksum, resume, verify (httpx, async).

For each :class:`~liqmap.history.vision.ArchiveFile` (:func:`fetch_file`):

1. ``GET <zip>.CHECKSUM`` -- one ``sha256sum`` line (binance-public-data README, "CHECKSUM").
   HTTP 404 means the file does not exist (a day before listing, a day not yet published):
   the result is ``missing``, a named gap, not an error.
2. A complete local copy whose SHA-256 equals the published one is kept (``cached``).
3. Otherwise the zip is streamed to ``<name>.part``; an existing ``.part`` is continued with
   ``Range: bytes=<size>-`` (RFC 9110 §14.2). 206 appends; 200 (range ignored) starts over;
   416 means the ``.part`` already holds the whole file.
4. The SHA-256 of the bytes on disk (hashed as they arrive) must equal the published one. On a mismatch after a resume
   the file is fetched once more from byte 0; a second mismatch is an error (``.part`` deleted,
   nothing ingested). A verified file is renamed into place and its ``.CHECKSUM`` saved beside
   it (so :mod:`liqmap.heatmap.ingest` re-verifies it at load time).

Transport errors and HTTP 5xx are retried (``retries`` times, exponential backoff, resuming
from the ``.part``); HTTP 429/418 wait ``Retry-After`` (at least ``min_retry_s``). A host that
cannot be reached at all raises :class:`ArchiveUnreachable` naming the host, which stops the run.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Awaitable, Callable
from urllib.parse import urlsplit

import httpx

from liqmap.feed.rest import retry_after_s
from liqmap.history.vision import ArchiveFile

CHUNK = 1 << 20


class ArchiveUnreachable(Exception):
    """The archive host could not be reached (DNS, refused, timeout); the message names it."""


class ChecksumError(Exception):
    """A file's SHA-256 differs from its published ``.CHECKSUM`` (the message gives both)."""


@dataclass
class FetchResult:
    """Outcome for one file.

    ``status``: ``downloaded`` | ``resumed`` | ``cached`` | ``missing`` | ``error``;
    ``path`` the verified local zip (None unless downloaded/resumed/cached); ``nbytes`` bytes
    transferred in this run; ``message`` the reason for missing/error.
    """

    file: ArchiveFile
    status: str
    path: Path | None = None
    sha256: str = ""
    nbytes: int = 0
    message: str = ""


def parse_checksum(text: str, name: str) -> str:
    """The hex SHA-256 from a ``.CHECKSUM`` body (``<hex>  <name>``). Raises ChecksumError."""
    parts = text.split()
    digest = parts[0].lower() if parts else ""
    if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
        raise ChecksumError(f"{name}.CHECKSUM is not a sha256sum line: {text[:80]!r}")
    return digest


def _hash_of(path: Path) -> "hashlib._Hash":
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(CHUNK), b""):
            h.update(chunk)
    return h


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file (streamed)."""
    return _hash_of(path).hexdigest()


class _Transient(Exception):
    """Retry-worthy failure (5xx, reset mid-stream); ``wait`` = server-requested delay or None."""

    def __init__(self, msg: str, wait: float | None = None):
        super().__init__(msg)
        self.wait = wait


class _Missing(Exception):
    pass


def _status_error(r: httpx.Response, what: str) -> Exception:
    if r.status_code == 404:
        return _Missing(f"{what}: 404 Not Found")
    if r.status_code in (429, 418) or r.status_code >= 500:
        return _Transient(f"{what}: HTTP {r.status_code}", retry_after_s(r.headers.get("Retry-After")))
    return RuntimeError(f"{what}: HTTP {r.status_code}")


async def _get_checksum(client: httpx.AsyncClient, url: str, name: str) -> str:
    r = await client.get(url + ".CHECKSUM")
    if r.status_code != 200:
        raise _status_error(r, f"{name}.CHECKSUM")
    return parse_checksum(r.text, name)


async def _stream_to_part(client: httpx.AsyncClient, url: str, part: Path, name: str,
                          on_bytes: Callable[[int], None]) -> tuple[int, bool, str]:
    """Stream ``url`` into ``part`` (continuing it when present), hashing as the bytes arrive.

    Returns (bytes received, resumed, hex SHA-256 of the whole ``part``).
    """
    offset = part.stat().st_size if part.exists() else 0
    headers = {"Range": f"bytes={offset}-"} if offset else {}
    got = 0
    async with client.stream("GET", url, headers=headers) as r:
        if r.status_code == 416 and offset:
            return 0, True, (await asyncio.to_thread(_hash_of, part)).hexdigest()  # .part holds every byte
        if r.status_code not in (200, 206):
            await r.aread()
            raise _status_error(r, name)
        resumed = r.status_code == 206 and offset > 0
        if r.status_code == 206 and not r.headers.get("Content-Range", "").startswith(f"bytes {offset}-"):
            raise _Transient(f"{name}: unexpected Content-Range {r.headers.get('Content-Range')!r}")
        h = await asyncio.to_thread(_hash_of, part) if resumed else hashlib.sha256()
        with open(part, "ab" if resumed else "wb") as fh:
            try:
                async for chunk in r.aiter_bytes():  # as received: a cut keeps every byte
                    fh.write(chunk)
                    h.update(chunk)
                    got += len(chunk)
                    on_bytes(len(chunk))
            except (httpx.TransportError, httpx.DecodingError) as exc:  # cut mid-stream: keep the .part
                raise _Transient(f"{name}: transfer interrupted after {offset + got} bytes ({exc})") from None
    return got, resumed, h.hexdigest()


async def _download_verified(client: httpx.AsyncClient, url: str, local: Path, want: str,
                             on_bytes: Callable[[int], None]) -> tuple[str, int]:
    """Fetch into ``local`` (resume, verify, retry once from 0). Returns (status, bytes)."""
    part = local.with_name(local.name + ".part")
    total = 0
    for attempt in range(2):
        got, resumed, digest = await _stream_to_part(client, url, part, local.name, on_bytes)
        total += got
        if digest == want:
            os.replace(part, local)
            return ("resumed" if resumed else "downloaded"), total
        part.unlink(missing_ok=True)
        if not resumed or attempt:
            raise ChecksumError(f"{local.name}: sha256 {digest} does not match the published {want}")
    raise AssertionError("unreachable")  # pragma: no cover


async def fetch_file(client: httpx.AsyncClient, base_url: str, f: ArchiveFile, dest: Path, *,
                     retries: int = 3, min_retry_s: float = 1.0,
                     on_bytes: Callable[[int], None] = lambda n: None,
                     sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> FetchResult:
    """Fetch and verify one archive file into ``dest / f.path`` (module docstring).

    Never raises for a missing file or a bad checksum (see ``FetchResult.status``); raises
    :class:`ArchiveUnreachable` when the host cannot be reached after ``retries``.
    """
    url = f"{base_url.rstrip('/')}/{f.path}"
    local = dest / f.path
    local.parent.mkdir(parents=True, exist_ok=True)
    last = ""
    for attempt in range(retries + 1):
        try:
            want = await _get_checksum(client, url, f.name)
            if local.exists() and await asyncio.to_thread(sha256_file, local) == want:
                return FetchResult(f, "cached", local, want)
            status, n = await _download_verified(client, url, local, want, on_bytes)
            local.with_name(local.name + ".CHECKSUM").write_text(f"{want}  {f.name}\n")
            return FetchResult(f, status, local, want, n)
        except _Missing as exc:
            return FetchResult(f, "missing", message=str(exc))
        except (ChecksumError, RuntimeError) as exc:
            return FetchResult(f, "error", message=str(exc))
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            host = urlsplit(base_url).netloc or base_url
            if attempt == retries:
                raise ArchiveUnreachable(f"cannot reach {host}: {exc or type(exc).__name__}") from None
            wait = None
        except (_Transient, httpx.TransportError) as exc:
            last = str(exc) or type(exc).__name__
            if attempt == retries:
                break
            wait = getattr(exc, "wait", None)
        await sleep(max(min_retry_s, wait if wait is not None else 2.0 ** attempt))
    return FetchResult(f, "error", message=f"{f.name}: gave up after {retries + 1} attempts ({last})")
