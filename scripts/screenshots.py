"""Screenshots of every page of ``liqmap demo`` at 1280 and 1920 px wide, for review.

    uv run python scripts/screenshots.py [--out artifacts/screenshots] [--base URL]

Starts ``liqmap demo`` on a free port (a temporary database, removed after) unless ``--base``
names a running one, waits until its dashboard has drawn, and saves ``<page>-<width>.png`` of
the dashboard (``/``), the Predicted levels page and the API docs (``/docs``) in headless Debian
Chromium (``/usr/bin/chromium`` driven by Playwright). Exit 1 when a page logs an error.
"""

from __future__ import annotations

import argparse
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

PAGES = (("dashboard", "/", "body[data-ready='1']"),
         ("predicted-levels", "/static/heatmap.html", "body[data-ready='1']"),
         ("api-docs", "/docs", ".swagger-ui .info"))
SIZES = ((1280, 900), (1920, 1080))
CHROMIUM = "/usr/bin/chromium"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_demo() -> tuple[subprocess.Popen, str]:
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "liqmap", "demo", "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    t0 = time.monotonic()
    while time.monotonic() - t0 < 60:
        if proc.poll() is not None:
            raise SystemExit(f"liqmap demo exited: {proc.stderr.read()}")
        try:
            h = httpx.get(base + "/health", timeout=1).json()
            if h["pipeline"] and h["pipeline"]["source_finished"]:
                return proc, base
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    proc.kill()
    raise SystemExit("liqmap demo did not come up in 60 s")


def shoot(base: str, out: Path) -> list[str]:
    """Save every page at every size; returns the page errors seen."""
    from playwright.sync_api import sync_playwright

    out.mkdir(parents=True, exist_ok=True)
    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        try:
            for w, h in SIZES:
                for name, path, ready in PAGES:
                    page = browser.new_page(viewport={"width": w, "height": h})
                    page.on("pageerror", lambda e, n=name: errors.append(f"{n}: {e}"))
                    page.on("console", lambda m, n=name: errors.append(f"{n}: {m.text}") if m.type == "error" else None)
                    page.goto(base + path)
                    page.wait_for_selector(ready, timeout=30_000)
                    page.wait_for_timeout(1500)
                    f = out / f"{name}-{w}.png"
                    page.screenshot(path=str(f), full_page=True)
                    print(f)
                    page.close()
        finally:
            browser.close()
    return errors


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="artifacts/screenshots")
    ap.add_argument("--base", help="URL of a running liqmap (default: start liqmap demo)")
    args = ap.parse_args()
    proc = None
    base = args.base
    if base is None:
        proc, base = _start_demo()
    try:
        errors = shoot(base.rstrip("/"), Path(args.out))
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(20)
    for e in errors:
        print("page error:", e, file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    raise SystemExit(main())
