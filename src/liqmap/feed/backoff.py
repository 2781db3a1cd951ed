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
