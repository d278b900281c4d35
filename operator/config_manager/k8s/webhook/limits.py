"""Keep a burst of change events cheap: a token-bucket rate limit per receiver and per-key coalescing.

A store that saves a secret three times in a second (or Event Grid retrying a delivery) should cost one
refresh, not three: ``Coalescer`` holds each distinct signal for ``window`` seconds and refreshes once
when the window closes; repeats inside the window are counted and dropped. The rate limit bounds how many
authenticated requests per second may cause work at all (the rest get 429 and Event Grid retries later).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field


@dataclass
class TokenBucket:
    """``rate`` requests per second on average, ``burst`` at once."""

    rate: float
    burst: float
    clock: Callable[[], float] = time.monotonic
    _tokens: float = -1.0
    _at: float = 0.0

    def allow(self) -> bool:
        now = self.clock()
        if self._tokens < 0:
            self._tokens, self._at = self.burst, now
        self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
        self._at = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False


@dataclass
class Coalescer:
    """Runs ``flush(signal)`` once per distinct signal per ``window`` seconds (on the running loop)."""

    flush: Callable[[Hashable], None]
    window: float = 0.5
    pending: dict[Hashable, asyncio.TimerHandle | None] = field(default_factory=dict)
    coalesced: int = 0

    def add(self, signal: Hashable) -> bool:
        """Schedule a refresh for ``signal``; False when one is already pending (coalesced)."""
        if signal in self.pending:
            self.coalesced += 1
            return False
        if self.window <= 0:
            self.pending[signal] = None
            self._fire(signal)
            return True
        loop = asyncio.get_running_loop()
        self.pending[signal] = loop.call_later(self.window, self._fire, signal)
        return True

    def _fire(self, signal: Hashable) -> None:
        self.pending.pop(signal, None)
        self.flush(signal)

    def close(self) -> None:
        for handle in self.pending.values():
            if handle is not None:
                handle.cancel()
        self.pending.clear()
