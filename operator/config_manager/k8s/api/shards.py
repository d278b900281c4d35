"""Which shard a namespace belongs to, which replica should hold which shard, and which Leases are live.

Pure functions and one observer, no requests: ``shardleases.ShardCoordinator`` does the Lease round
trips with them, and the work queue asks ``shard_of`` whether a key may run here.

- ``shard_of(namespace, shards)``: a stable hash (the first 8 bytes of SHA-256 of the name, modulo the
  shard count), the same in every replica and every Python process (``hash()`` is salted per process).
  Cluster-scoped objects (ClusterSecretStore, ClusterManagedSecret: namespace ``""``) are in shard 0.
- ``assign(members, shards)``: the sorted live members take the shards round-robin (shard ``i`` to member
  ``i mod len(members)``), so every replica that sees the same members computes the same, balanced
  plan; with more members than shards the rest stand by.
- ``LeaseView``: client-go's rule for "live", per Lease: a holder is live until the record has not
  changed for its ``leaseDurationSeconds`` *on this replica's monotonic clock* since we last saw it
  change. No trust in other nodes' wall clocks; a Lease seen for the first time counts as just renewed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .resources import ANN_SHARDS, LABEL_LEASE_ROLE


def shard_of(namespace: str, shards: int) -> int:
    """The shard of a namespace (0 for cluster-scoped objects, and for every namespace with one shard)."""
    if shards <= 1 or not namespace:
        return 0
    digest = hashlib.sha256(namespace.encode()).digest()
    return int.from_bytes(digest[:8], "big") % shards


def assign(members: Iterable[str], shards: int) -> dict[str, frozenset[int]]:
    """The shards each member should hold: round-robin over the members sorted by identity."""
    ordered = sorted(set(members))
    plan: dict[str, set[int]] = {member: set() for member in ordered}
    if ordered:
        for index in range(shards):
            plan[ordered[index % len(ordered)]].add(index)
    return {member: frozenset(held) for member, held in plan.items()}


def shard_lease_name(group: str, index: int) -> str:
    """The Lease of shard ``index`` of the installation ``group`` (its ``--leader-election-id``)."""
    return f"{group}-shard-{index}"


def member_lease_name(group: str, identity: str) -> str:
    """A replica's membership Lease: short and DNS-safe whatever the identity (a hash of it)."""
    return f"{group}-member-{hashlib.sha256(identity.encode()).hexdigest()[:12]}"


@dataclass
class Observed:
    """One Lease as last listed, and when (our clock) its record last changed."""

    name: str
    role: str
    holder: str
    shards: int
    duration: float
    version: str
    changed_at: float
    body: dict[str, Any]

    def live(self, now: float) -> bool:
        """Held, and renewed within its duration as measured here."""
        return bool(self.holder) and now < self.changed_at + self.duration


class LeaseView:
    """The Leases of one group as this replica has seen them over time."""

    def __init__(self) -> None:
        self.leases: dict[str, Observed] = {}

    def observe(self, items: Iterable[Mapping[str, Any]], now: float) -> None:
        """Take a listing: a Lease whose resourceVersion moved counts as changed now; gone ones are dropped."""
        seen = {}
        for item in items:
            lease = self._parse(item, now)
            seen[lease.name] = lease
        self.leases = seen

    def record(self, item: Mapping[str, Any], now: float) -> Observed:
        """Our own write's answer: the Lease as it is now, changed now."""
        lease = self._parse(item, now)
        lease.changed_at = now
        self.leases[lease.name] = lease
        return lease

    def _parse(self, item: Mapping[str, Any], now: float) -> Observed:
        meta = item.get("metadata") or {}
        spec = item.get("spec") or {}
        name = str(meta.get("name") or "")
        version = str(meta.get("resourceVersion") or "")
        previous = self.leases.get(name)
        changed_at = previous.changed_at if previous is not None and previous.version == version else now
        try:
            shards = int((meta.get("annotations") or {}).get(ANN_SHARDS) or 0)
        except ValueError:
            shards = 0
        return Observed(name=name, role=str((meta.get("labels") or {}).get(LABEL_LEASE_ROLE) or ""),
                        holder=str(spec.get("holderIdentity") or ""), shards=shards,
                        duration=float(spec.get("leaseDurationSeconds") or 0), version=version,
                        changed_at=changed_at, body=dict(item))

    def live_members(self, now: float, shards: int) -> set[str]:
        """Identities of the live members that run with the same shard count."""
        return {o.holder for o in self.leases.values()
                if o.role == "member" and o.shards == shards and o.live(now)}

    def foreign_shards_live(self, now: float, shards: int) -> list[str]:
        """Live shard Leases written by replicas that run with another shard count (a change in progress)."""
        return sorted(o.name for o in self.leases.values() if o.role == "shard" and o.shards != shards and o.live(now))

    def stale_members(self, now: float, grace: float) -> list[Observed]:
        """Member Leases not renewed for ``grace`` seconds past their duration (replicas gone for good)."""
        return [o for o in self.leases.values()
                if o.role == "member" and now >= o.changed_at + o.duration + grace]
