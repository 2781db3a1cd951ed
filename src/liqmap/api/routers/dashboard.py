"""Web dashboard: ``/`` (static page), ``/static/*`` and the vendored plotly.js.

plotly.js is vendored as ``static/vendor/plotly-liqmap.min.js``: plotly.js v4.1.1 (MIT, licence in
``static/vendor/plotly.js-LICENSE``) built by ``scripts/plotly_bundle`` with only the trace types the
pages draw (scatter, bar, candlestick, heatmap), 1.3 MB instead of the full 4.8 MB bundle, whose
evaluation alone took the first paint past issue #11's 1.5 s. It is sent gzipped (~0.4 MB) to
clients that accept gzip. No CDN: the pages work offline.
"""

from __future__ import annotations

import gzip
from functools import lru_cache
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, Response

router = APIRouter(include_in_schema=False)
STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
PLOTLY_JS = STATIC_DIR / "vendor" / "plotly-liqmap.min.js"
_CACHE = {"Cache-Control": "public, max-age=86400", "Vary": "Accept-Encoding"}


@router.get("/")
def index():
    return FileResponse(STATIC_DIR / "index.html", media_type="text/html")


@lru_cache(maxsize=1)
def _plotly_gz() -> bytes:
    """The vendored bundle gzipped once per process (deterministic: no mtime)."""
    return gzip.compress(PLOTLY_JS.read_bytes(), compresslevel=9, mtime=0)


@router.get("/static/vendor/plotly-liqmap.min.js")
def plotly_js(request: Request):
    """The vendored plotly.js partial bundle; gzipped when the client accepts it."""
    if "gzip" in request.headers.get("accept-encoding", "").lower():
        return Response(_plotly_gz(), media_type="application/javascript",
                        headers={**_CACHE, "Content-Encoding": "gzip"})
    return FileResponse(PLOTLY_JS, media_type="application/javascript", headers=_CACHE)
