"""Web dashboard: ``/`` (static page), ``/static/*`` and ``/static/plotly.min.js``.

plotly.js is served from the installed ``plotly`` Python package, so the page
needs no CDN and works offline.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse

router = APIRouter(include_in_schema=False)
STATIC_DIR = Path(__file__).resolve().parent.parent / "static"


@lru_cache(maxsize=1)
def plotly_js_path() -> Path | None:
    """Path of ``plotly.min.js`` inside the installed plotly package, or None."""
    try:
        import plotly
    except ImportError:
        return None
    root = Path(os.path.dirname(plotly.__file__))
    for cand in (root / "package_data" / "plotly.min.js", *root.rglob("plotly.min.js")):
        if cand.is_file():
            return cand
    return None


@router.get("/")
def index():
    return FileResponse(STATIC_DIR / "index.html", media_type="text/html")


@router.get("/static/plotly.min.js")
def plotly_js():
    p = plotly_js_path()
    if p is None:
        raise HTTPException(404, "plotly package not installed")
    return FileResponse(p, media_type="application/javascript",
                        headers={"Cache-Control": "public, max-age=86400"})
