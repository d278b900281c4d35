"""A restart over 3,000 ManagedSecrets: the operator comes back, syncs a new object, and writes nothing
for the 3,000 it already synced (the bug it guards: kopf's quadratic initial listing with index
handlers outlived its continue token and the operator exited, a crash loop in a Deployment).

An operator of the test's own serves only the test namespace (the session operator is paused), so its
request counters (/metrics, a fresh process after the restart) hold only this test's requests. The time
from start to the new object's Secret is printed (a benchmark figure, docs/performance.md), not asserted.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from config_manager.k8s.api.client import KubeApi
from tests.helpers.cluster import ClusterInfo
from tests.helpers.operator_process import OperatorProcess, make_local_store, wait_for
from tests.integration.opkit import condition, managed_secret, wait_ready

pytestmark = [pytest.mark.cluster, pytest.mark.slow]

COUNT = 3000
MUTATING = ("create", "patch", "patch/status", "update", "delete")


@pytest.fixture()
def scoped_operator(operator: OperatorProcess, namespace: str, tmp_path: Path) -> Iterator[OperatorProcess]:
    operator.stop()
    own = OperatorProcess(kubeconfig=operator.kubeconfig, log_path=tmp_path / "scoped.log",
                          args=(f"--namespace={namespace}", "--standalone", "--log-level=info", "--startup-spread=0",
                                "--workers=16", "--stats-flush=3600", "--no-workload-tracking"))
    own.start()
    try:
        yield own
    finally:
        own.stop()
        operator.start()


def writes(proc: OperatorProcess) -> dict[tuple[str, str], float]:
    return {k: v for k, v in proc.metrics().items() if k[0] in MUTATING and v}


def ready_count(kube: KubeApi, namespace: str) -> int:
    """ManagedSecrets in the namespace whose Ready condition is True."""
    return sum(1 for obj in kube.list("managedsecrets", namespace) if condition(obj).get("status") == "True")


def test_restart_over_3000_objects_syncs_a_new_one_and_writes_nothing_else(
        kube: KubeApi, namespace: str, scoped_operator: OperatorProcess, cluster: ClusterInfo) -> None:
    make_local_store(kube, namespace, values={f"k{i}": f"v{i}" for i in range(10)})
    bulk = KubeApi.from_environment(str(cluster.kubeconfig), pool_size=16)
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda i: bulk.create("managedsecrets", namespace, managed_secret(f"m{i}", data={"k": f"k{i % 10}"})),
                      range(COUNT)))
    # every object Ready (a pass that ended in an error, e.g. before the store was validated, is retried
    # later, and that retry after the restart would be a write): a generous bound, the suite runs on busy machines
    wait_for(lambda: ready_count(bulk, namespace) >= COUNT, timeout=900, interval=2.0, what=f"{COUNT} Ready")

    scoped_operator.stop()
    started = time.monotonic()
    scoped_operator.start()
    kube.create("managedsecrets", namespace, managed_secret("after-restart", data={"k": "k1"}))
    wait_ready(kube, namespace, "after-restart", timeout=120)
    assert kube.get("secrets", namespace, "after-restart") is not None
    synced_after = time.monotonic() - started
    assert scoped_operator.ready()
    # the new object's create pass is all the new process wrote: nothing for the 3,000 it found synced
    wait_for(lambda: writes(scoped_operator).get(("create", "events")), what="the new object's Event")
    assert writes(scoped_operator) == {("create", "secrets"): 1, ("patch/status", "managedsecrets"): 1,
                                       ("create", "events"): 1}
    print(f"\nrestart over {COUNT} ManagedSecrets: new object synced {synced_after:.2f}s after the start")
