"""The Helm chart installed into a real control plane, and its RBAC exercised with the chart's own token.

Why: rendering tests prove what the chart says; this proves what the apiserver does with it. ``helm
install`` must succeed and every CRD must become Established; then requests made with a TokenRequest
token of the release's ServiceAccount show what the chart's RBAC allows and, as important, what it
refuses (Secrets outside the served namespaces in namespaced scope, writes to our objects' spec, RBAC
objects, pod deletion). When the operator's entry point exists, it is run with that token and must sync
a ManagedSecret from a local store.

There are no nodes in the local control plane, so the Deployment's pods stay Pending: the operator is run
as a local process with the ServiceAccount's credentials instead, which is what RBAC sees either way.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client

from config_manager.devcluster.binaries import MissingBinaryError, find_component
from tests.helpers.cluster import ClusterInfo

pytestmark = pytest.mark.cluster

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "config-manager"


@pytest.fixture(scope="module")
def helm_bin() -> Path:
    try:
        return find_component("helm")
    except MissingBinaryError as exc:
        pytest.fail(f"helm is required to install the chart and could not be found or built: {exc}")


class Helm:
    def __init__(self, binary: Path, cluster: ClusterInfo, home: Path) -> None:
        self.binary, self.cluster, self.home = binary, cluster, home

    def __call__(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "HELM_CACHE_HOME": str(self.home / "cache"), "HELM_CONFIG_HOME": str(self.home / "config"),
               "HELM_DATA_HOME": str(self.home / "data"), "KUBECONFIG": str(self.cluster.kubeconfig)}
        result = subprocess.run([str(self.binary), *args], capture_output=True, text=True, timeout=300, env=env, check=False)
        if check and result.returncode != 0:
            raise AssertionError(f"helm {' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
        return result


@pytest.fixture(scope="module")
def helm(helm_bin: Path, cluster: ClusterInfo, tmp_path_factory: pytest.TempPathFactory) -> Helm:
    return Helm(helm_bin, cluster, tmp_path_factory.mktemp("helm-home"))


def fresh_namespace(cluster: ClusterInfo) -> str:
    name = f"t-{uuid.uuid4().hex[:10]}"
    client.CoreV1Api(cluster.api_client()).create_namespace({"metadata": {"name": name, "labels": {"configmanager.io/test": "true"}}})
    return name


@pytest.fixture(scope="module")
def cluster_release(helm: Helm, cluster: ClusterInfo) -> Iterator[dict[str, str]]:
    """The chart installed with default values (cluster scope) into a fresh namespace."""
    namespace = fresh_namespace(cluster)
    release = f"cm-{uuid.uuid4().hex[:6]}"
    helm("install", release, str(CHART), "--namespace", namespace)
    yield {"release": release, "namespace": namespace, "sa": f"{release}-config-manager"}
    helm("uninstall", release, "--namespace", namespace, check=False)


@pytest.fixture(scope="module")
def namespaced_release(helm: Helm, cluster: ClusterInfo) -> Iterator[dict[str, str]]:
    """The chart in namespaced scope serving one namespace, plus a namespace it does not serve."""
    home, served, other = fresh_namespace(cluster), fresh_namespace(cluster), fresh_namespace(cluster)
    release = f"cmns-{uuid.uuid4().hex[:6]}"
    helm("install", release, str(CHART), "--namespace", home, "--set", "rbac.scope=namespaced",
         "--set", f"rbac.namespaces={{{served}}}")
    yield {"release": release, "namespace": home, "served": served, "other": other, "sa": f"{release}-config-manager"}
    helm("uninstall", release, "--namespace", home, check=False)


def can_i(cluster: ClusterInfo, kubeconfig: Path, *args: str) -> bool:
    """`kubectl auth can-i` as the token's identity (a SelfSubjectAccessReview: the apiserver decides)."""
    result = cluster.kubectl("auth", "can-i", *args, kubeconfig=kubeconfig, check=False)
    answer = result.stdout.strip()
    assert answer in ("yes", "no"), result.stderr
    return answer == "yes"


def chart_crd_names() -> list[str]:
    names = []
    for path in sorted((CHART / "crds").glob("*.yaml")):
        names += [doc["metadata"]["name"] for doc in yaml.safe_load_all(path.read_text()) if doc]
    return names


# --------------------------------------------------------------------------------------------- install

def test_install_creates_the_release_objects_and_established_crds(cluster: ClusterInfo, helm: Helm,
                                                                   cluster_release: dict[str, str]) -> None:
    status = json.loads(helm("status", cluster_release["release"], "-n", cluster_release["namespace"], "-o", "json").stdout)
    assert status["info"]["status"] == "deployed"
    for name in chart_crd_names():
        result = cluster.kubectl("wait", "--for=condition=Established", f"crd/{name}", "--timeout=60s")
        assert "condition met" in result.stdout
    apps = client.AppsV1Api(cluster.api_client())
    deployment = apps.read_namespaced_deployment(cluster_release["sa"], cluster_release["namespace"])
    container = deployment.spec.template.spec.containers[0]
    assert container.security_context.read_only_root_filesystem is True
    assert container.security_context.capabilities.drop == ["ALL"]
    rbac = client.RbacAuthorizationV1Api(cluster.api_client())
    assert rbac.read_cluster_role(cluster_release["sa"]).rules
    # The CRDs accept our objects: a SecretStore passes admission (schema + CEL) in the release namespace.
    cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump(local_store(cluster_release["namespace"], "probe")))


def test_installing_again_into_a_cluster_with_the_crds_is_fine(helm: Helm, cluster: ClusterInfo) -> None:
    namespace = fresh_namespace(cluster)
    release = f"cm2-{uuid.uuid4().hex[:6]}"
    try:
        helm("install", release, str(CHART), "--namespace", namespace, "--set", "replicaCount=2")
        peering = client.CustomObjectsApi(cluster.api_client()).get_cluster_custom_object(
            "kopf.dev", "v1", "clusterkopfpeerings", "config-manager")
        assert peering["metadata"]["name"] == "config-manager"
    finally:
        helm("uninstall", release, "--namespace", namespace, check=False)


# ------------------------------------------------------------------------------------- RBAC, cluster scope

def test_cluster_scope_token_can_do_the_operators_work_and_nothing_more(
        cluster: ClusterInfo, cluster_release: dict[str, str], tmp_path: Path) -> None:
    kubeconfig = cluster.service_account_kubeconfig(cluster_release["namespace"], cluster_release["sa"], tmp_path)
    allowed = [
        ("list", "secrets", "--all-namespaces"),
        ("watch", "secrets", "--all-namespaces"),
        ("create", "secrets", "-n", "default"),
        ("patch", "configmaps", "-n", "default"),
        ("watch", "managedsecrets.configmanager.io", "--all-namespaces"),
        ("patch", "managedsecrets.configmanager.io", "--subresource=status", "-n", "default"),
        ("patch", "clustersecretstores.configmanager.io", "--subresource=status"),
        ("list", "namespaces"),
        ("create", "events", "-n", "default"),
        ("watch", "pods", "--all-namespaces"),
    ]
    refused = [
        ("patch", "managedsecrets.configmanager.io", "-n", "default"),   # never the spec of our objects
        ("delete", "configbundles.configmanager.io", "-n", "default"),
        ("update", "secrets", "-n", "default"),
        ("delete", "pods", "-n", "default"),
        ("patch", "deployments.apps", "-n", "default"),                  # restarts are off by default
        ("create", "clusterrolebindings.rbac.authorization.k8s.io"),
        ("create", "serviceaccounts/token", "-n", "kube-system"),
        ("create", "customresourcedefinitions.apiextensions.k8s.io"),
        ("get", "nodes"),
    ]
    for args in allowed:
        assert can_i(cluster, kubeconfig, *args), f"chart RBAC should allow: {' '.join(args)}"
    for args in refused:
        assert not can_i(cluster, kubeconfig, *args), f"chart RBAC should refuse: {' '.join(args)}"


# ---------------------------------------------------------------------------------- RBAC, namespaced scope

def test_namespaced_scope_token_is_refused_secrets_outside_its_namespaces(
        cluster: ClusterInfo, namespaced_release: dict[str, str], tmp_path: Path) -> None:
    served, other = namespaced_release["served"], namespaced_release["other"]
    core = client.CoreV1Api(cluster.api_client())
    for ns in (served, other):
        core.create_namespaced_secret(ns, {"metadata": {"name": "db"}, "stringData": {"password": "hunter2"}})
    kubeconfig = cluster.service_account_kubeconfig(namespaced_release["namespace"], namespaced_release["sa"], tmp_path)

    # Real requests with the chart's token: the served namespace works ...
    got = cluster.kubectl("get", "secret", "db", "-n", served, "-o", "name", kubeconfig=kubeconfig)
    assert got.stdout.strip() == "secret/db"
    cluster.kubectl("create", "secret", "generic", "target", "-n", served, "--from-literal=k=v", kubeconfig=kubeconfig)
    # ... every other namespace, and the cluster-wide list, are refused by the apiserver.
    for args in (("get", "secret", "db", "-n", other), ("get", "secrets", "-n", other), ("get", "secrets", "-A"),
                 ("create", "secret", "generic", "x", "-n", other, "--from-literal=k=v"),
                 ("get", "configmaps", "-n", other), ("get", "managedsecrets.configmanager.io", "-n", other)):
        result = cluster.kubectl(*args, kubeconfig=kubeconfig, check=False)
        assert result.returncode != 0 and "forbidden" in result.stderr.lower(), (args, result.stderr)
        assert "hunter2" not in result.stdout + result.stderr

    assert can_i(cluster, kubeconfig, "watch", "secrets", "-n", served)
    assert not can_i(cluster, kubeconfig, "watch", "secrets", "-n", other)
    assert not can_i(cluster, kubeconfig, "list", "secrets", "--all-namespaces")
    assert not can_i(cluster, kubeconfig, "list", "secrets", "-n", namespaced_release["namespace"])
    # Cluster-scoped kinds kopf watches cluster-wide remain readable: ClusterSecretStores and Namespaces.
    assert can_i(cluster, kubeconfig, "watch", "clustersecretstores.configmanager.io")
    assert can_i(cluster, kubeconfig, "watch", "namespaces")
    assert not can_i(cluster, kubeconfig, "patch", f"namespaces/{served}")


# ------------------------------------------------------------------------- the operator as the chart's SA

def local_store(namespace: str, name: str) -> dict[str, Any]:
    return {
        "apiVersion": "configmanager.io/v1alpha1", "kind": "SecretStore",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"provider": {"local": {
            "storage": {"kind": "Secret", "name": f"{name}-blob"},
            "keySecretRef": {"name": f"{name}-key", "key": "key"}}}},
    }


def operator_available() -> bool:
    try:
        import config_manager.k8s.__main__  # noqa: F401
    except ImportError:
        return False
    return True


def test_operator_with_the_charts_token_syncs_a_managed_secret(
        cluster: ClusterInfo, helm: Helm, namespaced_release: dict[str, str], tmp_path: Path) -> None:
    if not operator_available():
        pytest.fail("the operator's entry point (config_manager.k8s.__main__) does not exist yet: "
                    "this test cannot show that the chart's RBAC is enough to sync")
    from config_manager import crypto
    from config_manager.providers.local import LocalEncryptedSecrets

    served = namespaced_release["served"]
    key = crypto.generate_key()
    store_file = tmp_path / "store.enc"
    LocalEncryptedSecrets(secrets_file=store_file, key=key).set("db/password", "s3cr3t")
    core = client.CoreV1Api(cluster.api_client())
    core.create_namespaced_secret(served, {"metadata": {"name": "store-key"}, "data": {"key": base64.b64encode(key).decode()}})
    core.create_namespaced_secret(served, {"metadata": {"name": "store-blob"},
                                           "data": {"secrets.enc": base64.b64encode(store_file.read_bytes()).decode()}})
    kubeconfig = cluster.service_account_kubeconfig(namespaced_release["namespace"], namespaced_release["sa"], tmp_path)
    args = rendered_operator_args(helm, namespaced_release)
    log = tmp_path / "operator.log"
    env = {**os.environ, "KUBECONFIG": str(kubeconfig)}
    with log.open("w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "config_manager.k8s", *args],
                                stdout=out, stderr=subprocess.STDOUT, env=env)
    try:
        store = local_store(served, "store")
        store["spec"]["provider"]["local"]["storage"]["name"] = "store-blob"
        store["spec"]["provider"]["local"]["keySecretRef"]["name"] = "store-key"
        managed = {"apiVersion": "configmanager.io/v1alpha1", "kind": "ManagedSecret",
                   "metadata": {"name": "app", "namespace": served},
                   "spec": {"storeRef": {"name": "store", "kind": "SecretStore"}, "refreshInterval": "1h",
                            "target": {"name": "app-secret"},
                            "data": [{"secretKey": "password", "remoteRef": {"key": "db/password"}}]}}
        cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump_all([store, managed]))
        deadline = time.monotonic() + 90
        target = None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                target = core.read_namespaced_secret("app-secret", served)
                break
            except client.ApiException as exc:
                if exc.status != 404:
                    raise
            time.sleep(1)
        assert target is not None, f"no target Secret; operator log:\n{log.read_text()[-4000:]}"
        assert base64.b64decode(target.data["password"]).decode() == "s3cr3t"
        assert "s3cr3t" not in log.read_text()
        assert "forbidden" not in log.read_text().lower(), log.read_text()[-4000:]
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def rendered_operator_args(helm: Helm, release: dict[str, str]) -> list[str]:
    """The operator arguments exactly as the chart renders them for this release (health on a free port)."""
    out = helm("get", "manifest", release["release"], "-n", release["namespace"]).stdout
    deployment = next(d for d in yaml.safe_load_all(out) if d and d["kind"] == "Deployment")
    args: list[str] = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return [f"--liveness=http://127.0.0.1:{port}/healthz" if a.startswith("--liveness=") else a for a in args]
