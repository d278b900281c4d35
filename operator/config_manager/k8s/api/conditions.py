"""Kubernetes status conventions: RFC 3339 timestamps and ``conditions`` entries (metav1.Condition).

``lastTransitionTime`` only moves when a condition's status does, so a refresh that changes nothing
leaves the conditions byte-for-byte equal and the status writer skips the write.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from typing import Any


def now_iso(now: datetime | None = None) -> str:
    """RFC 3339 UTC timestamp with second precision, as Kubernetes writes them."""
    if now is None:
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())  # a third of the datetime path's cost
    return now.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


_ISO_SECONDS = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z")


def parse_iso(text: str) -> datetime:
    """The UTC moment of a ``now_iso`` timestamp ("2026-12-02T10:00:00Z"); ValueError for any other form.

    What ``datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ")`` does, at 2.2 instead of 5.6 µs (it ran once per
    object in a restart's first sights: 4 % of the operator's samples at 20,000 objects)."""
    if not _ISO_SECONDS.fullmatch(text):
        raise ValueError(f"not a timestamp such as 2026-12-02T10:00:00Z: {text[:40]!r}")
    return datetime.fromisoformat(text[:19]).replace(tzinfo=timezone.utc)


def set_condition(
    conditions: Iterable[Mapping[str, Any]],
    *,
    type_: str,
    status: str,
    reason: str,
    message: str,
    generation: int | None,
    now: str,
) -> list[dict[str, Any]]:
    """Conditions with ``type_`` replaced; lastTransitionTime kept unless ``status`` changed."""
    result: list[dict[str, Any]] = []
    previous: Mapping[str, Any] | None = None
    for cond in conditions:
        if cond.get("type") == type_:
            previous = cond
        else:
            result.append(dict(cond))
    transition = now
    if previous is not None and previous.get("status") == status and previous.get("lastTransitionTime"):
        transition = str(previous["lastTransitionTime"])
    new: dict[str, Any] = {
        "type": type_,
        "status": status,
        "reason": reason,
        "message": message[:1024],
        "lastTransitionTime": transition,
    }
    if generation is not None:
        new["observedGeneration"] = generation
    result.append(new)
    return sorted(result, key=lambda c: str(c.get("type")))


def get_condition(status: Mapping[str, Any] | None, type_: str) -> Mapping[str, Any] | None:
    """The condition of ``type_`` in ``status``, if any."""
    for cond in (status or {}).get("conditions") or []:
        if cond.get("type") == type_:
            return cond  # type: ignore[no-any-return]
    return None
