"""The liquidation-level book as a causal, incremental stepper (heatmap-model.md §3.4–§3.6).

One model, one pipeline: the HTTP API (``heatmap.model``), ``liqmap validate``
(``heatmap.validate``) and the live path all drive THIS stepper, with the parameters of
``heatmap/params/<version>.json``. Pure functions, no I/O.

Usage::

    state = new_state(params, step_ms=300_000)
    for x in inputs:                       # StepInput, one per step, in time order
        state, out = step(state, x)        # out.levels: (2, C) USD per cell; out.consumed: (2,) USD
    blob = dump_state(state)               # bytes; load_state(blob) resumes bit-identically

**Time convention.** Every step is named by its END time ``t_end`` (ms UTC) and covers
``(t_end − step_ms, t_end]``. ``t_end`` must be a multiple of ``step_ms`` and strictly increase;
anything else raises ``ValueError``. Feeders convert their own stamps at the edge (a kline's
``open_time + interval``, Binance OI ``create_time`` floored to the grid, an hourly row stamped at
the hour's start + 1 h).

**Grid.** A fixed log-price grid independent of the data: global cell ``c`` holds the
liquidation levels whose price lies in ``[e^{c·g}, e^{(c+1)·g})``, ``g = ln(1 + cell_bps/10⁴)``.
The state keeps a window of ``C`` cells starting at global cell ``origin``; when the close leaves
the window's middle half the window is re-centred (mass pushed off the edge is dropped and
counted; with the default ±50 % window it is > 25 % away from price). Re-centring depends only on
past closes, and it never moves a level, so predictions for past steps never change.

**State** ``book[s, c]`` = open quantity in CONTRACTS (base units for linear contracts, USD
contracts of ``contract_size`` for inverse ones) of side ``s`` (0 = long, 1 = short) whose
liquidation level lies in window cell ``c``. One side per contract: the book is
the model of the leveraged side of each open contract, so its total is bounded by the real OI.

**Per step**, in this order:

1. **consume** with the step's traded range ``[low, high]`` (after a gap, widened to the last
   close): long levels at or above ``low`` and short levels at or below ``high`` are liquidated.
   Only to the traded extreme: the cell holding the extreme is consumed in proportion to the
   part of it price crossed (levels log-uniform inside a cell). The consumed notional is the
   model's predicted liquidation flow.
2. **OI change**: ``ΔQ = OI(t_end) − OI(t_end − step)`` in contracts (unknown after a gap or
   a missing OI value: nothing opens or closes). Liquidations are part of that change, so the
   voluntary change is ``ΔQ + liquidated contracts`` (no double removal).
3. **close** (voluntary change < 0): side-specific, long closes ``|·|·(1 − β)`` (taker sells
   close longs), short closes ``|·|·β``, each side multiplied by ``1 − closes_side / OI_before``
   (the fraction of that side's open contracts; ``OI_before`` = the OI after this step's
   liquidations and before its closes = ``OI(t_end) + closes``).
4. **open** (voluntary change > 0): ``oi_weight · change`` contracts, ``β`` of them long,
   ``1 − β`` short; plus the background opens ``base_rate · OI · step/1h`` (split evenly; the
   price-path geometry term; with ``oi_weight = 0`` and ``base_rate > 0`` this is the no-OI
   book). Entries are spread uniformly over the step's ``[low, high]``; each ladder tier puts
   its weight at its liquidation price (isolated margin, first bracket, ``brackets.ladder_factor``),
   its log-distance from the entry spread uniformly over ``1 ± level_spread`` of its value. A
   share ``same_step_frac`` of the new levels inside the step's own range is liquidated in that
   step.
5. **decay** ``2^(−step/half_life)`` (none when ``half_life_ms`` is None), then a **cap**: the
   book never holds more contracts than the real OI (scaled down when it would).

Output: :class:`StepOutput` (levels per cell in USD after the step, consumed USD per side,
book size, OI).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import NamedTuple

import msgspec
import numpy as np

from liqmap.heatmap.brackets import check_ladder, ladder_factor
from liqmap.units import HOUR_MS

STATE_FORMAT = 1


@dataclass(frozen=True)
class Params:
    """Model parameters (the ones ``validate`` fits and the API serves; see ``heatmap.params``).

    ladder: ((leverage, weight), ...); weights ≥ 0, summing to ≤ 1 (they split the new contracts).
    mmr: maintenance margin rate of the first bracket (fraction; cum = 0 there).
    contract: ``"linear"`` (quantity in base units, notional = qty × price) or ``"inverse"``
        (quantity in contracts of ``contract_size`` USD, notional = qty × contract_size).
    cell_bps: log-grid cell width in basis points (5 = 0.05 %).
    window_log: half-width of the state window in natural-log price units (0.5 ≈ ±50 %).
    oi_weight: share of the voluntary OI increase that enters the book (0 = no OI opens).
    base_rate: background opens per hour, as a fraction of the current OI (contracts); when OI is
        unknown (the no-OI book) one unit per hour.
    half_life_ms: exponential decay half-life of the book (None = no decay).
    same_step_frac: share of a step's new levels inside its own range liquidated in that step.
    use_oi_closes: apply OI decreases as closes (False for the no-OI book).
    level_spread: σ in [0, 0.95]; each tier's log-distance from entry to level is spread uniformly
        over ``(1 − σ, 1 + σ)`` times its ladder value (the leverage between and around the tiers,
        cross margin, added margin); 0 = levels exactly at the ladder.
    """

    ladder: tuple[tuple[float, float], ...] = ((5, 0.15), (10, 0.30), (25, 0.25), (50, 0.20), (100, 0.10))
    mmr: float = 0.004
    contract: str = "linear"
    contract_size: float = 1.0
    cell_bps: float = 5.0
    window_log: float = 0.5
    oi_weight: float = 1.0
    base_rate: float = 0.0
    half_life_ms: float | None = None
    same_step_frac: float = 0.0
    use_oi_closes: bool = True
    level_spread: float = 0.0

    def __post_init__(self) -> None:
        check_ladder(self.ladder, self.mmr, self.contract)
        if self.contract not in ("linear", "inverse"):
            raise ValueError(f"contract must be 'linear' or 'inverse', got {self.contract!r}")
        if not (0 < self.cell_bps <= 100 and 0.05 <= self.window_log <= 3):
            raise ValueError("cell_bps must be in (0, 100] and window_log in [0.05, 3]")
        if self.oi_weight < 0 or self.base_rate < 0 or not 0 <= self.same_step_frac <= 1:
            raise ValueError("oi_weight and base_rate must be >= 0, same_step_frac in [0, 1]")
        if not 0 <= self.level_spread <= 0.95:
            raise ValueError("level_spread must be in [0, 0.95]")
        if self.half_life_ms is not None and self.half_life_ms <= 0:
            raise ValueError("half_life_ms must be > 0 or None")

    @cached_property
    def g(self) -> float:
        """Log width of one cell (natural-log price units; computed once per instance)."""
        return math.log1p(self.cell_bps / 1e4)

    @property
    def n_cells(self) -> int:
        """Cells in the state window."""
        return 2 * int(math.ceil(self.window_log / self.g))

    @cached_property
    def kernel(self) -> tuple["_Kernel", "_Kernel"]:
        """Per side, the distribution of (level − entry) in log cells: the ladder mixture of uniforms."""
        return tuple(_Kernel.build(self, side) for side in (0, 1))

    def to_dict(self) -> dict:
        """Plain JSON-ready dict (ladder as a list of [leverage, weight])."""
        d = {k: getattr(self, k) for k in self.__dataclass_fields__}
        d["ladder"] = [[float(L), float(w)] for L, w in self.ladder]
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "Params":
        """Inverse of :meth:`to_dict`; unknown keys raise ``TypeError``."""
        d = dict(d)
        d["ladder"] = tuple((float(L), float(w)) for L, w in d.get("ladder", cls.ladder))
        return cls(**d)


KERNEL_RES = 32  # table points per cell
KERNEL_PAD = 512  # cells of table beyond the kernel's support on each side (fast path)


@dataclass(frozen=True)
class _Kernel:
    """Tabulated distribution of the level offset d = log(level / entry) / g (cells) of one side.

    ``F`` is its CDF and ``G`` the integral of the CDF, at ``x0 + i/KERNEL_RES``, padded by
    ``KERNEL_PAD`` cells either side (F = 0, G = 0 left; F = 1, G with slope 1 right). Exact for the
    mixture of uniforms up to linear interpolation between table points (G is piecewise quadratic;
    the error is < 1e-6 of a tier's mass). ``weight``: the ladder weights' sum (the share of new
    contracts placed).
    """

    x0: float
    F: np.ndarray
    G: np.ndarray
    weight: float
    support: tuple[float, float]

    @classmethod
    def build(cls, p: "Params", side: int) -> "_Kernel":
        ds = np.array([math.log(ladder_factor(L, side, p.mmr, p.contract)) / p.g for L, _ in p.ladder])
        w = np.array([wt for _, wt in p.ladder], dtype=float)
        lo = np.minimum(ds * (1 - p.level_spread), ds * (1 + p.level_spread))
        hi = np.maximum(ds * (1 - p.level_spread), ds * (1 + p.level_spread))
        x0 = math.floor(lo.min()) - 1.0 - KERNEL_PAD
        x = x0 + np.arange(int((math.ceil(hi.max()) + 2 + KERNEL_PAD - x0) * KERNEL_RES) + 1) / KERNEL_RES
        F, G = np.zeros(len(x)), np.zeros(len(x))
        for a, b, wt in zip(lo, hi, w):
            if b - a > 1e-9:
                F += wt * np.clip((x - a) / (b - a), 0.0, 1.0)
                G += wt * (np.square(np.maximum(x - a, 0.0)) - np.square(np.maximum(x - b, 0.0))) / (2 * (b - a))
            else:
                F += wt * (x >= a)
                G += wt * np.maximum(x - a, 0.0)
        total = float(w.sum())
        if total:
            F, G = F / total, G / total
        return cls(x0, F, G, total, (math.floor(lo.min()) - 1.0, math.ceil(hi.max()) + 2.0))

    @cached_property
    def phases(self) -> dict[int, tuple[list[np.ndarray], list[np.ndarray]]]:
        """Per table (keyed by ``id`` of F / G) and phase ``r`` in ``0 .. KERNEL_RES − 1``: the table points
        ``r, r + RES, …`` and their forward differences (``table[i + 1] − table[i]``), contiguous, so
        :meth:`on_grid` reads ``n + 1`` points of one phase without a strided gather or a subtraction."""
        out = {}
        for table in (self.F, self.G):
            pts = [np.ascontiguousarray(table[r::KERNEL_RES]) for r in range(KERNEL_RES)]
            steps = [np.ascontiguousarray(table[r + 1::KERNEL_RES] - table[r:len(table) - 1:KERNEL_RES])
                     for r in range(KERNEL_RES)]
            out[id(table)] = (pts, steps)
        return out

    def box(self, y0: float, w1: float, n: int) -> np.ndarray:
        """``(G(y) − G(y − w1)) / w1`` at ``y = y0, y0 + 1, …, y0 + n`` (cells; ``w1`` > 0 cells): the CDF of
        the kernel convolved with a uniform entry box of width ``w1``. Same arithmetic as two
        :meth:`on_grid` calls on G, inlined for the per-step path."""
        u1, u2 = (y0 - self.x0) * KERNEL_RES, (y0 - w1 - self.x0) * KERNEL_RES
        i1, i2 = math.floor(u1), math.floor(u2)
        last = len(self.G) - 1 - KERNEL_RES * n
        if not (0 <= i2 and i1 < last):  # i2 <= i1: both inside the table or the general path
            cum = self.on_grid(self.G, y0, n)
            cum -= self.on_grid(self.G, y0 - w1, n)
        else:
            pts, steps = self.phases[id(self.G)]
            j1, r1 = divmod(i1, KERNEL_RES)
            j2, r2 = divmod(i2, KERNEL_RES)
            cum = np.multiply(steps[r1][j1:j1 + n + 1], u1 - i1)
            cum += pts[r1][j1:j1 + n + 1]
            v2 = np.multiply(steps[r2][j2:j2 + n + 1], u2 - i2)
            v2 += pts[r2][j2:j2 + n + 1]
            cum -= v2
        cum /= w1
        return cum

    def on_grid(self, table: np.ndarray, y0: float, n: int) -> np.ndarray:
        """``table`` (F or G) at ``y0, y0 + 1, …, y0 + n`` cells (a new (n + 1,) array): one phase of the
        table when inside it, else a general interpolation (G continued with slope 1 to the right)."""
        u0 = (y0 - self.x0) * KERNEL_RES
        i0 = math.floor(u0)
        t = u0 - i0
        if i0 >= 0 and i0 + 1 + KERNEL_RES * n < len(table):
            pts, steps = self.phases[id(table)]
            j, r = divmod(i0, KERNEL_RES)
            v = np.multiply(steps[r][j:j + n + 1], t)  # a + t·(b − a) with a = table[i0 + k·RES]
            v += pts[r][j:j + n + 1]
            return v
        y = y0 + np.arange(n + 1.0)
        u = np.clip((y - self.x0) * KERNEL_RES, 0.0, len(table) - 1.0)
        i = np.minimum(u.astype(np.int64), len(table) - 2)
        v = table[i] + (u - i) * (table[i + 1] - table[i])
        if table is self.G:
            v = v + np.maximum(y - (self.x0 + (len(table) - 1) / KERNEL_RES), 0.0)
        return v


class StepInput(NamedTuple):
    """Drivers of ONE step ``(t_end − step_ms, t_end]``.

    t_end: ms UTC, multiple of the state's ``step_ms``.
    open, high, low, close: traded prices of the step (USD per base unit); NaN = no trade known.
        ``low``/``high`` drive consumption and the entry range.
    oi: open interest at ``t_end`` in contracts (base units for linear); NaN = unknown.
    taker_buy: taker-buy share β of the step's volume in [0, 1]; NaN = unknown (last known used).
    """

    t_end: int
    open: float
    high: float
    low: float
    close: float
    oi: float
    taker_buy: float


class StepOutput(NamedTuple):
    """Result of one step.

    t_end: the step's end, ms UTC.
    origin: global cell index of ``levels[:, 0]`` (cell prices: :func:`cell_prices`).
    levels: (2, C) float64 USD notional of open levels per side and cell AFTER the step
        (None when the caller asked for flows only).
    consumed: (2,) USD notional liquidated in the step per side (long, short).
    book_qty: contracts in the book after the step; oi: the step's OI (contracts, NaN unknown).
    """

    t_end: int
    origin: int
    levels: np.ndarray | None
    consumed: np.ndarray
    book_qty: float
    oi: float


@dataclass
class State:
    """Everything the stepper carries between steps (serialise with :func:`dump_state`).

    book: (2, C) float64 contracts; origin: global cell of ``book[..., 0]``; t_end: last step end
    (ms, None before the first step); oi: last known OI (contracts); beta: last known taker-buy
    share; close: last known close; t_oi / t_price: step ends at which ``oi`` / ``close`` were seen;
    dropped_qty: contracts pushed off the window edge or removed by the OI cap (diagnostics);
    n_steps: steps taken. ``_nz``: per side (lo, hi) window cells outside of which the book is
    exactly +0.0 — ``(lo0, hi0, lo1, hi1)``, kept by the stepper so :func:`_take` skips reductions
    over empty ranges; None = unknown (code writing ``book`` directly must leave or reset it None).
    """

    params: Params
    step_ms: int
    book: np.ndarray
    origin: int | None = None
    t_end: int | None = None
    oi: float = math.nan
    beta: float = 0.5
    close: float = math.nan
    dropped_qty: float = 0.0
    n_steps: int = 0
    t_oi: int | None = None
    t_price: int | None = None
    _prices: np.ndarray | None = field(default=None, repr=False, compare=False)
    _nz: tuple[int, int, int, int] | None = field(default=None, repr=False, compare=False)

    def copy(self) -> "State":
        """Deep copy (the book array is copied)."""
        return replace(self, book=self.book.copy(), _prices=self._prices)

    def prices(self) -> np.ndarray:
        """(C,) level price at the centre of every window cell, USD."""
        if self._prices is None:
            self._prices = cell_prices(self.params, self.origin or 0, self.book.shape[-1])
        return self._prices


def cell_prices(params: Params, origin: int, n: int) -> np.ndarray:
    """(n,) USD price at the log-centre of global cells ``origin .. origin + n − 1``."""
    return np.exp((origin + np.arange(n) + 0.5) * params.g)


def new_state(params: Params, step_ms: int) -> State:
    """Empty book for ``params`` stepping every ``step_ms`` ms (the window is placed at the first price)."""
    if step_ms <= 0 or step_ms % 1000:
        raise ValueError(f"step_ms must be a positive whole number of seconds, got {step_ms}")
    C = params.n_cells
    return State(params=params, step_ms=int(step_ms), book=np.zeros((2, C)), _nz=(C, -1, C, -1))


def _check(state: State, x: StepInput) -> None:
    t = int(x.t_end)
    if t % state.step_ms:
        raise ValueError(f"t_end {t} is not a step END on the {state.step_ms} ms grid (steps are named by their end)")
    if state.t_end is not None and t <= state.t_end:
        raise ValueError(f"t_end {t} does not follow the last step end {state.t_end} (steps must increase)")
    _, o, h, lo, c, oi, tb = x
    if 0 < lo <= h < math.inf and 0 < o < math.inf and 0 < c < math.inf and 0 <= oi < math.inf and 0 <= tb <= 1:
        return  # every value known and valid (the common step); else the checks below name the bad one
    for name in ("open", "high", "low", "close"):
        v = getattr(x, name)
        if v == v and not (0 < v < math.inf):
            raise ValueError(f"{name} must be a positive finite price or NaN, got {v}")
    if x.high == x.high and x.low == x.low and x.high < x.low:
        raise ValueError(f"high {x.high} < low {x.low}")
    if x.oi == x.oi and not (0 <= x.oi < math.inf):
        raise ValueError(f"oi must be finite and >= 0 contracts or NaN, got {x.oi}")
    if x.taker_buy == x.taker_buy and not 0 <= x.taker_buy <= 1:
        raise ValueError(f"taker_buy must be in [0, 1] or NaN, got {x.taker_buy}")


def _recenter(st: State, close: float) -> None:
    p = st.params
    C = st.book.shape[-1]
    c = int(math.floor(math.log(close) / p.g))
    if st.origin is not None and st.origin + C // 4 <= c < st.origin + 3 * C // 4:
        return
    new = c - C // 2
    if st.origin is not None:
        shift = new - st.origin
        old = st.book
        st.book = np.zeros_like(old)
        if abs(shift) < C:
            src = old[..., max(shift, 0): C + min(shift, 0)]
            st.book[..., max(-shift, 0): C - max(shift, 0)] = src
        st.dropped_qty += float(old.sum() - st.book.sum())
        if st._nz is not None:
            st._nz = _shifted(st._nz, shift, C)
    st.origin = new
    st._prices = None


def _shifted(nz: tuple[int, int, int, int], shift: int, C: int) -> tuple[int, int, int, int]:
    """``State._nz`` after the window moved by ``shift`` cells (``C`` cells; empty side = (C, −1))."""
    out = []
    for lo, hi in (nz[:2], nz[2:]):
        lo, hi = max(lo - shift, 0), min(hi - shift, C - 1)
        out += (lo, hi) if lo <= hi else (C, -1)
    return tuple(out)


_sum = np.add.reduce  # = ndarray.sum (same reduction) without the method's Python wrapper


def _take(st: State, s: int, i0: int, i1: int, part: int, frac: float) -> tuple[float, float]:
    """Remove cells ``i0:i1`` of side ``s`` fully and the share ``frac`` of cell ``part`` (−1 = none).
    Returns (USD, contracts) removed."""
    row = st.book[s]
    inverse = st.params.contract == "inverse"
    nz = st._nz
    if nz is not None and (i1 <= nz[2 * s] or i0 > nz[2 * s + 1]):  # all +0.0: what the sums give
        qty = 0.0
        usd = qty * st.params.contract_size if inverse else 0.0
    else:
        seg = row[i0:i1]
        qty = float(_sum(seg))
        usd = qty * st.params.contract_size if inverse else float(seg @ st.prices()[i0:i1])
        seg.fill(0.0)
    if nz is not None:  # the range is now +0.0 (it is a prefix or a suffix of the window)
        lo, hi = nz[2 * s], nz[2 * s + 1]
        lo, hi = max(lo, i1) if i0 <= lo else lo, min(hi, i0 - 1) if i1 > hi else hi
        st._nz = (lo, hi) + nz[2:] if s == 0 else nz[:2] + (lo, hi)
    if part >= 0 and frac > 0:
        q = float(row[part]) * frac
        usd += q * st.params.contract_size if inverse else q * float(st.prices()[part])
        qty += q
        row[part] -= q
    return usd, qty


def _consume(st: State, low: float, high: float) -> tuple[float, float, float]:
    """Liquidate levels crossed by [low, high] (module docstring 1); returns (long USD, short USD,
    contracts)."""
    g, C = st.params.g, st.book.shape[-1]
    usd_long = usd_short = qty = 0.0
    if low == low:
        x = math.log(low) / g - st.origin
        i = math.floor(x)
        if i < C:
            usd_long, q = _take(st, 0, max(i + 1, 0), C, i if i >= 0 else -1, i + 1 - x)
            qty += q
    if high == high:
        x = math.log(high) / g - st.origin
        j = math.floor(x)
        if j >= 0:
            usd_short, q = _take(st, 1, 0, min(j, C), j if j < C else -1, x - j)
            qty += q
    return usd_long, usd_short, qty


def _deposit(st: State, low: float, high: float, mass: tuple[float, float], same_step: float) -> list[float]:
    """Add ``mass[s]`` contracts per side: entries uniform over [low, high] (log), levels at entry × the
    side's kernel (ladder mixture with the level spread). Exact convolution of the entry box with the
    kernel via the kernel's integrated CDF. Returns [long, short] USD liquidated by the same-step share."""
    p, C, g = st.params, st.book.shape[-1], st.params.g
    a = math.log(low) / g - st.origin
    w1 = math.log(high / low) / g
    consumed = [0.0, 0.0]
    for s in (0, 1):
        if mass[s] <= 0:
            continue
        k = p.kernel[s]
        d0, d1 = k.support
        c0 = max(int(math.floor(a + d0)), 0)
        c1 = min(int(math.ceil(a + w1 + d1)) + 1, C)
        if c1 <= c0:
            st.dropped_qty += float(mass[s] * k.weight)
            continue
        y0 = c0 - a  # first cell boundary relative to the lowest entry
        n = c1 - c0
        m = mass[s] * k.weight
        if w1 > 1e-6:
            cum = k.box(y0, w1, n)
        else:
            cum = k.on_grid(k.F, y0, n)
        add = np.subtract(cum[1:], cum[:-1])
        add *= m
        if c0 == 0 or c1 == C:  # the kernel reaches past the window edge: count what falls off
            st.dropped_qty += float(m - _sum(add))
        if same_step > 0:
            cp = st.prices()[c0:c1]
            gone = add * ((cp >= low) if s == 0 else (cp <= high)) * same_step
            add = add - gone
            consumed[s] = float(gone.sum()) * p.contract_size if p.contract == "inverse" else float(gone @ cp)
        st.book[s, c0:c1] += add
        if st._nz is not None:
            nz = st._nz
            span = (min(nz[2 * s], c0), max(nz[2 * s + 1], c1 - 1))
            st._nz = span + nz[2:] if s == 0 else nz[:2] + span
    return consumed


def max_oi_age_ms(step_ms: int) -> int:
    """Oldest OI reference a step's ΔQ may span: 3 steps, at least one hour (hourly OI under 5-minute
    steps still opens positions, over the range of the step where the new value arrives)."""
    return max(3 * step_ms, HOUR_MS)


def _flows(st: State, x: StepInput, liq_qty: float) -> tuple[float, float, float]:
    """(closes, opens, β) in contracts for this step from the OI change (module docstring 2–4)."""
    beta = x.taker_buy if x.taker_buy == x.taker_buy else st.beta
    oi0, oi1 = st.oi, x.oi
    if oi0 != oi0 or oi1 != oi1 or st.t_oi is None or x.t_end - st.t_oi > max_oi_age_ms(st.step_ms):
        return 0.0, 0.0, beta
    vol = (oi1 - oi0) + liq_qty  # voluntary change: liquidations already left the book
    return (max(-vol, 0.0), max(vol, 0.0), beta)


def _background_scale(st: State, x: StepInput) -> float:
    """Contracts the background rate applies to: the OI (this step's, else the last known; 0 before
    any) for the OI model, one unit for the no-OI book (``oi_weight == 0``)."""
    if st.params.oi_weight == 0:
        return 1.0
    if x.oi == x.oi:
        return x.oi
    return st.oi if st.oi == st.oi else 0.0


def _apply_flows(st: State, x: StepInput, low: float, high: float, liq_qty: float) -> list[float]:
    """Closes, OI opens and background opens of one priced step; returns same-step liquidations
    [long, short] USD."""
    p = st.params
    closes, opens, beta = _flows(st, x, liq_qty)
    if closes > 0 and p.use_oi_closes:
        before = x.oi + closes  # contracts open after this step's liquidations, before its closes
        st.book[0] *= 1.0 - min(1.0, closes * (1.0 - beta) / before)
        st.book[1] *= 1.0 - min(1.0, closes * beta / before)
    opened = opens * p.oi_weight
    m_long, m_short = beta * opened, (1.0 - beta) * opened
    if p.base_rate > 0:
        bg = 0.5 * p.base_rate * _background_scale(st, x) * st.step_ms / HOUR_MS
        m_long, m_short = m_long + bg, m_short + bg
    st.beta = beta
    if not (m_long != 0 or m_short != 0):  # NaN counts as non-zero
        return [0.0, 0.0]
    return _deposit(st, low, high, (m_long, m_short), p.same_step_frac)


def step(state: State, x: StepInput, *, inplace: bool = False, levels: bool = True) -> tuple[State, StepOutput]:
    """Advance the book by one step (module docstring). Pure unless ``inplace=True``.

    A step without a close (no trade known) only decays the book and keeps the last OI, so the
    next priced step's ΔQ spans both (up to :func:`max_oi_age_ms`). ``levels=False`` skips
    building the (2, C) output (flows only, for fitting). Raises ``ValueError`` on a
    misaligned/non-increasing ``t_end`` or an invalid value.
    """
    _check(state, x)
    st = state if inplace else state.copy()
    p = st.params
    dt_ms = st.step_ms if st.t_end is None else x.t_end - st.t_end
    usd_long = usd_short = 0.0
    if x.close == x.close:
        _recenter(st, x.close)
        low = x.low if x.low == x.low else x.close
        high = x.high if x.high == x.high else x.close
        if st.t_price is not None and x.t_end - st.t_price > st.step_ms:  # after a gap the path is unknown:
            low, high = min(low, st.close), max(high, st.close)  # price crossed from the last close to here
        usd_long, usd_short, liq_qty = _consume(st, low, high)
        same = _apply_flows(st, x, x.low if x.low == x.low else low, x.high if x.high == x.high else high, liq_qty)
        usd_long, usd_short = usd_long + same[0], usd_short + same[1]
        st.close, st.t_price = x.close, int(x.t_end)
        if x.oi == x.oi:
            st.oi, st.t_oi = x.oi, int(x.t_end)
    if p.half_life_ms:
        st.book *= 2.0 ** (-dt_ms / p.half_life_ms)
    total = float(_sum(st.book, axis=None))
    if x.oi == x.oi and total > x.oi:  # the book cannot hold more contracts than exist
        st.dropped_qty += total - x.oi
        st.book *= x.oi / total
        total = x.oi
    st.t_end, st.n_steps = int(x.t_end), st.n_steps + 1
    lv = levels_of(st) if levels and st.origin is not None else None
    consumed = np.array((usd_long, usd_short))
    return st, StepOutput(int(x.t_end), st.origin if st.origin is not None else 0, lv, consumed, total, x.oi)


def levels_of(st: State) -> np.ndarray:
    """(2, C) USD notional of the open levels per side and window cell."""
    if st.params.contract == "inverse":
        return st.book * st.params.contract_size
    return st.book * st.prices()[None, :]


# ---------------------------------------------------------------- persistence


class _Blob(msgspec.Struct):
    format: int
    params: dict
    step_ms: int
    origin: int | None
    t_end: int | None
    oi: float
    beta: float
    close: float
    dropped_qty: float
    n_steps: int
    t_oi: int | None
    t_price: int | None
    shape: tuple[int, int]
    book: bytes


def dump_state(st: State) -> bytes:
    """Serialise a state to bytes (msgpack; the book as little-endian float64). Lossless."""
    return msgspec.msgpack.encode(_Blob(
        STATE_FORMAT, st.params.to_dict(), st.step_ms, st.origin, st.t_end, st.oi, st.beta, st.close,
        st.dropped_qty, st.n_steps, st.t_oi, st.t_price, tuple(st.book.shape), st.book.astype("<f8").tobytes()))


def load_state(blob: bytes) -> State:
    """Inverse of :func:`dump_state`. Raises ``ValueError`` on an unknown format or a bad blob."""
    try:
        b = msgspec.msgpack.decode(blob, type=_Blob)
    except msgspec.DecodeError as exc:
        raise ValueError(f"not a heatmap state: {exc}") from None
    if b.format != STATE_FORMAT:
        raise ValueError(f"state format {b.format} is not {STATE_FORMAT}")
    book = np.frombuffer(b.book, dtype="<f8").reshape(b.shape).astype(np.float64)
    return State(params=Params.from_dict(b.params), step_ms=b.step_ms, book=book, origin=b.origin, t_end=b.t_end,
                 oi=b.oi, beta=b.beta, close=b.close, dropped_qty=b.dropped_qty, n_steps=b.n_steps,
                 t_oi=b.t_oi, t_price=b.t_price)
