"""``liqmap demo`` as a child process on a free port, for the tools that look at it
(``scripts/screenshots.py``, ``benchmarks/bench_dashboard.py``)."""

from __future__ import annotations

import socket
import subprocess
import sys
import time

import httpx


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_demo(timeout_s: float = 90.0, **popen) -> tuple[subprocess.Popen, str]:
    """Start ``python -m liqmap demo`` (its own temporary database) and wait until its replay is
    stored; returns ``(process, base URL)``. Raises SystemExit when it exits or times out."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "liqmap", "demo", "--port", str(port)],
                            **{"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, **popen})
    base = f"http://127.0.0.1:{port}"
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout_s:
        if proc.poll() is not None:
            raise SystemExit(f"liqmap demo exited with code {proc.returncode}")
        try:
            h = httpx.get(base + "/health", timeout=1).json()
            if h["pipeline"] and h["pipeline"]["source_finished"]:
                return proc, base
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    proc.kill()
    raise SystemExit(f"liqmap demo did not come up in {timeout_s:.0f} s")


def stop(proc: subprocess.Popen) -> None:
    """Stop the demo (SIGTERM, then kill after 20 s)."""
    proc.terminate()
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()
