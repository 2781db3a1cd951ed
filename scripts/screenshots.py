"""Screenshots of every page of ``liqmap demo`` at 1280 and 1920 px wide, for review.

    uv run python scripts/screenshots.py [--out artifacts/screenshots] [--base URL]

Starts ``liqmap demo`` on a free port (a temporary database, removed after) unless ``--base``
names a running one, waits until its dashboard has drawn, and saves ``<page>-<width>.png`` of
the dashboard (``/``), the Predicted levels page and the API docs (``/docs``) in headless Debian
Chromium (``/usr/bin/chromium`` driven by Playwright). Exit 1 when a page logs an error.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from demo_process import start_demo, stop

PAGES = (("dashboard", "/", "body[data-ready='1']"),
         ("predicted-levels", "/static/heatmap.html", "body[data-ready='1']"),
         ("api-docs", "/docs", ".swagger-ui .info"))
SIZES = ((1280, 900), (1920, 1080))
CHROMIUM = "/usr/bin/chromium"


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
        proc, base = start_demo()
    try:
        errors = shoot(base.rstrip("/"), Path(args.out))
    finally:
        if proc is not None:
            stop(proc)
    for e in errors:
        print("page error:", e, file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    raise SystemExit(main())
