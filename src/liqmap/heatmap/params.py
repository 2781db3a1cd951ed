"""Versioned model parameters: ``heatmap/params/<version>.json`` (written by ``liqmap validate --fit``).

One file per protocol version holds what the fit chose on the first half and, once the protocol
was frozen, the held-out score it got (recorded once). The API serves :data:`CURRENT` and names
its version and score in every response's ``meta``; ``validate`` scores the same file.

File layout::

    {"version": "v1", "protocol": "v1", "step_ms": 300000, "fitted_at": ISO, "fit_window": {...},
     "model": {"params": {...}, "fit_partial": [long, short]},
     "no_oi_book": {"params": {...}, "fit_partial": [long, short]},
     "held_out": null | {"long": {...}, "short": {...}, "scored_at": ISO}}
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from liqmap.heatmap.engine import Params

PARAMS_DIR = Path(__file__).with_name("params")
CURRENT = "v1"


@dataclass(frozen=True)
class ServedParams:
    """One parameters file: version, protocol it was fitted under, model step (ms), the model's and
    the no-OI book's :class:`~liqmap.heatmap.engine.Params`, the fit summary and the held-out score
    (or None)."""

    version: str
    protocol: str
    step_ms: int
    params: Params
    no_oi_params: Params
    fit: dict
    held_out: dict | None

    def meta(self) -> dict:
        """What an API response says about the parameters (version, fit window, scores)."""
        ho = self.held_out or {}
        return {"version": self.version, "protocol": self.protocol, "fit_window": self.fit.get("fit_window"),
                "fit_partial_spearman": self.fit.get("model_fit_partial"),
                "held_out_partial_spearman": {s: ho[s]["model"]["partial"] for s in ("long", "short") if s in ho} or None,
                "held_out_spearman": {s: ho[s]["model"]["spearman"] for s in ("long", "short") if s in ho} or None}


def params_path(version: str) -> Path:
    """``heatmap/params/<version>.json``."""
    return PARAMS_DIR / f"{version}.json"


def load_params(version: str = CURRENT) -> ServedParams:
    """Read a parameters file (cached while the file is unchanged). Raises ``FileNotFoundError`` /
    ``ValueError`` (bad content)."""
    path = params_path(version)
    return _load(version, path.stat().st_mtime_ns)


@lru_cache(maxsize=8)
def _load(version: str, _mtime_ns: int) -> ServedParams:
    d = json.loads(params_path(version).read_text())
    try:
        return ServedParams(d["version"], d["protocol"], int(d["step_ms"]), Params.from_dict(d["model"]["params"]),
                            Params.from_dict(d["no_oi_book"]["params"]),
                            {"fit_window": d["fit_window"], "fitted_at": d.get("fitted_at"),
                             "model_fit_partial": d["model"]["fit_partial"],
                             "no_oi_fit_partial": d["no_oi_book"]["fit_partial"]}, d.get("held_out"))
    except (KeyError, TypeError) as exc:
        raise ValueError(f"{params_path(version)}: bad parameters file ({exc})") from None


def write_params(version: str, protocol: str, step_ms: int, fitted_at: str, fit_window: dict, model: dict,
                 no_oi: dict, held_out: dict | None = None) -> Path:
    """Write ``params/<version>.json`` (``model``/``no_oi``: ``{"params": Params, "fit_partial": [l, s]}``)."""
    d = {"version": version, "protocol": protocol, "step_ms": step_ms, "fitted_at": fitted_at, "fit_window": fit_window,
         "model": {"params": model["params"].to_dict(), "fit_partial": [round(x, 4) for x in model["fit_partial"]]},
         "no_oi_book": {"params": no_oi["params"].to_dict(), "fit_partial": [round(x, 4) for x in no_oi["fit_partial"]]},
         "held_out": held_out}
    path = params_path(version)
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps(d, indent=2) + "\n")
    return path


def record_held_out(version: str, result: dict) -> Path:
    """Store the held-out score in the parameters file, once. Raises ``RuntimeError`` if one is recorded."""
    path = params_path(version)
    d = json.loads(path.read_text())
    if d.get("held_out"):
        raise RuntimeError(f"{path} already records a held-out score for protocol {d['protocol']}")
    d["held_out"] = result
    path.write_text(json.dumps(d, indent=2) + "\n")
    return path
