"""What the operator's reconciles cost in API requests, counted by the operator itself (/metrics).

A namespaced operator of the test's own serves only the test namespace, so the counters hold nothing but
this test's objects (the session operator is paused meanwhile, so two operators never act at once).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from config_manager.k8s.api.client import KubeApi
from tests.helpers.operator_process import OperatorProcess, make_local_store, wait_for
from tests.integration.opkit import condition, events_for, managed_secret, wait_ready

pytestmark = pytest.mark.cluster


@pytest.fixture()
def scoped_operator(operator: OperatorProcess, namespace: str, tmp_path: Path) -> Iterator[OperatorProcess]:
    operator.stop()
    own = OperatorProcess(kubeconfig=operator.kubeconfig, log_path=tmp_path / "scoped.log",
                          args=(f"--namespace={namespace}", "--standalone", "--log-level=info", "--startup-spread=0",
                                "--read-cache-ttl=1", "--stats-flush=3600"))
    own.start()
    try:
        yield own
    finally:
        own.stop()
        operator.start()


def delta(after: dict[tuple[str, str], float], before: dict[tuple[str, str], float]) -> dict[tuple[str, str], float]:
    return {k: v - before.get(k, 0) for k, v in after.items() if v - before.get(k, 0)}


def test_requests_per_create_and_per_idle_refresh(kube: KubeApi, namespace: str, scoped_operator: OperatorProcess) -> None:
    make_local_store(kube, namespace, values={"k": "v"})
    wait_for(lambda: condition(kube.get("secretstores", namespace, "local")).get("status") == "True", what="store Ready")
    wait_for(lambda: events_for(kube, namespace, "local"), what="the store's Validated Event (its pass's last write)")
    before = scoped_operator.metrics()
    kube.create("managedsecrets", namespace, managed_secret("cost", data={"k": "k"}, refresh="5s"))
    wait_ready(kube, namespace, "cost")
    wait_for(lambda: events_for(kube, namespace, "cost"), what="the create pass's Event (its last write)")
    created = scoped_operator.metrics()
    passes = scoped_operator.syncs("ManagedSecret")
    per_create = delta(created, before)
    writes = {k: v for k, v in per_create.items() if k[0] != "get"}
    assert writes == {("create", "secrets"): 1, ("patch/status", "managedsecrets"): 1, ("create", "events"): 1}, per_create
    assert per_create.get(("get", "secrets"), 0) <= 2, "store reads only (blob; key cached with the provider)"

    # two idle refreshes (5s + jitter), then a third pass begun: the second one's requests are all counted
    wait_for(lambda: scoped_operator.syncs("ManagedSecret") >= passes + 3, timeout=40, what="three more passes")
    idle = delta(scoped_operator.metrics(), created)
    assert {k: v for k, v in idle.items() if k[0] != "get"} == {}, idle
    assert 1 <= idle.get(("get", "secrets"), 0) <= 3, f"one store read per refresh: {idle}"
