"""Access statistics per secret: how often and when it was read. Counts and times only, never values.

The manager records a read each time it hands out a secret; ``get_secret_info`` and ``get_stats``
report from here, and the operator copies the same figures into a resource's status.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace
from datetime import datetime


@dataclass(frozen=True)
class AccessRecord:
    count: int = 0
    first_accessed: datetime | None = None
    last_accessed: datetime | None = None


@dataclass
class Counters:
    """Totals across all secrets."""

    reads: int = 0
    writes: int = 0
    deletes: int = 0
    rotations: int = 0
    rotation_failures: int = 0
    stale_reads: int = 0


class AccessTracker:
    """Read counts and first/last read time per (provider, key). Thread-safe."""

    def __init__(self) -> None:
        self._records: dict[tuple[str, str], AccessRecord] = {}
        self._lock = threading.Lock()
        self.counters = Counters()

    def record_read(self, provider: str, key: str, when: datetime) -> AccessRecord:
        with self._lock:
            previous = self._records.get((provider, key), AccessRecord())
            record = replace(
                previous,
                count=previous.count + 1,
                first_accessed=previous.first_accessed or when,
                last_accessed=when,
            )
            self._records[(provider, key)] = record
            self.counters.reads += 1
            return record

    def get(self, provider: str, key: str) -> AccessRecord:
        with self._lock:
            return self._records.get((provider, key), AccessRecord())

    def forget(self, provider: str, key: str) -> None:
        with self._lock:
            self._records.pop((provider, key), None)

    def tracked(self) -> int:
        with self._lock:
            return len(self._records)

    def count(self, name: str) -> None:
        """Add one to a ``Counters`` field."""
        with self._lock:
            setattr(self.counters, name, getattr(self.counters, name) + 1)
