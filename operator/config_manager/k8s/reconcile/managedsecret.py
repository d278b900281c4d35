"""Reconcile one ManagedSecret: read the store, build the Secret, write it if needed, report status.

One pass costs, when nothing changed: the provider reads (shared and cached, see ``stores.readcache``) and
no Kubernetes request at all (target state comes from the watch cache, status is compared before writing).
A create costs one POST of the Secret, one status PATCH and one Event.

A failure never touches an existing Secret: the last good value stays and status says what failed.
Returns the delay until the next pass (refresh with jitter, or backoff), or None for "only on change".
Rotation (``rotation.engine``) hooks in at three marked places: before the sync, after the Secret write,
after status.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

from ...errors import SecretNotFoundError
from ...providers import FindCriteria
from .. import expiry, metrics
from ..api.conditions import get_condition, now_iso, set_condition
from ..context import Context
from ..logs import REDACTOR
from ..rotation import engine as rotation
from ..spec.managedsecret import DataFrom, InvalidSpecError, ManagedSecretSpec, RemoteRef, parse_managed_secret
from ..spec.outputs import force_sync_pending, force_sync_value
from ..stores.resolve import resolve_store
from ..write.desired import desired_masked_configmap, desired_secret
from ..write.values import extract_property, to_bytes
from ..write.writer import Desired, WriteError, WriteOutcome, WriteResult, delete_if_ours, write
from .base import Event, Ready, TemporaryError, failure_verdict, jittered, provider_errors, store_errors
from .datafrom import entry_data
from .generated import kept_or_new
from .sources import read_object
from .status import patch_status, write_status

log = logging.getLogger(__name__)
KIND = "ManagedSecret"
#: Failures a pass reports in status (anything else is a bug: the work queue logs it and retries).
REPORTED = (TemporaryError, InvalidSpecError, WriteError)


def fetch_data(ctx: Context, body: Mapping[str, Any], spec: ManagedSecretSpec, *, fresh: bool,
               expiries: list[expiry.Expiry] | None = None) -> tuple[dict[str, bytes], int, str]:
    """Read every remote reference. Returns (data, provider reads made, store key); the expiry each store
    reports for a value is appended to ``expiries``."""
    namespace = str(body["metadata"]["namespace"])
    with store_errors("", delay=None):
        store = resolve_store(spec.store, namespace, ctx.cache)
    where = f"{store.kind} {store.name!r}: "
    with store_errors("", delay=60.0, secrets_prefix=where):
        provider = ctx.provider(store)
    data: dict[str, bytes] = {}
    reads = 0
    # A forced sync reads each distinct remote key afresh once; further references to it (a property of
    # the same key, an extract of it) share that read instead of reading it again.
    read_afresh: set[tuple[str, str | None]] = set()

    # deletionPolicy Merge (as in External Secrets): a remote key that is gone is no error; its keys
    # leave the Secret (only ours: the writer removes only keys it manages), the Secret itself stays
    gone_ok = spec.target.deletion_policy == "Merge"

    def read(ref: RemoteRef, field: str) -> Any:
        nonlocal reads
        first = (ref.key, ref.version) not in read_afresh
        read_afresh.add((ref.key, ref.version))
        with provider_errors(where, retry=lambda: _retry(ctx, store.key, spec),
                             refused=lambda message: InvalidSpecError(field, message)):
            try:
                value, fetched = ctx.providers.read(store.key, provider, ref, fresh=fresh and first,
                                                    interval=max(0.0, spec.refresh_seconds))
            except SecretNotFoundError:
                if gone_ok:
                    raise _Gone from None
                raise
            reads += fetched
            REDACTOR.add(value.value)
            if expiries is not None and value.expires_at is not None:
                expiries.append(expiry.Expiry(value.expires_at, ref.key, "store"))
            return value.value

    def find(criteria: FindCriteria, field: str) -> list[str]:
        nonlocal reads
        with provider_errors(where, retry=lambda: _retry(ctx, store.key, spec),
                             refused=lambda message: TemporaryError("InvalidSpec", f"{field}: {message}", None)):
            keys, fetched = ctx.providers.find(store.key, provider, criteria, fresh=fresh,
                                                interval=max(0.0, spec.refresh_seconds))
            reads += fetched
            return keys

    def generate(index: int, entry: DataFrom, final_keys: Callable[[Mapping[str, str]], dict[str, str]]) -> dict[str, bytes]:
        assert entry.generator is not None
        values = kept_or_new(ctx, namespace, str(body["metadata"]["name"]), spec.target.name, index, entry.generator,
                             final_keys, regenerate=fresh)
        for value in values.values():
            REDACTOR.add(value.decode(errors="replace"))
        return values

    for index, entry in enumerate(spec.data_from):
        try:
            data.update(entry_data(index, entry, read=read, find=find, generate=generate,
                                   find_limit=ctx.config.max_find_results, where=where))
        except _Gone:
            continue  # deletionPolicy Merge: a remote key of this entry is gone, so are its keys
    for index, item in enumerate(spec.data):
        try:
            value = read(item.remote, f"spec.data[{index}].remoteRef")
        except _Gone:
            continue
        with provider_errors(where, retry=lambda: _retry(ctx, store.key, spec), refused=lambda m: InvalidSpecError("spec.data", m)):
            try:
                data[item.secret_key] = to_bytes(extract_property(value, item.remote.property, item.remote.key))
            except SecretNotFoundError:
                if not gone_ok:
                    raise
    return data, reads, store.key


class _Gone(Exception):
    """A remote key that no longer exists, under deletionPolicy Merge (its keys leave the Secret)."""


def _retry(ctx: Context, store_key: str, spec: ManagedSecretSpec) -> float:
    backoff = ctx.providers.backoff
    waiting = backoff.remaining(store_key)
    if waiting <= 0:
        waiting = backoff.delay_for(max(1, backoff.failures(store_key)))
    if spec.refresh_seconds > 0:
        waiting = min(waiting, max(spec.refresh_seconds, ctx.config.backoff_base))
    return max(waiting, 1.0)


def reconcile(ctx: Context, namespace: str, name: str, *, reason: str = "sync") -> float | None:
    """One pass over a ManagedSecret. Returns the delay until the next pass, or None."""
    body = ctx.cache.managed_secrets.get((namespace, name))
    if body is None:
        ctx.forget(KIND, namespace, name)
        return None
    delay = _Pass(ctx, body).run(reason)
    return rotation.next_delay(ctx, namespace, name, delay)  # rotation hook: come back when a rotation is due


class _Pass:
    """One reconcile pass: the object as cached, the time, the statistics and what status will add."""

    def __init__(self, ctx: Context, body: Mapping[str, Any]) -> None:
        self.ctx = ctx
        self.body = body
        meta = body["metadata"]
        self.namespace, self.name = str(meta["namespace"]), str(meta["name"])
        self.status: Mapping[str, Any] = body.get("status") or {}
        self.stats = ctx.stats_for(KIND, self.namespace, self.name,
                                   int((self.status.get("access") or {}).get("providerReads") or 0))
        self.now = now_iso()
        self.force_value = force_sync_value(body)
        self.forced = force_sync_pending(body)
        self.usage: list[tuple[str, str]] | None = None
        self.extra: dict[str, Any] = {}
        self.expiries: list[expiry.Expiry] = []
        self.expiry: expiry.ExpiryVerdict | None = None

    def run(self, reason: str) -> float | None:
        try:
            spec = parse_managed_secret(self.name, self.body.get("spec") or {})
        except InvalidSpecError as exc:
            verdict = failure_verdict(exc, refresh=None)
            self.finish(verdict.ready, verdict.event)
            return None
        target = spec.target
        self.ctx.cache.set_watches((KIND, self.namespace, self.name), [
            *([(self.namespace, "Secret", target.name)] if target.creation_policy != "None" else []),
            *([(self.namespace, "ConfigMap", target.masked_configmap)] if target.masked_configmap else []),
            *[(self.namespace, kind, name) for kind, name in (target.template.sources() if target.template else [])],
        ])
        if self.ctx.config.track_workloads:
            self.usage = self.ctx.cache.users_of(self.namespace, target.name)
        self.extra["binding"] = {"name": target.name}
        if reason == "usage" and get_condition(self.status, "Ready") is not None and not self.forced:
            self.observe_expiry(expiry.from_status(self.status))
            self.finish(None, None)  # only the workloads using the Secret changed
            return self.refresh(spec)
        if self.settled(spec):
            wake = self.observe_expiry(expiry.from_status(self.status))
            self.finish(None, None)  # refreshPolicy OnChange / CreatedOnce: synced, and nothing asks for more
            return wake
        rot: rotation.RotationPass | None = None
        try:
            rot = rotation.before_sync(self.ctx, self.body, spec, self.status,  # rotation hook: intent + store write-back
                                      lambda patch: patch_status(self.ctx, KIND, self.body, patch))
            if rot is not None:
                spec, self.status = rot.spec or spec, rot.status
                self.extra["rotation"] = rot.rotation_status
            secret, outcome = self.sync(spec)
        except REPORTED as exc:
            self.stats.consecutive_failures += 1
            verdict = failure_verdict(exc, refresh=self.refresh(spec))
            if isinstance(exc, TemporaryError):
                log.warning("ManagedSecret %s/%s: %s: %s", self.namespace, self.name, exc.reason, exc)
            self.finish(verdict.ready, verdict.event,
                        next_retry=verdict.delay if isinstance(exc, TemporaryError) else None)
            return verdict.delay
        self.stats.consecutive_failures = 0
        return self.synced(spec, secret, outcome, rot)

    def sync(self, spec: ManagedSecretSpec) -> tuple[Desired, WriteOutcome]:
        """Fetch, write the Secret (and the masked ConfigMap view). Raises the REPORTED failures."""
        data, reads, _store = fetch_data(self.ctx, self.body, spec, fresh=self.forced, expiries=self.expiries)
        self.stats.read(reads, self.now)
        for secret_key, raw in data.items():
            not_after = expiry.certificate_expiry(raw)
            if not_after is not None:
                self.expiries.append(expiry.Expiry(not_after, secret_key, "certificate"))
        secret = desired_secret(self.body, spec, data, self.template_sources(spec))
        outcome = write(self.ctx.api, self.ctx.cache, secret)
        masked = spec.target.masked_configmap
        if masked and outcome.result in (WriteResult.CREATED, WriteResult.UPDATED, WriteResult.UNCHANGED):
            write(self.ctx.api, self.ctx.cache, desired_masked_configmap(self.body, spec, sorted(secret.data)))
        elif not masked:  # switched off: no request unless it exists
            delete_if_ours(self.ctx.api, self.ctx.cache, "ConfigMap", self.namespace, f"{spec.target.name}-masked",
                           f"{KIND}/{self.name}")
        return secret, outcome

    def template_sources(self, spec: ManagedSecretSpec) -> dict[tuple[str, str], dict[str, str]]:
        """The keys of the ConfigMaps / Secrets ``templateFrom`` names, read in this object's namespace only."""
        template = spec.target.template
        sources: dict[tuple[str, str], dict[str, str]] = {}
        for i, entry in enumerate(template.template_from if template else ()):
            if entry.kind and (entry.kind, entry.name) not in sources:
                where = f"spec.target.template.templateFrom[{i}].{'configMap' if entry.kind == 'ConfigMap' else 'secret'}"
                sources[(entry.kind, entry.name)] = read_object(self.ctx, self.namespace, entry.kind, entry.name, where, False) or {}
        return sources

    def synced(self, spec: ManagedSecretSpec, secret: Desired, outcome: WriteOutcome,
               rot: rotation.RotationPass | None) -> float | None:
        """Status and Events after the Secret write."""
        self.extra["keys"] = sorted(secret.data)
        target = spec.target.name
        if outcome.result in (WriteResult.NOT_OWNED, WriteResult.TARGET_MISSING):
            reason = outcome.result.value
            self.finish(("False", reason, outcome.detail), ("Warning", reason, outcome.detail))
            return self.refresh(spec)
        if outcome.result is WriteResult.NOT_WRITTEN:  # creationPolicy None: the store was read, nothing written
            self.finish(("True", "SecretSynced", f"values read from the store; {outcome.detail}"), None)
            return self.refresh(spec)
        written = outcome.result in (WriteResult.CREATED, WriteResult.UPDATED)
        wake = self.observe_expiry(expiry.earliest(self.expiries))
        self.extra["syncedResourceVersion"] = outcome.resource_version
        if written or self.forced or not self.status.get("refreshTime"):
            self.extra["refreshTime"] = self.now
        event = None
        if outcome.result is WriteResult.CREATED:
            again = " again (it had been deleted)" if self.status.get("syncedResourceVersion") else ""
            event = ("Normal", "Created", f"Secret {target!r} created{again} with {len(secret.data)} keys")
        elif outcome.result is WriteResult.UPDATED:
            what = "repaired drift in" if outcome.drift_repaired else "updated"
            event = ("Normal", "Updated", f"Secret {target!r} {what} ({len(secret.data)} keys)")
        if rot is not None:  # rotation hook: restarts (debounced) and the completed rotation's status
            self.extra["rotation"] = rotation.finish(self.ctx, rot, self.body, secret, outcome)
        self.finish(("True", "SecretSynced", f"Secret {target!r} is in sync"), event, force_write=written)
        if rot is not None:
            rotation.after_status(self.ctx, rot, self.body)  # rotation hook: Events, notification
        refresh = self.refresh(spec)
        return wake if refresh is None or (wake is not None and wake < refresh) else refresh

    def observe_expiry(self, earliest: expiry.Expiry | None) -> float | None:
        """The expiry verdict for status, gauge and Event (``finish`` applies it); returns the seconds
        until a SecretNearExpiry warning falls due, for the next pass."""
        self.expiry = expiry.observe(self.namespace, KIND, self.name, earliest, previous=self.status,
                                     lead=self.ctx.config.expiry_warning)
        return None if self.expiry.wake_in is None else max(1.0, self.expiry.wake_in)

    def settled(self, spec: ManagedSecretSpec) -> bool:
        """refreshPolicy OnChange / CreatedOnce: True when this object was synced before (for OnChange: at
        its current generation) and its Secret (and masked ConfigMap) are as that sync left them, so the
        store is not read. A force-sync, a changed or deleted Secret and a configured rotation still sync."""
        if spec.refresh_policy == "Periodic" or self.forced or (self.body.get("spec") or {}).get("rotation"):
            return False
        ready = get_condition(self.status, "Ready") or {}
        synced_version = self.status.get("syncedResourceVersion")
        if ready.get("status") != "True" or not synced_version or not self.status.get("refreshTime"):
            return False
        if spec.refresh_policy == "OnChange" and self.status.get("observedGeneration") != self.body["metadata"].get("generation"):
            return False
        secret = self.ctx.cache.get_object("Secret", self.namespace, spec.target.name)
        if secret is None or secret.resource_version != synced_version:
            return False
        masked = spec.target.masked_configmap
        return not masked or self.ctx.cache.get_object("ConfigMap", self.namespace, masked) is not None

    def refresh(self, spec: ManagedSecretSpec) -> float | None:
        if spec.refresh_seconds <= 0 or spec.refresh_policy != "Periodic":
            return None
        return jittered(spec.refresh_seconds, self.ctx.config.refresh_jitter)

    def finish(self, ready: Ready | None, event: Event | None, *, force_write: bool = False,
               next_retry: float | None = None) -> None:
        """Build the new status, write it only if it differs (or statistics are due), post the Events."""
        metrics.record_sync(KIND, ready)
        generation = self.body["metadata"].get("generation")
        desired: dict[str, Any] = dict(self.status)
        conditions = list(self.status.get("conditions") or [])
        if ready is not None:
            conditions = set_condition(conditions, type_="Ready", status=ready[0], reason=ready[1], message=ready[2],
                                       generation=generation, now=self.now)
        conditions, unused_event = self.in_use(conditions, generation)
        desired["conditions"] = conditions
        desired["observedGeneration"] = generation
        if self.force_value is not None:
            desired["forceSync"] = self.force_value
        desired.update(self.extra)
        if self.expiry is not None:
            expiry.apply(desired, self.expiry)
        desired["access"] = self.access(next_retry if ready is not None and ready[0] == "False" else None)
        write_status(self.ctx, KIND, self.body, desired, current=self.status, stats=self.stats,
                     force_write=force_write, on_write={"refreshTime": self.now} if force_write else None)
        for ev in (event, unused_event, self.expiry.event if self.expiry is not None else None):
            if ev is not None:
                self.ctx.events.record(self.body, *ev)

    def in_use(self, conditions: list[dict[str, Any]], generation: Any) -> tuple[list[dict[str, Any]], Event | None]:
        """The InUse condition (with workload tracking), and the Event when the last user went away."""
        if self.usage is None:
            return conditions, None
        in_use = bool(self.usage)
        previous = get_condition(self.status, "InUse")
        conditions = set_condition(
            conditions, type_="InUse", status="True" if in_use else "False",
            reason="Referenced" if in_use else "NotReferenced",
            message=f"used by {len(self.usage)} workload(s)" if in_use else "no workload references this Secret",
            generation=generation, now=self.now,
        )
        if not in_use and previous is not None and previous.get("status") == "True":
            # only when the last user goes away: on creation the InUse=False condition says it, without an Event
            return conditions, ("Warning", "Unused", "no Pod, Deployment, StatefulSet or DaemonSet references the Secret any more")
        return conditions, None

    def access(self, next_retry: float | None) -> dict[str, Any]:
        """``status.access``: the statistics, the retry time of a failed pass, the workloads using the Secret."""
        access: dict[str, Any] = dict(self.status.get("access") or {})
        access.update(self.stats.counters())
        access["consecutiveFailures"] = self.stats.consecutive_failures
        if next_retry is not None:
            access["nextRetry"] = now_iso(datetime.now(timezone.utc) + timedelta(seconds=next_retry))
        else:
            access.pop("nextRetry", None)
        if self.usage is not None:
            access["usedBy"] = [{"kind": k, "name": n} for k, n in self.usage[:100]]
            access["usedByCount"] = len(self.usage)
        return access
