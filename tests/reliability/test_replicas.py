"""Three operator replicas at once over 100 ManagedSecrets: no double work, no conflicting writes.

Leader election (``--leader-election``, a Lease) lets one replica work. This test goes beyond the
two-replica failover test in tests/integration/test_leader_election.py in scale and in timing: the leader
is SIGKILLed in the middle of a burst of value changes, so the old and the new leader both touch the
same objects around the hand-over. What must hold:

* before the failover only the lease holder made any write request (the two standbys: none);
* every ManagedSecret got exactly one ``Created`` Event and every changed one exactly one ``Updated``
  Event across the hand-over (a Secret written twice for one change would show two), each reported by
  the replica that held the lease when it was written; unchanged ones none;
* no replica's log shows a 409 Conflict or AlreadyExists;
* every Secret ends with its expected data.
"""

from __future__ import annotations

import base64
import random
import re
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from config_manager.k8s.api.client import KubeApi
from tests.helpers.operator_process import OperatorProcess, make_local_store, wait_for
from tests.integration.opkit import condition, managed_secret
from tests.integration.test_leader_election import leader_gauge, lease_holder, writes

pytestmark = pytest.mark.cluster

OBJECTS = 100
CHANGED = 30
LEASE = ("--lease-duration=6", "--lease-renew-period=2", "--lease-retry-period=1")


@pytest.fixture()
def three_replicas(no_background_operator: None, crds: None, cluster: object, namespace: str,
                   tmp_path: Path) -> Iterator[dict[str, OperatorProcess]]:
    lease_id = f"cm-rel-{uuid.uuid4().hex[:6]}"
    procs = {name: OperatorProcess(
        kubeconfig=Path(cluster.kubeconfig), log_path=tmp_path / f"{name}.log",
        args=(f"--namespace={namespace}", "--leader-election", f"--leader-election-namespace={namespace}",
              f"--leader-election-id={lease_id}", *LEASE, "--log-level=debug", "--startup-spread=0",
              "--read-cache-ttl=1", "--stats-flush=3600", "--workers=4", "--no-workload-tracking"))
        for name in ("replica-a", "replica-b", "replica-c")}
    try:
        for name, proc in procs.items():
            proc.start(env={"POD_NAME": name})
        yield procs
    finally:
        for proc in procs.values():
            proc.kill()


def events_by_object(kube: KubeApi, namespace: str) -> dict[str, Counter[tuple[str, str]]]:
    """(reason, reportingInstance) counts per ManagedSecret, aggregated Events counted by their count."""
    result: dict[str, Counter[tuple[str, str]]] = {}
    for event in kube.list("events", namespace):
        involved = event.get("involvedObject") or {}
        if involved.get("kind") != "ManagedSecret":
            continue
        key = (event["reason"], str(event.get("reportingInstance")))
        result.setdefault(involved["name"], Counter())[key] += int(event.get("count") or 1)
    return result


def data_of(kube: KubeApi, namespace: str) -> dict[str, dict[str, str]]:
    return {s["metadata"]["name"]: {k: base64.b64decode(v).decode(errors="replace") for k, v in (s.get("data") or {}).items()}
            for s in kube.list("secrets", namespace)}


def test_three_replicas_over_a_burst_with_a_failover_do_each_write_once(
    kube: KubeApi, namespace: str, three_replicas: dict[str, OperatorProcess],
) -> None:
    procs = three_replicas
    holder: str = wait_for(lambda: lease_holder(kube, namespace, procs["replica-a"]) or "", timeout=30, what="a lease holder")
    wait_for(lambda: leader_gauge(procs[holder]) == 1, timeout=10, what="leader gauge")
    values = {f"k{i}": f"v{i}-{uuid.uuid4().hex[:10]}" for i in range(OBJECTS)}
    store = make_local_store(kube, namespace, values=values)
    wait_for(lambda: condition(kube.get("secretstores", namespace, "local")).get("status") == "True", what="store Ready")
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda i: kube.create("managedsecrets", namespace, managed_secret(f"ms{i}", data={"v": f"k{i}"}, refresh="1h")),
                      range(OBJECTS)))
    expected = {f"ms{i}": {"v": values[f"k{i}"]} for i in range(OBJECTS)}

    def converged() -> bool:
        actual = data_of(kube, namespace)
        return all(actual.get(n) == d for n, d in expected.items())
    wait_for(converged, timeout=120, interval=1.0, what="all Secrets created")
    standbys = [n for n in procs if n != holder]
    for name in standbys:
        assert writes(procs[name]) == {}, f"standby {name} wrote: {writes(procs[name])}"
    assert writes(procs[holder]).get(("create", "secrets")) == OBJECTS, writes(procs[holder])

    # a burst of changes, each nudged by force-sync; the leader is SIGKILLed half-way through
    changed = random.Random(7).sample(range(OBJECTS), CHANGED)
    for n, i in enumerate(changed):
        values[f"k{i}"] = f"v{i}-new-{uuid.uuid4().hex[:10]}"
        expected[f"ms{i}"] = {"v": values[f"k{i}"]}
        store.provider.set(f"k{i}", values[f"k{i}"])
        kube.patch("managedsecrets", namespace, f"ms{i}", {"metadata": {"annotations": {"configmanager.io/force-sync": "1"}}})
        if n == CHANGED // 2:
            procs[holder].kill()
    old_holder = holder
    def taken_over() -> str | None:
        current = lease_holder(kube, namespace, procs[standbys[0]])
        return current if current and current != old_holder else None
    new_holder = wait_for(taken_over, timeout=30, what="a new lease holder")
    assert new_holder is not None
    wait_for(converged, timeout=120, interval=1.0, what="all changes synced after the failover")
    # the new leader had every change queued while it stood by: once it has passed each changed object, any
    # second write for a change would have been made
    new_leader = procs[new_holder]
    wait_for(lambda: all(new_leader.passes("ManagedSecret", namespace, f"ms{i}") for i in changed), timeout=60,
             what="the new leader's pass over every changed object")

    events = events_by_object(kube, namespace)
    lost_updates = []
    for i in range(OBJECTS):
        counts = events.get(f"ms{i}", Counter())
        created = sum(c for (reason, _), c in counts.items() if reason == "Created")
        updated = sum(c for (reason, _), c in counts.items() if reason == "Updated")
        assert created == 1, (i, counts)
        assert updated <= (1 if i in changed else 0), (i, counts)  # never a second write for one change
        if i in changed and updated == 0:
            lost_updates.append(i)
    # Events are at most once: a reconcile SIGKILLed between its Secret write and its Event loses the
    # Event (the new leader finds the Secret in sync and writes nothing). Only the reconciles in flight
    # at the kill (at most --workers=4) may be missing theirs.
    assert len(lost_updates) <= 4, lost_updates
    for i in range(OBJECTS):
        counts = events.get(f"ms{i}", Counter())
        assert {who for (reason, who) in counts if reason in ("Created", "Updated")} <= {old_holder, new_holder}, counts
    third = next(n for n in procs if n not in (old_holder, new_holder))
    assert writes(procs[third]) == {}, f"the replica that never led wrote: {writes(procs[third])}"
    for name, proc in procs.items():
        conflicts = re.findall(r"\b409 Conflict|AlreadyExists", proc.log_text())  # a 409 is logged as "409 Conflict: ..."
        assert conflicts == [], f"{name}: {conflicts[:5]}"
    print(f"replicas: {OBJECTS} objects, {CHANGED} changed, leader {old_holder} SIGKILLed mid-burst, {new_holder} took over")
