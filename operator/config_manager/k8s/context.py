"""Everything a reconcile needs, passed as one object: API, caches, provider cache, events, settings, clock.

Also holds what lives in memory between passes: per-object statistics between status flushes (provider
reads, last read), so that an idle refresh does not have to write status just to bump a counter, and the
text of ConfigBundle source objects read last time (re-read only when their resourceVersion moves), and
the values generators made for ManagedSecrets.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..providers import SecretProvider
from .api.client import KubeApi
from .api.events import EventRecorder
from .config import OperatorConfig
from .stores.readcache import ProviderCache
from .stores.resolve import ResolvedStore, provider_for
from .watch.cache import ClusterCache


@dataclass
class ObjectStats:
    """In-memory access statistics of one object; ``flushed_*`` is what status last said."""

    flushed_at: float
    reads: int = 0
    last_read: str | None = None
    flushed_reads: int = 0
    consecutive_failures: int = 0

    def flush_due(self, period: float, now: float) -> bool:
        """True when the counters moved and the last flush is at least ``period`` seconds old."""
        return self.reads != self.flushed_reads and (now - self.flushed_at) >= period

    def flushed(self, now: float) -> None:
        """Status now says what these counters say."""
        self.flushed_reads = self.reads
        self.flushed_at = now

    def counters(self) -> dict[str, Any]:
        """The statistics both kinds report (ManagedSecret ``status.access``, ConfigBundle ``status.stats``)."""
        return {"providerReads": self.reads, **({"lastRead": self.last_read} if self.last_read else {})}

    def read(self, count: int, now: str) -> None:
        """Count ``count`` provider reads made at ``now``."""
        if count:
            self.reads += count
            self.last_read = now


class SourceMemo:
    """Text values of source ConfigMaps/Secrets by (namespace, kind, name), with the resourceVersion read."""

    def __init__(self) -> None:
        self._entries: dict[tuple[str, str, str], tuple[str, dict[str, str]]] = {}
        self._lock = threading.Lock()

    def get(self, namespace: str, kind: str, name: str, resource_version: str) -> dict[str, str] | None:
        with self._lock:
            entry = self._entries.get((namespace, kind, name))
        return entry[1] if entry is not None and entry[0] == resource_version else None

    def put(self, namespace: str, kind: str, name: str, resource_version: str, data: Mapping[str, str]) -> None:
        with self._lock:
            self._entries[(namespace, kind, name)] = (resource_version, dict(data))

    def forget(self, namespace: str, kind: str, name: str) -> None:
        """Drop what was read from a source object that is gone."""
        with self._lock:
            self._entries.pop((namespace, kind, name), None)


GeneratedKey = tuple[str, str, int, str, str]  # (namespace, ManagedSecret, dataFrom index, kind, generator name)


class GeneratedMemo:
    """Values this process generated for ManagedSecrets (or took back from their target Secret), so a
    refresh keeps them (``reconcile/generated.py``)."""

    def __init__(self) -> None:
        self._values: dict[GeneratedKey, dict[str, str]] = {}
        self._lock = threading.Lock()

    def get(self, key: GeneratedKey) -> dict[str, str] | None:
        with self._lock:
            found = self._values.get(key)
        return dict(found) if found is not None else None

    def put(self, key: GeneratedKey, values: Mapping[str, str]) -> None:
        with self._lock:
            self._values[key] = dict(values)

    def forget(self, namespace: str, name: str) -> None:
        """Drop what was kept for a ManagedSecret that is gone."""
        with self._lock:
            for key in [k for k in self._values if k[:2] == (namespace, name)]:
                del self._values[key]


@dataclass
class Context:
    api: KubeApi
    cache: ClusterCache
    providers: ProviderCache
    events: EventRecorder
    config: OperatorConfig
    clock: Callable[[], float] = time.monotonic
    stats: dict[tuple[str, str, str], ObjectStats] = field(default_factory=dict)
    sources: SourceMemo = field(default_factory=SourceMemo)
    generated: GeneratedMemo = field(default_factory=GeneratedMemo)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def stats_for(self, kind: str, namespace: str, name: str, status_reads: int = 0) -> ObjectStats:
        with self.lock:
            key = (kind, namespace, name)
            stats = self.stats.get(key)
            if stats is None:
                stats = self.stats[key] = ObjectStats(flushed_at=self.clock(), reads=status_reads,
                                                      flushed_reads=status_reads)
            return stats

    def forget(self, kind: str, namespace: str, name: str) -> None:
        with self.lock:
            self.stats.pop((kind, namespace, name), None)
        if kind == "ManagedSecret":
            self.generated.forget(namespace, name)

    def provider(self, store: ResolvedStore) -> SecretProvider:
        """The cached provider of ``store`` (rebuilt when the store or its credentials changed)."""
        return provider_for(store, cache=self.cache, providers=self.providers, api=self.api)
