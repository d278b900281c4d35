"""What a watch event asks for: pure decisions from bodies to "enqueue this key in that many seconds".

The kopf handlers (``handlers``) keep the cache current and call these functions to decide what to
enqueue; nothing here touches kopf, the API or the queue, so every rule is unit-tested on plain dicts:

- ``first_delay``: when to look at an object first seen by this process (start-up or creation): at once
  when it is new or changed while we were away, else at its refresh time (jittered);
- ``spec_changed``: a generation, uid or force-sync change re-syncs an object now;
- ``dependents``: the ManagedSecrets and ConfigBundles that use a store;
- ``rotation_due_delay`` / ``rotation_wake``: the ``configmanager.io/rotate`` annotation and rotation due
  times (an interrupted rotation, a debounced restart, a schedule) turned into a pass.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timezone
from typing import Any

from ..api.conditions import get_condition, parse_iso
from ..api.resources import ANN_ROTATE
from ..rotation import plan
from ..spec.durations import parse_duration
from ..spec.outputs import force_sync_pending, force_sync_value

Key = tuple[str, str, str]  # (kind, namespace, name)


def key_of(kind: str, body: Mapping[str, Any]) -> Key:
    """The work-queue key of an object of ``kind``."""
    meta = body.get("metadata") or {}
    return (kind, str(meta.get("namespace") or ""), str(meta.get("name") or ""))


def first_delay(body: Mapping[str, Any], *, default_refresh: str, spread: float, jitter: float,
                outputs_intact: Callable[[], bool], now: datetime | None = None,
                uniform: Callable[[float, float], float] = random.uniform) -> float:
    """Seconds until the first pass over an object this process has not seen before."""
    spread_delay = uniform(0.0, spread)
    meta = body.get("metadata") or {}
    status = body.get("status") or {}
    ready = get_condition(status, "Ready")
    if (meta.get("generation") != status.get("observedGeneration") or ready is None or ready.get("status") != "True"
            or force_sync_pending(body)):
        return 0.0 if status == {} else spread_delay
    try:
        interval = parse_duration(str((body.get("spec") or {}).get("refreshInterval", default_refresh)))
        refreshed = parse_iso(str(status.get("refreshTime")))
    except (ValueError, TypeError):
        return spread_delay
    if not outputs_intact():
        return spread_delay  # deleted or edited while we were away
    if interval <= 0:
        return spread_delay  # check the target once after start (drift while we were away)
    age = ((now or datetime.now(timezone.utc)) - refreshed).total_seconds()
    if age >= interval:
        return spread_delay
    return (interval - age) * (1.0 + uniform(0.0, jitter))


def spec_changed(old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> bool:
    """True when the spec (generation), the object itself (uid) or the force-sync annotation changed."""
    old_meta = (old or {}).get("metadata") or {}
    new_meta = new.get("metadata") or {}
    if old_meta.get("generation") != new_meta.get("generation") or old_meta.get("uid") != new_meta.get("uid"):
        return True
    return force_sync_value(old or {}) != force_sync_value(new)


def names_generator(spec: Mapping[str, Any], kind: str, name: str) -> bool:
    """True when a ManagedSecret spec names the generator ``kind``/``name`` (dataFrom or rotation)."""
    refs = [((item or {}).get("sourceRef") or {}).get("generatorRef") or {} for item in spec.get("dataFrom") or []]
    refs.append(((spec.get("rotation") or {}).get("generatorRef")) or {})
    return any(ref.get("kind") == kind and ref.get("name") == name for ref in refs)


def store_refs(spec: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """Every ``storeRef`` of a ManagedSecret or ConfigBundle spec (the default one and per secret)."""
    return [spec.get("storeRef") or {}] + [s.get("storeRef") or {} for s in spec.get("secrets") or []]


def dependents(tables: Iterable[tuple[str, Mapping[tuple[str, str], Mapping[str, Any]]]], store_kind: str,
               store_name: str, namespace: str | None) -> list[Key]:
    """Keys of the objects in ``tables`` ((kind, {(ns, name): body})) that use the store; ``namespace``
    None: any namespace (a ClusterSecretStore)."""
    found: list[Key] = []
    for kind, table in tables:
        for (ns, name), body in table.items():
            if namespace is not None and ns != namespace:
                continue
            refs = store_refs(body.get("spec") or {})
            if any(r.get("name") == store_name and (r.get("kind") or "SecretStore") == store_kind for r in refs):
                found.append((kind, ns, name))
    return found


def ready_turned_true(old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> bool:
    """True when the Ready condition became True (a store's users retry at once)."""
    before = (get_condition((old or {}).get("status"), "Ready") or {}).get("status")
    after = (get_condition(new.get("status"), "Ready") or {}).get("status")
    return before != after and after == "True"


def rotation_due_delay(body: Mapping[str, Any], now: datetime | None = None) -> float | None:
    """Seconds until this ManagedSecret or ConfigBundle needs a pass for rotation reasons, or None."""
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


#: The name the rotation tests and older code know ``rotation_due_delay`` by.
due_delay = rotation_due_delay


def rotation_wake(event_type: str | None, body: Mapping[str, Any], now: datetime | None = None) -> float | None:
    """The delay of a rotation pass this event asks for, or None.

    On first sight after a start (``event_type`` None: kopf's initial listing) any due rotation counts;
    afterwards only a new value of the rotate annotation does (due times come from the reconcile)."""
    meta = body.get("metadata") or {}
    if event_type == "DELETED" or meta.get("deletionTimestamp"):
        return None
    annotation = (meta.get("annotations") or {}).get(ANN_ROTATE)
    rot_status = (body.get("status") or {}).get("rotation") or {}
    if event_type is not None and (annotation is None or annotation == rot_status.get("manualTrigger")
                                   or rot_status.get("pending")):
        return None
    return rotation_due_delay(body, now)
