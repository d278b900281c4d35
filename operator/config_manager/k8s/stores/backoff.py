"""Bounded exponential backoff, kept per store so that 500 objects on one failing vault back off together.

The delay grows with consecutive failures (base * 2**n, with jitter) and is capped. A success resets it.
Backing off per store rather than per object is what keeps a throttled backend (Azure Key Vault counts
requests per vault per 10 s) from being hammered by every object's own retry loop.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class _State:
    failures: int = 0
    not_before: float = 0.0  # monotonic time before which the store should not be called


class Backoff:
    """Per-key failure counters and "retry not before" times. Thread-safe."""

    def __init__(self, base: float = 2.0, cap: float = 300.0, jitter: float = 0.2,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.base = base
        self._clock = clock  # monotonic seconds; injected by tests
        self.cap = cap
        self.jitter = jitter
        self._states: dict[str, _State] = {}
        self._lock = threading.Lock()

    def delay_for(self, failures: int) -> float:
        """The (unjittered) delay after ``failures`` consecutive failures: base * 2**(n-1), capped."""
        if failures <= 0:
            return 0.0
        return float(min(self.cap, self.base * (2.0 ** min(failures - 1, 30))))

    def failure(self, key: str, now: float | None = None) -> float:
        """Record a failure of ``key``; returns the delay before the next attempt (jittered, capped)."""
        now = self._clock() if now is None else now
        with self._lock:
            state = self._states.setdefault(key, _State())
            if now >= state.not_before:  # concurrent failures inside one window count once
                state.failures += 1
            delay = self.delay_for(state.failures)
            delay = min(self.cap, delay * (1 + random.uniform(-self.jitter, self.jitter)))
            state.not_before = max(state.not_before, now + delay)
            return state.not_before - now

    def success(self, key: str) -> None:
        """Forget the failures of ``key``."""
        with self._lock:
            self._states.pop(key, None)

    def remaining(self, key: str, now: float | None = None) -> float:
        """Seconds until ``key`` may be called again (0 when not backing off)."""
        now = self._clock() if now is None else now
        with self._lock:
            state = self._states.get(key)
            return max(0.0, state.not_before - now) if state else 0.0

    def failures(self, key: str) -> int:
        """Consecutive failures of ``key``."""
        with self._lock:
            state = self._states.get(key)
            return state.failures if state else 0
