"""Sharding's decisions (k8s/api/shards.py, k8s/api/shardleases.py, the work queue's filter) against the
in-memory API (``FakeKubeApi``: resourceVersion preconditions, 409s, label selectors) and a fake clock.

The real apiserver and two real replicas are exercised by tests/integration/test_sharding.py; these pin
the plan, the take-over timing, the hand-over on a new member and the refusal to mix shard counts.
"""

from __future__ import annotations

import asyncio
import collections
import subprocess
import sys

import pytest

from config_manager.k8s.api.fake import FakeKubeApi
from config_manager.k8s.api.leader import Attempt, LeaderElector, LeaseSettings
from config_manager.k8s.api.shardleases import ShardCoordinator, ShardLeasesSeen
from config_manager.k8s.api.shards import assign, shard_lease_name, shard_of
from config_manager.k8s.watch.workqueue import WorkQueue

NS = "cm-system"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def coordinator(api: FakeKubeApi, clock: Clock, identity: str, shards: int = 2) -> ShardCoordinator:
    return ShardCoordinator(api, LeaseSettings(namespace=NS, name="cm", identity=identity), shards, clock=clock)


def holders(api: FakeKubeApi, shards: int = 2) -> list[str | None]:
    out = []
    for index in range(shards):
        lease = api.stored("leases", NS, shard_lease_name("cm", index))
        out.append(((lease or {}).get("spec") or {}).get("holderIdentity"))
    return out


def settle(*replicas: ShardCoordinator) -> None:
    """One round each; a shard to release is released at once (as ``run`` does after draining)."""
    for replica in replicas:
        for index in replica.round():
            replica.release(index)


# -- the pure parts --------------------------------------------------------------------------------------


def test_shard_of_is_stable_across_processes_in_range_and_even() -> None:
    names = [f"team-{i}" for i in range(2000)]
    here = [shard_of(n, 4) for n in names]
    code = "import sys; from config_manager.k8s.api.shards import shard_of; " \
           "print(','.join(str(shard_of(f'team-{i}', 4)) for i in range(2000)))"
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                           env={"PYTHONHASHSEED": "12345", "PATH": ""}).stdout.strip().split(",")
    assert [int(x) for x in other] == here, "the same shard in another process (hash() would differ)"
    counts = collections.Counter(here)
    assert set(counts) == {0, 1, 2, 3}
    assert all(400 <= c <= 600 for c in counts.values()), counts
    assert shard_of("", 4) == 0 and {shard_of(n, 1) for n in names} == {0}


def test_assign_is_balanced_and_the_same_whatever_the_order() -> None:
    assert assign(["b", "a"], 2) == {"a": frozenset({0}), "b": frozenset({1})}
    assert assign(["a", "b"], 2) == assign(["b", "a", "a"], 2)
    plan = assign(["x", "y", "z"], 8)
    assert sorted(len(s) for s in plan.values()) == [2, 3, 3]
    assert frozenset().union(*plan.values()) == frozenset(range(8))
    assert assign(["a", "b", "c"], 2)["c"] == frozenset(), "more members than shards: the rest stand by"


# -- the Lease rounds ------------------------------------------------------------------------------------


def test_a_lone_replica_holds_every_shard_and_a_new_member_gets_its_share() -> None:
    api, clock = FakeKubeApi(), Clock()
    a = coordinator(api, clock, "a")
    settle(a)
    assert holders(api) == ["a", "a"]
    b = coordinator(api, clock, "b")
    settle(b)  # b is a member now, but shard 1 is still a's: b waits
    assert holders(api) == ["a", "a"] and not b._held
    clock.now += 2
    settle(a)  # a sees b: plan a={0}, b={1}; a gives 1 up
    assert holders(api) == ["a", None]
    settle(b)
    assert holders(api) == ["a", "b"]
    shard1 = api.stored("leases", NS, shard_lease_name("cm", 1))
    assert shard1 is not None and shard1["spec"]["leaseTransitions"] == 1, "a -> b is one transition, the release none"
    clock.now += 2
    settle(a, b)
    assert holders(api) == ["a", "b"], "stable once balanced"


def test_a_dead_replicas_shard_is_taken_over_only_after_its_lease_duration() -> None:
    api, clock = FakeKubeApi(), Clock()
    a, b = coordinator(api, clock, "a"), coordinator(api, clock, "b")
    for _ in range(3):
        settle(a, b)
        clock.now += 2
    assert holders(api) == ["a", "b"]
    # b dies (no more rounds). a measures from the last change it saw, on its own clock.
    for _ in range(6):
        clock.now += 2
        settle(a)
    assert holders(api) == ["a", "b"], "12 s after b's last renewal: b's shard is still b's"
    clock.now += 6
    settle(a)
    assert holders(api) == ["a", "a"]
    clock.now += 16
    settle(a)
    members = [o["spec"].get("holderIdentity") for o in api.listed("leases", NS)
               if o["metadata"]["labels"].get("configmanager.io/lease-role") == "member"]
    assert members == ["a"], "the dead member's Lease is deleted"


def test_two_replicas_never_hold_one_shard_and_a_racing_write_loses() -> None:
    api, clock = FakeKubeApi(), Clock()
    replicas = [coordinator(api, clock, name) for name in ("a", "b", "c")]
    for _ in range(6):
        settle(*replicas)
        clock.now += 2
        held = [index for r in replicas for index in r._held]
        assert len(held) == len(set(held)), held
    assert sorted(held) == [0, 1]
    assert replicas[2]._held == {}, "c stands by: 3 members, 2 shards"


def test_a_replica_that_cannot_renew_stops_working_before_the_lease_expires() -> None:
    api, clock = FakeKubeApi(), Clock()
    a = coordinator(api, clock, "a")
    settle(a)
    assert set(a._held) == {0, 1}
    real = api.request

    def down(*args: object, **kwargs: object) -> dict[str, object]:
        raise ConnectionError("apiserver unreachable")

    api.request = down  # type: ignore[method-assign]
    clock.now += 5
    settle(a)
    assert set(a._held) == {0, 1}, "one failed round is tolerated"
    clock.now += 5.5  # 10.5 s since the last renewal: past the deadline (10 s), before expiry (15 s)
    settle(a)
    assert a._held == {}
    api.request = real  # type: ignore[method-assign]


def test_no_shard_is_taken_while_replicas_with_another_shard_count_hold_theirs() -> None:
    api, clock = FakeKubeApi(), Clock()
    old = coordinator(api, clock, "old", shards=2)
    settle(old)
    new = coordinator(api, clock, "new", shards=3)
    for _ in range(3):
        settle(new, old)
        clock.now += 2
    assert new._held == {} and set(old._held) == {0, 1}, "old keeps working, new waits"
    old.release(0)
    old.release(1)
    old.leave()
    settle(new)
    assert set(new._held) == {0, 1, 2}


def test_the_leader_lease_and_shard_leases_exclude_each_other() -> None:
    api, clock = FakeKubeApi(), Clock()
    settings = LeaseSettings(namespace=NS, name="cm", identity="single")
    single = LeaderElector(api, settings, clock=clock, blocked=ShardLeasesSeen(api, settings, clock=clock))
    assert single.try_acquire_or_renew() is Attempt.HELD
    sharded = coordinator(api, clock, "sharded")
    settle(sharded)
    assert sharded._held == {}, "the leader Lease is held"
    single.release()
    settle(sharded)
    assert set(sharded._held) == {0, 1}
    other = LeaderElector(api, LeaseSettings(namespace=NS, name="cm", identity="other"), clock=clock,
                          blocked=ShardLeasesSeen(api, settings, clock=clock))
    assert other.try_acquire_or_renew() is Attempt.OTHER, "shard Leases are live: the single leader waits"


# -- the work queue's filter ---------------------------------------------------------------------------------


def test_keys_of_other_shards_are_parked_and_run_when_their_shard_is_held() -> None:
    now = [0.0]
    runs: list[tuple[str, str, str]] = []
    held = {"mine"}

    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        ran = asyncio.Event()

        def reconcile(key: tuple[str, str, str], reason: str) -> float | None:
            runs.append(key)
            loop.call_soon_threadsafe(ran.set)
            return None

        queue = WorkQueue(reconcile, workers=1, clock=lambda: now[0])
        queue.set_filter(lambda key: key[1] in held)
        await queue.start()
        queue.add(("ManagedSecret", "theirs", "a"), 0.0)
        queue.add(("ManagedSecret", "theirs", "b"), 50.0)
        queue.add(("ManagedSecret", "mine", "c"), 0.0)
        await asyncio.wait_for(ran.wait(), 5)
        ran.clear()
        await asyncio.sleep(0.05)
        assert runs == [("ManagedSecret", "mine", "c")]
        assert queue.parked == 1 and len(queue) == 2, "a is parked (due), b still scheduled"
        held.add("theirs")
        queue.reconsider()
        await asyncio.wait_for(ran.wait(), 5)
        await asyncio.sleep(0.05)
        assert runs[1:] == [("ManagedSecret", "theirs", "a")], "b is not due yet"
        due = queue.due_in(("ManagedSecret", "theirs", "b"))
        assert due is not None and 49 < due <= 50, "its refresh time is kept"
        await queue.stop()

    asyncio.run(scenario())


def test_in_a_pod_the_member_lease_is_owned_by_the_pod_so_it_goes_with_it(monkeypatch: pytest.MonkeyPatch) -> None:
    from config_manager.k8s.api.shardleases import pod_owner

    monkeypatch.setenv("POD_NAME", "cm-abc")
    monkeypatch.setenv("POD_UID", "1234-uid")
    monkeypatch.setenv("POD_NAMESPACE", NS)
    owner = pod_owner(NS)
    assert owner == {"apiVersion": "v1", "kind": "Pod", "name": "cm-abc", "uid": "1234-uid"}
    assert pod_owner("elsewhere") is None, "an owner must be in the Lease's namespace"
    api, clock = FakeKubeApi(), Clock()
    replica = ShardCoordinator(api, LeaseSettings(namespace=NS, name="cm", identity="cm-abc"), 2, clock=clock, owner=owner)
    settle(replica)
    leases = {o["metadata"]["labels"]["configmanager.io/lease-role"]: o for o in api.listed("leases", NS)}
    assert leases["member"]["metadata"]["ownerReferences"] == [owner]
    assert "ownerReferences" not in leases["shard"]["metadata"], "shard Leases outlive any one Pod"
