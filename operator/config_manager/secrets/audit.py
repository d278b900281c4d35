"""A bounded audit trail of secret reads, writes, deletions and rotations, without values.

Each event names the action, key, provider, outcome and a short detail (a version, "cache", an error
class). Nothing in an event is derived from a value (not even a hash: a hash of a short password can
be brute-forced), so the trail can be logged or shown as it is.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class AuditEvent:
    timestamp: datetime
    action: str  # read | write | delete | rotate | schedule
    key: str
    provider: str
    outcome: str  # ok | not_found | error | stale
    detail: str = ""

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["timestamp"] = self.timestamp.isoformat()
        return data


class AuditTrail:
    """The last ``max_events`` events, oldest first. Thread-safe."""

    def __init__(self, max_events: int = 1000) -> None:
        self._events: deque[AuditEvent] = deque(maxlen=max_events)
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._events)

    def record(self, event: AuditEvent) -> None:
        with self._lock:
            self._events.append(event)

    def events(self, *, key: str | None = None, action: str | None = None, limit: int | None = None) -> list[AuditEvent]:
        with self._lock:
            selected = [
                event for event in self._events
                if (key is None or event.key == key) and (action is None or event.action == action)
            ]
        return selected[-limit:] if limit else selected
