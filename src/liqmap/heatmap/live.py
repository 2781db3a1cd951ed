"""The live feeder: stored per-venue market series -> the ONE model's stepper, one step at a time.

``serve`` keeps one :class:`LiveHeatmap` per tracked underlying (BTC, ETH ...). Each
:meth:`LiveHeatmap.advance` takes the data of the steps that became complete and runs
:func:`liqmap.heatmap.engine.step` on them with the served parameters
(:func:`liqmap.heatmap.params.load_params`) -- the same stepper, parameters and per-step input
rules (:func:`liqmap.heatmap.series.build_series`) as the API and ``liqmap validate``. Pure, no
I/O: :mod:`liqmap.serve.heatmap` reads the data and persists the state.

Inputs per step ``(t_end - step, t_end]`` (the model's time convention):

* price: the reference instrument's bars (``storage.market_reads.reference_bars``: the step's
  own kline, else 1-minute klines, else 1-minute trade bars), aggregated by ``build_series``;
  taker-buy share from their taker-buy quote volume;
* open interest: the chain-linked aggregate of the underlying's perpetuals on every collected
  venue (:class:`liqmap.analytics.oi_aggregate.OIChain`: base units; NaN while unknown), so the
  model's positions are the market's, not one venue's, and a venue that stops answering is
  neither silently lower nor read as positions closing.

State (:meth:`LiveHeatmap.dump` / :meth:`LiveHeatmap.load`, lossless): the stepper's state
(:func:`~liqmap.heatmap.engine.dump_state`), the OI chain, and ``first_end``, the first step of
the run. Running :func:`offline_steps` over the same stored data from the same ``first_end``
gives the same levels bit for bit (tests/test_heatmap_live.py), and so does a run stopped at
any step and resumed from its dumped state.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import msgspec
import numpy as np

from liqmap.analytics.oi_aggregate import AggregateStep, OIChain
from liqmap.heatmap.engine import State, StepInput, dump_state, load_state, max_oi_age_ms, new_state, step
from liqmap.heatmap.params import ServedParams
from liqmap.heatmap.pipeline import run
from liqmap.heatmap.series import SOURCES, Klines, OpenInterest, StepSeries, build_series

STATE_FORMAT = 1


@dataclass(frozen=True)
class LiveStep:
    """One step's result.

    t_end: step end (ms UTC); origin: global cell of ``levels[:, 0]``; levels: (2, C) USD per
    side (long, short) and cell after the step; consumed: (2,) USD liquidated in the step;
    close: the step's close (NaN unknown); price_source: how it was priced (``series.SOURCES``);
    oi: the aggregate fed to the model (base units, NaN unknown); aggregate: the step's
    :class:`~liqmap.analytics.oi_aggregate.AggregateStep` (sum, partial flag, venues).
    """

    t_end: int
    origin: int
    levels: np.ndarray | None
    consumed: np.ndarray
    close: float
    price_source: str
    oi: float
    aggregate: AggregateStep


class _Blob(msgspec.Struct):
    format: int
    base: str
    params_version: str
    first_end: int
    state: bytes
    chain: dict


class LiveHeatmap:
    """The model of one underlying, advanced step by step (module docstring).

    Args:
        base: underlying (``BTC``).
        served: the parameters file in use.
        first_end: end of the first step to run (a multiple of the step, ms UTC).
        step_ms: the model step (ms; default the parameters' own, the validated one: 5 minutes).
    """

    def __init__(self, base: str, served: ServedParams, first_end: int, step_ms: int | None = None) -> None:
        step_ms = int(step_ms or served.step_ms)
        if first_end % step_ms:
            raise ValueError(f"first_end {first_end} is not a step end of {step_ms} ms")
        self.base = base
        self.served = served
        self.step_ms = step_ms
        self.first_end = int(first_end)
        self.state: State = new_state(served.params, step_ms)
        self.chain = OIChain(hold_ms=max_oi_age_ms(step_ms))

    @property
    def next_end(self) -> int:
        """End of the next step to run."""
        return self.first_end if self.state.t_end is None else self.state.t_end + self.step_ms

    def advance(self, klines: list[Klines], oi: dict[str, dict[int, tuple[float, float | None]]],
                last_end: int, levels: bool = True) -> list[LiveStep]:
        """Run every step from :attr:`next_end` through ``last_end``.

        ``klines``: the reference instrument's bars opening in ``[next_end - step, last_end)``;
        ``oi``: ``{instrument key: {t_end: (base units, USD or None)}}`` for those steps
        (:func:`liqmap.storage.market_reads.oi_per_step`). Returns the steps run (none when
        ``last_end < next_end``). Raises ``ValueError`` from the stepper on a bad input.
        """
        if last_end < self.next_end:
            return []
        inputs, sources, aggs = step_inputs(self.chain, self.step_ms, klines, oi, self.next_end, last_end)
        out = []
        for x, agg, src in zip(inputs, aggs, sources):
            self.state, res = step(self.state, x, inplace=True, levels=levels)
            out.append(LiveStep(res.t_end, res.origin, res.levels, res.consumed, x.close, src, x.oi, agg))
        return out

    def dump(self) -> bytes:
        """Serialise (lossless): model state, OI chain, first step end, params version."""
        return msgspec.msgpack.encode(_Blob(STATE_FORMAT, self.base, self.served.version, self.first_end,
                                            dump_state(self.state), self.chain.dump()))

    @classmethod
    def load(cls, blob: bytes, served: ServedParams, step_ms: int | None = None) -> "LiveHeatmap":
        """Inverse of :meth:`dump` (``step_ms``: the step expected, default the parameters').
        Raises ``ValueError`` for another format, parameters version or step, or a bad blob."""
        try:
            b = msgspec.msgpack.decode(blob, type=_Blob)
        except msgspec.DecodeError as exc:
            raise ValueError(f"not a live heatmap state: {exc}") from None
        if b.format != STATE_FORMAT or b.params_version != served.version:
            raise ValueError(f"state is format {b.format}, params {b.params_version}; "
                             f"this is format {STATE_FORMAT}, params {served.version}")
        heat = cls(b.base, served, b.first_end, step_ms)
        heat.state = load_state(b.state)
        if heat.state.step_ms != heat.step_ms:
            raise ValueError(f"state steps {heat.state.step_ms} ms, expected {heat.step_ms} ms")
        heat.chain = OIChain.load(b.chain)
        return heat


def step_inputs(chain: OIChain, step_ms: int, klines: list[Klines],
                oi: dict[str, dict[int, tuple[float, float | None]]], first_end: int,
                last_end: int) -> tuple[list[StepInput], list[str], list[AggregateStep]]:
    """Per-step model inputs of the steps ending ``first_end .. last_end``: the OI aggregate
    (advancing ``chain``) and the reference bars through :func:`~liqmap.heatmap.series.build_series`.
    Returns (inputs, price source names, aggregates)."""
    ends = np.arange(first_end, last_end + 1, step_ms, dtype=np.int64)
    aggs = [chain.step(int(t), {k: v[int(t)] for k, v in sorted(oi.items()) if int(t) in v}) for t in ends]
    if not any(len(k.open_time) for k in klines):  # no price at all: the steps only decay the book
        inputs = [StepInput(int(t), math.nan, math.nan, math.nan, math.nan, a.value, math.nan)
                  for t, a in zip(ends, aggs)]
        return inputs, ["none"] * len(inputs), aggs
    chained = OpenInterest(ends, np.array([a.value for a in aggs]), np.array([a.total_usd for a in aggs]))
    series = build_series(step_ms, klines, chained, first_end=first_end, last_end=last_end)
    return list(series.inputs()), [SOURCES[int(s)] for s in series.price_source], aggs


def offline_steps(base: str, served: ServedParams, first_end: int, klines: list[Klines],
                  oi: dict[str, dict[int, tuple[float, float | None]]],
                  last_end: int, step_ms: int | None = None) -> list[tuple[int, int, np.ndarray]]:
    """The same steps computed offline in one batch by the model's offline runner
    (:func:`liqmap.heatmap.pipeline.run`) from a new state: ``[(t_end, origin, levels)]`` --
    what the live path must equal (``levels`` None before the first priced step). ``step_ms``
    default: the parameters' step."""
    step_ms = int(step_ms or served.step_ms)
    chain = OIChain(hold_ms=max_oi_age_ms(step_ms))
    inputs, _, _ = step_inputs(chain, step_ms, klines, oi, first_end, last_end)
    cols = [np.array([x[i] for x in inputs], dtype=np.int64 if i == 0 else float) for i in range(7)]
    series = StepSeries(step_ms, *cols, np.zeros(len(inputs), dtype=np.int8))
    res = run(served.params, series, snapshot_steps=range(len(inputs)))
    return [(int(series.t_end[i]), *res.snapshots.get(i, (0, None))) for i in range(len(inputs))]
