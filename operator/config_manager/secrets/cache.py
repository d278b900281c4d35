"""A TTL cache of secrets, so repeated reads do not hit the provider on every call.

Entries are fresh for ``ttl`` seconds (and never past the secret's own ``expires_at``); after that
the manager refetches, and serves the stale entry only when the provider is unavailable (a provider
failure must not blank a value that was good a moment ago). Time comes from an injectable monotonic
clock so tests do not sleep. Not thread-safe on its own: the manager holds its lock around it.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from ..providers.base import SecretValue, utcnow

CacheKey = tuple[str, str]  # (provider name, secret key)


@dataclass(frozen=True)
class CachedSecret:
    secret: SecretValue
    fetched_at: float  # monotonic seconds

    def is_fresh(self, now: float, ttl: float) -> bool:
        return now - self.fetched_at < ttl and not self.secret.is_expired(utcnow())


class SecretCache:
    """``ttl`` seconds of freshness (0 disables caching); at most ``max_entries``, least recently used out."""

    def __init__(self, ttl: float = 300.0, max_entries: int = 10_000, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._clock = clock
        self._entries: OrderedDict[CacheKey, CachedSecret] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: object) -> bool:
        return key in self._entries

    def lookup(self, key: CacheKey) -> tuple[SecretValue | None, bool]:
        """(cached secret or None, whether it is still fresh). Counts a hit only for a fresh entry."""
        entry = self._entries.get(key)
        if entry is None:
            self.misses += 1
            return None, False
        fresh = self.ttl > 0 and entry.is_fresh(self._clock(), self.ttl)
        if fresh:
            self.hits += 1
            self._entries.move_to_end(key)
        else:
            self.misses += 1
        return entry.secret, fresh

    def peek(self, key: CacheKey) -> SecretValue | None:
        entry = self._entries.get(key)
        return entry.secret if entry is not None else None

    def put(self, key: CacheKey, secret: SecretValue) -> None:
        self._entries[key] = CachedSecret(secret, self._clock())
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def invalidate(self, key: CacheKey) -> None:
        self._entries.pop(key, None)

    def clear(self, provider: str | None = None) -> None:
        if provider is None:
            self._entries.clear()
        else:
            for key in [key for key in self._entries if key[0] == provider]:
                del self._entries[key]
