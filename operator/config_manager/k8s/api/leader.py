"""Leader election on a ``coordination.k8s.io/v1`` Lease: one replica reconciles, the others stand by.

Why not kopf peering: peering pauses operators by priority and, when replicas share the highest
priority (as every pod of one Deployment does), *all* of them freeze. A Lease is what Kubernetes
controllers use: one holder, renewed on a period, taken over by a standby when it expires.

How it works (the algorithm of client-go's leaderelection, written for our client):

- Every replica runs ``LeaderElector.run``. A standby GETs the Lease every ``retry_period``; when the
  holder is empty (released) or the record has not changed for ``leaseDurationSeconds`` *as measured on
  this replica's own monotonic clock since it last saw the record change* (no trust in other nodes'
  wall clocks), it writes itself as holder with a PUT carrying the resourceVersion it read. Only one
  PUT can win (optimistic concurrency); the others get 409 Conflict and stay standbys.
- The leader renews (GET + PUT of ``renewTime``) every ``renew_period``. If it cannot renew for
  ``renew_deadline`` (< lease duration), or it sees another holder, it steps down *before* a standby may
  take over, so two replicas never work at once while clocks tick at the same rate.
- On a clean shutdown the leader releases the Lease (empty holder, duration 1 s) after its in-flight
  reconciles finished, so a standby takes over within one ``retry_period`` instead of a lease duration.

Replicas running with ``--shards`` (``shardleases``) use other Leases of the same group; ``blocked`` (their
``ShardLeasesSeen``) keeps a replica without shards from taking the leader Lease while they work.

The elector only says who leads (``on_started`` / ``on_stopped`` callbacks, the ``configmanager_leader``
gauge); ``app.Operator`` gates the work queue with it. Requests go through ``KubeApi`` (counted as
``resource="leases"``) on a thread of its own, so a busy reconcile pool never delays a renewal.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import os
import socket
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from .. import metrics
from .client import ApiError, KubeApi
from .resources import LEASES

log = logging.getLogger(__name__)

_SA_NAMESPACE_FILE = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"


def default_identity() -> str:
    """The pod name (``POD_NAME``, set by the chart from the downward API), else ``hostname-pid``."""
    return os.environ.get("POD_NAME") or f"{socket.gethostname()}-{os.getpid()}"


def default_namespace() -> str:
    """``POD_NAMESPACE``, else the in-cluster service account's namespace, else ``default``."""
    if os.environ.get("POD_NAMESPACE"):
        return os.environ["POD_NAMESPACE"]
    try:
        with open(_SA_NAMESPACE_FILE, encoding="utf-8") as handle:
            return handle.read().strip() or "default"
    except OSError:
        return "default"


@dataclass(frozen=True)
class LeaseSettings:
    """Where the Lease lives, who we are, and the timings (seconds)."""

    namespace: str
    name: str = "config-manager"
    identity: str = ""
    lease_duration: float = 15.0
    """How long a Lease that stopped changing stays held (written as ``leaseDurationSeconds``)."""
    renew_period: float = 5.0
    """How often the leader renews."""
    renew_deadline: float = 10.0
    """The leader steps down when it could not renew for this long (must be < ``lease_duration``)."""
    retry_period: float = 2.0
    """How often a standby looks at the Lease (and the leader retries a failed renewal)."""
    request_timeout: float = 5.0
    """Timeout of one Lease request."""

    def __post_init__(self) -> None:
        if not self.identity:
            object.__setattr__(self, "identity", default_identity())
        if not 0 < self.renew_period < self.renew_deadline < self.lease_duration:
            raise ValueError("leader election needs 0 < renew period < renew deadline < lease duration")


class Attempt(enum.Enum):
    """Outcome of one acquire-or-renew round trip."""

    HELD = "held"  # we hold the Lease (acquired or renewed)
    OTHER = "other"  # someone else holds a live Lease, or won the race
    FAILED = "failed"  # the request failed (network, 5xx, timeout): nothing is known


def now_rfc3339() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class LeaderElector:
    """Acquire, renew and release one Lease; report leadership through callbacks and a gauge."""

    def __init__(
        self,
        api: KubeApi,
        settings: LeaseSettings,
        on_started: Callable[[], None] = lambda: None,
        on_stopped: Callable[[], None] = lambda: None,
        clock: Callable[[], float] = time.monotonic,
        blocked: Callable[[], bool] = lambda: False,
    ) -> None:
        self.api = api
        self._blocked = blocked  # asked before taking a free or expired Lease (shard Leases live: wait)
        self.settings = settings
        self._on_started = on_started
        self._on_stopped = on_stopped
        self._clock = clock
        self._observed_version: str | None = None
        self._observed_at = 0.0
        self._last_renew = 0.0
        self.is_leader = False
        self.holder: str | None = None  # last holder seen (for logs and tests)
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="leader-election")
        self._task: asyncio.Task[None] | None = None
        metrics.LEADER.set(0)

    # -- one round trip (blocking; runs on the elector's thread) --------------------------------------

    def _path(self, name: str | None = None) -> str:
        return KubeApi.path(LEASES, self.settings.namespace, name)

    def _get(self) -> dict[str, Any] | None:
        try:
            return self.api.request("get", "GET", LEASES, self._path(self.settings.name),
                                    timeout=self.settings.request_timeout)
        except ApiError as exc:
            if exc.status == 404:
                return None
            raise

    def _observe(self, lease: Mapping[str, Any]) -> None:
        """Remember when (on our clock) we last saw the Lease record change."""
        version = str((lease.get("metadata") or {}).get("resourceVersion") or "")
        if version != self._observed_version:
            self._observed_version = version
            self._observed_at = self._clock()
        self.holder = ((lease.get("spec") or {}).get("holderIdentity")) or None

    def _spec(self, previous: Mapping[str, Any] | None) -> dict[str, Any]:
        now = now_rfc3339()
        spec: dict[str, Any] = dict(previous or {})
        ours = spec.get("holderIdentity") == self.settings.identity
        if not ours:
            spec["acquireTime"] = now
            spec["leaseTransitions"] = int(spec.get("leaseTransitions") or 0) + (1 if previous else 0)
        spec["holderIdentity"] = self.settings.identity
        spec["leaseDurationSeconds"] = max(1, int(round(self.settings.lease_duration)))
        spec["renewTime"] = now
        return spec

    def try_acquire_or_renew(self) -> Attempt:
        """One GET and, when the Lease is ours or free or expired, one create/PUT."""
        try:
            lease = self._get()
            if lease is None:
                if self._blocked():
                    return Attempt.OTHER
                body = {
                    "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                    "metadata": {"name": self.settings.name, "namespace": self.settings.namespace},
                    "spec": self._spec(None),
                }
                try:
                    created = self.api.request("create", "POST", LEASES, self._path(), body=body,
                                               query={"fieldManager": "config-manager"},
                                               timeout=self.settings.request_timeout)
                except ApiError as exc:
                    if exc.status == 409:
                        return Attempt.OTHER  # another replica created it first
                    raise
                self._observe(created)
                return Attempt.HELD
            self._observe(lease)
            spec = lease.get("spec") or {}
            holder = spec.get("holderIdentity") or ""
            if holder and holder != self.settings.identity:
                duration = float(spec.get("leaseDurationSeconds") or self.settings.lease_duration)
                if self._clock() < self._observed_at + duration or self._blocked():
                    return Attempt.OTHER  # a live holder (or replicas with shards at work)
                log.info("leader lease %s/%s held by %s expired; taking over", self.settings.namespace,
                         self.settings.name, holder)
            elif not holder and self._blocked():
                return Attempt.OTHER
            body = dict(lease)
            body["spec"] = self._spec(spec)
            try:
                updated = self.api.request("update", "PUT", LEASES, self._path(self.settings.name), body=body,
                                           query={"fieldManager": "config-manager"},
                                           timeout=self.settings.request_timeout)
            except ApiError as exc:
                if exc.status == 409:
                    return Attempt.OTHER  # changed since our GET: someone else renewed or took it
                raise
            self._observe(updated)
            return Attempt.HELD
        except Exception as exc:  # noqa: BLE001 - a failed round trip is an answer ("unknown"), not a crash
            log.warning("leader election: request for lease %s/%s failed: %s", self.settings.namespace,
                        self.settings.name, exc)
            return Attempt.FAILED

    def release(self) -> bool:
        """Give the Lease up if we hold it (empty holder, 1 s duration). True when released."""
        try:
            lease = self._get()
            spec = dict((lease or {}).get("spec") or {})
            if lease is None or spec.get("holderIdentity") != self.settings.identity:
                return False
            spec.pop("holderIdentity", None)
            spec["leaseDurationSeconds"] = 1
            spec["renewTime"] = now_rfc3339()
            body = dict(lease)
            body["spec"] = spec
            self.api.request("update", "PUT", LEASES, self._path(self.settings.name), body=body,
                             query={"fieldManager": "config-manager"}, timeout=self.settings.request_timeout)
            log.info("leader lease %s/%s released by %s", self.settings.namespace, self.settings.name,
                     self.settings.identity)
            return True
        except Exception as exc:  # noqa: BLE001 - the lease then expires by itself
            log.warning("leader election: could not release lease %s/%s: %s", self.settings.namespace,
                        self.settings.name, exc)
            return False

    # -- state changes (event loop) ---------------------------------------------------------------------

    def _set_leader(self, leading: bool) -> None:
        if leading == self.is_leader:
            return
        self.is_leader = leading
        metrics.LEADER.set(1 if leading else 0)
        if leading:
            metrics.LEADER_TRANSITIONS.inc()
            log.info("became leader (lease %s/%s, identity %s)", self.settings.namespace, self.settings.name,
                     self.settings.identity)
            self._on_started()
        else:
            log.warning("stopped leading (lease %s/%s, identity %s)", self.settings.namespace, self.settings.name,
                        self.settings.identity)
            self._on_stopped()

    def step(self, attempt: Attempt) -> float:
        """Apply one attempt's outcome; returns the seconds to wait before the next attempt."""
        now = self._clock()
        if attempt is Attempt.HELD:
            self._last_renew = now
            self._set_leader(True)
            return self.settings.renew_period
        if self.is_leader and (attempt is Attempt.OTHER or now - self._last_renew >= self.settings.renew_deadline):
            self._set_leader(False)
        return self.settings.retry_period

    async def run(self) -> None:
        """Campaign forever (cancel to stop); call ``shutdown`` afterwards to release."""
        loop = asyncio.get_running_loop()
        log.info("leader election: lease %s/%s as %s (duration %.0fs, renew every %.0fs)", self.settings.namespace,
                 self.settings.name, self.settings.identity, self.settings.lease_duration, self.settings.renew_period)
        while True:
            attempt = await loop.run_in_executor(self._pool, self.try_acquire_or_renew)
            await asyncio.sleep(self.step(attempt))

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self.run(), name="leader-election")

    async def shutdown(self, before_release: Callable[[], Any] | None = None) -> None:
        """Stop campaigning, run ``before_release`` (drain work), then release the Lease if held."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        was_leader = self.is_leader
        self._set_leader(False)
        if before_release is not None:
            result = before_release()
            if asyncio.iscoroutine(result):
                await result
        if was_leader:
            await asyncio.get_running_loop().run_in_executor(self._pool, self.release)
        self._pool.shutdown(wait=False)
