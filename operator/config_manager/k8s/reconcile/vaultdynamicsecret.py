"""Reconcile one VaultDynamicSecret: issue credentials into a Secret, renew their lease, re-issue, revoke.

A pass reads the object from the cache and its recorded lease from status (``leasestate``), then does at
most one lease step:

- **issue** (no lease yet, the target Secret gone or edited, renewal refused, max TTL near, expired):
  Vault mints credentials; their lease is recorded in ``status.pendingLease`` *before* the Secret is
  written (crash point ``after-lease-recorded``); the Secret is written with the lease id in an
  annotation; then status commits the lease (``leaseId``) and moves the old one to ``previousLeases``,
  kept valid for ``keepPrevious`` and then revoked. Workloads using the Secret are restarted with the
  debounced per-key restarts of rotation (``rotation.restarts``).
- **recover** (a ``pendingLease`` found, i.e. the operator died mid-issue): when the target Secret carries
  that lease id the write happened — adopt it; otherwise revoke it and issue again. No orphan lease.
- **renew** at ``renewAt`` × the TTL Vault last granted (``sys/leases/renew``, asking for the issued
  duration); status records the TTL exactly as Vault granted it.

Deletion: the object carries the finalizer ``configmanager.io/revoke-leases`` (added before the first
issue); on delete every recorded lease (current, pending, previous) is revoked, then the finalizer is
removed and the garbage collector deletes the Secret (owner reference).

Credentials exist only in the target Secret and in memory during the pass: status, Events, annotations
and log lines carry lease ids and times, and every issued value is added to the log redactor at once.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from ...errors import ConfigurationError, SecretsError
from ...providers.leases import IssuedCredentials, LeaseOperations, LeaseRefusedError, lease_operations
from .. import metrics
from ..api.client import ApiError
from ..api.conditions import set_condition
from ..api.resources import ANN_LEASE_ID, FINALIZER_LEASES, VAULT_DYNAMIC_SECRET
from ..context import Context
from ..logs import REDACTOR
from ..rotation import plan, restarts
from ..rotation.faults import crash_point
from ..spec.managedsecret import InvalidSpecError
from ..spec.vaultdynamicsecret import VaultDynamicSecretSpec, parse_vault_dynamic_secret
from ..stores.resolve import resolve_store
from ..write.values import b64, to_bytes
from ..write.writer import Desired, WriteError, WriteResult, write
from . import leasestate as ls
from .base import TemporaryError, store_errors
from .status import patch_status, write_status

log = logging.getLogger(__name__)
KIND = "VaultDynamicSecret"
#: Retry delay after a failed pass (Vault or the apiserver refused); the lease is renewed long before it ends.
RETRY_SECONDS = 5.0


def reconcile(ctx: Context, namespace: str, name: str, *, reason: str = "sync") -> float | None:
    """One pass over a VaultDynamicSecret. Returns the delay until the next pass, or None."""
    body = ctx.cache.dynamic_secrets.get((namespace, name))
    if body is None:
        return None
    return _Pass(ctx, body).run()


class _Pass:
    def __init__(self, ctx: Context, body: Mapping[str, Any]) -> None:
        self.ctx = ctx
        self.body = body
        meta = body["metadata"]
        self.namespace, self.name = str(meta["namespace"]), str(meta["name"])
        self.status: dict[str, Any] = dict(body.get("status") or {})
        self.now = ls.utcnow()
        self.events: list[tuple[str, str, str]] = []

    # -- the pass ------------------------------------------------------------------------------------------

    def run(self) -> float | None:
        if self.body["metadata"].get("deletionTimestamp"):
            return self.finalize()
        try:
            spec = parse_vault_dynamic_secret(self.name, self.body.get("spec") or {})
        except InvalidSpecError as exc:
            self.finish(("False", "InvalidSpec", str(exc)), ("Warning", "InvalidSpec", str(exc)))
            return None
        self.ctx.cache.set_watches((KIND, self.namespace, self.name), [(self.namespace, "Secret", spec.target_name)])
        try:
            self.ensure_finalizer()
            leases = self.leases(spec)
            self.revoke_previous(leases)
            self.step(spec, leases)
        except (TemporaryError, SecretsError, WriteError, ApiError) as exc:
            reason = exc.reason if isinstance(exc, TemporaryError) else type(exc).__name__.removesuffix("Error") + "Failed"
            message = str(exc) if not isinstance(exc, ApiError) else f"Kubernetes API: {exc.status} {exc.reason}"
            log.warning("%s %s/%s: %s: %s", KIND, self.namespace, self.name, reason, message)
            self.status["lastError"] = f"{reason}: {message}"[:1024]
            self.finish(("False", reason, message), ("Warning", reason, message))
            return RETRY_SECONDS
        except InvalidSpecError as exc:
            self.finish(("False", "InvalidSpec", str(exc)), ("Warning", "InvalidSpec", str(exc)))
            return None
        self.status.pop("lastError", None)
        self.restart_if_due(spec)
        self.finish(("True", "LeaseValid", f"Secret {spec.target_name!r} holds credentials of lease "
                     f"{self.status.get('leaseId')!r}, expiring {self.status.get('expiresAt')}"), None)
        rec = ls.Recorded.from_status(self.status)
        restart_at = plan.parse_time((self.status.get("pendingRestart") or {}).get("due"))
        wait = ls.wait_seconds(rec, spec.renew_at, ls.utcnow(), restart_due=restart_at)
        return None if wait is None else wait + 0.2

    def leases(self, spec: VaultDynamicSecretSpec) -> LeaseOperations:
        with store_errors("", delay=RETRY_SECONDS):
            store = resolve_store(spec.store, self.namespace, self.ctx.cache)
        where = f"{store.kind} {store.name!r}: "
        with store_errors("", delay=RETRY_SECONDS, secrets_prefix=where):
            provider = self.ctx.provider(store)
        try:
            return lease_operations(provider)
        except ConfigurationError as exc:
            raise InvalidSpecError("spec.storeRef", f"{where}{exc}") from None

    def step(self, spec: VaultDynamicSecretSpec, leases: LeaseOperations) -> None:
        rec = ls.Recorded.from_status(self.status)
        action = ls.next_step(rec, spec.renew_at, self.now)
        if action == ls.RECOVER:
            if self.recover(spec, leases, rec):
                return  # adopted: the Secret holds the pending credentials
            rec = ls.Recorded.from_status(self.status)
            action = ls.next_step(rec, spec.renew_at, self.now)
        if action == ls.NONE and not self.target_holds(spec, rec.lease_id):
            action = ls.REISSUE  # the Secret was deleted or edited: its values cannot be restored, only re-issued
            self.events.append(("Normal", "TargetChanged", f"Secret {spec.target_name!r} was deleted or edited; issuing new credentials"))
        if action == ls.RENEW:
            try:
                if self.renew(leases, rec):
                    return
                action = ls.REISSUE  # the max TTL is near: new credentials now, the old ones live out the overlap
                rec = ls.Recorded.from_status(self.status)
            except LeaseRefusedError as exc:
                self.events.append(("Normal", "RenewalRefused", f"{exc}; issuing new credentials"))
                action = ls.REISSUE
        if action in (ls.ISSUE, ls.REISSUE):
            self.issue(spec, leases, rec)

    # -- issue, adopt, renew, revoke -------------------------------------------------------------------------

    def issue(self, spec: VaultDynamicSecretSpec, leases: LeaseOperations, rec: ls.Recorded) -> None:
        with metrics.provider_call("vault", "issue"):
            creds = leases.issue(spec.path, method=spec.method, parameters=spec.parameters)
        lease = creds.lease
        data = self._data(creds)
        # The lease is on record before the credentials are used anywhere: a crash from here on leaves a
        # pendingLease that the next pass adopts (Secret written) or revokes (not written).
        pending = {"leaseId": lease.lease_id, "leaseDuration": lease.duration, "renewable": lease.renewable,
                   "issuedAt": plan.iso(self.now)}
        try:
            self._record({"pendingLease": pending})
        except Exception:
            self._revoke_quietly(leases, lease.lease_id)
            raise
        crash_point("after-lease-recorded")
        try:
            outcome = write(self.ctx.api, self.ctx.cache, self._desired(spec, data, lease.lease_id))
        except (WriteError, ApiError):
            self._revoke_quietly(leases, lease.lease_id)
            self._record({"pendingLease": None})
            raise
        if outcome.result is WriteResult.NOT_OWNED:
            self._revoke_quietly(leases, lease.lease_id)
            self._record({"pendingLease": None})
            raise TemporaryError("NotOwned", outcome.detail, RETRY_SECONDS)
        crash_point("after-lease-secret-write")
        self.commit(spec, rec, lease.lease_id, lease.duration, lease.renewable)
        log.info("%s %s/%s: issued lease %s (%ds) into Secret %s", KIND, self.namespace, self.name,
                 lease.lease_id, lease.duration, spec.target_name)

    def commit(self, spec: VaultDynamicSecretSpec, rec: ls.Recorded, lease_id: str, duration: int, renewable: bool) -> None:
        """The pending credentials are in the Secret: make them current, keep the old lease for the overlap."""
        old = rec.lease_id if rec.lease_id != lease_id else None
        self.status.update(ls.issued_fields(lease_id, duration, renewable, self.now))
        self.status["pendingLease"] = None
        self.status["previousLeases"] = ls.with_previous(rec.previous, old, rec.expires_at, spec.keep_previous, self.now)
        if old is not None:
            self.status["reissues"] = int(self.status.get("reissues") or 0) + 1
            if spec.restart_mode != "None":
                self.status["pendingRestart"] = plan.debounce(self.status.get("pendingRestart"), now=self.now,
                                                              window=spec.debounce, keys=["*"])
            self.events.append(("Normal", "Reissued", f"new credentials (lease {lease_id!r}) in Secret {spec.target_name!r}; "
                                f"previous lease {old!r} revoked after {spec.keep_previous:g}s"))
        else:
            self.events.append(("Normal", "Issued", f"credentials (lease {lease_id!r}) written to Secret {spec.target_name!r}"))
        self._write_status()  # the commit is on record before the next step (revocations, restarts)

    def recover(self, spec: VaultDynamicSecretSpec, leases: LeaseOperations, rec: ls.Recorded) -> bool:
        """A pending lease from an interrupted issue: adopt it (True) or revoke it (False)."""
        assert rec.pending is not None
        pending_id = str(rec.pending["leaseId"])
        info = self.ctx.cache.get_object("Secret", self.namespace, spec.target_name)
        if info is not None and info.annotations.get(ANN_LEASE_ID) == pending_id and not info.drifted():
            issued_at = plan.parse_time(rec.pending.get("issuedAt")) or self.now
            self.now, now = issued_at, self.now
            self.commit(spec, rec, pending_id, int(rec.pending.get("leaseDuration") or 0), bool(rec.pending.get("renewable", True)))
            self.now = now
            self.events.append(("Normal", "LeaseAdopted", f"lease {pending_id!r} of an interrupted issue adopted (the Secret holds it)"))
            return True
        leases.revoke(pending_id)
        self.events.append(("Normal", "LeaseRevoked", f"lease {pending_id!r} of an interrupted issue revoked (never delivered)"))
        log.info("%s %s/%s: revoked undelivered lease %s", KIND, self.namespace, self.name, pending_id)
        self._record({"pendingLease": None})
        return False

    def renew(self, leases: LeaseOperations, rec: ls.Recorded) -> bool:
        """Renew the lease; False when Vault granted less than asked (its max TTL is near)."""
        assert rec.lease_id is not None
        with metrics.provider_call("vault", "renew"):
            granted = leases.renew(rec.lease_id, increment=rec.issued_duration or None)
        self.status.update(ls.renewed_fields(rec, granted.duration, granted.renewable,
                                             int(self.status.get("renewals") or 0), self.now))
        log.debug("%s %s/%s: renewed lease %s for %ds", KIND, self.namespace, self.name, rec.lease_id, granted.duration)
        if granted.duration < rec.issued_duration:
            self.events.append(("Normal", "MaxTTLNear", f"Vault granted {granted.duration}s of {rec.issued_duration}s asked "
                                "(max TTL near): issuing new credentials"))
            return False
        return True

    def revoke_previous(self, leases: LeaseOperations) -> None:
        rec = ls.Recorded.from_status(self.status)
        due = ls.previous_due(rec, self.now)
        if not due:
            return
        kept = []
        for prev in rec.previous:
            lease_id = str(prev["leaseId"])
            if lease_id not in due:
                kept.append(dict(prev))
                continue
            try:
                leases.revoke(lease_id)
                log.info("%s %s/%s: revoked previous lease %s", KIND, self.namespace, self.name, lease_id)
                self.events.append(("Normal", "PreviousRevoked", f"previous lease {lease_id!r} revoked (overlap ended)"))
            except SecretsError as exc:
                log.warning("%s %s/%s: previous lease %s not revoked yet: %s", KIND, self.namespace, self.name, lease_id, exc)
                kept.append(dict(prev))
        self.status["previousLeases"] = kept

    def finalize(self) -> float | None:
        """Deleted: revoke every recorded lease, then let the object go (remove our finalizer)."""
        finalizers = list(self.body["metadata"].get("finalizers") or [])
        if FINALIZER_LEASES not in finalizers:
            return None
        rec = ls.Recorded.from_status(self.status)
        ids = [i for i in (rec.lease_id, str(rec.pending["leaseId"]) if rec.pending else None) if i]
        ids += [str(p["leaseId"]) for p in rec.previous]
        if ids:
            try:
                spec = parse_vault_dynamic_secret(self.name, self.body.get("spec") or {})
                leases = self.leases(spec)
                for lease_id in ids:
                    leases.revoke(lease_id)
                    log.info("%s %s/%s: revoked lease %s (object deleted)", KIND, self.namespace, self.name, lease_id)
            except TemporaryError as exc:
                if exc.reason != "StoreNotReady":
                    return self._revoke_failed(exc)
                # the store or its credentials are gone (a namespace being deleted): nothing can revoke
                # these leases any more; they end at their TTL. Say so, and let the object go.
                message = f"leases {', '.join(ids)} cannot be revoked ({exc}); they end at their TTL"
                log.warning("%s %s/%s: %s", KIND, self.namespace, self.name, message)
                self.ctx.events.record(self.body, "Warning", "RevokeImpossible", message)
            except (SecretsError, InvalidSpecError) as exc:
                return self._revoke_failed(exc)
        meta = self.body["metadata"]
        remaining = [f for f in finalizers if f != FINALIZER_LEASES]
        try:
            self.ctx.api.patch(VAULT_DYNAMIC_SECRET, self.namespace, self.name,
                               {"metadata": {"finalizers": remaining or None, "resourceVersion": meta.get("resourceVersion")}})
        except ApiError as exc:
            if exc.status == 404:
                return None
            if exc.status == 409:
                return 0.5  # the cache was behind; the watch brings the newer body
            raise
        return None

    def _revoke_failed(self, exc: Exception) -> float:
        message = f"leases not revoked yet, deletion waits: {exc}"
        log.warning("%s %s/%s: %s", KIND, self.namespace, self.name, message)
        self.ctx.events.record(self.body, "Warning", "RevokeFailed", message)
        return RETRY_SECONDS

    def ensure_finalizer(self) -> None:
        meta = self.body["metadata"]
        finalizers = list(meta.get("finalizers") or [])
        if FINALIZER_LEASES in finalizers:
            return
        updated = self.ctx.api.patch(VAULT_DYNAMIC_SECRET, self.namespace, self.name,
                                     {"metadata": {"finalizers": [*finalizers, FINALIZER_LEASES],
                                                   "resourceVersion": meta.get("resourceVersion")}})
        self.ctx.cache.update_body(VAULT_DYNAMIC_SECRET, updated)
        self.body = {**self.body, "metadata": {**meta, **(updated.get("metadata") or {})}}

    # -- restarts, status --------------------------------------------------------------------------------

    def restart_if_due(self, spec: VaultDynamicSecretSpec) -> None:
        pending = self.status.get("pendingRestart")
        if spec.restart_mode == "None":
            self.status.pop("pendingRestart", None)
            return
        if not plan.restart_due(pending, ls.utcnow()):
            return
        info = self.ctx.cache.get_object("Secret", self.namespace, spec.target_name)
        if info is None:
            return
        secret = self.ctx.api.get("secrets", self.namespace, spec.target_name) or {}
        data = {str(k): str(v) for k, v in (secret.get("data") or {}).items()}
        users = self.ctx.cache.users_of(self.namespace, spec.target_name) if self.ctx.config.track_workloads else None
        restarted = []
        try:
            for workload in restarts.candidates(self.ctx.api, users, self.namespace, spec.target_name,
                                                spec.restart_mode, spec.restart_targets):
                decision = restarts.decide(workload, spec.target_name, info.uid, data, list((pending or {}).get("keys") or ["*"]),
                                           explicit=spec.restart_mode == "Explicit")
                if decision.restart and restarts.restart(self.ctx.api, workload, spec.target_name, decision.hash) is not None:
                    restarted.append(f"{decision.kind}/{decision.name}")
                    metrics.WORKLOAD_RESTARTS.labels(kind=decision.kind).inc()
        except ApiError as exc:
            self.events.append(("Warning", "RestartFailed", f"workload restart failed: {exc.status} {exc.reason}"))
            return
        self.status["pendingRestart"] = None
        if restarted:
            self.events.append(("Normal", "WorkloadsRestarted", f"restarted {', '.join(restarted)} for new credentials"))

    def finish(self, ready: tuple[str, str, str], event: tuple[str, str, str] | None) -> None:
        metrics.record_sync(KIND, ready)
        generation = self.body["metadata"].get("generation")
        self.status["conditions"] = set_condition(self.status.get("conditions") or [], type_="Ready", status=ready[0],
                                                  reason=ready[1], message=ready[2], generation=generation,
                                                  now=plan.iso(self.now))
        self.status["observedGeneration"] = generation
        self._write_status()
        previous = next((c for c in (self.body.get("status") or {}).get("conditions") or [] if c.get("type") == "Ready"), None)
        if event is not None and (previous is None or previous.get("reason") != ready[1] or previous.get("status") != ready[0]):
            self.events.append(event)
        for ev in self.events:
            self.ctx.events.record(self.body, *ev)
        self.events = []

    def _write_status(self) -> None:
        """Write ``self.status`` when it differs from what is stored (fields set to None are removed)."""
        current = (self.ctx.cache.dynamic_secrets.get((self.namespace, self.name)) or self.body).get("status") or {}
        desired = dict(self.status)
        desired.update({key: None for key in current if key not in desired})
        write_status(self.ctx, KIND, self.body, desired, current=current)
        self.status = {k: v for k, v in desired.items() if v is not None}

    def _record(self, patch: Mapping[str, Any]) -> None:
        """PATCH ``patch`` into status at once (raises): what must be on record before the next step."""
        patch_status(self.ctx, KIND, self.body, patch)
        self.status.update(patch)

    # -- helpers ---------------------------------------------------------------------------------------------

    def target_holds(self, spec: VaultDynamicSecretSpec, lease_id: str | None) -> bool:
        info = self.ctx.cache.get_object("Secret", self.namespace, spec.target_name)
        return info is not None and lease_id is not None and info.annotations.get(ANN_LEASE_ID) == lease_id and not info.drifted()

    def _data(self, creds: IssuedCredentials) -> dict[str, bytes]:
        data: dict[str, bytes] = {}
        for key, value in creds.data.items():
            if value is None:
                continue
            REDACTOR.add(value if isinstance(value, str) else str(value))
            data[str(key)] = to_bytes(value)
        return data

    def _desired(self, spec: VaultDynamicSecretSpec, data: Mapping[str, bytes], lease_id: str) -> Desired:
        return Desired(kind="Secret", namespace=self.namespace, name=spec.target_name, data=b64(data), owner=self.body,
                       labels=dict(spec.target_labels), annotations={**spec.target_annotations, ANN_LEASE_ID: lease_id})

    def _revoke_quietly(self, leases: LeaseOperations, lease_id: str) -> None:
        try:
            leases.revoke(lease_id)
        except SecretsError as exc:
            log.warning("%s %s/%s: lease %s not revoked after a failed write: %s", KIND, self.namespace, self.name, lease_id, exc)

