"""Dense-array liquidation-level simulation (heatmap-model.md §3.4–§3.6), pure numpy.

State ``A[s, l, c]`` = open quantity in **contracts / base units** of side ``s`` (0 = long,
1 = short) and leverage tier ``l`` whose liquidation price lies in price cell ``c`` of a
uniform grid. Per step ``k`` (in this order):

1. **consume** with the step's price range ``[low_k, high_k]``: long cells with
   ``P_liq ≥ low_k`` and short cells with ``P_liq ≤ high_k`` are moved to the consumed tally
   (the model's predicted liquidation flow) and zeroed -- state from steps < k only, so a
   position is never consumed in the step that opened it;
2. **close** (ΔQ < 0): side-specific, ``A[s] *= 1 − r_s`` with ``r_s = min(1, C_s / OI_prev)``,
   ``C_long = |ΔQ|·(1 − β)`` (taker sells close longs), ``C_short = |ΔQ|·β``;
3. **open** (ΔQ > 0): ``N_long = ΔQ·β``, ``N_short = ΔQ·(1 − β)``, spread over the step's
   per-side entry-price profile and the leverage ladder, placed at the liquidation price;
4. optional **decay** ``A *= 2^(−1/half_life_steps)``.

Everything is linear in the leverage weights, so ``per_tier_consumed`` lets a caller fit
the weights by non-negative least squares (§4.6).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from liqmap.heatmap.brackets import liq_price_ladder

DEFAULT_LADDER: tuple[tuple[float, float], ...] = ((5, 0.15), (10, 0.30), (25, 0.25), (50, 0.20), (100, 0.10))
"""Default leverage ladder (leverage, weight): LiquidationHeatmap's default, heatmap-model.md §3.8."""


@dataclass
class StepInputs:
    """Per-step model drivers (K steps, M entry points).

    Attributes:
        ts: (K,) int64 step END time, ms UTC; step k covers (ts[k] − Δ, ts[k]].
        open, high, low, close: (K,) float price of the step (USDT); high/low drive consumption.
        dq: (K,) ΔOI over the step in contracts (base units), end minus start; NaN = unknown (no open/close).
        oi_prev: (K,) OI in contracts at the step start (denominator of the close fraction).
        beta: (K,) taker-buy share of the step's notional in [0, 1].
        entry_step: (M,) int step index of each entry point.
        entry_side: (M,) int 0 = long entries (taker buys), 1 = short entries (taker sells).
        entry_price: (M,) USDT.
        entry_weight: (M,) weights; normalised per (step, side) inside :func:`simulate`.
        source: free text describing where the drivers came from (for meta).
        gross_open, gross_close: optional (K,) contracts opened / closed inside the step (≥ 0,
            e.g. from an OI high/low path); when given they replace ``max(ΔQ, 0)`` /
            ``max(−ΔQ, 0)`` and a step may both close and open (close first, then open).
    """

    ts: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    dq: np.ndarray
    oi_prev: np.ndarray
    beta: np.ndarray
    entry_step: np.ndarray
    entry_side: np.ndarray
    entry_price: np.ndarray
    entry_weight: np.ndarray
    source: dict = field(default_factory=dict)
    gross_open: np.ndarray | None = None
    gross_close: np.ndarray | None = None


@dataclass(frozen=True)
class ModelParams:
    """Assumptions of the estimate (all exposed in API meta).

    ladder: ((leverage, weight), ...), weights need not sum to 1 (they scale the output).
    mmr: maintenance margin rate (fraction) used for every level (first-tier form, cum = 0).
    cell_frac: internal price cell as a fraction of the median close (0.0005 = 5 bps).
    half_life_steps: optional exponential decay of the book (None = none).
    net_closes: subtract the step's consumed quantity (≈ notional / price) from the closes
        (heatmap-model.md §3.6 step 2 refinement; breaks linearity in the weights).
    same_step_frac: fraction φ in [0, 1] of the positions OPENED in step k whose liquidation
        level lies inside step k's own range (long level ≥ low_k, short level ≤ high_k) that is
        liquidated in step k itself (without the intra-step path, φ = 0.5 says "the extreme
        came after the entry half of the time"). 0 = the §3.6 rule "first tested in step k+1".
        With gross flows (``StepInputs.gross_open``) only the net opening ``max(ΔQ, 0)`` of the
        step is eligible (the OI high/low of a step include its own forced closes). Linear in
        the weights.
    """

    ladder: tuple[tuple[float, float], ...] = DEFAULT_LADDER
    mmr: float = 0.004
    cell_frac: float = 0.0005
    half_life_steps: float | None = None
    net_closes: bool = False
    same_step_frac: float = 0.0


@dataclass
class SimResult:
    """Output of :func:`simulate`.

    grid_lo, cell: the price of cell c is ``grid_lo + (c + 0.5)·cell`` (USDT).
    snapshots: (K, 2, C) notional USDT of open levels per side and cell AFTER step k.
    consumed: (K, 2) notional USDT (qty × level price) consumed in step k per side.
    per_tier_consumed: (K, 2, L) the same split by ladder tier (weights applied).
    open_qty: (K,) total modelled open quantity (both sides / 2) after step k, contracts.
    """

    grid_lo: float
    cell: float
    snapshots: np.ndarray | None
    consumed: np.ndarray
    per_tier_consumed: np.ndarray
    open_qty: np.ndarray

    def cell_prices(self) -> np.ndarray:
        """(C,) centre price of every cell, USDT."""
        n = self.snapshots.shape[-1] if self.snapshots is not None else 0
        return self.grid_lo + (np.arange(n) + 0.5) * self.cell


def _grid(inp: StepInputs, params: ModelParams) -> tuple[float, float, int]:
    max_dist = max(1.0 / min(L for L, _ in params.ladder), 0.01) + params.mmr + 0.02
    lo = float(np.nanmin(inp.low)) * (1 - max_dist)
    hi = float(np.nanmax(inp.high)) * (1 + max_dist)
    cell = float(np.nanmedian(inp.close)) * params.cell_frac
    n = int(np.ceil((hi - lo) / cell)) + 1
    return lo, cell, n


def simulate(inp: StepInputs, params: ModelParams = ModelParams(), keep_snapshots: bool = True,
             snapshot_at: np.ndarray | None = None, per_tier: bool = True) -> SimResult:
    """Run the §3.6 loop over all steps; see the module docstring for the update order.

    Returns a :class:`SimResult`; with ``keep_snapshots=False`` only flows are kept
    (cheap, for validation); ``snapshot_at`` (sorted step indices) keeps snapshots of those
    steps only, in that order. ``per_tier=False`` keeps one state slab per side instead of one
    per tier (5x less work; ``per_tier_consumed`` then has a single tier column).
    Raises ValueError on empty input.
    """
    K = len(inp.ts)
    if K == 0:
        raise ValueError("no steps to simulate")
    lo, cell, C = _grid(inp, params)
    levs = np.array([L for L, _ in params.ladder], dtype=float)
    wts = np.array([w for _, w in params.ladder], dtype=float)
    nL = len(levs)
    nS = nL if per_tier else 1  # state slabs per side
    cell_price = lo + (np.arange(C) + 0.5) * cell

    # entry points -> per (step, side, tier) target cell and quantity share
    es = np.asarray(inp.entry_step, dtype=np.int64)
    side = np.asarray(inp.entry_side, dtype=np.int64)
    ep = np.asarray(inp.entry_price, dtype=float)
    ew = np.asarray(inp.entry_weight, dtype=float)
    norm = np.zeros((K, 2))
    np.add.at(norm, (es, side), ew)
    share = ew / np.where(norm[es, side] > 0, norm[es, side], 1.0)
    # flat index into A.ravel() of every (tier, entry): side*nL*C + tier*C + cell(P_liq)
    flat = np.empty((nL, len(ep)), dtype=np.int64)
    for li, L in enumerate(levs):
        for s in (0, 1):
            m = side == s
            p = liq_price_ladder(ep[m], L, s, params.mmr)
            flat[li, m] = s * nS * C + (li if per_tier else 0) * C + np.clip(((p - lo) / cell).astype(np.int64), 0, C - 1)
    # quantity each entry opens (known before the loop: depends only on ΔQ and β of its step)
    dq_all = np.asarray(inp.dq, dtype=float)
    b_all = np.where(np.isfinite(inp.beta), np.clip(inp.beta, 0.0, 1.0), 0.5)
    if inp.gross_open is not None:
        open_amt = np.nan_to_num(np.clip(np.asarray(inp.gross_open, dtype=float), 0.0, None))
        close_amt = np.nan_to_num(np.clip(np.asarray(inp.gross_close, dtype=float), 0.0, None))
    else:
        open_amt = np.where(np.isfinite(dq_all) & (dq_all > 0), dq_all, 0.0)
        close_amt = np.where(np.isfinite(dq_all) & (dq_all < 0), -dq_all, 0.0)
    opening = open_amt > 0
    n_entry = np.where(side == 0, b_all[es], 1.0 - b_all[es]) * open_amt[es] * share
    order = np.argsort(es, kind="stable")
    bounds = np.searchsorted(es[order], np.arange(K + 1))
    flat_o = flat[:, order]
    add_o = wts[:, None] * n_entry[order][None, :]
    same_step = np.zeros((K, 2, nS))
    if params.same_step_frac > 0:
        # levels of step-k entries inside step k's range: a fraction φ is liquidated in step k
        lvl = lo + (flat_o % C + 0.5) * cell  # (nL, M) level price (cell centre)
        es_o, side_o = es[order], side[order]
        lo_e = np.asarray(inp.low, dtype=float)[es_o]
        hi_e = np.asarray(inp.high, dtype=float)[es_o]
        inside = np.where(side_o == 0, lvl >= lo_e, lvl <= hi_e) & np.isfinite(lo_e)
        # with gross flows only the NET opening max(ΔQ, 0) is eligible: the intra-step OI range
        # itself contains the step's forced closes, so using it for the same step would be circular
        net_share = np.where(open_amt > 0, np.clip(np.nan_to_num(dq_all) / np.where(open_amt > 0, open_amt, 1.0),
                                                   0.0, 1.0), 0.0)
        gone = params.same_step_frac * add_o * inside * net_share[es_o][None, :]
        tier_idx = np.broadcast_to((np.arange(nL) if per_tier else np.zeros(nL, np.int64))[:, None], gone.shape)
        np.add.at(same_step, (np.broadcast_to(es_o, gone.shape), np.broadcast_to(side_o, gone.shape), tier_idx),
                  gone * lvl)
        add_o = add_o - gone

    A = np.zeros((2, nS, C))
    Af = A.reshape(-1)  # view
    snap_pos = None
    if snapshot_at is not None:
        snap_pos = np.full(K, -1, dtype=np.int64)
        snap_pos[np.asarray(snapshot_at, dtype=np.int64)] = np.arange(len(snapshot_at))
        snaps = np.zeros((len(snapshot_at), 2, C), dtype=np.float32)
    else:
        snaps = np.zeros((K, 2, C), dtype=np.float32) if keep_snapshots else None
    consumed = np.zeros((K, 2))
    tier_consumed = np.zeros((K, 2, nS))
    open_qty = np.zeros(K)
    decay = 2.0 ** (-1.0 / params.half_life_steps) if params.half_life_steps else None

    low = np.asarray(inp.low, dtype=float)
    high = np.asarray(inp.high, dtype=float)
    for k in range(K):
        # 1. consume (inclusive): longs at/above low, shorts at/below high
        lo_k, hi_k = float(low[k]) * (1 - 1e-12), float(high[k]) * (1 + 1e-12)  # inclusive despite float noise
        if lo_k == lo_k:  # not NaN
            i = min(max(int(math.floor((lo_k - lo) / cell)), 0), C)
            blk = A[0, :, i:]
            q = blk @ cell_price[i:]
            tier_consumed[k, 0] = q
            blk[:] = 0.0
        if hi_k == hi_k:
            j = min(max(int(math.floor((hi_k - lo) / cell)) + 1, 0), C)
            blk = A[1, :, :j]
            q = blk @ cell_price[:j]
            tier_consumed[k, 1] = q
            blk[:] = 0.0
        cq = close_amt[k]
        b = b_all[k]
        if cq > 0:
            # 2. close, side-specific, fraction of actual OI
            oi = inp.oi_prev[k]
            if np.isfinite(oi) and oi > 0:
                c_long, c_short = cq * (1.0 - b), cq * b
                if params.net_closes:  # liquidations are part of the OI drop: close only the rest
                    c_long = max(0.0, c_long - float(tier_consumed[k, 0].sum()) / max(lo_k, 1e-12))
                    c_short = max(0.0, c_short - float(tier_consumed[k, 1].sum()) / max(hi_k, 1e-12))
                A[0] *= 1.0 - min(1.0, c_long / oi)
                A[1] *= 1.0 - min(1.0, c_short / oi)
        if opening[k] and bounds[k + 1] > bounds[k]:
            # 3. open: every (tier, entry) of this step in one scatter-add
            j0, j1 = bounds[k], bounds[k + 1]
            np.add.at(Af, flat_o[:, j0:j1].ravel(), add_o[:, j0:j1].ravel())
        if decay is not None:
            A *= decay
        if snap_pos is not None:
            if snap_pos[k] >= 0:
                snaps[snap_pos[k]] = (A.sum(axis=1) if per_tier else A[:, 0]) * cell_price
        elif snaps is not None:
            snaps[k] = (A.sum(axis=1) if per_tier else A[:, 0]) * cell_price
        open_qty[k] = A.sum() / 2.0
    tier_consumed += same_step
    consumed[:] = tier_consumed.sum(axis=2)
    return SimResult(lo, cell, snaps, consumed, tier_consumed, open_qty)
