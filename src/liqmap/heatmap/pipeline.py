"""Run the stepper over a :class:`~liqmap.heatmap.series.StepSeries` (the offline feeder).

The API and ``liqmap validate`` both call :func:`run`; the live path calls
:func:`~liqmap.heatmap.engine.step` itself, one step at a time, with the same inputs, so the
three produce identical levels. Pure functions, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from liqmap.heatmap.engine import Params, State, new_state, step
from liqmap.heatmap.series import StepSeries
from liqmap.units import HOUR_MS


@dataclass
class RunResult:
    """Output of :func:`run` over K steps.

    t_end: (K,) int64 step ends; consumed: (K, 2) USD liquidated per step and side;
    book_qty: (K,) contracts in the book after each step; oi: (K,) OI input (NaN unknown);
    snapshots: {step index: ``reduce(index, origin, (2, C) USD levels)``} for the requested steps
        (default reduce: ``(origin, levels)``);
    state: the state after the last step (resume with ``run(..., state=result.state)``).
    """

    t_end: np.ndarray
    consumed: np.ndarray
    book_qty: np.ndarray
    oi: np.ndarray
    snapshots: dict
    state: State


def run(params: Params, series: StepSeries, *, state: State | None = None, start: int = 0,
        stop: int | None = None, snapshot_steps=(), reduce=None) -> RunResult:
    """Step ``params``'s book through ``series`` rows ``start .. stop − 1``.

    ``state``: continue from it (default: a new empty book). ``snapshot_steps``: row indices whose
    levels to keep, passed through ``reduce(index, origin, levels)`` when given (keeps memory small
    for long windows). Raises ``ValueError`` from the stepper on a bad input row.
    """
    st = state.copy() if state is not None else new_state(params, series.step_ms)
    stop = len(series) if stop is None else stop
    K = max(stop - start, 0)
    consumed = np.zeros((K, 2))
    book = np.zeros(K)
    want = set(int(i) for i in snapshot_steps)
    snaps: dict = {}
    for k, x in enumerate(series.inputs(start, stop)):
        i = start + k
        st, out = step(st, x, inplace=True, levels=i in want)
        consumed[k] = out.consumed
        book[k] = out.book_qty
        if out.levels is not None:
            snaps[i] = reduce(i, out.origin, out.levels) if reduce else (out.origin, out.levels)
    return RunResult(series.t_end[start:stop].copy(), consumed, book, series.oi[start:stop].copy(), snaps, st)


def hourly(t_end: np.ndarray, per_step: np.ndarray, hour_ms: int = HOUR_MS) -> tuple[np.ndarray, np.ndarray]:
    """Sum per-step values into the hours holding each step: step ``(t − Δ, t]`` belongs to the
    hour ending ``ceil(t / 1 h)``. Returns (hour END times (H,), sums (H, ...))."""
    hour_end = -(-np.asarray(t_end, dtype=np.int64) // hour_ms) * hour_ms
    hours, inv = np.unique(hour_end, return_inverse=True)
    out = np.zeros((len(hours),) + per_step.shape[1:])
    np.add.at(out, inv, per_step)
    return hours, out
