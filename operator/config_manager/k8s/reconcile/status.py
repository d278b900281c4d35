"""Status building and diffing: write status only when something a reader cares about changed.

External Secrets writes status on every refresh (one write per object per interval). Here a refresh that
changes nothing writes nothing: the new status is compared with the stored one with the "volatile"
fields (timestamps, counters) ignored, and those are only flushed along with a real change or when the
statistics are older than a flush period. Condition ``lastTransitionTime`` only moves when the
condition's status does.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from typing import Any

#: Top-level status fields that change on every sync and alone never justify a write.
VOLATILE_FIELDS = frozenset({"refreshTime", "access"})
#: Fields inside ``access`` that are not volatile: a change in them is worth a write.
STABLE_ACCESS_FIELDS = ("usedBy", "usedByCount", "consecutiveFailures")


def now_iso(now: datetime | None = None) -> str:
    """RFC 3339 UTC timestamp with second precision, as Kubernetes writes them."""
    return (now or datetime.now(timezone.utc)).astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


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


def _stable_view(status: Mapping[str, Any]) -> dict[str, Any]:
    view = {k: v for k, v in status.items() if k not in VOLATILE_FIELDS}
    access = status.get("access") or {}
    view["access"] = {k: access.get(k) for k in STABLE_ACCESS_FIELDS if access.get(k) is not None}
    if "conditions" in view:
        view["conditions"] = sorted(
            (dict(c) for c in view["conditions"] or []), key=lambda c: str(c.get("type"))
        )
    return view


def status_changed(current: Mapping[str, Any] | None, desired: Mapping[str, Any]) -> bool:
    """True when ``desired`` differs from ``current`` in anything but the volatile fields."""
    cur = _stable_view(current or {})
    des = _stable_view(desired)
    for key, value in des.items():
        if key == "access":
            if value and value != cur.get("access"):
                return True
            continue
        if cur.get(key) != value:
            return True
    return False


def status_patch(
    current: Mapping[str, Any] | None, desired: Mapping[str, Any], *, flush_volatile: bool = False
) -> dict[str, Any] | None:
    """The merge patch for the status subresource, or None when no write is needed.

    ``flush_volatile`` forces a write of the volatile fields (statistics older than the flush period).
    Fields are written whole (conditions is a list: merge patch replaces it, which is what we want).
    """
    current = current or {}
    if not status_changed(current, desired):
        if not flush_volatile:
            return None
        if all(current.get(k) == desired.get(k) for k in VOLATILE_FIELDS if k in desired):
            return None
    patch = {k: _merge_value(current.get(k), v) for k, v in desired.items() if current.get(k) != v}
    return patch or None


def _merge_value(current: Any, desired: Any) -> Any:
    """``desired`` as a JSON merge patch over ``current``: keys it dropped become null (deleted)."""
    if isinstance(desired, Mapping) and isinstance(current, Mapping):
        out: dict[str, Any] = {k: _merge_value(current.get(k), v) for k, v in desired.items()}
        out.update({k: None for k in current if k not in desired})
        return out
    return desired
