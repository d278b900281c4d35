"""ClusterManagedSecret on the real control plane: the namespaces a label selector (or a list) picks get
the ManagedSecret and, through the ordinary ManagedSecret reconciler, its Secret; a namespace labelled
later gets it, one that loses its label loses it; a same-named ManagedSecret that is not ours is never
overwritten and reported in status.failedNamespaces."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from config_manager.k8s.api.client import KubeApi
from tests.helpers.operator_process import OperatorProcess, make_local_store, wait_for
from tests.integration.opkit import API, condition, managed_secret, secret_data

KIND = "ClusterManagedSecret"


@pytest.fixture()
def namespaces(kube: KubeApi) -> Iterator[list[str]]:
    names = [f"cms-{uuid.uuid4().hex[:8]}" for _ in range(3)]
    yield names
    for name in names:
        kube.delete("namespaces", None, name)


def test_managed_secret_in_every_selected_namespace(kube: KubeApi, namespaces: list[str], running_operator: OperatorProcess) -> None:
    team = uuid.uuid4().hex[:8]
    picked, later, conflicting = namespaces
    kube.create("namespaces", None, {"metadata": {"name": picked, "labels": {"team": team}}})
    kube.create("namespaces", None, {"metadata": {"name": later}})
    kube.create("namespaces", None, {"metadata": {"name": conflicting, "labels": {"team": team}}})
    for ns in namespaces:
        make_local_store(kube, ns, values={"db": f"pw-{ns}"})
    # someone else's ManagedSecret of the same name: never overwritten
    theirs = managed_secret("app-db", data={"theirs": "db"})
    kube.create("managedsecrets", conflicting, theirs)
    name = f"cms-{team}"
    kube.create("clustermanagedsecrets", None, {
        "apiVersion": API, "kind": KIND, "metadata": {"name": name},
        "spec": {"managedSecretName": "app-db", "namespaceSelector": {"matchLabels": {"team": team}},
                 "managedSecretSpec": {"storeRef": {"name": "local"}, "refreshInterval": "1h",
                                       "data": [{"secretKey": "password", "remoteRef": {"key": "db"}}]}},
    })

    def status() -> dict[str, Any]:
        return (kube.get("clustermanagedsecrets", None, name) or {}).get("status") or {}

    wait_for(lambda: status().get("provisionedNamespaces") == [picked], what="picked namespace provisioned")
    wait_for(lambda: secret_data(kube, picked, "app-db") == {"password": f"pw-{picked}"}, what="its Secret synced")
    ms = kube.get("managedsecrets", picked, "app-db")
    assert ms["metadata"]["labels"]["configmanager.io/cluster-managed-secret"] == name
    assert ms["metadata"]["ownerReferences"][0]["kind"] == KIND
    failed = wait_for(lambda: status().get("failedNamespaces"), what="conflict reported")
    assert failed == [{"namespace": conflicting, "reason": "NotOwned", "message": failed[0]["message"]}]
    assert "not managed by this ClusterManagedSecret" in failed[0]["message"]
    assert kube.get("managedsecrets", conflicting, "app-db")["spec"]["data"] == theirs["spec"]["data"]
    assert condition(kube.get("clustermanagedsecrets", None, name))["reason"] == "NamespacesFailed"
    assert kube.get("managedsecrets", later, "app-db") is None

    # labelled later: gets it; the label removed from the first: loses the ManagedSecret and its Secret
    kube.patch("namespaces", None, later, {"metadata": {"labels": {"team": team}}})
    wait_for(lambda: secret_data(kube, later, "app-db") == {"password": f"pw-{later}"}, what="later namespace synced")
    kube.patch("namespaces", None, picked, {"metadata": {"labels": {"team": None}}})
    wait_for(lambda: kube.get("managedsecrets", picked, "app-db") is None, what="un-labelled namespace loses it")
    wait_for(lambda: kube.get("secrets", picked, "app-db") is None, what="its Secret garbage-collected")
    wait_for(lambda: status().get("provisionedNamespaces") == [later], what="status follows")

    # an edited copy is put back; the conflicting one, once deleted, is replaced by ours
    kube.patch("managedsecrets", later, "app-db", {"spec": {"refreshInterval": "2h"}})
    wait_for(lambda: kube.get("managedsecrets", later, "app-db")["spec"]["refreshInterval"] == "1h", what="edit reverted")
    kube.delete("managedsecrets", conflicting, "app-db")
    wait_for(lambda: status().get("provisionedNamespaces") == sorted([later, conflicting]) and not status().get("failedNamespaces"),
             what="conflict resolved")
    kube.delete("clustermanagedsecrets", None, name)
    wait_for(lambda: kube.get("managedsecrets", later, "app-db") is None, what="ManagedSecrets removed with it")
