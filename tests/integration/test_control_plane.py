"""The test harness's cluster is the real thing: API objects, garbage collection, RBAC and kubectl."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from kubernetes import client

from tests.helpers.cluster import ClusterInfo, b64

pytestmark = pytest.mark.cluster

WIDGET_CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "widgets.harness.configmanager.io"},
    "spec": {
        "group": "harness.configmanager.io",
        "scope": "Namespaced",
        "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
        "versions": [{
            "name": "v1", "served": True, "storage": True,
            "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                "spec": {"type": "object", "properties": {"size": {"type": "integer", "minimum": 1}}},
            }}},
        }],
    },
}


def wait_for(predicate, timeout: float = 60.0, interval: float = 0.25, what: str = "condition"):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def test_crd_and_custom_resource_round_trip(cluster: ClusterInfo, namespace: str) -> None:
    api_client = cluster.api_client()
    ext = client.ApiextensionsV1Api(api_client)
    try:
        ext.create_custom_resource_definition(WIDGET_CRD)
    except client.ApiException as exc:
        if exc.status != 409:
            raise

    def established() -> bool:
        crd = ext.read_custom_resource_definition("widgets.harness.configmanager.io")
        return any(c.type == "Established" and c.status == "True" for c in (crd.status.conditions or []))

    wait_for(established, what="CRD Established")
    custom = client.CustomObjectsApi(api_client)
    body = {"apiVersion": "harness.configmanager.io/v1", "kind": "Widget", "metadata": {"name": "w1"}, "spec": {"size": 3}}
    wait_for(lambda: _try_create(custom, namespace, body), what="custom resource accepted")
    got = custom.get_namespaced_custom_object("harness.configmanager.io", "v1", namespace, "widgets", "w1")
    assert got["spec"] == {"size": 3}

    bad = {**body, "metadata": {"name": "w2"}, "spec": {"size": 0}}
    with pytest.raises(client.ApiException) as refused:
        custom.create_namespaced_custom_object("harness.configmanager.io", "v1", namespace, "widgets", bad)
    assert refused.value.status == 422
    assert "spec.size" in refused.value.body


def _try_create(custom: client.CustomObjectsApi, namespace: str, body: dict) -> bool:  # type: ignore[type-arg]
    try:
        custom.create_namespaced_custom_object("harness.configmanager.io", "v1", namespace, "widgets", body)
    except client.ApiException as exc:
        if exc.status == 404:  # discovery of a fresh CRD can lag a moment
            return False
        raise
    return True


def test_secret_and_configmap_are_stored(cluster: ClusterInfo, namespace: str) -> None:
    core = client.CoreV1Api(cluster.api_client())
    core.create_namespaced_secret(namespace, {"metadata": {"name": "s"}, "data": {"password": b64("hunter2")}})
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "c"}, "data": {"mode": "demo"}})
    assert core.read_namespaced_secret("s", namespace).data == {"password": b64("hunter2")}
    assert core.read_namespaced_config_map("c", namespace).data == {"mode": "demo"}


def test_garbage_collector_removes_owned_secret(cluster: ClusterInfo, namespace: str) -> None:
    core = client.CoreV1Api(cluster.api_client())
    owner = core.create_namespaced_config_map(namespace, {"metadata": {"name": "owner"}, "data": {}})
    owned = {
        "metadata": {
            "name": "owned",
            "ownerReferences": [{"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": owner.metadata.uid}],
        },
        "stringData": {"k": "v"},
    }
    core.create_namespaced_secret(namespace, owned)
    core.create_namespaced_secret(namespace, {"metadata": {"name": "bystander"}, "stringData": {"k": "v"}})
    core.delete_namespaced_config_map("owner", namespace)

    def owned_gone() -> bool:
        try:
            core.read_namespaced_secret("owned", namespace)
        except client.ApiException as exc:
            return exc.status == 404
        return False

    wait_for(owned_gone, timeout=90, what="garbage collection of the owned Secret")
    assert core.read_namespaced_secret("bystander", namespace).metadata.name == "bystander"


def test_kubectl_talks_to_the_cluster(cluster: ClusterInfo, namespace: str) -> None:
    version = json.loads(cluster.kubectl("version", "-o", "json").stdout)
    assert version["serverVersion"]["major"] == "1"
    if cluster.local:
        assert version["serverVersion"]["gitVersion"] == cluster.plane.version()  # type: ignore[union-attr]
    cluster.kubectl("-n", namespace, "create", "configmap", "from-kubectl", "--from-literal=a=b")
    out = cluster.kubectl("-n", namespace, "get", "configmap", "from-kubectl", "-o", "jsonpath={.data.a}").stdout
    assert out == "b"


def test_rbac_refuses_a_user_without_rights(cluster: ClusterInfo, namespace: str, tmp_path: Path) -> None:
    nobody = cluster.service_account_kubeconfig(namespace, "nobody", tmp_path)
    core = client.CoreV1Api(cluster.api_client(nobody))
    with pytest.raises(client.ApiException) as refused:
        core.list_namespaced_secret(namespace)
    assert refused.value.status == 403

    denied = cluster.kubectl("-n", namespace, "get", "secrets", kubeconfig=nobody, check=False)
    assert denied.returncode != 0 and "forbidden" in denied.stderr.lower()

    rbac = client.RbacAuthorizationV1Api(cluster.api_client())
    rbac.create_namespaced_role(namespace, {"metadata": {"name": "read-cm"},
                                            "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["list"]}]})
    rbac.create_namespaced_role_binding(namespace, {
        "metadata": {"name": "read-cm"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "read-cm"},
        "subjects": [{"kind": "ServiceAccount", "name": "nobody", "namespace": namespace}],
    })
    wait_for(lambda: _can_list_configmaps(core, namespace), what="RBAC grant to take effect")
    with pytest.raises(client.ApiException) as still_refused:
        core.list_namespaced_secret(namespace)
    assert still_refused.value.status == 403


def _can_list_configmaps(core: client.CoreV1Api, namespace: str) -> bool:
    try:
        core.list_namespaced_config_map(namespace)
    except client.ApiException as exc:
        if exc.status == 403:
            return False
        raise
    return True


def test_client_certificate_user_is_subject_to_rbac(cluster: ClusterInfo) -> None:
    if not cluster.local:
        pytest.skip("client-certificate users are minted by the local control plane's CA only")
    alice = cluster.plane.user_kubeconfig("alice")  # type: ignore[union-attr]
    core = client.CoreV1Api(cluster.api_client(alice))
    with pytest.raises(client.ApiException) as refused:
        core.list_namespace()
    assert refused.value.status == 403
    assert "alice" in refused.value.body
