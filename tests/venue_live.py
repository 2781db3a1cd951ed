"""One call for a venue's live adapter test: run the REAL adapter against a local
venue replaying recorded protocol frames, record what it received, replay the
recording, and hand back both sides (docs/adding-a-venue.md).

``await live_record_replay(venue, scripts, until, tmp_path)`` returns a
:class:`LiveRun`: the live events and health, the local server (messages the
adapter sent, paths it asked for), the recording written by the adapter's
recorder hook (``liqmap record``'s writer) and the events of replaying it
through :class:`~liqmap.replay.runner.ReplayRunner`. :func:`assert_replay_matches`
checks that replay gives the live liquidations back (same ids and values).

``await live_gap_backfill(...)`` does the same around a reconnect whose gap the feed
fills from a local history server (a venue's reconnect test: the gap's liquidations
arrive from REST, nothing twice); :func:`assert_gap_stored_filled` stores the run
in DuckDB and checks the gap is kept once, marked filled, its hour fully covered.

Nothing here touches the internet: the adapter's ``ws_url`` points at 127.0.0.1
and REST is off unless the caller passes a local ``rest_url``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

from liqmap.exchanges.base import Venue
from liqmap.feed.adapter import ExchangeAdapter
from liqmap.feed.health import HealthStatus
from liqmap.feed.recorder import RecordingWriter
from liqmap.models import Event, Gap, Liquidation
from liqmap.replay.runner import ReplayRunner
from localvenue import LocalWsVenue, wait_until

#: Test timings: quick watchdog and backoff, no REST, no library pings.
FAST: dict[str, Any] = dict(ws_timeout=2.0, backoff_base=0.05, backoff_cap=0.2, rest=False, ping_interval_s=None)


@dataclass
class LiveRun:
    """What one local live run produced (see module docstring)."""

    events: list[Event]
    health: HealthStatus
    server: LocalWsVenue
    recording: Path
    replayed: list[Event]

    def liquidations(self) -> list[Liquidation]:
        return [e for e in self.events if isinstance(e, Liquidation)]

    def replayed_liquidations(self) -> list[Liquidation]:
        return [e for e in self.replayed if isinstance(e, Liquidation)]


async def live_record_replay(
    venue: str | Venue,
    scripts: Sequence[Sequence[object]],
    until: Callable[[list[Event]], bool],
    tmp_path: Path,
    responder: Callable[[str], str | None] | None = None,
    timeout_s: float = 5.0,
    server_until: Callable[[LocalWsVenue], bool] | None = None,
    health_until: Callable[[HealthStatus], bool] | None = None,
    **adapter_kw: Any,
) -> LiveRun:
    """Run ``ExchangeAdapter(venue, ws_url=<local server>)`` until ``until(events)``.

    Args:
        venue: registry name or Venue instance (options such as one settle currency).
        scripts: :class:`~localvenue.LocalWsVenue` scripts (per accepted connection).
        until: predicate over the events received so far.
        tmp_path: where the recording is written (``live.jsonl.gz``).
        responder: the local server's answer to client messages (acks, pongs).
        server_until: also wait for this predicate over the local server (messages received).
        health_until: also wait for this predicate over the adapter's health (acks counted).
        adapter_kw: overrides of :data:`FAST` and other adapter options (``symbols``).

    Raises:
        AssertionError: ``until`` not reached within ``timeout_s``.
    """
    path = Path(tmp_path) / "live.jsonl.gz"
    events: list[Event] = []
    async with LocalWsVenue(scripts, responder) as server:
        name = venue if isinstance(venue, str) else venue.name
        with RecordingWriter(path, [name]) as writer:
            adapter = ExchangeAdapter(venue, ws_url=server.url, recorder=writer, **{**FAST, **adapter_kw})
            adapter.add_listener(events.append)
            await adapter.connect()
            try:
                await wait_until(lambda: until(events), timeout_s, what=f"{name} events")
                if server_until is not None:
                    await wait_until(lambda: server_until(server), timeout_s, what=f"{name} server state")
                if health_until is not None:
                    await wait_until(lambda: health_until(adapter.health()), timeout_s, what=f"{name} health")
                health = adapter.health()
            finally:
                await adapter.disconnect()
    replayed = list(ReplayRunner([path]).iter_events())
    return LiveRun(events, health, server, path, replayed)


def assert_replay_matches(run: LiveRun) -> None:
    """Replaying the recording gives the live liquidations back: same ids, sides,
    prices, quantities, values and exchange times, in the same order."""
    def key(e: Liquidation) -> tuple:
        return (e.id, e.side, e.price, e.quantity, e.value_usd, e.timestamp, e.symbol)

    live = [key(e) for e in run.liquidations()]
    assert live, "no liquidation received live"
    assert [key(e) for e in run.replayed_liquidations()] == live


# ----------------------------------------------------------------------------- gap backfill
class FeedClock:
    """The feed's wall clock (``now_ms`` of the connection and the frame handler), set by
    the test: a local venue replays a recorded session, so the feed runs in its time."""

    def __init__(self, t: int) -> None:
        self.t = t

    def install(self, monkeypatch) -> "FeedClock":
        import liqmap.feed.connection as connection
        import liqmap.feed.dispatch as dispatch

        monkeypatch.setattr(connection, "now_ms", lambda: self.t)
        monkeypatch.setattr(dispatch, "now_ms", lambda: self.t)
        return self


async def live_gap_backfill(
    venue: str | Venue,
    before: Sequence[str],
    after: Sequence[str],
    history: Sequence[str],
    gap: tuple[int, int],
    tmp_path: Path,
    monkeypatch,
    n_subscribe: int = 1,
    responder: Callable[[str], str | None] | None = None,
    timeout_s: float = 8.0,
    **adapter_kw: Any,
) -> tuple[LiveRun, "LocalHttpVenue"]:
    """A reconnect with a gap, filled from a local history server.

    The local venue sends ``before`` (received at ``gap[0]`` on the feed's clock), then
    drops the connection; the clock moves to ``gap[1]``, the adapter reconnects (a Gap
    ``(gap[0], gap[1]]``) and receives ``after``. The history server answers the
    backfill's requests with ``history`` bodies (or :class:`Reply` objects) in order (the last repeats). Returns the
    run (live events incl. the Gap reported twice: unfilled, then filled; the recording
    and its replay) and the history server (requests made).
    """
    from localvenue import Drop, LocalHttpVenue, Reply, Send, Sleep, WaitFor

    clock = FeedClock(gap[0]).install(monkeypatch)
    path = Path(tmp_path) / "live.jsonl.gz"
    events: list[Event] = []
    scripts = [[WaitFor(n_subscribe), Send(before), Sleep(0.5), Drop()], [WaitFor(n_subscribe), Send(after)]]
    name = venue if isinstance(venue, str) else venue.name
    async with LocalWsVenue(scripts, responder) as server, LocalHttpVenue([b if isinstance(b, Reply) else Reply(body=b) for b in history]) as rest:
        with RecordingWriter(path, [name]) as writer:
            kw = {**FAST, "backfill": True, "backfill_delay_s": 0.0, "listing": False, **adapter_kw}
            adapter = ExchangeAdapter(venue, ws_url=server.url, rest_url=rest.url, recorder=writer, **kw)
            adapter.add_listener(events.append)
            await adapter.connect()
            try:
                await wait_until(lambda: server.sent[:1] == [len(before)] and adapter.tracker.message_count >= len(before),
                                 timeout_s, what=f"{name} frames before the drop")  # fmt: skip
                clock.t = gap[1]  # the drop happens while the clock reads the end of the gap
                await wait_until(lambda: any(isinstance(e, Gap) and e.filled for e in events), timeout_s,
                                 what=f"{name} gap filled")  # fmt: skip
                health = adapter.health()
            finally:
                await adapter.disconnect()
    replayed = list(ReplayRunner([path]).iter_events())
    return LiveRun(events, health, server, path, replayed), rest


async def assert_gap_stored_filled(run: LiveRun, tmp_path: Path) -> None:
    """Storing the run's events in DuckDB keeps one gap, marked filled; every liquidation
    is stored once."""
    from liqmap.storage.duckdb_store import DuckDBStore

    store = DuckDBStore(Path(tmp_path) / "gaps.duckdb", flush_interval_s=3600)
    await store.write(run.events)
    await store.close()
    store = DuckDBStore(Path(tmp_path) / "gaps.duckdb", flush_interval_s=3600)
    cur = store.reader()
    rows = cur.execute('SELECT exchange, start, "end", filled FROM gaps').fetchall()
    ids = cur.execute("SELECT count(*), count(DISTINCT id) FROM liquidations").fetchone()
    cur.close()
    (gap,) = [e for e in run.events if isinstance(e, Gap) and e.filled]
    assert rows == [(gap.exchange, gap.start, gap.end, True)]
    assert ids == (len({e.id for e in run.liquidations()}),) * 2
    await store.close()
