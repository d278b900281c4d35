"""Reconcile one ClusterManagedSecret: one ordinary ManagedSecret per selected namespace, kept in step.

The namespaces are those named in ``spec.namespaces`` plus those whose labels match
``spec.namespaceSelector``, as the watch cache knows them (no LIST). In each, a ManagedSecret named
``managedSecretName`` is created or brought back to ``managedSecretSpec``; it carries the label
``configmanager.io/cluster-managed-secret: <name>``, our owner annotation and an owner reference (so the
garbage collector removes them all with the ClusterManagedSecret). A namespace that stops matching
loses its ManagedSecret (and, through its owner reference, the Secret). A same-named ManagedSecret that
is not ours is never touched: that namespace is reported in ``status.failedNamespaces``.

The per-namespace objects are synced by the ManagedSecret reconciler like any other. Woken by: its own
changes, any namespace event (labels, creation, deletion) and events of the ManagedSecrets it made.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .. import metrics
from ..api.client import ApiError
from ..api.conditions import now_iso, set_condition
from ..api.resources import (
    ANN_OWNER,
    API_VERSION,
    LABEL_CLUSTER_MANAGED_SECRET,
    LABEL_MANAGED_BY,
    MANAGED_BY_VALUE,
    MANAGED_SECRET,
    owner_annotation,
)
from ..context import Context
from ..spec.clustermanagedsecret import ClusterManagedSecretSpec, parse_cluster_managed_secret
from ..spec.managedsecret import InvalidSpecError
from ..stores.isolation import selector_matches
from .status import write_status

KIND = "ClusterManagedSecret"
RETRY = 30.0


def selected_namespaces(spec: ClusterManagedSecretSpec, namespaces: Mapping[str, Mapping[str, str]]) -> list[str]:
    """The existing namespaces ``spec`` selects (named, or labels matching the selector)."""
    named = set(spec.namespaces)
    selector = spec.namespace_selector
    return sorted(ns for ns, labels in namespaces.items()
                  if ns in named or (selector is not None and selector_matches(selector, labels)))


def contains(current: Any, desired: Any) -> bool:
    """True when every field of ``desired`` is in ``current`` with the same value (the apiserver's
    defaults, present only in ``current``, do not count as a difference)."""
    if isinstance(desired, Mapping):
        return isinstance(current, Mapping) and all(contains(current.get(k), v) for k, v in desired.items())
    if isinstance(desired, list):
        return isinstance(current, list) and len(current) == len(desired) and all(map(contains, current, desired))
    return bool(current == desired)


def reconcile(ctx: Context, name: str) -> float | None:
    body = ctx.cache.cluster_managed_secrets.get(name)
    if body is None:
        return None
    owner_id = owner_annotation(KIND, name)
    try:
        spec = parse_cluster_managed_secret(name, body.get("spec") or {})
    except InvalidSpecError as exc:
        _finish(ctx, body, ("False", "InvalidSpec", str(exc)), [], [])
        ctx.events.record(body, "Warning", "InvalidSpec", str(exc))
        return None
    cache = ctx.cache
    with cache.lock:
        namespaces = {ns: dict(labels) for ns, labels in cache.namespaces.items()}
        same_name = {ns: b for (ns, n), b in cache.managed_secrets.items() if n == spec.managed_secret_name}
        ours = [(ns, n) for (ns, n), b in cache.managed_secrets.items()
                if ((b.get("metadata") or {}).get("annotations") or {}).get(ANN_OWNER) == owner_id]
    targets = selected_namespaces(spec, namespaces)
    provisioned: list[str] = []
    failed: list[dict[str, str]] = []
    for ns in targets:
        error = _ensure(ctx, body, spec, ns, same_name.get(ns), owner_id)
        if error is None:
            provisioned.append(ns)
        else:
            failed.append({"namespace": ns, "reason": error[0], "message": error[1]})
    for ns, ms_name in ours:
        if ns not in targets or ms_name != spec.managed_secret_name:
            try:
                ctx.api.delete(MANAGED_SECRET, ns, ms_name)
            except ApiError as exc:
                failed.append({"namespace": ns, "reason": "DeleteFailed", "message": f"{exc.status} {exc.reason}"})
    if failed:
        message = f"{len(failed)} namespace(s) failed, first {failed[0]['namespace']!r}: {failed[0]['message']}"
        ready = ("False", "NamespacesFailed", message)
    else:
        ready = ("True", "Provisioned", f"ManagedSecret {spec.managed_secret_name!r} in {len(provisioned)} namespace(s)")
    if _finish(ctx, body, ready, provisioned, failed) and failed:
        ctx.events.record(body, "Warning", "NamespacesFailed", message)
    return RETRY if failed else None


def _desired(body: Mapping[str, Any], spec: ClusterManagedSecretSpec, namespace: str, owner_id: str) -> dict[str, Any]:
    meta = body["metadata"]
    return {
        "apiVersion": API_VERSION,
        "kind": "ManagedSecret",
        "metadata": {
            "name": spec.managed_secret_name,
            "namespace": namespace,
            "labels": {LABEL_CLUSTER_MANAGED_SECRET: str(meta["name"]), LABEL_MANAGED_BY: MANAGED_BY_VALUE},
            "annotations": {ANN_OWNER: owner_id},
            "ownerReferences": [{"apiVersion": API_VERSION, "kind": KIND, "name": meta["name"], "uid": meta.get("uid"),
                                 "controller": True, "blockOwnerDeletion": False}],
        },
        "spec": dict(spec.managed_secret_spec),
    }


def _ensure(ctx: Context, body: Mapping[str, Any], spec: ClusterManagedSecretSpec, namespace: str,
            current: Mapping[str, Any] | None, owner_id: str) -> tuple[str, str] | None:
    """Create or update the ManagedSecret in ``namespace``; None when it is as wanted, else (reason, message)."""
    desired = _desired(body, spec, namespace, owner_id)
    try:
        if current is None:
            try:
                ctx.api.create(MANAGED_SECRET, namespace, desired)
                return None
            except ApiError as exc:
                if exc.status != 409:
                    raise
                current = ctx.api.get(MANAGED_SECRET, namespace, spec.managed_secret_name)  # our cache was behind
                if current is None:
                    return ("Conflict", f"ManagedSecret {spec.managed_secret_name!r} vanished while we created it; will retry")
        meta = current.get("metadata") or {}
        if (meta.get("annotations") or {}).get(ANN_OWNER) != owner_id:
            return ("NotOwned", f"ManagedSecret {spec.managed_secret_name!r} exists and is not managed by this {KIND}")
        if contains(current.get("spec"), desired["spec"]) and contains(meta, {k: desired["metadata"][k] for k in ("labels",)}):
            return None
        replacement = {**current, "metadata": {**meta, "labels": {**(meta.get("labels") or {}), **desired["metadata"]["labels"]}},
                       "spec": desired["spec"]}
        replacement.pop("status", None)
        ctx.api.replace(MANAGED_SECRET, namespace, spec.managed_secret_name, replacement)
        return None
    except ApiError as exc:
        if exc.status == 409:
            return ("Conflict", f"ManagedSecret {spec.managed_secret_name!r} changed while we wrote it; will retry")
        return ("WriteFailed", f"{exc.status} {exc.reason}: {exc}"[:500])


def _finish(ctx: Context, body: Mapping[str, Any], ready: tuple[str, str, str], provisioned: list[str],
            failed: list[dict[str, str]]) -> bool:
    metrics.record_sync(KIND, ready)
    status: Mapping[str, Any] = body.get("status") or {}
    generation = body["metadata"].get("generation")
    desired = {
        **status,
        "conditions": set_condition(list(status.get("conditions") or []), type_="Ready", status=ready[0],
                                    reason=ready[1], message=ready[2], generation=generation, now=now_iso()),
        "observedGeneration": generation,
        "provisionedNamespaces": provisioned,
        "failedNamespaces": failed,
    }
    return write_status(ctx, KIND, body, desired, current=status)
