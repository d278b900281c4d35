"""The only status writer, and its diffing: write status only when something a reader cares about changed.

External Secrets writes status on every refresh (one write per object per interval). Here a refresh that
changes nothing writes nothing: the new status is compared with the stored one with the "volatile"
fields (timestamps, counters) ignored, and those are only flushed along with a real change or when the
statistics are older than a flush period (``--stats-flush``). Condition ``lastTransitionTime`` only
moves when the condition's status does (``api.conditions``).

Statistics are spelled one way for both kinds — the counters of ``context.ObjectStats.counters`` — under
the field each CRD names (``STATS_FIELD``: a ManagedSecret's ``access``, a ConfigBundle's ``stats``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from ..api.resources import PLURAL_BY_KIND, SYNCED_KINDS
from ..context import Context, ObjectStats

log = logging.getLogger(__name__)

#: Where each kind keeps its statistics in status (the field names of the CRDs).
STATS_FIELD = {"ManagedSecret": "access", "ConfigBundle": "stats"}
#: Counters inside a statistics field that change on every read and alone never justify a write.
VOLATILE_COUNTERS = frozenset({"providerReads", "lastRead", "nextRetry"})
#: Top-level status fields that change on every sync (whole, or their counters) and alone never justify a write.
VOLATILE_FIELDS = frozenset({"refreshTime", *STATS_FIELD.values()})


def _stable_view(status: Mapping[str, Any]) -> dict[str, Any]:
    view = {k: v for k, v in status.items() if k not in VOLATILE_FIELDS}
    for name in STATS_FIELD.values():
        stats = status.get(name) or {}
        view[name] = {k: v for k, v in stats.items() if k not in VOLATILE_COUNTERS and v is not None}
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
        if key in STATS_FIELD.values():
            if value and value != cur.get(key):
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


def patch_status(ctx: Context, kind: str, body: Mapping[str, Any], patch: Mapping[str, Any]) -> Mapping[str, Any]:
    """PATCH ``patch`` into the status of ``body`` (raises ApiError); returns the new status."""
    meta = body["metadata"]
    plural = PLURAL_BY_KIND[kind]
    updated = ctx.api.patch(plural, meta.get("namespace") or None, meta["name"], {"status": dict(patch)},
                            subresource="status")
    if kind in SYNCED_KINDS or kind == "VaultDynamicSecret":
        ctx.cache.update_body(plural, updated)
    return updated.get("status") or {}


def write_status(ctx: Context, kind: str, body: Mapping[str, Any], desired: Mapping[str, Any], *,
                 current: Mapping[str, Any] | None = None, stats: ObjectStats | None = None,
                 force_write: bool = False, on_write: Mapping[str, Any] | None = None) -> bool:
    """Write ``desired`` when it differs from the stored status (statistics: when due); best effort.

    ``current``: the status as stored now, when the pass already wrote some (a rotation intent), else the
    body's. ``force_write``: the pass wrote an output, so the statistics go along. ``on_write``: fields
    added to a write that happens anyway (never a reason to write). Returns whether a write was needed."""
    current = (body.get("status") or {}) if current is None else current
    flush = force_write or (stats is not None and stats.flush_due(ctx.config.stats_flush, ctx.clock()))
    patch = status_patch(current, desired, flush_volatile=flush)
    if patch is None:
        return False
    for key, value in (on_write or {}).items():
        patch.setdefault(key, value)
    meta = body["metadata"]
    try:
        patch_status(ctx, kind, body, patch)
        if stats is not None:
            stats.flushed(ctx.clock())
    except Exception as exc:  # noqa: BLE001 - status is best effort; the next pass retries
        log.warning("status of %s %s/%s not written: %s", kind, meta.get("namespace") or "", meta["name"], exc)
    return True
