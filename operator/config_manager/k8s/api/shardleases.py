"""Sharding across replicas: each shard of the namespaces is held through its own Lease.

For clusters one replica cannot serve (``--shards N``, chart ``shards``): the namespaces are split into
``N`` shards by a stable hash (``shards.shard_of``) and each shard ``i`` has a Lease
``<id>-shard-<i>``. A replica reconciles the objects of the shards whose Leases it holds, and only those
(the work queue parks the others' keys), so no object is reconciled by two replicas at once. Every
replica still lists and watches everything, so a shard changes hands onto a warm cache.

Who holds what (one round every ``retry_period``, on a thread of its own like ``leader.LeaderElector``):

1. Membership: each replica renews its own member Lease ``<id>-member-<hash of identity>`` (from the
   moment its caches are synced: a replica that cannot act yet takes nothing).
2. One LIST of the group's Leases (label ``configmanager.io/lease-group=<id>``); ``LeaseView`` says which
   are live, by client-go's rule on our own clock.
3. The plan: the live members (with the same shard count) take the shards round-robin in identity order
   (``shards.assign``) — every replica computes the same plan from the same listing.
4. A replica acquires a shard of its plan when its Lease is free, expired or already ours (a PUT with the
   resourceVersion it listed: of two racing replicas one wins, the other gets 409); renews what it holds
   every ``renew_period``; releases a shard that left its plan (a new member joined) *after* the
   reconciles of that shard running here have finished; and stops working on a shard it could not renew
   for ``renew_deadline`` (< the lease duration) before anyone may take it over.
5. A replica that died stops renewing its member Lease: after the lease duration the others drop it from
   the plan, its shard Leases expire, and the survivors take them over. Member Leases dead for a further
   lease duration are deleted by whoever sees them. In a Pod (``POD_UID`` set, as the chart does) the
   member Lease is owned by the Pod, so the garbage collector removes it with the Pod even when the
   replica could not (``helm uninstall`` deletes the RBAC while the Pods are still stopping).

Changing the shard count is safe, not seamless: a replica takes no shard while a live shard Lease written
with another count exists (the old replicas of a rollout), nor while the single leader Lease (``<id>``,
``--leader-election`` without shards) is held; ``leader.LeaderElector`` waits the same way for shard
Leases. Each Lease carries the count in the ``configmanager.io/shards`` annotation.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Awaitable, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from .. import metrics
from .client import ApiError, KubeApi
from .leader import LeaseSettings, now_rfc3339
from .resources import ANN_SHARDS, LABEL_LEASE_GROUP, LABEL_LEASE_ROLE, LEASES
from .shards import LeaseView, Observed, assign, member_lease_name, shard_lease_name

log = logging.getLogger(__name__)

ShardSet = frozenset[int]


def pod_owner(namespace: str) -> dict[str, Any] | None:
    """The ownerReference naming this process's Pod (``POD_NAME``/``POD_UID``/``POD_NAMESPACE``, from the
    downward API) when the Lease lives in the Pod's namespace; None elsewhere (an owner must be local)."""
    name, uid = os.environ.get("POD_NAME"), os.environ.get("POD_UID")
    if not name or not uid or os.environ.get("POD_NAMESPACE") != namespace:
        return None
    return {"apiVersion": "v1", "kind": "Pod", "name": name, "uid": uid}


class ShardLeasesSeen:
    """For ``leader.LeaderElector`` without shards: are replicas with shards at work in this group? It
    then waits instead of taking the leader Lease (a change of ``--shards`` mid-rollout)."""

    def __init__(self, api: KubeApi, settings: LeaseSettings, clock: Callable[[], float] = time.monotonic) -> None:
        self.api = api
        self.settings = settings
        self._clock = clock
        self._view = LeaseView()
        self._warned = False
        self._logged: list[str] = []

    def __call__(self) -> bool:
        selector = f"{LABEL_LEASE_GROUP}={self.settings.name},{LABEL_LEASE_ROLE}=shard"
        try:
            items = self.api.list(LEASES, self.settings.namespace, label_selector=selector)
        except ApiError as exc:
            if exc.status != 403:
                raise
            if not self._warned:  # RBAC without "list leases": no sharded replica can be running either
                log.warning("leader election: cannot list leases in %s (403); not checking for shard Leases",
                            self.settings.namespace)
                self._warned = True
            return False
        now = self._clock()
        self._view.observe(items, now)
        live = sorted(o.name for o in self._view.leases.values() if o.live(now))
        if live and live != self._logged:
            log.info("leader election: waiting, shard Leases are held: %s", ", ".join(live))
        self._logged = live
        return bool(live)


class ShardCoordinator:
    """Acquire, renew and release the shard Leases this replica should hold; publish what it holds."""

    def __init__(
        self,
        api: KubeApi,
        settings: LeaseSettings,
        shards: int,
        on_change: Callable[[ShardSet], None] = lambda held: None,
        before_release: Callable[[int], Awaitable[Any]] | None = None,
        clock: Callable[[], float] = time.monotonic,
        owner: Mapping[str, Any] | None = None,
    ) -> None:
        if shards < 2:
            raise ValueError("sharding needs at least 2 shards")
        self.api = api
        self.settings = settings
        self.shards = shards
        self.group = settings.name
        self.identity = settings.identity
        self._on_change = on_change
        self._before_release = before_release
        self._owner = dict(owner) if owner else None  # ownerReference of the member Lease: our Pod
        self._clock = clock
        self.view = LeaseView()
        self._leader_view = LeaseView()
        self._held: dict[int, float] = {}  # shard -> when we last renewed it (our clock); the pool thread's
        self.held: ShardSet = frozenset()  # what the work queue may run (set on the event loop)
        self._member_renewed: float | None = None
        self._wait_reason = ""
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="shard-leases")
        self._task: asyncio.Task[None] | None = None
        for index in range(shards):
            metrics.SHARD_HELD.labels(str(index)).set(0)

    # -- requests (blocking; the pool's thread) ----------------------------------------------------------

    def _path(self, name: str | None = None) -> str:
        return KubeApi.path(LEASES, self.settings.namespace, name)

    def _write(self, name: str, role: str, previous: Observed | None, *, holder: str | None = None,
               duration: float | None = None) -> dict[str, Any] | None:
        """Create or PUT (with the listed resourceVersion) one Lease as ours; None when another write won."""
        now = now_rfc3339()
        body: dict[str, Any] = dict(previous.body) if previous is not None else {
            "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
            "metadata": {"name": name, "namespace": self.settings.namespace}}
        meta = dict(body.get("metadata") or {})
        meta["labels"] = {**(meta.get("labels") or {}), LABEL_LEASE_GROUP: self.group, LABEL_LEASE_ROLE: role}
        meta["annotations"] = {**(meta.get("annotations") or {}), ANN_SHARDS: str(self.shards)}
        if role == "member" and self._owner is not None:
            meta["ownerReferences"] = [self._owner]  # gone with the Pod, even when it could not delete it
        spec = dict(body.get("spec") or {})
        who = self.identity if holder is None else holder
        if who and spec.get("holderIdentity") != who:  # taken (a release is not a transition)
            spec["acquireTime"] = now
            spec["leaseTransitions"] = int(spec.get("leaseTransitions") or 0) + (1 if previous is not None else 0)
        if who:
            spec["holderIdentity"] = who
        else:
            spec.pop("holderIdentity", None)
        spec["leaseDurationSeconds"] = max(1, int(round(duration if duration is not None else self.settings.lease_duration)))
        spec["renewTime"] = now
        body["metadata"], body["spec"] = meta, spec
        query = {"fieldManager": "config-manager"}
        timeout = self.settings.request_timeout
        try:
            if previous is None:
                return self.api.request("create", "POST", LEASES, self._path(), body=body, query=query, timeout=timeout)
            return self.api.request("update", "PUT", LEASES, self._path(name), body=body, query=query, timeout=timeout)
        except ApiError as exc:
            if exc.status in (404, 409):
                return None  # another replica wrote (or deleted) it since our listing
            raise

    def _renew_member(self, now: float) -> None:
        if self._member_renewed is not None and now - self._member_renewed < self.settings.renew_period:
            return
        name = member_lease_name(self.group, self.identity)
        answer = self._write(name, "member", self.view.leases.get(name))
        if answer is None:  # not listed yet (first round), or listed stale: read it and try once more
            answer = self._write(name, "member", self._read(name))
        if answer is not None:
            self.view.record(answer, now)
            self._member_renewed = now

    def _read(self, name: str) -> Observed | None:
        try:
            lease = self.api.request("get", "GET", LEASES, self._path(name), timeout=self.settings.request_timeout)
        except ApiError as exc:
            if exc.status == 404:
                return None
            raise
        return self.view.record(lease, self._clock())

    def _leader_lease_live(self, now: float) -> bool:
        """True while the single leader Lease (``--leader-election`` without shards) has a live holder."""
        try:
            lease = self.api.request("get", "GET", LEASES, self._path(self.group), timeout=self.settings.request_timeout)
        except ApiError as exc:
            if exc.status == 404:
                return False
            raise
        self._leader_view.observe([lease], now)  # a view of its own: the group listing does not carry it
        return self._leader_view.leases[self.group].live(now)

    def _waiting(self, why: str) -> None:
        """Log why no shard is taken, once per reason (a rollout can take minutes)."""
        if why and why != self._wait_reason:
            log.info("shards: waiting, %s", why)
        self._wait_reason = why

    def plan(self, now: float) -> ShardSet:
        """The shards this replica should hold, from the last listing (empty while a change is in progress)."""
        foreign = self.view.foreign_shards_live(now, self.shards)
        if foreign:
            self._waiting(f"live shard Leases of another shard count: {', '.join(foreign)}")
            return frozenset()
        members = self.view.live_members(now, self.shards) | {self.identity}
        return assign(members, self.shards)[self.identity]

    def round(self) -> list[int]:
        """One round: renew membership, list, acquire/renew by the plan; returns the shards to release."""
        now = self._clock()
        release: list[int] = []
        try:
            self._renew_member(now)
            items = self.api.list(LEASES, self.settings.namespace, label_selector=f"{LABEL_LEASE_GROUP}={self.group}")
            self.view.observe(items, now)
            desired = self.plan(now)
            if desired and not self._held and self._leader_lease_live(now):
                self._waiting(f"the leader Lease {self.group} is held (a replica without shards)")
                desired = frozenset()
            elif desired:
                self._waiting("")
            for index in range(self.shards):
                if self._shard_step(index, index in desired, now):
                    release.append(index)
            self._forget_dead_members(now)
        except Exception as exc:  # noqa: BLE001 - a failed round is "unknown": the deadline decides
            log.warning("shards: lease round in %s failed: %s", self.settings.namespace, exc)
        for index, renewed in list(self._held.items()):
            if now - renewed >= self.settings.renew_deadline:
                log.warning("shards: could not renew shard %d for %.0fs; stopping its work", index, now - renewed)
                del self._held[index]
        return release

    def _shard_step(self, index: int, wanted: bool, now: float) -> bool:
        """Acquire or renew one shard Lease; True when it is held here but should be released."""
        name = shard_lease_name(self.group, index)
        lease = self.view.leases.get(name)
        if index in self._held:
            if lease is None or lease.holder != self.identity:
                log.warning("shards: shard %d is no longer ours (holder %s)", index, lease.holder if lease else "none")
                del self._held[index]
                return False
            if not wanted:
                return True
            if now - self._held[index] >= self.settings.renew_period:
                answer = self._write(name, "shard", lease)
                if answer is not None:
                    self._held[index] = now
                    self.view.record(answer, now)
            return False
        if wanted and (lease is None or not lease.live(now) or lease.holder == self.identity):
            answer = self._write(name, "shard", lease)
            if answer is not None:
                self._held[index] = now
                self.view.record(answer, now)
                log.info("shards: acquired shard %d of %d (lease %s/%s)", index, self.shards,
                         self.settings.namespace, name)
        return False

    def _forget_dead_members(self, now: float) -> None:
        for lease in self.view.stale_members(now, grace=self.settings.lease_duration):
            if lease.holder == self.identity:
                continue
            try:
                self.api.request("delete", "DELETE", LEASES, self._path(lease.name), timeout=self.settings.request_timeout,
                                 body={"preconditions": {"resourceVersion": lease.version}})
                log.info("shards: deleted the member Lease of %s (not renewed for %.0fs)", lease.holder,
                         now - lease.changed_at)
            except ApiError as exc:
                if exc.status not in (404, 409):
                    raise

    def release(self, index: int) -> None:
        """Give one shard up (empty holder, 1 s duration) so the next holder takes it within a round."""
        self._held.pop(index, None)
        name = shard_lease_name(self.group, index)
        try:
            lease = self._read(name)
            if lease is not None and lease.holder == self.identity:
                answer = self._write(name, "shard", lease, holder="", duration=1)
                if answer is not None:
                    self.view.record(answer, self._clock())
                    log.info("shards: released shard %d (lease %s/%s)", index, self.settings.namespace, name)
        except Exception as exc:  # noqa: BLE001 - it then expires by itself
            log.warning("shards: could not release shard %d: %s", index, exc)

    def leave(self) -> None:
        """Delete our member Lease (clean shutdown): the others re-plan at their next round."""
        try:
            self.api.request("delete", "DELETE", LEASES, self._path(member_lease_name(self.group, self.identity)),
                             timeout=self.settings.request_timeout)
        except Exception as exc:  # noqa: BLE001 - it then expires by itself
            log.warning("shards: could not delete the member Lease: %s", exc)

    # -- the event loop side ------------------------------------------------------------------------------

    def _publish(self, held: ShardSet) -> None:
        if held == self.held:
            return
        for index in held - self.held:
            metrics.SHARD_HELD.labels(str(index)).set(1)
            metrics.SHARD_ACQUISITIONS.inc()
        for index in self.held - held:
            metrics.SHARD_HELD.labels(str(index)).set(0)
        self.held = held
        log.info("shards: holding %s of %d", ",".join(map(str, sorted(held))) or "none", self.shards)
        self._on_change(held)

    async def _give_up(self, index: int) -> None:
        """Stop working on a shard, let its running reconciles finish, then release its Lease."""
        self._publish(self.held - {index})
        if self._before_release is not None:
            await self._before_release(index)
        await asyncio.get_running_loop().run_in_executor(self._pool, self.release, index)

    async def run(self) -> None:
        """Campaign until cancelled; ``shutdown`` releases afterwards."""
        loop = asyncio.get_running_loop()
        log.info("shards: %d shards, leases %s-shard-* in %s as %s", self.shards, self.group, self.settings.namespace,
                 self.identity)
        while True:
            release = await loop.run_in_executor(self._pool, self.round)
            self._publish(frozenset(self._held) - set(release))
            for index in release:
                await self._give_up(index)
            await asyncio.sleep(self.settings.retry_period)

    @property
    def started(self) -> bool:
        return self._task is not None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self.run(), name="shard leases")

    async def shutdown(self, before_release: Callable[[], Any] | None = None) -> None:
        """Stop campaigning and working, run ``before_release`` (drain), release every shard, leave."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        held = list(self._held)
        self._publish(frozenset())
        if before_release is not None:
            result = before_release()
            if asyncio.iscoroutine(result):
                await result
        loop = asyncio.get_running_loop()
        for index in held:
            await loop.run_in_executor(self._pool, self.release, index)
        if self._task is not None:
            await loop.run_in_executor(self._pool, self.leave)
        self._pool.shutdown(wait=False)
