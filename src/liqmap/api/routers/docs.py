"""API docs and icons, offline: ``/docs`` (Swagger UI), ``/redoc`` (redirects to ``/docs``),
``/favicon.ico``.

FastAPI's default ``/docs`` page loads Swagger UI from a CDN, so offline (the demo promises no
network) it is a white page. This router follows FastAPI's documented self-hosting recipe
(https://fastapi.tiangolo.com/how-to/custom-docs-ui-assets/): the page comes from
``fastapi.openapi.docs.get_swagger_ui_html`` with the JavaScript and CSS served from the
installed ``fastapi-swagger`` package (a Swagger UI 5 distribution, which renders the OpenAPI 3.1
FastAPI emits). No Python package ships ReDoc's bundle, so ``/redoc`` redirects to ``/docs``
instead of loading it from a CDN.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from pathlib import Path

from fastapi import APIRouter, HTTPException, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, RedirectResponse, Response

from liqmap.api.routers.dashboard import STATIC_DIR

router = APIRouter(include_in_schema=False)
SWAGGER_FILES = {"swagger-ui-bundle.js": "application/javascript", "swagger-ui.css": "text/css"}
_CACHE = {"Cache-Control": "public, max-age=86400"}


@lru_cache(maxsize=1)
def swagger_dir() -> Path | None:
    """Directory of the Swagger UI files inside the installed ``fastapi_swagger`` package, or None."""
    try:
        root = Path(str(resources.files("fastapi_swagger") / "resources"))
    except ModuleNotFoundError:
        return None
    return root if all((root / f).is_file() for f in SWAGGER_FILES) else None


@router.get("/docs")
def swagger_ui(request: Request):
    """Swagger UI for ``/openapi.json`` with every asset served by this app."""
    if swagger_dir() is None:
        raise HTTPException(503, "Swagger UI assets are not installed (package fastapi-swagger); "
                                 "the API description is at /openapi.json")
    root = request.scope.get("root_path", "").rstrip("/")
    return get_swagger_ui_html(
        openapi_url=root + request.app.openapi_url, title=f"{request.app.title} API",
        swagger_js_url=root + "/static/swagger/swagger-ui-bundle.js",
        swagger_css_url=root + "/static/swagger/swagger-ui.css",
        swagger_favicon_url=root + "/favicon.ico",
        swagger_ui_parameters={"defaultModelsExpandDepth": 0, "displayRequestDuration": True},
    )


@router.get("/redoc")
def redoc():
    """No ReDoc bundle is installed (none is packaged for Python): the offline Swagger UI instead."""
    return RedirectResponse("/docs", status_code=307)


@router.get("/static/swagger/{name}")
def swagger_asset(name: str):
    """``swagger-ui-bundle.js`` / ``swagger-ui.css`` from the installed package."""
    d = swagger_dir()
    if d is None or name not in SWAGGER_FILES:
        raise HTTPException(404, f"no such asset: {name}")
    return FileResponse(d / name, media_type=SWAGGER_FILES[name], headers=_CACHE)


@router.get("/favicon.ico")
def favicon():
    """liqmap's icon (SVG; browsers accept it at this path)."""
    return Response((STATIC_DIR / "favicon.svg").read_bytes(), media_type="image/svg+xml", headers=_CACHE)
