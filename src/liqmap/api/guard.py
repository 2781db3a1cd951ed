"""Connection guard of the API (issue #12 item 5): what a request may look like before any
router sees it.

* **Request target** (path + query) longer than ``max_target`` bytes (default 8,192, the
  request-line limit of the websockets library: ``websockets.http11.MAX_LINE_LENGTH``) ->
  HTTP 414, for plain requests and websocket upgrades alike. A websocket upgrade whose
  request line or a header line the websockets parser refuses (over 8 KB) is answered
  HTTP 400 and closed by :class:`BoundedHandshakeProtocol`; uvicorn 0.54's sans-I/O
  protocol wrote nothing and kept such a socket open (measured: >= 120 s).
* **WebSocket Origin** (DNS rebinding, cross-site pages driving a local server): a browser
  always sends ``Origin`` on a websocket handshake; it must name the server itself (the
  request's ``Host``) or an origin of the allow-list ``ws_origins`` (``LIQMAP_WS_ORIGINS``,
  comma-separated ``scheme://host[:port]``, ``*`` = any), else HTTP 403. A handshake without
  ``Origin`` (the CLI, scripts, other servers) is not a browser's and is let through.
* **Host allow-list** (optional, ``LIQMAP_ALLOWED_HOSTS``, comma-separated, ``*.example.com``
  patterns): Starlette's ``TrustedHostMiddleware`` answers other ``Host`` headers with 400.
* Connection caps are uvicorn's ``limit_concurrency`` (``LIQMAP_MAX_CONNECTIONS``: HTTP 503
  beyond it) and the websocket client cap in :mod:`liqmap.api.routers.ws`
  (``LIQMAP_MAX_WS_CLIENTS``: close code 1013).

Origin semantics: RFC 6455 section 10.2 ("servers that are not intended to process input
from any web page but only for certain sites SHOULD verify the |Origin| field"),
https://www.rfc-editor.org/rfc/rfc6455#section-10.2.
"""

from __future__ import annotations

from typing import Sequence
from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

#: Longest accepted request target (path + query), bytes.
MAX_TARGET_BYTES = 8192
_DEFAULT_PORTS = {"http": "80", "ws": "80", "https": "443", "wss": "443"}


def split_list(text: str | None) -> list[str]:
    """``"a, b,,c"`` -> ``["a", "b", "c"]`` (settings given as comma-separated text)."""
    return [x.strip() for x in (text or "").split(",") if x.strip()]


def _netloc(scheme: str, netloc: str) -> str:
    """``host[:port]`` lowercased, the scheme's default port dropped."""
    netloc = netloc.lower()
    default = _DEFAULT_PORTS.get(scheme)
    if default and netloc.endswith(":" + default):
        netloc = netloc[: -len(default) - 1]
    return netloc


def origin_allowed(origin: str | None, host: str | None, allowed: Sequence[str] = ()) -> bool:
    """Whether a websocket handshake with ``Origin: origin`` to ``Host: host`` is accepted.

    Args:
        origin: the ``Origin`` header or None (absent: not a browser -> True).
        host: the ``Host`` header (same origin = the origin's ``host[:port]`` equals it).
        allowed: further origins (``scheme://host[:port]``), ``*`` = any origin.
    """
    if origin is None or "*" in allowed:
        return True
    o = urlsplit(origin.strip())
    if not o.scheme or not o.netloc:
        return False  # "null" (sandboxed pages, file://) and garbage
    if host is not None and _netloc(o.scheme, o.netloc) == _netloc("http", host.strip()):
        return True
    want = f"{o.scheme.lower()}://{_netloc(o.scheme, o.netloc)}"
    return any(want == f"{a.scheme.lower()}://{_netloc(a.scheme, a.netloc)}" for a in map(urlsplit, allowed))


class RequestGuard:
    """Pure ASGI middleware: request-target cap and websocket Origin check (module doc).

    Args:
        app: the wrapped ASGI app.
        max_target: longest accepted path + query, bytes (longer -> 414).
        ws_origins: websocket origins accepted besides the server's own (``*`` = any).
    """

    def __init__(self, app: ASGIApp, max_target: int = MAX_TARGET_BYTES, ws_origins: Sequence[str] = ()) -> None:
        self.app = app
        self.max_target = max_target
        self.ws_origins = tuple(ws_origins)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind in ("http", "websocket"):
            target = len(scope.get("raw_path") or scope["path"].encode()) + len(scope.get("query_string") or b"")
            if target > self.max_target:
                await PlainTextResponse(f"request target longer than {self.max_target} bytes",
                                        status_code=414)(scope, receive, send)  # fmt: skip
                return
            if kind == "websocket":
                headers = Headers(scope=scope)
                if not origin_allowed(headers.get("origin"), headers.get("host"), self.ws_origins):
                    await PlainTextResponse("websocket origin not allowed (LIQMAP_WS_ORIGINS)",
                                            status_code=403)(scope, receive, send)  # fmt: skip
                    return
        await self.app(scope, receive, send)


class BoundedHandshakeProtocol(WebSocketsSansIOProtocol):
    """uvicorn's websockets sans-I/O protocol, answering a handshake the websockets parser
    refuses (request line or header line over 8 KB, too many headers) with HTTP 400 and
    closing the socket, instead of leaving it open and silent."""

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.conn.handshake_exc is not None and not self.handshake_initiated and not self.transport.is_closing():
            body = f"bad websocket handshake: {self.conn.handshake_exc.__cause__ or self.conn.handshake_exc}\n"
            body = body[:200].encode("ascii", "replace")
            self.transport.write(b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nConnection: close\r\n"
                                 b"Content-Length: %d\r\n\r\n%s" % (len(body), body))  # fmt: skip
            self.handshake_complete = True
            self.transport.close()
