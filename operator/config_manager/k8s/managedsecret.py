"""Reconcile one ManagedSecret: read the store, build the Secret, write it if needed, report status.

One pass costs, when nothing changed: the provider reads (shared and cached, see providercache) and no
Kubernetes request at all (target state comes from the watch cache, status is compared before writing).
A create costs one POST of the Secret, one status PATCH and one Event.

A failure never touches an existing Secret: the last good value stays and status says what failed.
Returns the delay until the next pass (refresh with jitter, or backoff), or None for "only on change".
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

from ..errors import ConfigurationError, SecretNotFoundError, SecretsError
from ..providers import SecretValue
from . import metrics
from .context import Context
from .isolation import IsolationError
from .names import ANN_FORCE_SYNC, LABEL_TIER, MASK
from .rotation import engine as rotation  # rotation hooks (issue 6): marked "rotation hook" below
from .settings import REDACTOR
from .spec import InvalidSpecError, ManagedSecretSpec, RemoteRef, parse_managed_secret
from .status import get_condition, now_iso, set_condition, status_patch
from .stores import StoreNotReadyError, build_provider, resolve_store
from .template import render_all
from .values import ValueShapeError, b64, extract_property, spread, text_values, to_bytes
from .writer import Desired, WriteError, WriteResult, delete_if_ours, write

log = logging.getLogger(__name__)
KIND = "ManagedSecret"


class SyncFailure(Exception):
    """A sync that could not complete. ``reason`` goes to the Ready condition; the message is value-free."""

    def __init__(self, reason: str, message: str, retry: float | None) -> None:
        self.reason = reason
        self.retry = retry
        super().__init__(message)


def jittered(interval: float, jitter: float) -> float:
    """``interval`` plus a random 0..jitter fraction of it, so refreshes spread out."""
    return interval * (1.0 + random.uniform(0.0, jitter)) if interval > 0 else interval


def fetch_data(ctx: Context, body: Mapping[str, Any], spec: ManagedSecretSpec, *, fresh: bool) -> tuple[dict[str, bytes], int, str]:
    """Read every remote reference. Returns (data, provider reads made, store key)."""
    namespace = body["metadata"]["namespace"]
    try:
        store = resolve_store(spec.store, namespace, ctx.cache)
    except IsolationError as exc:
        raise SyncFailure("StoreNotReady", str(exc), None) from None
    except StoreNotReadyError as exc:
        raise SyncFailure("StoreNotReady", str(exc), None) from None
    try:
        provider = ctx.providers.provider(store.key, store.fingerprint(ctx.cache), lambda: build_provider(store, ctx.api))
    except (StoreNotReadyError, IsolationError) as exc:
        raise SyncFailure("StoreNotReady", str(exc), 60.0) from None
    except SecretsError as exc:
        raise SyncFailure("StoreNotReady", f"{store.kind} {store.name!r}: {exc}", 60.0) from None
    data: dict[str, bytes] = {}
    reads = 0
    field = "spec"
    # A forced sync reads each distinct remote key afresh once; further references to it (a property of
    # the same key, an extract of it) share that read instead of reading it again.
    read_afresh: set[tuple[str, str | None]] = set()

    def read(ref: RemoteRef) -> tuple[SecretValue, bool]:
        first = (ref.key, ref.version) not in read_afresh
        read_afresh.add((ref.key, ref.version))
        return ctx.providers.read(store.key, provider, ref, fresh=fresh and first)

    try:
        for index, ref in enumerate(spec.data_from):
            field = f"spec.dataFrom[{index}].extract"
            value, fetched = read(ref)
            reads += fetched
            REDACTOR.add(value.value)
            data.update(spread(value.value, ref.property, ref.key))
        for index, item in enumerate(spec.data):
            field = f"spec.data[{index}].remoteRef"
            value, fetched = read(item.remote)
            reads += fetched
            REDACTOR.add(value.value)
            data[item.secret_key] = to_bytes(extract_property(value.value, item.remote.property, item.remote.key))
    except SecretNotFoundError as exc:
        raise SyncFailure("ProviderError", f"{store.kind} {store.name!r}: {exc}", _retry(ctx, store.key, spec)) from None
    except ValueShapeError as exc:
        raise SyncFailure("ProviderError", f"{store.kind} {store.name!r}: {exc}", _retry(ctx, store.key, spec)) from None
    except SecretsError as exc:
        raise SyncFailure("ProviderError", f"{store.kind} {store.name!r}: {exc}", _retry(ctx, store.key, spec)) from None
    except ConfigurationError as exc:  # the provider refused the reference itself (path traversal, bad version)
        raise InvalidSpecError(field, f"{store.kind} {store.name!r}: {exc}") from None
    return data, reads, store.key


def _retry(ctx: Context, store_key: str, spec: ManagedSecretSpec) -> float:
    waiting = ctx.providers.backoff.remaining(store_key)
    if waiting <= 0:
        waiting = ctx.providers.backoff.delay_for(max(1, ctx.providers.backoff.failures(store_key)))
    if spec.refresh_seconds > 0:
        waiting = min(waiting, max(spec.refresh_seconds, ctx.config.backoff_base))
    return max(waiting, 1.0)


def desired_secret(body: Mapping[str, Any], spec: ManagedSecretSpec, data: Mapping[str, bytes]) -> Desired:
    """The Secret this spec asks for, given the fetched data."""
    target = spec.target
    values = dict(data)
    labels: dict[str, str] = {}
    annotations: dict[str, str] = {}
    if target.template is not None:
        rendered = {k: v.encode() for k, v in render_all(target.template.data, text_values(data)).items()}
        values = {**data, **rendered} if target.template.merge_policy == "Merge" or not rendered else rendered
        labels.update(target.template.labels)
        annotations.update(target.template.annotations)
    meta_labels = spec.metadata.get("labels") or {}
    labels.update({str(k): str(v) for k, v in meta_labels.items()})
    if spec.metadata.get("tier"):
        labels[LABEL_TIER] = str(spec.metadata["tier"])
    return Desired(
        kind="Secret",
        namespace=body["metadata"]["namespace"],
        name=target.name,
        data=b64(values),
        owner=body,
        policy=target.creation_policy,
        owner_reference=target.creation_policy == "Owner" and target.deletion_policy == "Delete",
        type=target.type,
        labels=labels,
        annotations=annotations,
        immutable=target.immutable,
    )


def desired_masked_configmap(body: Mapping[str, Any], spec: ManagedSecretSpec, keys: list[str]) -> Desired:
    """The masked ConfigMap view: every key shown as [MASKED], plus the non-secret metadata."""
    assert spec.target.masked_configmap
    data = {k: MASK for k in keys}
    for field in ("tier", "owner", "description"):
        if spec.metadata.get(field):
            data[f"_meta.{field}"] = str(spec.metadata[field])
    data["_meta.secret"] = spec.target.name
    return Desired(
        kind="ConfigMap",
        namespace=body["metadata"]["namespace"],
        name=spec.target.masked_configmap,
        data=data,
        owner=body,
        policy="Owner",
        owner_reference=spec.target.deletion_policy == "Delete",
        labels={LABEL_TIER: str(spec.metadata["tier"])} if spec.metadata.get("tier") else {},
    )


def reconcile(ctx: Context, namespace: str, name: str, *, reason: str = "sync") -> float | None:
    """One pass over a ManagedSecret. Returns the delay until the next pass, or None."""
    delay = _reconcile(ctx, namespace, name, reason=reason)
    return rotation.next_delay(ctx, namespace, name, delay)  # rotation hook: come back when a rotation is due


def _reconcile(ctx: Context, namespace: str, name: str, *, reason: str = "sync") -> float | None:
    body = ctx.cache.managed_secrets.get((namespace, name))
    if body is None:
        ctx.forget(KIND, namespace, name)
        return None
    meta = body["metadata"]
    status: Mapping[str, Any] = body.get("status") or {}
    access = status.get("access") or {}
    stats = ctx.stats_for(KIND, namespace, name, int(access.get("providerReads") or 0))
    now = now_iso()
    force_value = (meta.get("annotations") or {}).get(ANN_FORCE_SYNC)
    forced = force_value is not None and force_value != status.get("forceSync")

    try:
        spec = parse_managed_secret(name, body.get("spec") or {})
    except InvalidSpecError as exc:
        _finish(ctx, body, status, stats, now, ready=("False", "InvalidSpec", str(exc)), force_value=force_value,
                event=("Warning", "InvalidSpec", str(exc)))
        return None

    ctx.cache.set_watches((KIND, namespace, name), [
        (namespace, "Secret", spec.target.name),
        *([(namespace, "ConfigMap", spec.target.masked_configmap)] if spec.target.masked_configmap else []),
    ])
    usage = ctx.cache.users_of(namespace, spec.target.name) if ctx.config.track_workloads else None
    extra: dict[str, Any] = {"binding": {"name": spec.target.name}}

    if reason == "usage" and get_condition(status, "Ready") is not None and not forced:
        _finish(ctx, body, status, stats, now, ready=None, usage=usage, extra=extra, force_value=force_value)
        return _next(ctx, spec)

    try:
        rot = rotation.before_sync(ctx, body, spec, status)  # rotation hook: intent + store write-back
        if rot is not None:
            spec, status = rot.spec or spec, rot.status
            extra["rotation"] = rot.rotation_status
        data, reads, store_key = fetch_data(ctx, body, spec, fresh=forced)
        if reads:
            stats.reads += reads
            stats.last_read = now
        secret = desired_secret(body, spec, data)
        outcome = write(ctx.api, ctx.cache, secret)
        if spec.target.masked_configmap and outcome.result in (WriteResult.CREATED, WriteResult.UPDATED, WriteResult.UNCHANGED):
            write(ctx.api, ctx.cache, desired_masked_configmap(body, spec, sorted(secret.data)))
        elif not spec.target.masked_configmap:
            cleanup_masked(ctx, body, f"{spec.target.name}-masked")  # switched off: no request unless it exists
    except SyncFailure as exc:
        stats.consecutive_failures += 1
        log.warning("ManagedSecret %s/%s: %s: %s", namespace, name, exc.reason, exc)
        delay = _next(ctx, spec) if exc.retry is None else exc.retry
        _finish(ctx, body, status, stats, now, ready=("False", exc.reason, str(exc)), usage=usage, extra=extra,
                force_value=force_value, event=("Warning", "SyncFailed", f"{exc.reason}: {exc}"), next_retry=delay)
        return delay
    except (InvalidSpecError, WriteError) as exc:
        stats.consecutive_failures += 1
        is_spec = isinstance(exc, InvalidSpecError)
        reason_ = "InvalidSpec" if is_spec else "WriteFailed"
        _finish(ctx, body, status, stats, now, ready=("False", reason_, str(exc)), usage=usage, extra=extra,
                force_value=force_value, event=("Warning", reason_ if is_spec else "SyncFailed", str(exc)))
        return None if is_spec else 5.0

    stats.consecutive_failures = 0
    extra["keys"] = sorted(secret.data)
    if outcome.result is WriteResult.NOT_OWNED:
        _finish(ctx, body, status, stats, now, ready=("False", "NotOwned", outcome.detail), usage=usage, extra=extra,
                force_value=force_value, event=("Warning", "NotOwned", outcome.detail))
        return _next(ctx, spec)
    if outcome.result is WriteResult.TARGET_MISSING:
        _finish(ctx, body, status, stats, now, ready=("False", "TargetMissing", outcome.detail), usage=usage,
                extra=extra, force_value=force_value, event=("Warning", "TargetMissing", outcome.detail))
        return _next(ctx, spec)
    written = outcome.result in (WriteResult.CREATED, WriteResult.UPDATED)
    extra["syncedResourceVersion"] = outcome.resource_version
    if written or forced or not status.get("refreshTime"):
        extra["refreshTime"] = now
    event = None
    if outcome.result is WriteResult.CREATED:
        again = " again (it had been deleted)" if status.get("syncedResourceVersion") else ""
        event = ("Normal", "Created", f"Secret {spec.target.name!r} created{again} with {len(secret.data)} keys")
    elif outcome.result is WriteResult.UPDATED:
        what = "repaired drift in" if outcome.drift_repaired else "updated"
        event = ("Normal", "Updated", f"Secret {spec.target.name!r} {what} ({len(secret.data)} keys)")
    if rot is not None:  # rotation hook: restarts (debounced) and the completed rotation's status
        extra["rotation"] = rotation.finish(ctx, rot, body, secret, outcome)
    _finish(ctx, body, status, stats, now, ready=("True", "SecretSynced", f"Secret {spec.target.name!r} is in sync"),
            usage=usage, extra=extra, force_value=force_value, event=event, force_write=written)
    if rot is not None:
        rotation.after_status(ctx, rot, body)  # rotation hook: Events, notification
    return _next(ctx, spec)


def _next(ctx: Context, spec: ManagedSecretSpec) -> float | None:
    if spec.refresh_seconds <= 0:
        return None
    return jittered(spec.refresh_seconds, ctx.config.refresh_jitter)


def _finish(
    ctx: Context,
    body: Mapping[str, Any],
    status: Mapping[str, Any],
    stats: Any,
    now: str,
    *,
    ready: tuple[str, str, str] | None,
    usage: list[tuple[str, str]] | None = None,
    extra: Mapping[str, Any] | None = None,
    force_value: str | None = None,
    event: tuple[str, str, str] | None = None,
    force_write: bool = False,
    next_retry: float | None = None,
) -> None:
    """Build the new status, write it only if it differs (or stats are due), post the Event."""
    metrics.record_sync(KIND, ready)
    meta = body["metadata"]
    generation = meta.get("generation")
    desired: dict[str, Any] = dict(status)
    conditions = list(status.get("conditions") or [])
    if ready is not None:
        conditions = set_condition(conditions, type_="Ready", status=ready[0], reason=ready[1], message=ready[2],
                                   generation=generation, now=now)
    used_event = None
    if usage is not None:
        in_use = bool(usage)
        previous = get_condition(status, "InUse")
        conditions = set_condition(
            conditions, type_="InUse", status="True" if in_use else "False",
            reason="Referenced" if in_use else "NotReferenced",
            message=f"used by {len(usage)} workload(s)" if in_use else "no workload references this Secret",
            generation=generation, now=now,
        )
        if not in_use and previous is not None and previous.get("status") == "True":
            # only when the last user goes away: on creation the InUse=False condition says it, without an Event
            used_event = ("Warning", "Unused", "no Pod, Deployment, StatefulSet or DaemonSet references the Secret any more")
    desired["conditions"] = conditions
    desired["observedGeneration"] = generation
    if force_value is not None:
        desired["forceSync"] = force_value
    desired.update(extra or {})
    access: dict[str, Any] = dict(status.get("access") or {})
    access["providerReads"] = stats.reads
    if stats.last_read:
        access["lastRead"] = stats.last_read
    access["consecutiveFailures"] = stats.consecutive_failures
    if next_retry is not None and ready is not None and ready[0] == "False":
        access["nextRetry"] = now_iso(datetime.now(timezone.utc) + timedelta(seconds=next_retry))
    else:
        access.pop("nextRetry", None)
    if usage is not None:
        access["usedBy"] = [{"kind": k, "name": n} for k, n in usage[:100]]
        access["usedByCount"] = len(usage)
    desired["access"] = access
    patch = status_patch(status, desired, flush_volatile=force_write or stats.flush_due(ctx.config.stats_flush))
    if patch is not None:
        if "refreshTime" not in patch and force_write:
            patch["refreshTime"] = now
        try:
            updated = ctx.api.patch("managedsecrets", meta["namespace"], meta["name"], {"status": patch},
                                    subresource="status")
            ctx.cache.update_body("managedsecrets", updated)
            stats.flushed_reads = stats.reads
            stats.flushed_at = time.monotonic()
        except Exception as exc:  # noqa: BLE001 - status is best effort; the next pass retries
            log.warning("status of ManagedSecret %s/%s not written: %s", meta["namespace"], meta["name"], exc)
    for ev in (event, used_event):
        if ev is not None:
            ctx.events.record(body, *ev)


def cleanup_masked(ctx: Context, body: Mapping[str, Any], name: str) -> None:
    """Remove a masked ConfigMap we own that the spec no longer asks for."""
    delete_if_ours(ctx.api, ctx.cache, "ConfigMap", body["metadata"]["namespace"], name, f"{KIND}/{body['metadata']['name']}")

