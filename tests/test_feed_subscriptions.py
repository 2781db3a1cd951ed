"""SubscriptionTracker: the pure bookkeeping of acknowledged subscriptions (no sockets)."""

from __future__ import annotations

from liqmap.exchanges.base import Control, Limits, Topic
from liqmap.feed.listing import split_spec, topic_chars
from liqmap.exchanges.base import ConnectionSpec
from liqmap.feed.subscriptions import SubscriptionTracker

LIQ = [Topic(f"allLiquidation.{s}", "liquidations") for s in ("BTCUSDT", "ETHUSDT", "NOPEUSDT")]
TICK = [Topic(f"tickers.{s}", "tickers") for s in ("BTCUSDT", "ETHUSDT")]


def test_plan_keeps_liquidation_topics_in_requests_of_their_own_within_the_arg_limit():
    t = SubscriptionTracker(TICK + LIQ, Limits(args_per_subscribe=2))
    reqs = t.plan(0.0)
    assert [[x.key for x in r.topics] for r in reqs] == [
        ["allLiquidation.BTCUSDT", "allLiquidation.ETHUSDT"], ["allLiquidation.NOPEUSDT"],
        ["tickers.BTCUSDT", "tickers.ETHUSDT"],
    ]  # fmt: skip
    assert len({r.id for r in reqs}) == 3 and t.requested == 5 and t.subscribed == 0
    assert not t.liquidations_ok and t.liquidations_waiting


def test_ack_by_request_id_then_rejection_of_a_whole_request_retries_the_others_alone():
    t = SubscriptionTracker(LIQ, Limits())
    (req,) = t.plan(0.0)
    retry = t.on_control(Control("reject", ("allLiquidation.NOPEUSDT",), str(req.id), "error:handler not found"), 1.0)
    assert [[x.key for x in r.topics] for r in retry] == [["allLiquidation.BTCUSDT"], ["allLiquidation.ETHUSDT"]]
    assert t.failed() == {"allLiquidation.NOPEUSDT": "error:handler not found"}
    for r in retry:
        t.on_control(Control("ack", request=str(r.id)), 2.0)
    assert t.subscribed == 2 and t.requested == 3
    assert t.liquidations_ok and not t.liquidations_waiting  # answered: two acked, one refused (health: degraded)


def test_rejection_echoing_only_the_args_pins_the_bad_topic_by_single_retries():
    """BitMEX echoes the whole request and names no topic: each is tried alone."""
    t = SubscriptionTracker(TICK, Limits())
    (req,) = t.plan(0.0)
    retry = t.on_control(Control("reject", tuple(x.key for x in TICK), None, "Unknown or expired symbol."), 1.0)
    assert retry == []  # named keys are rejected: BitMEX's echo names them all
    t2 = SubscriptionTracker(TICK, Limits())
    (req,) = t2.plan(0.0)
    retry = t2.on_control(Control("reject", (), str(req.id), "bad"), 1.0)
    assert len(retry) == 2
    t2.on_control(Control("ack", ("tickers.BTCUSDT",)), 2.0)
    t2.on_control(Control("reject", (), str(retry[1].id), "Unknown or expired symbol."), 2.0)
    assert t2.failed() == {"tickers.ETHUSDT": "Unknown or expired symbol."} and t2.subscribed == 1


def test_unanswered_topics_are_sent_alone_again_then_count_as_unacknowledged():
    t = SubscriptionTracker(LIQ[:1], Limits(), ack_timeout_s=5.0, max_attempts=2)
    t.plan(0.0)
    assert t.due(4.0) == [] and t.next_deadline() == 5.0
    (again,) = t.due(5.0)
    assert [x.key for x in again.topics] == ["allLiquidation.BTCUSDT"]
    assert t.due(10.0) == []
    assert t.failed() == {"allLiquidation.BTCUSDT": "no answer after 2 attempts"} and not t.liquidations_ok
    t.reset()  # a new socket tries again
    assert t.liquidations_waiting and len(t.plan(11.0)) == 1


def test_rejected_topics_stay_rejected_across_a_reconnect_and_listing_changes_apply():
    t = SubscriptionTracker(LIQ, Limits())
    (req,) = t.plan(0.0)
    t.on_control(Control("reject", ("allLiquidation.NOPEUSDT",), str(req.id), "no"), 0.5)
    t.reset()
    assert [x.key for r in t.plan(1.0) for x in r.topics] == ["allLiquidation.BTCUSDT", "allLiquidation.ETHUSDT"]
    new = t.add([Topic("allLiquidation.BTCUSDT"), Topic("allLiquidation.NEWUSDT")])
    assert [x.key for x in new] == ["allLiquidation.NEWUSDT"] and t.requested == 4
    t.remove(["allLiquidation.NOPEUSDT"])
    assert t.requested == 3 and t.failed() == {}


def test_split_spec_respects_topics_and_characters_per_connection():
    topics = [Topic(f"allLiquidation.S{i:03d}USDT") for i in range(25)]
    per = topic_chars(topics[0])
    spec = ConnectionSpec("linear", "wss://x/linear", topics=topics)
    parts = split_spec(spec, Limits(topics_per_connection=10))
    assert [p.label for p in parts] == ["linear", "linear-2", "linear-3"]
    assert [len(p.topics) for p in parts] == [10, 10, 5]
    parts = split_spec(spec, Limits(chars_per_connection=per * 12))
    assert [len(p.topics) for p in parts] == [12, 12, 1]
    assert [t.key for p in parts for t in p.topics] == [t.key for t in topics]
