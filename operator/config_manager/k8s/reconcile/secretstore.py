"""Validate SecretStores and ClusterSecretStores with a real call to their backend; report Ready.

A store is Ready when its provider can be built (credentials found) and ``validate()`` succeeds. The
status is only written when the outcome changes, so a healthy store costs one validation call per
``refreshInterval`` and no writes.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from ...errors import SecretsError
from .. import metrics
from ..api.conditions import get_condition, now_iso, set_condition
from ..context import Context
from ..spec.durations import parse_duration
from ..stores.bindings import PROVIDER_TYPES
from ..stores.credentials import StoreNotReadyError
from ..stores.isolation import IsolationError
from ..stores.resolve import resolve_own
from .base import Ready
from .status import write_status

log = logging.getLogger(__name__)


def _validate(ctx: Context, kind: str, namespace: str, name: str, provider_type: str) -> Ready:
    """Build the store's provider and ask its backend; the Ready verdict."""
    try:
        store = resolve_own(kind, namespace, name, ctx.cache)
        provider = ctx.provider(store)
        with metrics.provider_call(provider.provider_type, "validate"):
            provider.validate()
        ctx.providers.backoff.success(store.key)
        return ("True", "Valid", f"{provider_type} store validated")
    except (StoreNotReadyError, IsolationError) as exc:
        return ("False", "InvalidConfig", str(exc))
    except SecretsError as exc:
        return ("False", "ValidationFailed", str(exc))


def reconcile(ctx: Context, kind: str, namespace: str, name: str) -> float | None:
    """Validate one store; returns the delay of the next validation."""
    body = ctx.cache.stores.get((namespace, name)) if kind == "SecretStore" else ctx.cache.cluster_stores.get(name)
    if body is None:
        return None
    status: Mapping[str, Any] = body.get("status") or {}
    spec = body.get("spec") or {}
    try:
        interval = parse_duration(str(spec.get("refreshInterval", "10m")), "spec.refreshInterval")
    except Exception:  # noqa: BLE001 - the CRD refuses bad durations; be lenient with old objects
        interval = 600.0
    provider_type = next((t for t in PROVIDER_TYPES if t in (spec.get("provider") or {})), "")
    ready = _validate(ctx, kind, namespace, name, provider_type)
    metrics.record_sync(kind, ready)
    now = now_iso()
    generation = (body.get("metadata") or {}).get("generation")
    desired = dict(status)
    desired["conditions"] = set_condition(status.get("conditions") or [], type_="Ready", status=ready[0],
                                          reason=ready[1], message=ready[2], generation=generation, now=now)
    desired["observedGeneration"] = generation
    desired["provider"] = provider_type
    if write_status(ctx, kind, body, desired, on_write={"lastValidated": now}):
        previous = get_condition(status, "Ready")
        if previous is None or previous.get("status") != ready[0] or previous.get("reason") != ready[1]:
            ctx.events.record(body, "Normal" if ready[0] == "True" else "Warning",
                              "Validated" if ready[0] == "True" else "ValidationFailed", ready[2])
    if ready[0] != "True":
        return min(max(interval, 30.0), 120.0)
    return interval if interval > 0 else None
