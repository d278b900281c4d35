"""Pure decisions of a rotation, kept free of I/O so unit tests can pin them down.

The intent state machine (stored in ``status.rotation.pending``, never a value):

    (none) --trigger--> pending{id, trigger, paths{path: from-version}} --store written--> (Secret written)
           --status written--> (none; count+1, history += {time, trigger, id, version})

A crash anywhere leaves either no intent (nothing happened yet: the trigger is still there and fires once)
or an intent. An intent is completed, never restarted: for each store path, "has the store moved on from
the version recorded in the intent?" tells whether our write landed (then the value in the store *is* the
new value: it is adopted, so it is never lost and never replaced by a second one) or not (then a value is
generated and written now). One trigger therefore yields exactly one new value.

Stores that keep no versions (Vault KV v1) get a keyed fingerprint instead: HMAC-SHA256 keyed with the
rotation id, truncated; it only tells "changed or not" and is never a bare hash of the value.

Restart debounce: every change sets ``pendingRestart.due = now + debounce`` (trailing edge), but never
later than ``since + 5 * debounce``, so a steady stream of changes cannot postpone restarts forever.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

from ...secrets.rotation import Cadence
from ..api.conditions import parse_iso

HISTORY_LIMIT = 10
MAX_DEBOUNCE_FACTOR = 5

TRIGGER_INITIAL = "initial"
TRIGGER_SCHEDULE = "schedule"
TRIGGER_ANNOTATION = "annotation"


def iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: Any) -> datetime | None:
    if not text:
        return None
    try:
        return parse_iso(str(text))
    except ValueError:
        return None


def fingerprint(rotation_id: str, value: Any) -> str:
    """Keyed, truncated fingerprint of a store value (identifies a change, reveals nothing useful)."""
    if isinstance(value, bytes):
        data = value
    elif isinstance(value, str):
        data = value.encode()
    else:
        data = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str).encode()
    return hmac.new(rotation_id.encode(), data, hashlib.sha256).hexdigest()[:16]


def next_due(rotation_status: Mapping[str, Any], cadence: Cadence | None, created: datetime | None,
             now: datetime) -> datetime | None:
    """When the next scheduled rotation is due: one cadence step after the last rotation (or creation)."""
    if cadence is None:
        return None
    base = parse_time(rotation_status.get("lastRotationTime")) or created or now
    return cadence.next_after(base)


def decide_trigger(
    rotation_status: Mapping[str, Any],
    *,
    annotation: str | None,
    missing: bool,
    enabled: bool,
    cadence: Cadence | None,
    created: datetime | None,
    now: datetime,
) -> str | None:
    """Which trigger fires now, if any (a pending intent is completed instead: see ``pending``)."""
    if annotation is not None and annotation != rotation_status.get("manualTrigger"):
        return TRIGGER_ANNOTATION
    if missing:
        return TRIGGER_INITIAL
    if enabled:
        due = next_due(rotation_status, cadence, created, now)
        if due is not None and due <= now:
            return TRIGGER_SCHEDULE
    return None


def new_intent(rotation_id: str, trigger: str, *, annotation: str | None, keys: Iterable[str],
               paths: Mapping[str, Mapping[str, Any]], now: datetime) -> dict[str, Any]:
    """The intent record written to status before the store is touched (names and versions only)."""
    intent: dict[str, Any] = {"id": rotation_id, "trigger": trigger, "startedAt": iso(now),
                              "keys": sorted(keys), "paths": {p: dict(s) for p, s in paths.items()}}
    if trigger == TRIGGER_ANNOTATION and annotation is not None:
        intent["annotation"] = annotation
    return intent


def path_state(rotation_id: str, *, exists: bool, version: str | None, value: Any) -> dict[str, Any]:
    """What the intent remembers about one store path before writing it."""
    if not exists:
        return {"missing": True}
    if version:
        return {"from": str(version)}
    return {"fp": fingerprint(rotation_id, value)}


def store_written(rotation_id: str, state: Mapping[str, Any], *, exists: bool, version: str | None, value: Any) -> bool:
    """True when the store path has moved on from what the intent recorded (our write landed)."""
    if state.get("missing"):
        return exists
    if not exists:
        return False
    if "from" in state:
        return str(version) != str(state["from"])
    return fingerprint(rotation_id, value) != state.get("fp")


def completed(rotation_status: Mapping[str, Any], intent: Mapping[str, Any], *, versions: Iterable[str],
              cadence: Cadence | None, enabled: bool, now: datetime) -> dict[str, Any]:
    """``status.rotation`` after the intent's rotation finished: count, times, bounded history."""
    out = {k: v for k, v in rotation_status.items() if k not in ("pending", "lastError")}
    out["count"] = int(rotation_status.get("count") or 0) + 1
    out["lastRotationTime"] = iso(now)
    out["lastRotationId"] = intent.get("id")
    if intent.get("annotation") is not None:
        out["manualTrigger"] = intent["annotation"]
    entry = {"time": iso(now), "trigger": intent.get("trigger"), "id": intent.get("id"),
             "version": ",".join(sorted(set(v for v in versions if v))) or "", "keys": list(intent.get("keys") or [])}
    out["history"] = (list(rotation_status.get("history") or []) + [entry])[-HISTORY_LIMIT:]
    nxt = cadence.next_after(now) if (cadence is not None and enabled) else None
    if nxt is not None:
        out["nextRotationTime"] = iso(nxt)
    else:
        out.pop("nextRotationTime", None)
    return out


def debounce(pending_restart: Mapping[str, Any] | None, *, now: datetime, window: float,
             keys: Iterable[str]) -> dict[str, Any]:
    """Add a change (of ``keys``; "*" = unknown, all) to the pending restart, moving its due time."""
    current = dict(pending_restart or {})
    since = parse_time(current.get("since")) or now
    due = now + timedelta(seconds=window)
    cap = since + timedelta(seconds=window * MAX_DEBOUNCE_FACTOR)
    merged = sorted(set(current.get("keys") or []) | set(keys))
    return {"since": iso(since), "due": iso(min(due, cap)), "keys": merged, "changes": int(current.get("changes") or 0) + 1}


def restart_due(pending_restart: Mapping[str, Any] | None, now: datetime) -> bool:
    if not pending_restart:
        return False
    due = parse_time(pending_restart.get("due"))
    return due is None or due <= now


def seconds_until(moment: datetime | None, now: datetime) -> float | None:
    if moment is None:
        return None
    return max(0.0, (moment - now).total_seconds())
