"""Two operator replicas with ``--shards 2`` on the real control plane: each holds one shard's Lease and
reconciles only the namespaces of its shard; a SIGKILLed replica's shard is taken over by the survivor
after the lease duration; a replica that comes back gets its share handed over (drained, released).

Who wrote is read three ways: each replica's /healthz (``shards`` it holds) and API request counters, the
Events' ``reportingInstance`` (the replica's identity), and the Secrets' resourceVersions (a Secret
rewritten on a hand-over would have moved).
"""

from __future__ import annotations

import json
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from config_manager.k8s.api.client import KubeApi
from config_manager.k8s.api.shards import shard_of
from tests.helpers.operator_process import OperatorProcess, make_local_store, wait_for
from tests.integration.opkit import events_for, managed_secret, wait_ready

pytestmark = pytest.mark.cluster

LEASE_DURATION = 6.0
SLACK = 10.0  # rounds every 1 s; request and start-up jitter on a shared 2-core machine
OBJECTS = 3


def held(proc: OperatorProcess) -> list[int] | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{proc.port}/healthz", timeout=5) as resp:
            return list(json.loads(resp.read())["shards"])
    except OSError:
        return None


def writes(proc: OperatorProcess) -> dict[tuple[str, str], float]:
    """Requests that change something, the Lease requests excluded."""
    return {k: v for k, v in proc.metrics().items() if k[0] not in ("get", "list") and k[1] != "leases" and v}


def namespace_in_shard(shard: int) -> str:
    while True:
        name = f"t-shard-{uuid.uuid4().hex[:8]}"
        if shard_of(name, 2) == shard:
            return name


@pytest.fixture()
def namespaces(kube: KubeApi) -> Iterator[list[str]]:
    names = [namespace_in_shard(0), namespace_in_shard(1)]
    for name in names:
        kube.create("namespaces", None, {"metadata": {"name": name, "labels": {"configmanager.io/test": "true"}}})
    try:
        yield names
    finally:
        for name in names:
            kube.delete("namespaces", None, name)


@pytest.fixture()
def replicas(no_background_operator: None, crds: None, cluster: Any, namespaces: list[str],
             tmp_path: Path) -> Iterator[dict[str, OperatorProcess]]:
    group = f"cm-shards-{uuid.uuid4().hex[:6]}"
    procs = {name: OperatorProcess(
        kubeconfig=Path(cluster.kubeconfig), log_path=tmp_path / f"{name}.log",
        args=(*(f"--namespace={ns}" for ns in namespaces), "--shards=2", f"--leader-election-namespace={namespaces[0]}",
              f"--leader-election-id={group}", f"--lease-duration={LEASE_DURATION:.0f}", "--lease-renew-period=2",
              "--lease-retry-period=1", "--log-level=debug", "--startup-spread=0", "--read-cache-ttl=1",
              "--stats-flush=3600", "--workers=4", "--no-workload-tracking"))
        for name in ("replica-a", "replica-b")}
    try:
        yield procs
    finally:
        for proc in procs.values():
            proc.kill()


def created_by(kube: KubeApi, namespace: str, name: str) -> list[str]:
    """The reportingInstance of each Created Event of one ManagedSecret (waits for the first)."""
    wait_for(lambda: any(e["reason"] == "Created" for e in events_for(kube, namespace, name)), what=f"{name}'s Created Event")
    return [str(e.get("reportingInstance")) for e in events_for(kube, namespace, name) if e["reason"] == "Created"]


def test_each_replica_serves_its_shard_and_a_dead_replicas_shard_is_taken_over(
    kube: KubeApi, namespaces: list[str], replicas: dict[str, OperatorProcess],
) -> None:
    a, b = replicas["replica-a"], replicas["replica-b"]
    a.start(env={"POD_NAME": "replica-a"})
    wait_for(lambda: held(a) == [0, 1], timeout=30, what="a lone replica holds both shards")
    b.start(env={"POD_NAME": "replica-b"})
    # the plan: members in identity order take the shards round-robin, so a keeps 0 and hands 1 to b
    wait_for(lambda: held(a) == [0] and held(b) == [1], timeout=30, what="shard 1 handed over to replica-b")

    for ns in namespaces:
        make_local_store(kube, ns, values={f"k{i}": f"value-{i}" for i in range(OBJECTS)})
        wait_ready(kube, ns, "local", plural="secretstores")
    for ns in namespaces:
        for i in range(OBJECTS):
            kube.create("managedsecrets", ns, managed_secret(f"ms{i}", data={"v": f"k{i}"}))
    for shard, (ns, owner) in enumerate(zip(namespaces, ("replica-a", "replica-b"), strict=True)):
        for i in range(OBJECTS):
            wait_ready(kube, ns, f"ms{i}")
            assert created_by(kube, ns, f"ms{i}") == [owner], f"shard {shard}'s object written by its holder only"
    for proc in (a, b):  # each wrote the Secrets of its own shard, once each
        assert writes(proc).get(("create", "secrets")) == OBJECTS, writes(proc)
        assert writes(proc).get(("patch/status", "managedsecrets")) == OBJECTS, writes(proc)

    # SIGKILL b: a takes shard 1 over once b's member and shard Leases stopped changing for their duration
    versions = {i: kube.get("secrets", namespaces[1], f"ms{i}")["metadata"]["resourceVersion"] for i in range(OBJECTS)}  # type: ignore[index]
    killed_at = time.monotonic()
    b.kill()
    wait_for(lambda: held(a) == [0, 1], timeout=LEASE_DURATION + SLACK, interval=0.2, what="replica-a takes shard 1")
    print(f"shard take-over after SIGKILL: {time.monotonic() - killed_at:.1f}s (lease duration {LEASE_DURATION:.0f}s)")
    kube.create("managedsecrets", namespaces[1], managed_secret("after", data={"v": "k1"}))
    wait_ready(kube, namespaces[1], "after")
    assert created_by(kube, namespaces[1], "after") == ["replica-a"]
    for i in range(OBJECTS):  # nothing in sync was rewritten on the take-over
        assert kube.get("secrets", namespaces[1], f"ms{i}")["metadata"]["resourceVersion"] == versions[i]  # type: ignore[index]

    # b comes back: a drains and releases shard 1, b takes it; a new object of shard 1 is b's again
    b.start(env={"POD_NAME": "replica-b"})
    wait_for(lambda: held(a) == [0] and held(b) == [1], timeout=30, what="shard 1 handed back to replica-b")
    assert "released shard 1" in a.log_text()
    kube.create("managedsecrets", namespaces[1], managed_secret("back", data={"v": "k2"}))
    wait_ready(kube, namespaces[1], "back")
    assert created_by(kube, namespaces[1], "back") == ["replica-b"]
    assert writes(b).get(("create", "secrets")) == 1, writes(b)
    for proc in (a, b):
        assert "Conflict" not in proc.log_text() and "AlreadyExists" not in proc.log_text(), proc.log_tail()
