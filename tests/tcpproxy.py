"""A TCP proxy on 127.0.0.1 whose link can be cut on command (fault injection, loopback only).

``TcpProxy(upstream_port)`` listens on a free port and pipes every connection to
``127.0.0.1:upstream_port``. Modes (:meth:`TcpProxy.set_mode`):

* ``pass``      -- forward both ways;
* ``blackhole`` -- keep every connection open but forward nothing (a hung server or a
  network that drops packets): new connections are accepted and never reach the server;
* ``down``      -- reset every connection and refuse new ones (a stopped server).

It runs its own event loop on a thread, so a test or benchmark drives it synchronously.
Used by ``tests/test_storage_faults.py`` and ``benchmarks/bench_tiers.py``.
"""

from __future__ import annotations

import asyncio
import socket
import threading


class TcpProxy:
    """See module docstring. ``port`` is the listening port once started."""

    def __init__(self, upstream_port: int, upstream_host: str = "127.0.0.1") -> None:
        self.upstream = (upstream_host, upstream_port)
        self.mode = "pass"
        self.port = 0
        self._links: set[tuple[asyncio.StreamWriter, asyncio.StreamWriter | None]] = set()
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._main, daemon=True, name="tcpproxy")

    def __enter__(self) -> "TcpProxy":
        self._thread.start()
        assert self._ready.wait(5), "proxy did not start"
        return self

    def __exit__(self, *exc) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    def set_mode(self, mode: str) -> None:
        """``pass`` | ``blackhole`` | ``down`` (module docstring)."""
        assert mode in ("pass", "blackhole", "down")
        done = threading.Event()

        def apply() -> None:
            self.mode = mode
            if mode == "down":
                for a, b in list(self._links):
                    for w in (a, b):
                        if w is not None:
                            _reset(w)
                self._links.clear()
            done.set()

        self._loop.call_soon_threadsafe(apply)
        done.wait(5)

    def _main(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(asyncio.start_server(self._client, "127.0.0.1", 0))
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        try:
            self._loop.run_forever()
        finally:
            server.close()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.mode == "down":
            _reset(writer)
            return
        link: list = [writer, None]
        self._links.add((writer, None))
        while self.mode == "blackhole":  # accepted, never connected upstream while black-holed
            await asyncio.sleep(0.05)
        if self.mode == "down":
            _reset(writer)
            return
        try:
            ur, uw = await asyncio.open_connection(*self.upstream)
        except OSError:
            _reset(writer)
            return
        self._links.discard((writer, None))
        link[1] = uw
        self._links.add((writer, uw))
        await asyncio.gather(self._pipe(reader, uw), self._pipe(ur, writer), return_exceptions=True)
        self._links.discard((writer, uw))
        for w in (writer, uw):
            w.close()

    async def _pipe(self, src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
        while True:
            data = await src.read(65536)
            if not data:
                break
            while self.mode == "blackhole":  # hold the bytes: nothing gets through
                await asyncio.sleep(0.05)
            if self.mode == "down":
                break
            dst.write(data)
            await dst.drain()
        try:
            dst.write_eof()
        except (OSError, RuntimeError):
            pass


def _reset(writer: asyncio.StreamWriter) -> None:
    """Abort a connection with a TCP reset (SO_LINGER 0), like a dead server's host."""
    sock = writer.get_extra_info("socket")
    try:
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    except OSError:
        pass
    writer.transport.abort()
