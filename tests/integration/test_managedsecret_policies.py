"""ManagedSecret target.creationPolicy None and deletionPolicy Merge (External Secrets' semantics) on the
real control plane: None reads the store and reports but never creates or updates the Secret; Merge
drops only our keys when their remote key is gone from the store, and keeps the Secret; ESO's forbidden
combinations are refused at admission."""

from __future__ import annotations

import base64

import pytest

from config_manager.k8s.api.client import ApiError, KubeApi
from tests.helpers.operator_process import OperatorProcess, make_local_store, wait_for
from tests.integration.opkit import condition, managed_secret, secret_data, wait_ready


def test_creation_policy_none(kube: KubeApi, namespace: str, running_operator: OperatorProcess) -> None:
    ns = namespace
    make_local_store(kube, ns, values={"k": "v1"})
    kube.create("managedsecrets", ns, managed_secret("none", data={"k": "k"}, target={"creationPolicy": "None", "deletionPolicy": "Retain"}))
    ms = wait_ready(kube, ns, "none", reason="SecretSynced")
    assert "creationPolicy None" in condition(ms)["message"]
    assert kube.get("secrets", ns, "none") is None  # never created
    kube.create("secrets", ns, {"metadata": {"name": "none"}, "data": {"k": base64.b64encode(b"mine").decode()}})
    kube.patch("managedsecrets", ns, "none", {"metadata": {"annotations": {"configmanager.io/force-sync": "1"}}})
    wait_for(lambda: ((kube.get("managedsecrets", ns, "none") or {}).get("status") or {}).get("forceSync") == "1", what="forced pass")
    assert secret_data(kube, ns, "none") == {"k": "mine"}  # nor updated


def test_deletion_policy_merge(kube: KubeApi, namespace: str, running_operator: OperatorProcess) -> None:
    ns = namespace
    store = make_local_store(kube, ns, values={"a": "va", "b": "vb"})
    kube.create("secrets", ns, {"metadata": {"name": "shared"}, "data": {"other": base64.b64encode(b"keep-me").decode()}})
    kube.create("managedsecrets", ns, managed_secret("m", data={"a": "a", "b": "b"}, refresh="5s",
                                                       target={"name": "shared", "creationPolicy": "Merge", "deletionPolicy": "Merge"}))
    wait_ready(kube, ns, "m")
    assert secret_data(kube, ns, "shared") == {"other": "keep-me", "a": "va", "b": "vb"}
    store.provider.delete("a")  # gone from the store: only its key leaves the Secret, no error
    wait_for(lambda: secret_data(kube, ns, "shared") == {"other": "keep-me", "b": "vb"}, what="key of the deleted remote removed")
    # status follows the Secret write (same pass, written after it): still Ready, listing only our key left
    wait_for(lambda: ((kube.get("managedsecrets", ns, "m") or {}).get("status") or {}).get("keys") == ["b"], what="status keys")
    assert condition(kube.get("managedsecrets", ns, "m"))["reason"] == "SecretSynced"
    store.provider.delete("b")
    wait_for(lambda: secret_data(kube, ns, "shared") == {"other": "keep-me"}, what="every key of ours removed, Secret kept")
    # without Merge, a remote key that is gone is an error and the Secret keeps its last value
    store.provider.set("c", "vc")
    kube.create("managedsecrets", ns, managed_secret("r", data={"c": "c"}, refresh="5s"))
    wait_ready(kube, ns, "r")
    store.provider.delete("c")
    wait_ready(kube, ns, "r", status="False", reason="ProviderError")
    assert secret_data(kube, ns, "r") == {"c": "vc"}


@pytest.mark.parametrize(("creation", "deletion"), [("Merge", "Delete"), ("None", "Delete"), ("None", "Merge")])
def test_forbidden_combinations_refused(kube: KubeApi, namespace: str, creation: str, deletion: str) -> None:
    with pytest.raises(ApiError) as err:
        kube.create("managedsecrets", namespace, managed_secret("bad", data={"k": "k"},
                                                                target={"creationPolicy": creation, "deletionPolicy": deletion}))
    assert err.value.status == 422 and "deletionPolicy" in str(err.value)
