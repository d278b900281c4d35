"""The rotation steps around one ManagedSecret or ConfigBundle reconcile, in crash-safe order.

The kind-specific facts (names, store, output Secret, changed keys) come from a ``subjects.Subject``;
``before_sync`` (ManagedSecret) and ``before_sync_bundle`` (ConfigBundle) build it and call ``begin``.

``begin`` (called by the reconcile before it reads the store):
  1. decide: a pending intent is completed; otherwise the ``configmanager.io/rotate`` annotation, a
     missing key (first value) or the schedule may fire (``plan.decide_trigger``);
  2. record the intent in ``status.rotation.pending`` (one status PATCH; names and versions only);
  3. write the store: previous value first (``keepPrevious``), then the new value — or, when recovering,
     adopt what an earlier attempt already wrote (``plan.store_written``).
The reconcile then reads the store fresh and writes the Secret as it always does (one PATCH).
``finish`` (after the Secret write): restart the workloads using changed keys when the debounce window
has passed (one PATCH per workload that must restart, none otherwise), then returns the new
``status.rotation`` that the reconcile writes with the rest of status (the intent disappears in that same
PATCH). ``after_status``: Events and the HTTP notification.

Secret values only pass through memory: they are generated, written to the store, and added to the
log redactor; nothing here logs, records or raises with a value.
"""

from __future__ import annotations

import logging
import uuid
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from ...errors import SecretNotFoundError, SecretsError
from ...providers import SecretProvider, SecretValue
from .. import metrics
from ..api.resources import ANN_ROTATE
from ..context import Context
from ..logs import REDACTOR
from ..spec.generators import parse_generator
from ..spec.managedsecret import InvalidSpecError, ManagedSecretSpec, RemoteRef, parse_generator_ref
from ..spec.rotation import RotatedKey, RotationSpec, sync_spec
from ..stores.credentials import StoreNotReadyError
from ..stores.isolation import IsolationError
from ..stores.resolve import resolve_store
from ..write.writer import Desired, WriteOutcome, WriteResult
from . import notify, plan, restarts
from .faults import crash_point
from .subjects import Subject, config_bundle_subject, managed_secret_subject, rotation_raw

log = logging.getLogger(__name__)

PatchStatus = Callable[[Mapping[str, Any]], Mapping[str, Any]]


@dataclass
class RotationPass:
    """What one reconcile pass did about rotation (no values)."""

    subject: Subject
    status: Mapping[str, Any]  # status after our intent write, if any
    rotation: RotationSpec
    rotation_status: dict[str, Any]  # status.rotation as it should be if the pass ends here
    intent: dict[str, Any] | None = None
    store_done: bool = False
    versions: list[str] = field(default_factory=list)
    restarted: list[tuple[str, str]] = field(default_factory=list)
    error: str | None = None
    events: list[tuple[str, str, str]] = field(default_factory=list)
    spec: ManagedSecretSpec | None = None  # ManagedSecret: the sync spec (with rotated and previous keys)


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _created(body: Mapping[str, Any]) -> datetime | None:
    return plan.parse_time((body.get("metadata") or {}).get("creationTimestamp"))


def _get(provider: SecretProvider, path: str) -> SecretValue | None:
    try:
        value = provider.get(path)
    except SecretNotFoundError:
        return None
    REDACTOR.add(value.value)
    return value


def _cached(ctx: Context, store_key: str, provider: SecretProvider, path: str) -> SecretValue | None:
    """A read shared with the sync (single-flight, cached): enough to decide whether anything is due."""
    try:
        value, _ = ctx.providers.read(store_key, provider, RemoteRef(key=path))
    except SecretNotFoundError:
        return None
    REDACTOR.add(value.value)
    return value


def _has(value: SecretValue | None, prop: str | None) -> bool:
    if value is None:
        return False
    return prop is None or (isinstance(value.value, Mapping) and prop in value.value)


def _groups(rotation: RotationSpec) -> dict[str, list[RotatedKey]]:
    groups: dict[str, list[RotatedKey]] = defaultdict(list)
    for key in rotation.keys:
        groups[key.remote.key].append(key)
    return groups


def _write_path(provider: SecretProvider, path: str, keys: list[RotatedKey], current: SecretValue | None) -> SecretValue:
    """Previous value(s) first, then the new one; one store write per path when properties share it."""
    if all(k.remote.property is None for k in keys):
        key = keys[0]
        if key.previous is not None and current is not None:
            provider.set(key.previous.key, current.value)
        new = key.generator()
        REDACTOR.add(new)
        return provider.set(path, new)
    doc: dict[str, Any] = dict(current.value) if current is not None and isinstance(current.value, Mapping) else {}
    for key in keys:
        prop = key.remote.property or key.secret_key
        if key.previous is not None and prop in doc:
            doc[key.previous.property or prop] = doc[prop]
        new = key.generator()
        REDACTOR.add(new)
        doc[prop] = new
    return provider.set(path, doc)


def _bootstrap_previous(ctx: Context, store_key: str, provider: SecretProvider, rotation: RotationSpec) -> bool:
    """keepPrevious on keys never rotated yet: the previous value starts as the current one."""
    wrote = False
    for key in rotation.keys:
        if key.previous is None:
            continue
        current = _cached(ctx, store_key, provider, key.remote.key)
        if not _has(current, key.remote.property):
            continue
        assert current is not None
        if key.remote.property is None:
            if _cached(ctx, store_key, provider, key.previous.key) is None:
                provider.set(key.previous.key, current.value)
                wrote = True
        elif key.previous.property not in current.value:
            provider.set(key.remote.key, {**current.value, str(key.previous.property): current.value[key.remote.property]})
            wrote = True
    return wrote


def _scale(ctx: Context) -> float:
    return float(getattr(ctx.config, "rotation_interval_scale", 1.0))


def referenced_generator(ctx: Context, body: Mapping[str, Any], raw: Mapping[str, Any]) -> Callable[[], Any] | None:
    """``spec.rotation.generatorRef`` as a generator of one value (Password: the password, UUID: the uuid),
    from the generator object in the watch cache; None when the rotation names none."""
    ref = raw.get("generatorRef")
    if not ref:
        return None
    field = "spec.rotation.generatorRef"
    parsed = parse_generator_ref(ref, field)
    if parsed.kind == "SSHKey":
        raise InvalidSpecError(f"{field}.kind", "SSHKey makes two keys; use it from dataFrom[].sourceRef.generatorRef "
                                                "(force-sync makes a new pair)")
    namespace = str(body["metadata"]["namespace"])
    with ctx.cache.lock:
        generator_body = ctx.cache.generators.get((parsed.kind, namespace, parsed.name))
    if generator_body is None:
        raise InvalidSpecError(field, f"{parsed.kind} {parsed.name!r} not found in namespace {namespace!r}")
    try:
        generator = parse_generator(parsed.kind, generator_body)
    except InvalidSpecError as exc:
        raise InvalidSpecError(field, str(exc)) from None
    first = generator.keys[0]
    return lambda: generator.generate()[first]


def before_sync(ctx: Context, body: Mapping[str, Any], spec: ManagedSecretSpec, status: Mapping[str, Any],
                patch_status: PatchStatus) -> RotationPass | None:
    """Steps 1-3 for a ManagedSecret (see the module docstring). None when it has no ``spec.rotation``."""
    raw = rotation_raw(body)
    if raw is None:
        return None
    subject = managed_secret_subject(raw, spec, interval_scale=_scale(ctx),
                                     default_generator=referenced_generator(ctx, body, raw))
    rp = begin(ctx, body, subject, status, patch_status)
    rp.spec = sync_spec(spec, subject.rotation)
    return rp


def before_sync_bundle(ctx: Context, body: Mapping[str, Any], status: Mapping[str, Any], patch_status: PatchStatus, *,
                       secret_name: str, secret_key: str) -> RotationPass | None:
    """Steps 1-3 for a ConfigBundle. None without ``spec.rotation``; raises InvalidSpecError naming the field."""
    raw = rotation_raw(body)
    if raw is None:
        return None
    subject = config_bundle_subject(raw, body.get("spec") or {}, secret_name=secret_name, secret_key=secret_key,
                                    interval_scale=_scale(ctx), default_generator=referenced_generator(ctx, body, raw))
    return begin(ctx, body, subject, status, patch_status)


def begin(ctx: Context, body: Mapping[str, Any], subject: Subject, status: Mapping[str, Any],
          patch_status: PatchStatus) -> RotationPass:
    """Steps 1-3 (see the module docstring) for any kind. ``patch_status`` records the intent (the
    reconciler's status writer: PATCHes the status subresource, returns the new status, raises on failure)."""
    rotation = subject.rotation
    now = _now()
    rot_status: dict[str, Any] = dict(status.get("rotation") or {})
    nxt = plan.next_due(rot_status, rotation.cadence, _created(body), now) if rotation.enabled else None
    if nxt is not None:
        rot_status["nextRotationTime"] = plan.iso(nxt)
    else:
        rot_status.pop("nextRotationTime", None)
    rp = RotationPass(subject=subject, status=status, rotation=rotation, rotation_status=rot_status)
    meta = body["metadata"]
    namespace = meta["namespace"]
    try:
        store = resolve_store(subject.store, namespace, ctx.cache)
        provider = ctx.provider(store)
    except (StoreNotReadyError, IsolationError, SecretsError):
        return rp  # the sync reports the store problem; nothing is rotated meanwhile
    pending = rot_status.get("pending")
    groups = _groups(rotation)
    try:
        if not isinstance(pending, Mapping):
            currents = {path: _cached(ctx, store.key, provider, path) for path in groups}
            missing = any(not _has(currents[k.remote.key], k.remote.property) for k in rotation.keys)
            annotation = (meta.get("annotations") or {}).get(ANN_ROTATE)
            trigger = plan.decide_trigger(rot_status, annotation=annotation, missing=missing, enabled=rotation.enabled,
                                          cadence=rotation.cadence, created=_created(body), now=now)
            if trigger is None:
                if rotation.keep_previous and _bootstrap_previous(ctx, store.key, provider, rotation):
                    ctx.providers.invalidate(store.key)
                return rp
            rid = uuid.uuid4().hex[:12]
            currents = {path: _get(provider, path) for path in groups}  # fresh: the intent records exact versions
            paths = {path: plan.path_state(rid, exists=cur is not None, version=cur.version if cur else None,
                                           value=cur.value if cur else None) for path, cur in currents.items()}
            pending = plan.new_intent(rid, trigger, annotation=annotation, keys=rotation.key_names, paths=paths, now=now)
            rp.status = patch_status({"rotation": {"pending": pending, "lastError": None}})
            rot_status["pending"] = pending
            rot_status.pop("lastError", None)
            log.info("%s %s/%s: rotation %s (%s) of %s recorded", subject.kind, namespace, meta["name"], rid, trigger,
                     ", ".join(rotation.key_names))
            crash_point("after-intent")
        rp.intent = dict(pending)
        rid = str(pending.get("id"))
        for path, keys in groups.items():
            current = _get(provider, path)
            state = (pending.get("paths") or {}).get(path) or {"missing": current is None}
            if plan.store_written(rid, state, exists=current is not None, version=current.version if current else None,
                                  value=current.value if current else None):
                assert current is not None
                rp.versions.append(str(current.version or ""))  # an earlier attempt's value: adopted, not replaced
                continue
            written = _write_path(provider, path, keys, current)
            rp.versions.append(str(written.version or ""))
        ctx.providers.invalidate(store.key)
        rp.store_done = True
        crash_point("after-store-write")
    except SecretsError as exc:
        rp.error = f"StoreWriteFailed: {exc}"
        metrics.ROTATIONS.labels(trigger=str((pending or {}).get("trigger")), result="error").inc()
        rot_status["lastError"] = rp.error[:1024]
        rp.events.append(("Warning", "RotationFailed", rp.error))
        log.warning("%s %s/%s: rotation failed: %s", subject.kind, namespace, meta["name"], exc)
    return rp


def finish(ctx: Context, rp: RotationPass, body: Mapping[str, Any], secret: Desired | None,
           outcome: WriteOutcome | None) -> dict[str, Any]:
    """After the Secret write: debounced restarts, then the ``status.rotation`` to write.

    ``secret`` None: the object writes no Secret (a ConfigBundle with its Secret output off): nothing to restart."""
    if rp.intent is not None and rp.store_done:
        crash_point("after-secret-write")
    now = _now()
    rot = rp.rotation
    rot_status = dict(rp.rotation_status)
    changed: list[str] = []
    if rp.intent is not None and rp.store_done:
        changed = list(rp.subject.changed_keys)
        rot_status = plan.completed(rot_status, rp.intent, versions=rp.versions, cadence=rot.cadence,
                                    enabled=rot.enabled, now=now)
        msg = (f"rotated {', '.join(rot.key_names)} (trigger {rp.intent.get('trigger')}, rotation {rp.intent.get('id')}, "
               f"store version {','.join(v for v in rp.versions if v) or 'n/a'}); store and Secret {rp.subject.secret_name!r} updated")
        rp.events.append(("Normal", "Rotated", msg))
        metrics.ROTATIONS.labels(trigger=str(rp.intent.get("trigger")), result="success").inc()
    elif outcome is not None and outcome.result is WriteResult.UPDATED and not outcome.drift_repaired:
        changed = ["*"]  # the store changed outside a rotation: which keys is unknown
    if rot.restart_mode != "None" and changed:
        rot_status["pendingRestart"] = plan.debounce(rot_status.get("pendingRestart"), now=now, window=rot.debounce, keys=changed)
    pending_restart = rot_status.get("pendingRestart")
    if rot.restart_mode != "None" and plan.restart_due(pending_restart, now) and secret is not None:
        try:
            _restart(ctx, rp, body, secret, list((pending_restart or {}).get("keys") or ["*"]))
            rot_status.pop("pendingRestart", None)
            crash_point("after-restart")
        except Exception as exc:  # noqa: BLE001 - an API refusal must not lose the rotation's status
            error = f"RestartFailed: {type(exc).__name__}: {getattr(exc, 'reason', '')}"
            rot_status["lastError"] = error
            rp.events.append(("Warning", "RestartFailed", error))
    elif rot.restart_mode == "None":
        rot_status.pop("pendingRestart", None)
    rp.rotation_status = rot_status
    return rot_status


def _restart(ctx: Context, rp: RotationPass, body: Mapping[str, Any], secret: Desired, changed: list[str]) -> None:
    namespace = secret.namespace
    info = ctx.cache.get_object("Secret", namespace, secret.name)
    if info is None:
        return
    users = ctx.cache.users_of(namespace, secret.name) if ctx.config.track_workloads else None
    rot = rp.rotation
    bodies = restarts.candidates(ctx.api, users, namespace, secret.name, rot.restart_mode,
                                 [(t.kind, t.name) for t in rot.targets])
    rid = (rp.intent or {}).get("id") or (rp.rotation_status.get("lastRotationId") or "-")
    for workload in bodies:
        decision = restarts.decide(workload, secret.name, info.uid, secret.data, changed,
                                   explicit=rot.restart_mode == "Explicit")
        if not decision.restart:
            continue
        updated = restarts.restart(ctx.api, workload, secret.name, decision.hash)
        if updated is None:
            continue
        rp.restarted.append((decision.kind, decision.name))
        metrics.WORKLOAD_RESTARTS.labels(kind=decision.kind).inc()
        ctx.events.record(updated, "Normal", "Restarted",
                          f"pod template updated: Secret {secret.name!r} changed ({decision.why}); rotation {rid}")
    if rp.restarted:
        names = ", ".join(f"{k}/{n}" for k, n in rp.restarted)
        rp.events.append(("Normal", "WorkloadsRestarted", f"restarted {names} (rotation {rid})"))


def after_status(ctx: Context, rp: RotationPass, body: Mapping[str, Any]) -> None:
    """Events and the notification, after status says what happened."""
    if rp.intent is not None and rp.store_done:
        crash_point("after-status")
    for event in rp.events:
        ctx.events.record(body, *event)
    rot = rp.rotation
    if rp.intent is None or not rp.store_done or not (rot.notify_url or rot.notify_url_ref):
        return
    meta = body["metadata"]
    payload = {
        "kind": rp.subject.kind, "namespace": meta["namespace"], "name": meta["name"],
        "secret": rp.subject.secret_name, "keys": rot.key_names, "rotationId": rp.intent.get("id"),
        "trigger": rp.intent.get("trigger"), "versions": [v for v in rp.versions if v],
        "count": rp.rotation_status.get("count"), "time": rp.rotation_status.get("lastRotationTime"),
        "restarted": [{"kind": k, "name": n} for k, n in rp.restarted],
    }
    try:
        notify.send(ctx.api, meta["namespace"], rot, payload)
    except notify.NotifyError as exc:
        ctx.events.record(body, "Warning", "NotifyFailed", f"rotation notification not delivered: {exc}")


def next_delay(ctx: Context, namespace: str, name: str, delay: float | None, *, kind: str = "ManagedSecret") -> float | None:
    """``delay`` shortened so the next pass comes when a rotation, a retry or a debounced restart is due."""
    table = ctx.cache.bundles if kind == "ConfigBundle" else ctx.cache.managed_secrets
    body = table.get((namespace, name))
    if body is None or not isinstance((body.get("spec") or {}).get("rotation"), Mapping):
        return delay
    rot_status = (body.get("status") or {}).get("rotation") or {}
    now = _now()
    candidates = [delay] if delay is not None else []
    for text in (rot_status.get("nextRotationTime"), (rot_status.get("pendingRestart") or {}).get("due")):
        wait = plan.seconds_until(plan.parse_time(text), now)
        if wait is not None:
            candidates.append(wait + 0.2)
    if rot_status.get("pending"):
        candidates.append(10.0)  # an unfinished rotation is retried
    return min(candidates) if candidates else None
