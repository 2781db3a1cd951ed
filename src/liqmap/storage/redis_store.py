"""Optional Redis tier (L2): live aggregates with a one-hour TTL.

Enabled by ``LIQMAP_REDIS_URL`` (e.g. ``redis://127.0.0.1:6379/0``; the path
selects the DB number). Key prefix: ``LIQMAP_REDIS_PREFIX`` (default ``liq``).
``SYMBOL`` in keys is the **base asset** (``BTC``: all venues and quotes
combined, as in ``Liquidation.base``); ``LEVEL`` is
``liqmap.analytics.levels.price_level(base, price)`` printed without trailing
zeros (``98900``, ``0.1681``); ``SIDE`` is the liquidated position side.

Key families -- ONE Redis type each (:data:`KEY_TYPES`; the seed mixed types and
hit ``WRONGTYPE``):

==========================================  ======  =====================================
key                                         type    fields / value
==========================================  ======  =====================================
``{p}:levels:{SYMBOL}:{LEVEL}:{SIDE}``      hash    count, value_usd (USD), last_ts (ms)
``{p}:agg:{SYMBOL}:60s:{bucket_start_ms}``  hash    count, value_usd, long_usd, short_usd,
                                                    long_count, short_count, last_ts
``{p}:cascade:status:{SYMBOL}``             string  JSON object of the cascade state
``{p}:seen:{id}``                           string  "1" (replay de-duplication marker)
``{p}:oi:{EXCHANGE}:{SYMBOL}``              hash    open_interest (base units),
                                                    open_interest_usd (USD, absent if
                                                    unknown), timestamp (ms)
``{p}:mark:{EXCHANGE}:{SYMBOL}``            hash    mark_price, index_price, funding_rate
                                                    (absent if unknown), timestamp (ms)
``{p}:bar1m:{EXCHANGE}:{SYMBOL}``           hash    the last finished 1-minute trade bar:
                                                    open_time, open, high, low, close,
                                                    buy_volume, sell_volume, buy_usd,
                                                    sell_usd, trades, partial (0/1)
==========================================  ======  =====================================

``oi`` / ``mark`` / ``bar1m`` hold the LATEST value per venue instrument (``EXCHANGE`` and
``SYMBOL`` as the venue names them): open interest that passed the guard, the newest of
each write batch (:meth:`RedisStore.set_latest`); a value older than the one stored never
replaces it.

Every key expires one hour (``ttl_s``) after its last write. Writes: one
pipeline per batch (``transaction=False``) holding one server-side Lua call
per 1,000 events. The script sets ``{p}:seen:{id}`` with NX for each event
(so replaying the same events within the TTL does not double-count), sums the
new ones per key and applies each key once; a script runs atomically, so a
crash never leaves an event marked seen but not counted. An event is counted
as stored only after the pipeline executed. (Keys are built client-side and
passed as arguments, so this targets a single Redis, not Redis Cluster.)
"""

from __future__ import annotations

import logging
from typing import Any, Mapping, Sequence

import msgspec

from liqmap.analytics.buckets import bucket_start
from liqmap.analytics.levels import price_level
from liqmap.models import TICKER_VALUE_FIELDS, Event, Liquidation
from liqmap.storage.base import StorageError, attrs, redact_url, zero_counters
from liqmap.units import MINUTE_MS

log = logging.getLogger(__name__)

BUCKET_MS = MINUTE_MS
KEY_TYPES: dict[str, str] = {"levels": "hash", "agg": "hash", "cascade": "string", "seen": "string",
                             "oi": "hash", "mark": "hash", "bar1m": "hash"}

# One call applies up to CHUNK events atomically. ARGV[1] = ttl seconds, then 6 values per
# event: seen key, level key, agg key, value_usd, ts (ms), side. Aggregates are summed in Lua
# per key first, so each touched key costs a handful of commands, not one per event.
# Returns the number of events that were new (their seen key did not exist).
_APPLY_LUA = """
local ttl = ARGV[1]
local lv, lorder, ag, aorder = {}, {}, {}, {}
local new = 0
for i = 2, #ARGV, 6 do
  if redis.call('SET', ARGV[i], '1', 'NX', 'EX', ttl) then
    new = new + 1
    local v = tonumber(ARGV[i + 3])
    local ts = tonumber(ARGV[i + 4])
    local side = ARGV[i + 5]
    local l = lv[ARGV[i + 1]]
    if not l then l = {0, 0, 0}; lv[ARGV[i + 1]] = l; lorder[#lorder + 1] = ARGV[i + 1] end
    l[1] = l[1] + 1; l[2] = l[2] + v; if ts > l[3] then l[3] = ts end
    local a = ag[ARGV[i + 2]]
    if not a then a = {0, 0, 0, 0, 0, 0, 0}; ag[ARGV[i + 2]] = a; aorder[#aorder + 1] = ARGV[i + 2] end
    a[1] = a[1] + 1; a[2] = a[2] + v; if ts > a[3] then a[3] = ts end
    if side == 'long' then a[4] = a[4] + 1; a[5] = a[5] + v else a[6] = a[6] + 1; a[7] = a[7] + v end
  end
end
local function add(key, count_field, usd_field, n, v, ts)
  redis.call('HINCRBY', key, count_field, n)
  redis.call('HINCRBYFLOAT', key, usd_field, string.format('%.17g', v))
  if ts then
    local lt = tonumber(redis.call('HGET', key, 'last_ts') or '0')
    if ts > lt then redis.call('HSET', key, 'last_ts', string.format('%d', ts)) end
  end
end
for _, k in ipairs(lorder) do
  local l = lv[k]
  add(k, 'count', 'value_usd', l[1], l[2], l[3])
  redis.call('EXPIRE', k, ttl)
end
for _, k in ipairs(aorder) do
  local a = ag[k]
  add(k, 'count', 'value_usd', a[1], a[2], a[3])
  if a[4] > 0 then add(k, 'long_count', 'long_usd', a[4], a[5]) end
  if a[6] > 0 then add(k, 'short_count', 'short_usd', a[6], a[7]) end
  redis.call('EXPIRE', k, ttl)
end
return new
"""
CHUNK = 1_000

# Replace a latest-value hash unless the stored one is newer. KEYS[1]; ARGV[1] ttl, ARGV[2] the
# value's time field name, ARGV[3] its time, then field/value pairs.
_LATEST_LUA = """
local cur = tonumber(redis.call('HGET', KEYS[1], ARGV[2]) or '-1')
if tonumber(ARGV[3]) < cur then return 0 end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], unpack(ARGV, 4))
redis.call('EXPIRE', KEYS[1], ARGV[1])
return 1
"""


def format_level(level: float) -> str:
    """Level as key text: no float noise, no trailing zeros (``98900``, ``0.1681``, ``2e-08`` -> ``0.00000002``)."""
    s = f"{level:.12f}".rstrip("0").rstrip(".")
    return s or "0"


#: :class:`RedisStore` counters (ints from 0, attributes of the same names, in :meth:`RedisStore.stats`):
#: liquidations stored and duplicates skipped (ids seen before), pipelines of liquidations run,
#: cascade states and latest market values written, failed pipelines.
COUNTERS: tuple[str, ...] = ("stored", "duplicates_skipped", "pipelines", "cascade_updates", "latest_updates", "errors")


class RedisStore:
    """Live aggregates in Redis (see module docstring).

    Args:
        url: ``redis://[:password@]host:port/db``.
        prefix: key prefix (default settings ``LIQMAP_REDIS_PREFIX``, ``liq``).
        ttl_s: expiry of every key, seconds (default 3600).
        client: an existing ``redis.asyncio.Redis`` (tests); ``url`` is then only reported.

    Errors: :meth:`ping` / :meth:`write` raise :class:`StorageError` naming the
    (password-redacted) URL when Redis is unreachable or answers an error.
    """

    def __init__(self, url: str, *, prefix: str | None = None, ttl_s: int = 3600, client: Any = None) -> None:
        import redis.asyncio as aioredis

        if prefix is None:
            from liqmap.settings import get_settings

            prefix = get_settings().redis_prefix
        self.url = url
        self.prefix = prefix
        self.ttl_s = int(ttl_s)
        # connect and socket timeouts: a stopped or black-holed server fails an operation
        # within seconds instead of hanging it (the mirror retries, liqmap.storage.mirror)
        self.client = client if client is not None else aioredis.from_url(
            url, socket_connect_timeout=2.0, socket_timeout=5.0, retry_on_timeout=False)
        self._apply = self.client.register_script(_APPLY_LUA)
        self._latest = self.client.register_script(_LATEST_LUA)
        zero_counters(self, COUNTERS)
        #: the server's run_id after :meth:`connect` (changes when Redis restarts)
        self.epoch: str | None = None
        self._closed = False

    # ----------------------------------------------------------------- keys
    def level_key(self, base: str, level: float, side: str) -> str:
        """``{p}:levels:{BASE}:{LEVEL}:{SIDE}``."""
        return f"{self.prefix}:levels:{base.upper()}:{format_level(level)}:{side}"

    def agg_key(self, base: str, ts_ms: int) -> str:
        """``{p}:agg:{BASE}:60s:{bucket_start_ms}``."""
        return f"{self.prefix}:agg:{base.upper()}:60s:{bucket_start(ts_ms, BUCKET_MS)}"

    def cascade_key(self, base: str) -> str:
        """``{p}:cascade:status:{BASE}``."""
        return f"{self.prefix}:cascade:status:{base.upper()}"

    def latest_key(self, family: str, exchange: str, symbol: str) -> str:
        """``{p}:{family}:{EXCHANGE}:{SYMBOL}`` (family ``oi``, ``mark``, ``bar1m`` or ``ticker``)."""
        return f"{self.prefix}:{family}:{exchange}:{symbol}"

    def seen_key(self, event_id: str) -> str:
        """``{p}:seen:{id}``."""
        return f"{self.prefix}:seen:{event_id}"

    # ---------------------------------------------------------------- writes
    async def ping(self) -> None:
        """Check the server answers; raises :class:`StorageError` otherwise."""
        try:
            await self.client.ping()
        except Exception as exc:
            raise StorageError(f"redis: not reachable at {redact_url(self.url)}: {exc}") from exc

    async def connect(self) -> None:
        """The mirror's connect step (:mod:`liqmap.storage.mirror`): :meth:`ping`, then the
        server's ``run_id`` as :attr:`epoch`: a Redis restarted without persistence has a
        new one and holds nothing, so the mirror refills the last :attr:`retained_ms`."""
        await self.ping()
        try:
            info = await self.client.info("server")
        except Exception as exc:
            raise StorageError(f"redis: INFO failed at {redact_url(self.url)}: {exc}") from exc
        self.epoch = info.get("run_id")

    @property
    def retained_ms(self) -> int:
        """How far back the keys reach (the TTL), ms."""
        return self.ttl_s * 1000

    async def mirror(self, batch: Any) -> None:
        """Apply one committed batch (:class:`liqmap.storage.mirror.Committed`): its
        liquidations, the latest cascade state per base, the latest market values."""
        await self.write(batch.liquidations)
        if batch.cascades:
            latest: dict[str, Mapping[str, Any]] = {}
            for r in batch.cascades.values():
                latest[str(r["symbol"])] = r
            await self.set_cascade_status(list(latest.values()))
        if batch.market.latest or batch.market.bars or batch.market.tickers:
            await self.set_latest(batch.market)

    async def _execute(self, pipe: Any) -> list[Any]:
        """Run a pipeline; its results. Raises StorageError (counted in ``errors``) on any failure."""
        try:
            return await pipe.execute()
        except Exception as exc:
            self.errors += 1
            raise StorageError(f"redis: pipeline failed at {redact_url(self.url)}: {exc}") from exc

    async def write(self, events: Sequence[Event]) -> None:
        """Apply the liquidations of ``events`` in one pipeline (other types ignored)."""
        liqs = [e for e in events if isinstance(e, Liquidation)]
        if not liqs:
            return
        pipe = self.client.pipeline(transaction=False)
        for i in range(0, len(liqs), CHUNK):
            args: list[Any] = [self.ttl_s]
            for e in liqs[i : i + CHUNK]:
                lvl = price_level(e.base, e.price)
                args += (self.seen_key(e.id), self.level_key(e.base, lvl, e.side),
                         self.agg_key(e.base, e.timestamp), repr(float(e.value_usd)), e.timestamp, e.side)
            await self._apply(keys=[], args=args, client=pipe)
        results = await self._execute(pipe)
        self.pipelines += 1
        new = sum(int(r) for r in results)
        self.stored += new
        self.duplicates_skipped += len(liqs) - new

    async def set_cascade_status(self, statuses: Sequence[Mapping[str, Any]]) -> None:
        """Store the latest cascade state per base as a JSON STRING with TTL (one pipeline).

        Each mapping needs ``symbol`` (the base); the whole mapping is stored.
        """
        if not statuses:
            return
        pipe = self.client.pipeline(transaction=False)
        for s in statuses:
            pipe.set(self.cascade_key(str(s["symbol"])), msgspec.json.encode(dict(s)), ex=self.ttl_s)
        await self._execute(pipe)
        self.cascade_updates += len(statuses)

    async def set_latest(self, rows: Any) -> None:
        """Keep the newest open interest, mark price, 1-minute bar and merged 1-second ticker
        per venue instrument (``rows``: :class:`liqmap.analytics.market_series.MarketRows`; one
        pipeline)."""
        calls: list[tuple[str, str, int, list[Any]]] = []
        for (family, ex, sym), e in rows.latest.items():
            if family == "oi":
                fields = {"open_interest": e.open_interest, "open_interest_usd": e.open_interest_usd}
            else:
                fields = {"mark_price": e.mark_price, "index_price": e.index_price, "funding_rate": e.funding_rate}
            calls.append((self.latest_key(family, ex, sym), "timestamp", e.timestamp, _pairs(fields, e.timestamp)))
        last_bar = {(b.exchange, b.symbol): b for b in rows.bars}
        for (ex, sym), b in last_bar.items():
            fields = {k: getattr(b, k) for k in ("open", "high", "low", "close", "buy_volume", "sell_volume",
                                                  "buy_usd", "sell_usd", "trades")}
            fields["partial"] = int(b.partial)
            calls.append((self.latest_key("bar1m", ex, sym), "open_time", b.open_time,
                          _pairs(fields, b.open_time, "open_time")))
        last_ticker = {(t.exchange, t.symbol): t for t in getattr(rows, "tickers", ())}
        for (ex, sym), t in last_ticker.items():
            fields = {k: getattr(t, k) for k in TICKER_FIELDS}
            calls.append((self.latest_key("ticker", ex, sym), "timestamp", t.timestamp, _pairs(fields, t.timestamp)))
        if not calls:
            return
        pipe = self.client.pipeline(transaction=False)
        for key, tfield, t, pairs in calls:
            await self._latest(keys=[key], args=[self.ttl_s, tfield, t, *pairs], client=pipe)
        await self._execute(pipe)
        self.latest_updates += len(calls)

    async def latest(self, family: str, exchange: str, symbol: str) -> dict[str, float]:
        """One latest-value hash (``oi``, ``mark``, ``bar1m``) as numbers (empty if absent)."""
        return _decode_hash(await self.client.hgetall(self.latest_key(family, exchange, symbol)))

    async def flush(self) -> None:
        """Nothing is buffered: every :meth:`write` executes its pipeline."""

    async def close(self) -> None:
        """Close the connection pool. Idempotent."""
        if self._closed:
            return
        self._closed = True
        await self.client.aclose()

    def stats(self) -> dict[str, Any]:
        """``{"tier": "redis", "url", "pending": 0, "prefix"}`` and the :data:`COUNTERS`."""
        return {"tier": "redis", "url": redact_url(self.url), "pending": 0, **attrs(self, "prefix", *COUNTERS)}

    # ----------------------------------------------------------------- reads
    async def level(self, base: str, level: float, side: str) -> dict[str, float]:
        """One level hash as ``{"count": int, "value_usd": float, "last_ts": int}`` (empty if absent)."""
        raw = await self.client.hgetall(self.level_key(base, level, side))
        return _decode_hash(raw)

    async def bucket(self, base: str, ts_ms: int) -> dict[str, float]:
        """The 60 s bucket hash containing ``ts_ms`` (empty if absent)."""
        return _decode_hash(await self.client.hgetall(self.agg_key(base, ts_ms)))

    async def cascade_status(self, base: str) -> dict[str, Any] | None:
        """Latest cascade state for ``base``, or ``None``."""
        raw = await self.client.get(self.cascade_key(base))
        return None if raw is None else msgspec.json.decode(raw)


_INT_FIELDS = frozenset({"count", "last_ts", "long_count", "short_count", "timestamp", "open_time", "trades", "partial"})


#: the ticker fields kept in ``{p}:ticker:{EXCHANGE}:{SYMBOL}`` (liqmap.analytics.ticker_series)
TICKER_FIELDS = TICKER_VALUE_FIELDS


def _pairs(fields: Mapping[str, Any], t: int, tfield: str = "timestamp") -> list[Any]:
    """Flat field/value list for HSET: the time and every known (non-None) value."""
    out: list[Any] = [tfield, int(t)]
    for k, v in fields.items():
        if v is not None:
            out += [k, repr(float(v)) if isinstance(v, float) else v]
    return out


def _decode_hash(raw: Mapping[bytes, bytes]) -> dict[str, float]:
    out: dict[str, float] = {}
    for k, v in raw.items():
        key = k.decode() if isinstance(k, bytes) else k
        val = v.decode() if isinstance(v, bytes) else v
        out[key] = int(val) if key in _INT_FIELDS else float(val)
    return out
