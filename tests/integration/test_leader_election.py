"""Two operator replicas on the real control plane: one leads and writes, the other stands by and takes
over after the leader is SIGKILLed (within the lease duration) or released on a clean shutdown.

Writes are attributed three ways: each replica's own API request counters (/metrics), the Events'
``reportingInstance`` (the replica's Lease identity), and the Secrets' resourceVersions (a Secret written
twice for one change would have moved twice).
"""

from __future__ import annotations

import re
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from config_manager.k8s.api.client import KubeApi
from tests.helpers.operator_process import OperatorProcess, make_local_store, wait_for
from tests.integration.opkit import events_for, managed_secret, secret_data, wait_ready

pytestmark = pytest.mark.cluster

LEASE_DURATION = 15.0
SLACK = 8.0  # a standby looks every 2 s; request and start-up jitter on a shared 2-core machine
OBJECTS = 4


def scrape(proc: OperatorProcess) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{proc.port}/metrics", timeout=5) as resp:
        return str(resp.read().decode())


def leader_gauge(proc: OperatorProcess) -> float:
    match = re.search(r"^configmanager_leader (\S+)$", scrape(proc), re.MULTILINE)
    assert match, "configmanager_leader missing from /metrics"
    return float(match.group(1))


def writes(proc: OperatorProcess) -> dict[tuple[str, str], float]:
    """Requests that change something, leader election's own Lease requests excluded."""
    return {k: v for k, v in proc.metrics().items() if k[0] not in ("get", "list") and k[1] != "leases" and v}


def health(proc: OperatorProcess) -> int:
    with urllib.request.urlopen(f"http://127.0.0.1:{proc.port}/healthz", timeout=5) as resp:
        return int(resp.status)


@pytest.fixture()
def replicas(no_background_operator: None, crds: None, cluster: object, namespace: str, tmp_path: Path) -> Iterator[dict[str, OperatorProcess]]:
    lease_id = f"cm-test-{uuid.uuid4().hex[:6]}"
    kubeconfig = Path(cluster.kubeconfig)
    procs: dict[str, OperatorProcess] = {}
    for name in ("replica-a", "replica-b"):
        procs[name] = OperatorProcess(
            kubeconfig=kubeconfig, log_path=tmp_path / f"{name}.log",
            args=(f"--namespace={namespace}", "--leader-election", f"--leader-election-namespace={namespace}",
                  f"--leader-election-id={lease_id}", "--log-level=debug", "--startup-spread=0",
                  "--read-cache-ttl=1", "--stats-flush=3600", "--workers=4", "--no-workload-tracking"))
    try:
        for name, proc in procs.items():
            proc.start(env={"POD_NAME": name})
        yield procs
    finally:
        for proc in procs.values():
            proc.kill()


def lease_holder(kube: KubeApi, namespace: str, proc: OperatorProcess) -> str | None:
    lease_id = next(a.split("=", 1)[1] for a in proc.args if a.startswith("--leader-election-id="))
    lease = kube.request("get", "GET", "leases", KubeApi.path("leases", namespace, lease_id))
    return (lease.get("spec") or {}).get("holderIdentity")


def test_one_replica_reconciles_and_the_standby_takes_over_after_sigkill(
    kube: KubeApi, namespace: str, replicas: dict[str, OperatorProcess],
) -> None:
    holder: str = wait_for(lambda: lease_holder(kube, namespace, replicas["replica-a"]) or "", timeout=30,
                           what="a lease holder")
    leader = replicas[holder]
    standby_name = next(n for n in replicas if n != holder)
    standby = replicas[standby_name]
    wait_for(lambda: leader_gauge(leader) == 1, timeout=10, what="leader gauge 1")
    assert leader_gauge(standby) == 0
    assert health(leader) == 200 and health(standby) == 200, "a standby is alive and healthy"

    store = make_local_store(kube, namespace, values={f"k{i}": f"value-{i}" for i in range(OBJECTS)})
    wait_ready(kube, namespace, "local", plural="secretstores")  # so each ManagedSecret syncs in one pass
    for i in range(OBJECTS):
        kube.create("managedsecrets", namespace, managed_secret(f"ms{i}", data={"v": f"k{i}"}))
    for i in range(OBJECTS):
        wait_ready(kube, namespace, f"ms{i}")
    for i in range(OBJECTS):  # each create pass's last write is its Event; the standby has had the same events
        wait_for(lambda i=i: any(e["reason"] == "Created" for e in events_for(kube, namespace, f"ms{i}")),
                 what=f"ms{i}'s Created Event")

    # exactly one replica wrote
    assert writes(standby) == {}, f"the standby wrote: {writes(standby)}"
    leader_writes = writes(leader)
    assert leader_writes.get(("create", "secrets")) == OBJECTS, leader_writes
    assert leader_writes.get(("patch/status", "managedsecrets")) == OBJECTS, leader_writes
    for i in range(OBJECTS):
        created = [e for e in events_for(kube, namespace, f"ms{i}") if e["reason"] == "Created"]
        assert [e.get("reportingInstance") for e in created] == [holder], created
        secret = kube.get("secrets", namespace, f"ms{i}")
        assert secret is not None
        assert [m["manager"] for m in secret["metadata"].get("managedFields") or []] == ["config-manager"]

    # one change: its Secret is written once, by the leader
    versions = {i: kube.get("secrets", namespace, f"ms{i}")["metadata"]["resourceVersion"] for i in range(OBJECTS)}  # type: ignore[index]
    store.provider.set("k0", "value-0-changed")
    kube.patch("managedsecrets", namespace, "ms0", {"metadata": {"annotations": {"configmanager.io/force-sync": "1"}}})
    wait_for(lambda: (secret_data(kube, namespace, "ms0") or {}).get("v") == "value-0-changed", what="change synced")
    wait_for(lambda: any(e["reason"] == "Updated" for e in events_for(kube, namespace, "ms0")), what="ms0's Updated Event")
    assert writes(leader).get(("patch", "secrets")) == 1, writes(leader)
    assert writes(standby) == {}

    # SIGKILL the leader: the standby takes over within the lease duration (+ slack)
    versions = {i: kube.get("secrets", namespace, f"ms{i}")["metadata"]["resourceVersion"] for i in range(OBJECTS)}  # type: ignore[index]
    killed_at = time.monotonic()
    leader.kill()
    wait_for(lambda: leader_gauge(standby) == 1, timeout=LEASE_DURATION + SLACK, interval=0.2, what="standby leads")
    failover = time.monotonic() - killed_at
    print(f"failover after SIGKILL: {failover:.1f}s")
    assert lease_holder(kube, namespace, standby) == standby_name
    assert failover <= LEASE_DURATION + SLACK

    # the new leader reconciles what it missed and rewrites nothing that was in sync
    kube.create("managedsecrets", namespace, managed_secret("after", data={"v": "k1"}))
    wait_ready(kube, namespace, "after")
    wait_for(lambda: any(e["reason"] == "Created" for e in events_for(kube, namespace, "after")), what="after's Created Event")
    for i in range(OBJECTS):
        assert kube.get("secrets", namespace, f"ms{i}")["metadata"]["resourceVersion"] == versions[i]  # type: ignore[index]
    new_writes = writes(standby)
    assert new_writes.get(("create", "secrets")) == 1 and ("patch", "secrets") not in new_writes, new_writes
    for proc in (leader, standby):
        conflicts = re.findall(r"Conflict|AlreadyExists", proc.log_text())  # a 409 is logged as "409 Conflict: ..."
        assert conflicts == [], proc.log_tail()

    # clean shutdown: the old leader comes back as a standby; SIGTERM on the leader releases the Lease
    leader.start(env={"POD_NAME": holder})
    wait_for(lambda: leader_gauge(leader) == 0 and health(leader) == 200, timeout=30, what="restarted as standby")
    stopped_at = time.monotonic()
    standby.stop()
    wait_for(lambda: leader_gauge(leader) == 1, timeout=LEASE_DURATION, interval=0.2, what="takeover after release")
    handover = time.monotonic() - stopped_at
    print(f"handover after SIGTERM (lease released): {handover:.1f}s")
    assert handover < LEASE_DURATION / 2, "a released lease is taken over without waiting for it to expire"
    assert "released" in standby.log_text()
