"""Runtime settings from the environment (pydantic-settings).

Every setting has a documented default that runs on the embedded tier alone
(no Redis, no PostgreSQL). Environment variables (case-insensitive):

* ``LIQMAP_DB`` -- DuckDB file, default ``data/liquidations.duckdb``.
* ``LIQMAP_DOWNLOAD_DIR`` -- where ``liqmap download`` mirrors data.binance.vision archives,
  default ``data/binance-vision``.
* ``LIQMAP_REDIS_URL`` -- e.g. ``redis://127.0.0.1:6379/0``; unset = Redis tier off.
* ``LIQMAP_REDIS_PREFIX`` -- key prefix, default ``liq``.
* ``LIQMAP_POSTGRES_DSN`` -- e.g. ``postgresql://postgres@127.0.0.1:5432/liqmap``; unset = off.
* ``LIQMAP_INSTITUTIONAL_USD`` -- institutional size threshold, default 100,000 USD.
* ``LIQMAP_LARGE_USD`` -- large size threshold, default 10,000 USD.
* ``LIQMAP_HOST`` / ``LIQMAP_PORT`` -- API bind address, default 127.0.0.1:8000.
* ``LIQMAP_WS_ORIGINS`` -- websocket ``Origin`` values accepted besides the server's own
  (comma-separated ``scheme://host[:port]``, ``*`` = any), default none (same origin only).
* ``LIQMAP_ALLOWED_HOSTS`` -- ``Host`` headers the API answers (comma-separated,
  ``*.example.com`` patterns), default unset = any (set it against DNS rebinding).
* ``LIQMAP_MAX_CONNECTIONS`` -- concurrent connections and requests before HTTP 503
  (uvicorn ``limit_concurrency``), default 1000.
* ``LIQMAP_MAX_WS_CLIENTS`` -- concurrent websocket clients before new ones are closed
  with code 1013, default 200.
* ``LIQMAP_MAX_REQUEST_TARGET`` -- longest path + query in bytes (longer: HTTP 414), default 8192.
* ``BINANCE_POLL_INTERVAL`` -- seconds between REST polls of Binance fallbacks, default 10.
* ``WS_TIMEOUT`` -- seconds without a frame before the watchdog reconnects (and
  before ``/exchanges/health`` calls a venue stale); unset = each connection's own
  ``ConnectionSpec.stale_after_s`` from its venue module (60 s for most streams,
  300 s for a Binance liquidation-only stream, which is quiet in calm markets).
* ``MAX_RETRIES`` -- consecutive failed connects before an adapter gives up
  (0 = retry forever with capped backoff), default 0.
* ``LIQMAP_HEATMAP_SYMBOLS`` -- underlyings whose market series ``serve`` collects (trades,
  open interest, mark price, klines, on top of all-market liquidations) and whose
  liquidation-level heatmap it keeps current, default ``BTC,ETH``; empty = none.
* ``LIQMAP_HEATMAP_BACKFILL_DAYS`` -- days of venue REST history (open interest, klines)
  ``serve`` fetches at start for the heatmap's warm-up, default 3; 0 = none.
* ``LIQMAP_HYPERLIQUID_LIQUIDATORS`` -- comma-separated Hyperliquid accounts whose fills are
  followed as liquidations (at most 10, the venue's user-subscription limit); unset = the five
  known liquidator vaults (``liqmap.exchanges.hyperliquid.LIQUIDATORS``).
* ``LIQMAP_HEATMAP_STEP`` -- the live heatmap's model step: ``1m``, ``5m`` (default: the step the
  served parameters were validated at), ``15m`` or ``1h``.

Cross-exchange market view (``serve``, :mod:`liqmap.serve.market`):

* ``LIQMAP_MARKET_STALE_S`` -- a venue quote older than this (seconds, against the app clock) is
  listed but left out of the cross-exchange aggregates, default 10.
* ``LIQMAP_TAKER_FEES`` -- per-venue taker fee overrides in bps, ``binance=4,okx=5``; default:
  each venue module's base-tier fee. Arbitrage is net of both legs' fees.
* ``LIQMAP_WHALE_USD`` -- notional of one trade that puts it on the whale tape, default
  1,000,000; ``LIQMAP_WHALE_USD_BY_BASE`` -- per underlying, ``BTC=5000000,ETH=2000000``.
* ``LIQMAP_STATS_INTERVAL_S`` -- seconds between ``serve``'s STATS log lines, default 60; 0 = off.

Alerts (:mod:`liqmap.alerts.config`): ``LIQMAP_ALERTS_CONFIG`` -- a TOML/YAML/JSON file of
rules and sinks; without it, sinks from ``LIQMAP_ALERT_WEBHOOK_URL``,
``LIQMAP_ALERT_TELEGRAM_TOKEN`` + ``LIQMAP_ALERT_TELEGRAM_CHAT_ID``,
``LIQMAP_ALERT_DISCORD_URL``, ``LIQMAP_ALERT_SLACK_URL`` and rules from
``LIQMAP_ALERT_LIQUIDATION_USD`` / ``_WHALE_USD`` / ``_ARBITRAGE_BPS`` / ``_CASCADE_SEVERITY`` /
``_VENUE`` / ``_COOLDOWN_S`` (each threshold ``off`` disables its rule; unset = default).
"""

from __future__ import annotations

from functools import lru_cache

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from liqmap.units import INSTITUTIONAL_USD, LARGE_USD, WHALE_TRADE_USD


class Settings(BaseSettings):
    """liqmap settings; see the module docstring for variables and defaults."""

    model_config = SettingsConfigDict(env_prefix="LIQMAP_", extra="ignore", case_sensitive=False)

    db: str = "data/liquidations.duckdb"
    download_dir: str = "data/binance-vision"
    redis_url: str | None = None
    redis_prefix: str = "liq"
    postgres_dsn: str | None = None
    institutional_usd: float = INSTITUTIONAL_USD
    large_usd: float = LARGE_USD
    host: str = "127.0.0.1"
    port: int = 8000
    ws_origins: str = ""
    allowed_hosts: str = ""
    max_connections: int = Field(1000, ge=1)
    max_ws_clients: int = Field(200, ge=1)
    max_request_target: int = Field(8192, ge=256)

    binance_poll_interval: float = Field(
        10.0, validation_alias=AliasChoices("BINANCE_POLL_INTERVAL", "LIQMAP_BINANCE_POLL_INTERVAL")
    )
    ws_timeout: float | None = Field(None, validation_alias=AliasChoices("WS_TIMEOUT", "LIQMAP_WS_TIMEOUT"))
    max_retries: int = Field(0, validation_alias=AliasChoices("MAX_RETRIES", "LIQMAP_MAX_RETRIES"))
    heatmap_symbols: str = "BTC,ETH"
    heatmap_backfill_days: float = 3.0
    hyperliquid_liquidators: str | None = None
    heatmap_step: str = "5m"

    market_stale_s: float = Field(10.0, gt=0)
    taker_fees: str | None = None
    whale_usd: float = Field(WHALE_TRADE_USD, ge=0)
    whale_usd_by_base: str | None = None
    stats_interval_s: float = Field(60.0, ge=0)

    # alerts: kept as text here, parsed with one clear error per variable by liqmap.alerts.config
    alerts_config: str | None = None
    alert_webhook_url: str | None = None
    alert_telegram_token: str | None = None
    alert_telegram_chat_id: str | None = None
    alert_discord_url: str | None = None
    alert_slack_url: str | None = None
    alert_liquidation_usd: str | None = None
    alert_whale_usd: str | None = None
    alert_arbitrage_bps: str | None = None
    alert_cascade_severity: str | None = None
    alert_venue: str | None = None
    alert_cooldown_s: str | None = None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Process-wide settings, read once from the environment."""
    return Settings()
