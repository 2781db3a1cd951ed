"""Websocket fan-out of live liquidations: :class:`BroadcastHub` and its clients.

Drop policy (the opposite of :class:`liqmap.feed.fanout.Subscription`, on purpose): a
browser that cannot keep up loses the NEWEST messages and, after ``max_drops`` drops in a
row, is disconnected -- its queue holds what it was already sent in order, and ingestion
never waits for it.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Callable

from liqmap.models import Liquidation, to_json


@dataclass(eq=False)
class HubClient:
    """One websocket client's view of the hub.

    ``queue`` holds encoded JSON text messages; when it is full new messages for
    this client are dropped (counted in ``dropped``) and after ``max_drops``
    consecutive drops the client is marked ``closed`` so the handler disconnects it.
    """

    queue: asyncio.Queue
    accept: Callable[[Liquidation], bool] | None = None
    dropped: int = 0
    consecutive_drops: int = 0
    max_drops: int = 1000
    closed: bool = False


class BroadcastHub:
    """Fan-out of live liquidations to websocket clients without back-pressure.

    ``publish`` never awaits: each event is encoded once and offered to every
    subscriber's bounded queue with ``put_nowait``; a full queue drops the message
    for that client only (``on_drop`` callback, e.g. a Prometheus counter).
    """

    def __init__(
        self,
        queue_size: int = 1000,
        on_drop: Callable[[int], None] | None = None,
    ) -> None:
        self.queue_size = queue_size
        self.subscribers: list[HubClient] = []
        self.on_drop = on_drop
        self.published = 0

    def subscribe(
        self,
        accept: Callable[[Liquidation], bool] | None = None,
        queue_size: int | None = None,
        max_drops: int = 1000,
    ) -> HubClient:
        """Register a client; returns its :class:`HubClient`."""
        sub = HubClient(asyncio.Queue(queue_size or self.queue_size), accept, max_drops=max_drops)
        self.subscribers.append(sub)
        return sub

    def unsubscribe(self, sub: HubClient) -> None:
        """Remove a client (idempotent)."""
        sub.closed = True
        try:
            sub.queue.put_nowait(None)
        except asyncio.QueueFull:
            pass
        try:
            self.subscribers.remove(sub)
        except ValueError:
            pass

    @staticmethod
    def encode(event: Liquidation) -> str:
        """Wire message for one liquidation: ``{"type": "liquidation", "data": {...}}``."""
        return '{"type":"liquidation","data":' + to_json(event).decode() + "}"

    def publish(self, event: Liquidation) -> int:
        """Offer ``event`` to every matching client; returns how many got it."""
        return self.publish_text(event, self.encode)

    def publish_text(self, item: object, encode: Callable[[object], str]) -> int:
        """Offer ``encode(item)`` (encoded once, only if a client wants it) to every client whose
        ``accept(item)`` holds (another channel's messages: ``/ws/heatmap`` levels keyed by
        underlying); returns how many got it."""
        self.published += 1
        if not self.subscribers:
            return 0
        msg: str | None = None
        delivered = 0
        for sub in self.subscribers:
            if sub.closed or (sub.accept is not None and not sub.accept(item)):
                continue
            if msg is None:
                msg = encode(item)
            try:
                sub.queue.put_nowait(msg)
                sub.consecutive_drops = 0
                delivered += 1
            except asyncio.QueueFull:
                sub.dropped += 1
                sub.consecutive_drops += 1
                if self.on_drop:
                    self.on_drop(1)
                if sub.consecutive_drops >= sub.max_drops:
                    sub.closed = True
                    try:  # wake the client's sender with a close sentinel
                        sub.queue.get_nowait()
                        sub.queue.put_nowait(None)
                    except (asyncio.QueueEmpty, asyncio.QueueFull):
                        pass
        return delivered


def liquidation_filter(
    bases: set[str] | None = None,
    exchanges: set[str] | None = None,
    min_value_usd: float = 0.0,
) -> Callable[[Liquidation], bool] | None:
    """Predicate for :meth:`BroadcastHub.subscribe`, or None when nothing filters."""
    if not bases and not exchanges and not min_value_usd:
        return None

    def accept(ev: Liquidation) -> bool:
        return (
            (not bases or ev.base in bases)
            and (not exchanges or ev.exchange in exchanges)
            and ev.value_usd >= min_value_usd
        )

    return accept
