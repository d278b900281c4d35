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
from ..context import Context
from ..spec.durations import parse_duration
from ..stores.isolation import IsolationError
from ..spec.managedsecret import StoreRef
from .status import get_condition, now_iso, set_condition, status_patch
from ..stores.resolve import StoreNotReadyError, build_provider, resolve_store

log = logging.getLogger(__name__)


def reconcile(ctx: Context, kind: str, namespace: str, name: str) -> float | None:
    """Validate one store; returns the delay of the next validation."""
    if kind == "SecretStore":
        body = ctx.cache.stores.get((namespace, name))
    else:
        body = ctx.cache.cluster_stores.get(name)
    if body is None:
        return None
    status: Mapping[str, Any] = body.get("status") or {}
    spec = body.get("spec") or {}
    try:
        interval = parse_duration(str(spec.get("refreshInterval", "10m")), "spec.refreshInterval")
    except Exception:  # noqa: BLE001 - the CRD refuses bad durations; be lenient with old objects
        interval = 600.0
    provider_type = next((k for k in ("local", "vault", "azure") if k in (spec.get("provider") or {})), "")
    ready: tuple[str, str, str]
    try:
        if kind == "ClusterSecretStore":
            # validated in the context of no namespace: only the store's own references matter here
            store = _resolve_cluster(ctx, name)
        else:
            store = resolve_store(StoreRef(name=name, kind=kind), namespace, ctx.cache)
        provider = ctx.providers.provider(store.key, store.fingerprint(ctx.cache), lambda: build_provider(store, ctx.api))
        with metrics.provider_call(provider.provider_type, "validate"):
            provider.validate()
        ready = ("True", "Valid", f"{provider_type} store validated")
        ctx.providers.backoff.success(store.key)
    except (StoreNotReadyError, IsolationError) as exc:
        ready = ("False", "InvalidConfig", str(exc))
    except SecretsError as exc:
        ready = ("False", "ValidationFailed", str(exc))
    metrics.record_sync(kind, ready)
    now = now_iso()
    generation = (body.get("metadata") or {}).get("generation")
    desired = dict(status)
    desired["conditions"] = set_condition(status.get("conditions") or [], type_="Ready", status=ready[0],
                                          reason=ready[1], message=ready[2], generation=generation, now=now)
    desired["observedGeneration"] = generation
    desired["provider"] = provider_type
    changed = status_patch(status, desired)
    if changed is not None:
        changed["lastValidated"] = now
        plural = "secretstores" if kind == "SecretStore" else "clustersecretstores"
        try:
            ctx.api.patch(plural, namespace or None, name, {"status": changed}, subresource="status")
        except Exception as exc:  # noqa: BLE001
            log.warning("status of %s %s not written: %s", kind, name, exc)
        previous = get_condition(status, "Ready")
        if previous is None or previous.get("status") != ready[0] or previous.get("reason") != ready[1]:
            ctx.events.record(body, "Normal" if ready[0] == "True" else "Warning",
                              "Validated" if ready[0] == "True" else "ValidationFailed", ready[2])
    if ready[0] != "True":
        return min(max(interval, 30.0), 120.0)
    return interval if interval > 0 else None


def _resolve_cluster(ctx: Context, name: str) -> Any:
    from ..stores.resolve import ResolvedStore  # noqa: PLC0415

    body = ctx.cache.cluster_stores.get(name)
    if body is None:
        raise StoreNotReadyError(f"ClusterSecretStore {name!r} not found")
    provider = (body.get("spec") or {}).get("provider") or {}
    kinds = [k for k in ("local", "vault", "azure") if k in provider]
    if len(kinds) != 1:
        raise StoreNotReadyError("spec.provider must set exactly one of local, vault, azure")
    return ResolvedStore(kind="ClusterSecretStore", name=name, namespace=None, provider_type=kinds[0],
                         provider_spec=provider[kinds[0]] or {},
                         resource_version=str((body.get("metadata") or {}).get("resourceVersion") or ""))

