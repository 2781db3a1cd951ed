"""Reconnect / retry delays: capped exponential backoff with FULL jitter.

``delay(n) = random.uniform(0, min(cap, base * 2**n))`` seconds for the n-th
consecutive failure (n starts at 0). Full jitter spreads reconnects of many
clients over the whole window so a venue outage does not end in a thundering
herd (AWS Architecture Blog, "Exponential Backoff And Jitter",
https://aws.amazon.com/blogs/architecture/exponential-backoff-and-jitter/).
The cap keeps the worst-case wait bounded (cryptofeed's uncapped backoff is
the known pitfall this avoids).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass
class Backoff:
    """Stateful full-jitter backoff.

    Args:
        base: first window in seconds (> 0).
        cap: largest window in seconds (>= base).
        rng: random source (inject a seeded ``random.Random`` in tests).

    Raises:
        ValueError: when ``base <= 0`` or ``cap < base``.
    """

    base: float = 1.0
    cap: float = 60.0
    rng: random.Random = field(default_factory=random.Random)
    attempt: int = 0

    def __post_init__(self) -> None:
        if self.base <= 0:
            raise ValueError(f"backoff base must be > 0 s, got {self.base}")
        if self.cap < self.base:
            raise ValueError(f"backoff cap ({self.cap} s) must be >= base ({self.base} s)")

    def window(self, attempt: int | None = None) -> float:
        """Upper bound (seconds) of the delay for failure number ``attempt``."""
        n = self.attempt if attempt is None else attempt
        # 2**n overflows float for huge n; the cap is reached long before.
        return self.cap if n >= 63 else min(self.cap, self.base * (2**n))

    def next_delay(self) -> float:
        """Delay in seconds for the next retry; advances the failure counter."""
        d = self.rng.uniform(0.0, self.window())
        self.attempt += 1
        return d

    def reset(self) -> None:
        """Forget failures (call after a successful connect / request)."""
        self.attempt = 0


#: Shortest wait after an HTTP 429 or 418, seconds, whatever ``Retry-After`` says
#: (``0``, absent, garbage): retrying within milliseconds of a 429 is what gets an IP banned.
RATE_LIMIT_FLOOR_S = 5.0
#: Wait after a 418 without ``Retry-After``: Binance's IP bans "scale in duration for repeat
#: offenders, from 2 minutes to 3 days"
#: (https://developers.binance.com/docs/derivatives/usds-margined-futures/general-info).
BAN_WAIT_S = 120.0


@dataclass(frozen=True)
class RateLimitPolicy:
    """How long to wait after a venue answered HTTP 429 (rate limited) or 418 (Binance: IP
    banned after ignoring 429s), on a websocket handshake or a REST request.

    The venue's ``Retry-After`` (seconds; Binance sends it with both codes: "the number of
    seconds required to wait, in the case of a 429, to prevent a ban, or, in the case of a
    418, until the ban is over", URL above) is honoured, never less than ``floor_s``;
    without it a 429 waits the caller's backoff delay and a 418 ``ban_s`` (each at least
    ``floor_s``).

    Args:
        floor_s: minimum wait in seconds (>= 0).
        ban_s: wait after a 418 without ``Retry-After``, seconds.
    """

    floor_s: float = RATE_LIMIT_FLOOR_S
    ban_s: float = BAN_WAIT_S

    def wait_s(self, status: int, retry_after_s: float | None, backoff_s: float) -> float:
        """Seconds to wait before the next attempt after an HTTP ``status`` (429 or 418)
        answer carrying ``retry_after_s`` (parsed header, None when absent or invalid);
        ``backoff_s`` is the caller's own next backoff delay."""
        if retry_after_s is None:
            retry_after_s = self.ban_s if status == 418 else backoff_s
        return max(retry_after_s, self.floor_s)


@dataclass(frozen=True)
class RetryPolicy:
    """How a feed task retries: its full-jitter backoff window and its waits after HTTP 429 / 418.

    One policy is built by an adapter and shared by all its connections, REST polls and
    the gap backfill; each task draws its own :class:`Backoff` from it (:meth:`backoff`).

    Args:
        backoff_base_s: first backoff window in seconds (> 0).
        backoff_cap_s: largest backoff window in seconds (a cap below the base is raised to it).
        rate_limit: waits after HTTP 429 / 418 (:class:`RateLimitPolicy`).
    """

    backoff_base_s: float = 1.0
    backoff_cap_s: float = 60.0
    rate_limit: RateLimitPolicy = RateLimitPolicy()

    def backoff(self) -> Backoff:
        """A fresh :class:`Backoff` over this window (each task counts its own failures)."""
        return Backoff(self.backoff_base_s, max(self.backoff_cap_s, self.backoff_base_s))
