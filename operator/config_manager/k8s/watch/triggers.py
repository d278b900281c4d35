"""Turning rotation triggers into work: the ``configmanager.io/rotate`` annotation and due times.

The sync handlers (``..handlers``) enqueue a ManagedSecret or ConfigBundle on spec changes and at its refresh time; they
do not look at rotation. This extra kopf event handler (async: it runs on the event loop, where the work
queue lives) adds an immediate pass when the rotate annotation carries a value not yet honoured, and, on
first sight after an operator start, a pass when an interrupted rotation (intent in status), a debounced
restart or a scheduled rotation is due. It never calls the API.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

import kopf

from ..api.resources import ANN_ROTATE, GROUP, VERSION
from ..rotation import plan


def due_delay(body: Mapping[str, Any], now: datetime | None = None) -> float | None:
    """Seconds until this ManagedSecret or ConfigBundle needs a pass for rotation reasons, or None (pure)."""
    spec = body.get("spec") or {}
    if not isinstance(spec.get("rotation"), dict):
        return None
    now = now or datetime.now(timezone.utc)
    rot_status = (body.get("status") or {}).get("rotation") or {}
    annotation = ((body.get("metadata") or {}).get("annotations") or {}).get(ANN_ROTATE)
    if rot_status.get("pending"):
        return 0.0
    if annotation is not None and annotation != rot_status.get("manualTrigger"):
        return 0.0
    waits = [plan.seconds_until(plan.parse_time(t), now)
             for t in (rot_status.get("nextRotationTime"), (rot_status.get("pendingRestart") or {}).get("due"))]
    found = [w for w in waits if w is not None]
    return min(found) if found else None


@kopf.on.event(GROUP, VERSION, "managedsecrets", id="rotation-triggers")
async def rotation_triggers(event: kopf.RawEvent, body: kopf.Body, **_: Any) -> None:
    _on_event("ManagedSecret", "managedsecrets", event, body)


@kopf.on.event(GROUP, VERSION, "configbundles", id="bundle-rotation-triggers")
async def bundle_rotation_triggers(event: kopf.RawEvent, body: kopf.Body, **_: Any) -> None:
    _on_event("ConfigBundle", "configbundles", event, body)


def _on_event(kind: str, plural: str, event: kopf.RawEvent, body: kopf.Body) -> None:
    from .handlers import RT, _to_dict  # noqa: PLC0415 - the runtime registers handlers before it starts

    if RT.queue is None or event.get("type") == "DELETED":
        return
    data: dict[str, Any] = _to_dict(body)
    meta = data.get("metadata") or {}
    if RT.ctx is not None:
        RT.ctx.cache.update_body(plural, data)  # so the pass sees this event's annotation
    if meta.get("deletionTimestamp"):
        return
    first_sight = event.get("type") is None
    annotation = (meta.get("annotations") or {}).get(ANN_ROTATE)
    rot_status = (data.get("status") or {}).get("rotation") or {}
    if not first_sight and (annotation is None or annotation == rot_status.get("manualTrigger") or rot_status.get("pending")):
        return  # only a new annotation value matters after start-up; due times come from the reconcile
    delay = due_delay(data)
    if delay is not None:
        RT.queue.add((kind, str(meta.get("namespace")), str(meta.get("name"))), delay, "rotate")
