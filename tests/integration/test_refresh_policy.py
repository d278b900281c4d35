"""spec.refreshPolicy (External Secrets' three values) on the real control plane with the local store:
Periodic re-reads every refreshInterval; OnChange only when the spec changes; CreatedOnce once per object;
both of the latter still repair a deleted Secret and obey force-sync."""

from __future__ import annotations

import uuid
from typing import Any

from config_manager.k8s.api.client import KubeApi
from tests.helpers.operator_process import OperatorProcess, make_local_store, wait_for
from tests.integration.opkit import managed_secret, secret_data, wait_ready

KIND = "ManagedSecret"


def _ms(name: str, policy: str, data: dict[str, str]) -> dict[str, Any]:
    body = managed_secret(name, data=data, refresh="5s")
    body["spec"]["refreshPolicy"] = policy
    return body


def test_periodic_on_change_and_created_once(kube: KubeApi, namespace: str, running_operator: OperatorProcess) -> None:
    ns, op = namespace, running_operator
    store = make_local_store(kube, ns, values={"a": "v1", "b": "b1"})
    for name, policy in (("periodic", "Periodic"), ("onchange", "OnChange"), ("once", "CreatedOnce")):
        kube.create("managedsecrets", ns, _ms(name, policy, {"a": "a"}))
    for name in ("periodic", "onchange", "once"):
        wait_ready(kube, ns, name)
        assert secret_data(kube, ns, name) == {"a": "v1"}

    store.provider.set("a", "v2")
    # the positive marker: the Periodic object read the new value and refreshed twice more (5s + jitter
    # each), time in which the other two, also at refreshInterval 5s, would have refreshed had they been Periodic
    wait_for(lambda: secret_data(kube, ns, "periodic") == {"a": "v2"}, timeout=30, what="Periodic refresh")
    op.wait_passes(KIND, ns, "periodic", op.passes(KIND, ns, "periodic"), count=2, timeout=40)
    assert secret_data(kube, ns, "onchange") == {"a": "v1"}
    assert secret_data(kube, ns, "once") == {"a": "v1"}

    # a spec change: OnChange syncs (new value and new key), CreatedOnce does not
    before = op.passes(KIND, ns, "once")
    for name in ("onchange", "once"):
        kube.patch("managedsecrets", ns, name, {"spec": {"data": [
            {"secretKey": "a", "remoteRef": {"key": "a"}}, {"secretKey": "b", "remoteRef": {"key": "b"}}]}})
    wait_for(lambda: secret_data(kube, ns, "onchange") == {"a": "v2", "b": "b1"}, timeout=30, what="OnChange sync")
    op.wait_passes(KIND, ns, "once", before, count=1, timeout=30)
    assert secret_data(kube, ns, "once") == {"a": "v1"}

    # CreatedOnce still repairs its Secret, and force-sync reads the store
    kube.delete("secrets", ns, "once")
    wait_for(lambda: secret_data(kube, ns, "once") == {"a": "v2", "b": "b1"}, timeout=30, what="deleted Secret re-created")
    store.provider.set("a", "v3")
    kube.patch("managedsecrets", ns, "once", {"metadata": {"annotations": {"configmanager.io/force-sync": uuid.uuid4().hex}}})
    wait_for(lambda: secret_data(kube, ns, "once") == {"a": "v3", "b": "b1"}, timeout=30, what="force-sync of CreatedOnce")
