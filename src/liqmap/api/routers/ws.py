"""``WS /ws/liquidations``: live push of normalized liquidations.

Query: ``symbol`` (underlying match, e.g. BTCUSDT -> every BTC perpetual),
``exchanges`` (comma list), ``min_value_usd``. Each message is text JSON
``{"type": "liquidation", "data": {<Liquidation fields>}}``; with ``batch=true`` messages
that queued up while the previous send was in flight are sent together as
``{"type": "batch", "messages": [<message>, ...]}`` (fewer frames under load, same
order). The first message is
``{"type": "hello", "meta": {...}, "filter": {...}}``. A client that cannot keep up
loses messages (bounded queue, counted in ``liqmap_ws_dropped_messages_total``) and
is disconnected (code 1013) after 1000 consecutive drops; ingestion never waits.
Invalid parameters close the socket with code 1008 and the reason. Beyond
``LIQMAP_MAX_WS_CLIENTS`` clients (both channels together) a new one is closed with code 1013
("try again later"). The handshake itself is guarded by :mod:`liqmap.api.guard` (Origin).

``WS /ws/heatmap?symbol=BTC``: the live heatmap's steps (``serve --heatmap-symbols``). First
``{"type": "hello", "symbols": [tracked underlyings], ...}``, then one
``{"type": "levels", "symbol", "timestamp" (step END, ms UTC), "close", "bin_size", "levels":
[{price, long, short}], "consumed": {long, short}, "meta": {...}}`` per model step
(:func:`liqmap.heatmap.live_view.levels_message`). ``symbol`` (optional) keeps one underlying
(``BTCUSDT`` and ``BTC`` both mean BTC); one that serve does not track closes the socket (1008).

``WS /ws/market?symbol=BTCUSDT``: push of cross-exchange ticker snapshots (issue #15). First
``{"type": "hello", "meta": {...}, "filter": {"underlying", "quote_family"}}`` and, when the view
holds the symbol, its current snapshot; then ``{"type": "ticker", "data": {<CrossExchangeData>}}``
whenever that group's quotes changed, at most once a second per group
(:mod:`liqmap.serve.market`). Without ``symbol`` every group is pushed. A malformed symbol, or a
process without a market view, closes the socket with code 1008 and the reason.
"""

from __future__ import annotations

import asyncio
import json
import math

from fastapi import APIRouter, HTTPException, WebSocket, WebSocketDisconnect

from liqmap.api.deps import parse_exchanges, resolve_symbol
from liqmap.serve.hub import liquidation_filter

router = APIRouter(tags=["websocket"])


async def _over_cap(websocket: WebSocket, state) -> bool:
    """Close ``websocket`` (already accepted) with 1013 when the server holds its cap of clients."""
    n = len(state.hub.subscribers) + len(state.heatmap_hub.subscribers)
    if n < state.settings.max_ws_clients:
        return False
    await websocket.close(code=1013, reason=f"{n} websocket clients: the server's cap (LIQMAP_MAX_WS_CLIENTS)")
    return True


def _live_base(state, symbol: str) -> str:
    """Underlying of ``symbol``: a stored one if known, else parsed (new markets appear live).

    Raises HTTPException(422) for a malformed symbol.
    """
    try:
        return resolve_symbol(state, symbol)
    except HTTPException as exc:
        if exc.status_code != 404:
            raise
    try:
        from liqmap.symbols import parse_symbol

        return parse_symbol(symbol).base
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from exc


@router.websocket("/ws/liquidations")
async def ws_liquidations(
    websocket: WebSocket,
    symbol: str | None = None,
    exchanges: str | None = None,
    min_value_usd: float = 0.0,
    queue_size: int = 1000,
    batch: bool = False,
):
    """Live liquidations for one client (protocol in the module docstring).

    ``min_value_usd`` must be finite and >= 0 (USD), ``queue_size`` 1..100000 messages;
    anything else closes the socket with code 1008 and the reason.
    """
    state = websocket.app.state.liqmap
    await websocket.accept()
    if await _over_cap(websocket, state):
        return
    try:
        ex = parse_exchanges(state, exchanges)
        base = _live_base(state, symbol) if symbol else None
        if not (0 <= min_value_usd < math.inf) or not (1 <= queue_size <= 100_000):
            raise HTTPException(422, "min_value_usd must be a finite number >= 0 and queue_size in 1..100000")
    except HTTPException as exc:
        await websocket.close(code=1008, reason=str(exc.detail)[:120])
        return
    # A symbol not seen yet is still accepted live when it names a plain base asset.
    sub = state.hub.subscribe(
        liquidation_filter({base} if base else None, set(ex) if ex else None, min_value_usd),
        queue_size=queue_size,
    )
    state.metrics.ws_clients.set(len(state.hub.subscribers))
    await websocket.send_text(json.dumps({
        "type": "hello", "meta": state.meta(),
        "filter": {"underlying": base, "exchanges": ex, "min_value_usd": min_value_usd},
    }))

    async def pump():
        q = sub.queue
        while True:
            msg = await q.get()
            if msg is None or sub.closed:  # hub marked us too slow
                break
            if not batch or q.empty():
                await websocket.send_text(msg)
                continue
            parts = [msg]
            while not q.empty() and len(parts) < 1000:
                m = q.get_nowait()
                if m is None:
                    break
                parts.append(m)
            await websocket.send_text('{"type":"batch","messages":[' + ",".join(parts) + "]}")
        await websocket.close(code=1013, reason="client too slow")

    async def drain_incoming():
        while True:
            await websocket.receive_text()

    pump_t = asyncio.create_task(pump())
    recv_t = asyncio.create_task(drain_incoming())
    try:
        await asyncio.wait({pump_t, recv_t}, return_when=asyncio.FIRST_COMPLETED)
    except WebSocketDisconnect:
        pass
    finally:
        for t in (pump_t, recv_t):
            t.cancel()
        for t in (pump_t, recv_t):
            try:
                await t
            except (asyncio.CancelledError, WebSocketDisconnect, Exception):
                pass
        state.hub.unsubscribe(sub)
        state.metrics.ws_clients.set(len(state.hub.subscribers))


@router.websocket("/ws/heatmap")
async def ws_heatmap(websocket: WebSocket, symbol: str | None = None):
    """Live heatmap steps for one client (protocol in the module docstring)."""
    state = websocket.app.state.liqmap
    await websocket.accept()
    if await _over_cap(websocket, state):
        return
    tracked = sorted(state.heatmap.tracked) if state.heatmap is not None else []
    base = None
    if symbol:
        try:
            from liqmap.symbols import parse_symbol

            base = parse_symbol(symbol).base
        except ValueError as exc:
            await websocket.close(code=1008, reason=str(exc)[:120])
            return
    if (base is not None and base not in tracked) or not tracked:
        await websocket.close(code=1008, reason=f"no live heatmap for {symbol or 'any symbol'}; tracked: {tracked}"[:120])
        return
    sub = state.heatmap_hub.subscribe((lambda item: item[0] == base) if base else None, queue_size=100)
    await websocket.send_text(json.dumps({"type": "hello", "meta": state.meta(), "symbols": tracked,
                                          "filter": {"underlying": base}}))
    await _pump(websocket, state.heatmap_hub, sub)


async def _pump(websocket: WebSocket, hub, sub) -> None:
    """Send ``sub``'s queued messages until the client leaves or the hub closes it; then
    unsubscribe (the channels other than ``/ws/liquidations``: no batching)."""

    async def pump():
        while True:
            msg = await sub.queue.get()
            if msg is None or sub.closed:
                break
            await websocket.send_text(msg)

    async def drain_incoming():
        while True:
            await websocket.receive_text()

    tasks = [asyncio.create_task(pump()), asyncio.create_task(drain_incoming())]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    except WebSocketDisconnect:
        pass
    finally:
        for t in tasks:
            t.cancel()
        for t in tasks:  # one by one, as /ws/liquidations: a cancelled handler still unsubscribes
            try:
                await t
            except (asyncio.CancelledError, WebSocketDisconnect, Exception):
                pass
        hub.unsubscribe(sub)


@router.websocket("/ws/market")
async def ws_market(websocket: WebSocket, symbol: str | None = None):
    """Live cross-exchange ticker snapshots for one client (protocol in the module docstring)."""
    from liqmap.market.view import group_of
    from liqmap.serve.market import snapshot_message

    state = websocket.app.state.liqmap
    await websocket.accept()
    market = state.market
    group = None
    try:
        if market is None:
            raise ValueError("no live market view in this process (liqmap serve keeps one)")
        if symbol:
            group = group_of(symbol[:64])
    except ValueError as exc:
        await websocket.close(code=1008, reason=str(exc)[:120])
        return
    sub = market.hub.subscribe((lambda item: item[0] == group) if group else None, queue_size=100)
    await websocket.send_text(json.dumps({"type": "hello", "meta": state.meta(),
                                          "filter": {"underlying": group[0] if group else None,
                                                     "quote_family": group[1] if group else None}}))
    if group and market.view.board.quotes(*group):
        await websocket.send_text(snapshot_message(market.view.cross_exchange(group[0] + group[1], market.now())))
    await _pump(websocket, market.hub, sub)
