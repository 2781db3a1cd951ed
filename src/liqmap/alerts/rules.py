"""Alert rules: which events become alerts (pure; no I/O, no clock but the event's).

Each rule is a ``msgspec`` struct tagged by ``type`` so a config file's ``[[rules]]`` table
converts straight into it (:mod:`liqmap.alerts.config`). Common fields: ``name`` (unique),
``cooldown_s`` (per ``(rule, key)``; None = the config default), ``sinks`` (sink names; None
= every sink), ``enabled``. :meth:`match` returns an :class:`~liqmap.alerts.alert.Alert` or None.

=============  ==========================================  =====================================
type           fires on                                    key (cooldown scope) / dedupe id
=============  ==========================================  =====================================
liquidation    ``Liquidation`` with value_usd >= min_usd   ``exchange:symbol:side`` / venue id
cascade        ``CascadeEvent`` start / severity rise /    ``base:severity`` /
               end, severity >= min_severity                ``cascade id:severity`` (``:end``)
arbitrage      ``ArbitrageOpportunity`` open with           ``base/family:buy>sell`` /
               peak net_bps >= min_net_bps                  opportunity id
whale          ``Trade`` with value_usd >= min_usd (or      ``exchange:symbol:side`` / trade id
               the base's ``min_usd_by_base``)
venue          ``VenueStatusChange`` (down, stale, up) /   ``exchange:status`` or
               ``FailoverSwitch``                           ``feature:from>to`` / same + at_ms
=============  ==========================================  =====================================

A cascade's severity is the peak band of its risk score (:mod:`liqmap.analytics.risk`), which
only rises, so "severity change" = an update whose band was not alerted before for that
cascade: the dedupe id ``cascade id:severity`` makes each band alert at most once.
"""

from __future__ import annotations

from typing import Any, Literal, Union

import msgspec

from liqmap.alerts.alert import Alert
from liqmap.analytics.arbitrage import ArbitrageOpportunity
from liqmap.analytics.cascades import CascadeEvent
from liqmap.analytics.failover import FailoverSwitch, VenueStatusChange
from liqmap.analytics.risk import severity_rank
from liqmap.fmt import price, usd
from liqmap.models import Liquidation, Trade
from liqmap.symbols import normalize_base
from liqmap.units import ALERT_LIQUIDATION_USD, WHALE_TRADE_USD, now_ms


def _upper(xs: list[str] | None) -> frozenset[str] | None:
    return None if xs is None else frozenset(normalize_base(x) for x in xs)


def _lower(xs: list[str] | None) -> frozenset[str] | None:
    return None if xs is None else frozenset(x.lower() for x in xs)


class _Rule(msgspec.Struct, kw_only=True, tag_field="type", dict=True, forbid_unknown_fields=True):
    name: str
    cooldown_s: float | None = None
    sinks: list[str] | None = None
    enabled: bool = True
    exchanges: list[str] | None = None
    bases: list[str] | None = None

    def __post_init__(self) -> None:
        if not self.name.strip():
            raise ValueError("a rule needs a non-empty name")
        if self.cooldown_s is not None and not (self.cooldown_s >= 0):
            raise ValueError(f"rule {self.name!r}: cooldown_s must be >= 0")
        self._ex = _lower(self.exchanges)
        self._bases = _upper(self.bases)

    def _wants(self, exchange: str | None, base: str | None) -> bool:
        if self._ex is not None and (exchange is None or exchange.lower() not in self._ex):
            return False
        if self._bases is not None and (base is None or normalize_base(base) not in self._bases):
            return False
        return True

    def _alert(self, kind: str, key: str, dedupe_id: str, severity: str, title: str, text: str,
               fields: dict[str, Any], event_ts: int) -> Alert:
        return Alert(rule=self.name, kind=kind, key=key, dedupe_id=dedupe_id, severity=severity,  # type: ignore[arg-type]
                     title=title[:150], text=text, fields=fields, event_ts=event_ts, emitted_at=now_ms())


class LiquidationRule(_Rule, tag="liquidation"):
    """A liquidation of at least ``min_usd`` (USD notional); optional ``sides`` (long/short),
    ``exchanges``, ``bases`` filters. Severity: critical from 10 x ``min_usd``, else warning."""

    min_usd: float = ALERT_LIQUIDATION_USD
    sides: list[Literal["long", "short"]] | None = None
    inputs = (Liquidation,)

    def match(self, ev: Liquidation) -> Alert | None:
        if ev.value_usd < self.min_usd or not self._wants(ev.exchange, ev.base):
            return None
        if self.sides is not None and ev.side not in self.sides:
            return None
        sev = "critical" if ev.value_usd >= 10 * self.min_usd else "warning"
        title = f"{ev.side.upper()} liquidated {usd(ev.value_usd)} {ev.symbol} on {ev.exchange} @ {price(ev.price)}"
        text = (f"{ev.exchange} {ev.symbol}: a {ev.side} position of {ev.quantity:,.6g} {ev.base} "
                f"({usd(ev.value_usd)}) was liquidated at {price(ev.price)} {ev.quote}.")
        fields = {"exchange": ev.exchange, "symbol": ev.symbol, "base": ev.base, "side": ev.side,
                  "price": ev.price, "quantity": ev.quantity, "value_usd": ev.value_usd, "id": ev.id}
        return self._alert("liquidation", f"{ev.exchange}:{ev.symbol}:{ev.side}", f"{ev.exchange}:{ev.id}",
                           sev, title, text, fields, ev.timestamp)


class CascadeRule(_Rule, tag="cascade"):
    """Cascade ``start``, ``severity`` rise and/or ``end`` (``on``), when the cascade's
    severity is at least ``min_severity`` (low < medium < high < critical)."""

    on: list[Literal["start", "severity", "end"]] = msgspec.field(default_factory=lambda: ["start", "severity"])
    min_severity: Literal["low", "medium", "high", "critical"] = "medium"
    inputs = (CascadeEvent,)

    def match(self, ev: CascadeEvent) -> Alert | None:
        c = ev.cascade
        if severity_rank(c.severity) < severity_rank(self.min_severity) or not self._wants(None, c.base):
            return None
        if ev.kind == "end":
            if "end" not in self.on:
                return None
            dedupe, what = f"{c.id}:end", "ended"
        else:
            # start below min_severity then a rise counts as this cascade's first alert
            if ev.kind == "start" and "start" not in self.on:
                return None
            if ev.kind == "update" and "severity" not in self.on:
                return None
            dedupe, what = f"{c.id}:{c.severity}", ("started" if ev.kind == "start" else "escalated")
        sev = "critical" if severity_rank(c.severity) >= 2 else "warning"
        title = (f"Cascade {what}: {c.base} {c.severity.upper()} {usd(c.value_usd)} "
                 f"in {c.events} liquidations")
        text = (f"{c.base}: {c.events} liquidations, {usd(c.value_usd)} (long {usd(c.long_usd)} / "
                f"short {usd(c.short_usd)}), largest {usd(c.largest_usd)}, price {price(c.price_low)}-"
                f"{price(c.price_high)}, venues {', '.join(c.exchanges)}; risk {c.risk_score:.2f} ({c.severity}).")
        fields = {"cascade_id": c.id, "base": c.base, "event": ev.kind, "severity": c.severity,
                  "risk_score": round(c.risk_score, 4), "value_usd": c.value_usd, "events": c.events,
                  "exchanges": list(c.exchanges), "start_ts": c.start_ts, "end_ts": c.end_ts}
        return self._alert("cascade", f"{c.base}:{c.severity}", dedupe, sev, title, text, fields, ev.at_ts)


class ArbitrageRule(_Rule, tag="arbitrage"):
    """An open arbitrage opportunity whose peak net spread (after both taker fees) reached
    ``min_net_bps``. ``exchanges`` filters on either leg."""

    min_net_bps: float = 20.0
    inputs = (ArbitrageOpportunity,)

    def match(self, op: ArbitrageOpportunity) -> Alert | None:
        if not op.open or op.peak_net_bps < self.min_net_bps or not self._wants(None, op.base):
            return None
        if self._ex is not None and op.buy_exchange not in self._ex and op.sell_exchange not in self._ex:
            return None
        fund = "" if op.funding_spread is None else f", funding spread {op.funding_spread * 100:+.4f}%"
        title = (f"Arbitrage {op.base}/{op.quote_family} {op.net_bps:.1f} bps net: buy {op.buy_exchange} "
                 f"{price(op.buy_price)} -> sell {op.sell_exchange} {price(op.sell_price)}")
        text = (f"Buy {op.buy_symbol} on {op.buy_exchange} at {price(op.buy_price)}, sell {op.sell_symbol} on "
                f"{op.sell_exchange} at {price(op.sell_price)}: gross {op.gross_bps:.1f} bps, fees "
                f"{op.fees_bps:.1f} bps, net {op.net_bps:.1f} bps{fund}; open {op.duration_ms / 1000:.1f} s.")
        fields = msgspec.to_builtins(op)
        key = f"{op.base}/{op.quote_family}:{op.buy_exchange}>{op.sell_exchange}"
        return self._alert("arbitrage", key, op.id, "info", title, text, fields, op.updated_at)


class WhaleRule(_Rule, tag="whale"):
    """A trade of at least ``min_usd`` (or ``min_usd_by_base[BASE]``, e.g. ``{BTC = 5e6}``)."""

    min_usd: float = WHALE_TRADE_USD
    min_usd_by_base: dict[str, float] = {}
    inputs = (Trade,)

    def __post_init__(self) -> None:
        super().__post_init__()
        self._by_base = {normalize_base(k): v for k, v in self.min_usd_by_base.items()}

    def match(self, ev: Trade) -> Alert | None:
        if ev.value_usd < self._by_base.get(normalize_base(ev.base), self.min_usd):
            return None
        if not self._wants(ev.exchange, ev.base):
            return None
        liq = " (liquidation)" if ev.liquidation else ""
        title = f"Whale {ev.side.upper()} {usd(ev.value_usd)} {ev.symbol} on {ev.exchange} @ {price(ev.price)}{liq}"
        text = (f"{ev.exchange} {ev.symbol}: taker {ev.side} of {ev.quantity:,.6g} {ev.base} "
                f"({usd(ev.value_usd)}) at {price(ev.price)} {ev.quote}{liq}.")
        fields = {"exchange": ev.exchange, "symbol": ev.symbol, "base": ev.base, "side": ev.side,
                  "price": ev.price, "quantity": ev.quantity, "value_usd": ev.value_usd, "id": ev.id,
                  "liquidation": ev.liquidation}
        return self._alert("whale", f"{ev.exchange}:{ev.symbol}:{ev.side}", f"{ev.exchange}:{ev.id}",
                           "info", title, text, fields, ev.timestamp)


class VenueRule(_Rule, tag="venue"):
    """A venue going ``down`` / ``stale`` / back ``up``, or a ``failover`` switch (``on``)."""

    on: list[Literal["down", "stale", "up", "failover"]] = msgspec.field(
        default_factory=lambda: ["down", "stale", "failover"])
    inputs = (VenueStatusChange, FailoverSwitch)

    def match(self, ev: VenueStatusChange | FailoverSwitch) -> Alert | None:
        if isinstance(ev, FailoverSwitch):
            if "failover" not in self.on:
                return None
            if self._ex is not None and not ({ev.from_exchange, ev.to_exchange} & self._ex):
                return None
            frm, to = ev.from_exchange or "none", ev.to_exchange or "none"
            title = f"Failover {ev.feature}: {frm} -> {to}"
            key = f"{ev.feature}:{frm}>{to}"
            fields = msgspec.to_builtins(ev)
            return self._alert("venue", key, f"{key}:{ev.at_ms}", "warning", title,
                               f"{ev.feature} now served by {to} ({ev.reason}).", fields, ev.at_ms)
        if ev.status not in self.on or ev.previous is None and ev.status == "up":
            return None
        if not self._wants(ev.exchange, None):
            return None
        sev = "info" if ev.status == "up" else "critical"
        title = f"Venue {ev.exchange} {ev.status.upper()}" + (f" (was {ev.previous})" if ev.previous else "")
        key = f"{ev.exchange}:{ev.status}"
        return self._alert("venue", key, f"{key}:{ev.at_ms}", sev, title, f"{ev.exchange}: {ev.reason}.",
                           msgspec.to_builtins(ev), ev.at_ms)


Rule = Union[LiquidationRule, CascadeRule, ArbitrageRule, WhaleRule, VenueRule]
RULE_TYPES: tuple[type, ...] = (LiquidationRule, CascadeRule, ArbitrageRule, WhaleRule, VenueRule)
