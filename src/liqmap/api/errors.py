"""The API's error answers, documented in ``/openapi.json`` as they are returned.

* **404** -- something named does not exist (an unknown symbol, no data in a window):
  ``{"detail": "<reason>"}`` or, for an unknown symbol, ``{"detail": {"reason": "...",
  "known_symbols": ["BTC", ...]}}``.
* **422** -- an invalid parameter: ``{"detail": "<one line naming the parameter and why>"}``;
  a parameter that failed FastAPI's own validation (a type or a bound) also carries
  ``errors``, one object per failure (``loc``, ``msg``, ``type``).
* **414** -- path + query longer than ``LIQMAP_MAX_REQUEST_TARGET`` bytes (8,192): plain text
  (:mod:`liqmap.api.guard`, before any router).

Every echo of user input is cut to :data:`MAX_ECHO` characters, so a huge parameter
never becomes a huge answer.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

#: characters of a user-supplied value quoted back in an error message, at most
MAX_ECHO = 64
#: largest ms timestamp a parameter may give (year 5138): beyond it, 422 (never a BIGINT overflow)
MAX_TIME_MS = 10**14


class UnknownSymbol(BaseModel):
    """An unknown symbol: why, and the symbols that exist."""

    reason: str
    known_symbols: list[str]


class NotFound(BaseModel):
    """404 body."""

    detail: str | UnknownSymbol


class ValidationItem(BaseModel):
    """One failed check of FastAPI's parameter validation."""

    loc: list[str | int]
    msg: str
    type: str


class Invalid(BaseModel):
    """422 body."""

    detail: str
    errors: list[ValidationItem] | None = None


#: ``responses=`` of every router: the documented 404 and 422 shapes.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    404: {"model": NotFound, "description": "Not found: an unknown symbol (with the known ones) or no data"},
    422: {"model": Invalid, "description": "Invalid parameter: the reason, naming the parameter"},
    414: {"description": "Request target (path + query) over LIQMAP_MAX_REQUEST_TARGET bytes (8,192)",
          "content": {"text/plain": {"schema": {"type": "string"}}}},
}


def echo(value: Any) -> str:
    """``repr(value)`` cut to :data:`MAX_ECHO` characters (``...`` and the full length marked)."""
    text = repr(value)
    if len(text) <= MAX_ECHO:
        return text
    return f"{text[:MAX_ECHO]}... ({len(text)} characters)"


def validation_items(errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """FastAPI's validation errors reduced to their JSON-safe, bounded part (no echoed input,
    no exception objects): ``loc``, ``msg`` (cut), ``type``."""
    return [{"loc": [x if isinstance(x, (str, int)) else str(x) for x in e.get("loc", ())],
             "msg": str(e.get("msg", ""))[:200], "type": str(e.get("type", ""))} for e in errors]
