"""Everything a reconcile needs, passed as one object: API, caches, provider cache, events, settings.

Also holds per-object statistics that live in memory between status flushes (provider reads, last read),
so that an idle refresh does not have to write status just to bump a counter.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from .watch.cache import ClusterCache
from .api.events import EventRecorder
from .api.client import KubeApi
from .stores.readcache import ProviderCache
from .config import OperatorConfig


@dataclass
class ObjectStats:
    """In-memory access statistics of one object; ``flushed_*`` is what status last said."""

    reads: int = 0
    last_read: str | None = None
    flushed_reads: int = 0
    flushed_at: float = field(default_factory=time.monotonic)
    consecutive_failures: int = 0

    def flush_due(self, period: float, now: float | None = None) -> bool:
        return self.reads != self.flushed_reads and ((now or time.monotonic()) - self.flushed_at) >= period


@dataclass
class Context:
    api: KubeApi
    cache: ClusterCache
    providers: ProviderCache
    events: EventRecorder
    config: OperatorConfig
    stats: dict[tuple[str, str, str], ObjectStats] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def stats_for(self, kind: str, namespace: str, name: str, status_reads: int = 0) -> ObjectStats:
        with self.lock:
            key = (kind, namespace, name)
            stats = self.stats.get(key)
            if stats is None:
                stats = self.stats[key] = ObjectStats(reads=status_reads, flushed_reads=status_reads)
            return stats

    def forget(self, kind: str, namespace: str, name: str) -> None:
        with self.lock:
            self.stats.pop((kind, namespace, name), None)
