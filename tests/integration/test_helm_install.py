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
import contextlib
import json
import os
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client

from config_manager.devcluster.binaries import MissingBinaryError, find_component
from tests.helpers.cluster import ClusterInfo

pytestmark = [pytest.mark.cluster, pytest.mark.usefixtures("no_background_operator")]

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


def test_installing_again_into_a_cluster_with_the_crds_is_fine(helm: Helm, cluster: ClusterInfo, tmp_path: Path) -> None:
    namespace = fresh_namespace(cluster)
    release = f"cm2-{uuid.uuid4().hex[:6]}"
    try:
        helm("install", release, str(CHART), "--namespace", namespace, "--set", "replicaCount=2")
        kubeconfig = cluster.service_account_kubeconfig(namespace, f"{release}-config-manager", tmp_path)
        lease = f"leases.coordination.k8s.io/{release}-config-manager"
        # leader election: the release's own Lease, in the release namespace only
        assert can_i(cluster, kubeconfig, "update", lease, "-n", namespace)
        assert can_i(cluster, kubeconfig, "get", lease, "-n", namespace)
        assert can_i(cluster, kubeconfig, "create", "leases.coordination.k8s.io", "-n", namespace)
        assert not can_i(cluster, kubeconfig, "update", "leases.coordination.k8s.io/another-operator", "-n", namespace)
        assert not can_i(cluster, kubeconfig, "create", "leases.coordination.k8s.io", "-n", "kube-system")
        assert not can_i(cluster, kubeconfig, "delete", lease, "-n", namespace)
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
        ("patch", "deployments.apps", "-n", "default"),                  # restarts after a rotation
        ("update", "managedsecrets.configmanager.io", "-n", "default"),  # placed by a ClusterManagedSecret
        ("patch", "pushsecrets.configmanager.io", "-n", "default"),      # its finalizer only
        ("watch", "clustermanagedsecrets.configmanager.io"),
    ]
    refused = [
        ("delete", "pushsecrets.configmanager.io", "-n", "default"),
        ("patch", "clustermanagedsecrets.configmanager.io"),
        ("patch", "managedsecrets.configmanager.io", "-n", "default"),   # never the spec of our objects
        ("delete", "configbundles.configmanager.io", "-n", "default"),
        ("update", "secrets", "-n", "default"),
        ("delete", "pods", "-n", "default"),
        ("update", "deployments.apps", "-n", "default"),                 # only the pod-template patch
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


@contextlib.contextmanager
def operator_as(cluster: ClusterInfo, helm: Helm, release: dict[str, str], tmp_path: Path) -> Iterator[tuple[int, Path]]:
    """The operator, started with the chart's rendered arguments and a token of the release's ServiceAccount."""
    if not operator_available():
        pytest.fail("the operator's entry point (config_manager.k8s.__main__) does not exist yet: "
                    "this test cannot show that the chart's RBAC is enough to sync")
    kubeconfig = cluster.service_account_kubeconfig(release["namespace"], release["sa"], tmp_path)
    args, port = rendered_operator_args(helm, release)
    log = tmp_path / "operator.log"
    env = {**os.environ, "KUBECONFIG": str(kubeconfig)}
    with log.open("w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "config_manager.k8s", *args, "--startup-spread=0"],
                                stdout=out, stderr=subprocess.STDOUT, env=env)
    try:
        yield port, log
        assert proc.poll() is None, f"operator exited ({proc.returncode}):\n{log.read_text()[-4000:]}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def seed_local_store(cluster: ClusterInfo, namespace: str, tmp_path: Path, values: dict[str, str]) -> None:
    """A local store made exactly as docs/providers/local.md says: the CLI, then kubectl --from-file."""
    from config_manager.cli import main as cli_main

    store = tmp_path / f"{namespace}.enc"
    assert cli_main(["store", "init", "--store", str(store)]) == 0
    for name, value in values.items():
        value_file = tmp_path / "value.txt"
        value_file.write_text(value)
        assert cli_main(["store", "set", name, "--store", str(store), "--from-file", str(value_file)]) == 0
        value_file.unlink()
    cluster.kubectl("-n", namespace, "create", "secret", "generic", "store-blob", f"--from-file=secrets.enc={store}")
    cluster.kubectl("-n", namespace, "create", "secret", "generic", "store-key", f"--from-file=key={store}.key")
    cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump(local_store(namespace, "store")))


def managed_secret(namespace: str, name: str, target: str, key: str) -> dict[str, Any]:
    return {"apiVersion": "configmanager.io/v1alpha1", "kind": "ManagedSecret",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"storeRef": {"name": "store", "kind": "SecretStore"}, "refreshInterval": "1h",
                     "target": {"name": target}, "data": [{"secretKey": "password", "remoteRef": {"key": key}}]}}


def wait_for(read: Any, what: str, log: Path, timeout: float = 90) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            return read()
        except client.ApiException as exc:
            if exc.status != 404:
                raise
        time.sleep(1)
    raise AssertionError(f"{what} never appeared; operator log:\n{log.read_text()[-4000:]}")


def test_operator_with_the_namespaced_charts_token_syncs_and_stays_in_its_namespaces(
        cluster: ClusterInfo, helm: Helm, namespaced_release: dict[str, str], tmp_path: Path) -> None:
    served, other = namespaced_release["served"], namespaced_release["other"]
    seed_local_store(cluster, served, tmp_path, {"db/password": "s3cr3t-A", "api/token": "tok-B"})
    seed_local_store(cluster, other, tmp_path, {"db/password": "s3cr3t-C"})
    core = client.CoreV1Api(cluster.api_client())
    bundle = {"apiVersion": "configmanager.io/v1alpha1", "kind": "ConfigBundle",
              "metadata": {"name": "bundle", "namespace": served},
              "spec": {"storeRef": {"name": "store"},
                       "sources": [{"inline": {"api": {"url": "https://api.example.com", "timeout": 5}}}],
                       "secrets": [{"path": "api.token", "remoteRef": {"key": "api/token"}}]}}
    manifests = yaml.safe_dump_all([managed_secret(served, "app", "app-secret", "db/password"), bundle,
                                    managed_secret(other, "app", "app-secret", "db/password")])
    gitops_apply = ("apply", "--server-side", "--field-manager=gitops", "-f", "-")
    with operator_as(cluster, helm, namespaced_release, tmp_path) as (port, log):
        cluster.kubectl(*gitops_apply, input=manifests)
        target = wait_for(lambda: core.read_namespaced_secret("app-secret", served), "the ManagedSecret's target", log)
        assert base64.b64decode(target.data["password"]).decode() == "s3cr3t-A"
        masked = wait_for(lambda: core.read_namespaced_config_map("bundle", served), "the ConfigBundle's ConfigMap", log)
        document = "".join(masked.data.values())
        assert "[MASKED]" in document and "tok-B" not in document and "api.example.com" in document
        real = wait_for(lambda: core.read_namespaced_secret("bundle-secret", served), "the ConfigBundle's Secret", log)
        assert "tok-B" in base64.b64decode(next(iter(real.data.values()))).decode()

        # The metrics endpoint the chart's Service targets, scraped.
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as answer:
            metrics = answer.read().decode()
        assert answer.status == 200 and "# TYPE" in metrics
        assert "s3cr3t" not in metrics and "tok-B" not in metrics
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=10) as answer:
            assert answer.status == 200

        # The namespace outside the chart's scope is not served (and could not be: RBAC refuses it).
        time.sleep(3)
        with pytest.raises(client.ApiException) as missing:
            core.read_namespaced_secret("app-secret", other)
        assert missing.value.status == 404

        # `configmanager status` (admin kubeconfig) reads the statistics the operator wrote.
        from config_manager.cli import main as cli_main

        code = cli_main(["status", "--kubeconfig", str(cluster.kubeconfig), "-n", served, "-o", "json"])
        assert code == 0

        # GitOps: the operator wrote only status; applying the same manifests again changes nothing.
        custom = client.CustomObjectsApi(cluster.api_client())
        wait_quiet = time.monotonic() + 30
        before: dict[str, Any] = {}
        while time.monotonic() < wait_quiet:
            before = {plural: custom.get_namespaced_custom_object("configmanager.io", "v1alpha1", served, plural, name)
                      for plural, name in (("managedsecrets", "app"), ("configbundles", "bundle"))}
            time.sleep(3)
            again = {plural: custom.get_namespaced_custom_object("configmanager.io", "v1alpha1", served, plural, name)
                     for plural, name in (("managedsecrets", "app"), ("configbundles", "bundle"))}
            if all(before[p]["metadata"]["resourceVersion"] == again[p]["metadata"]["resourceVersion"] for p in before):
                break
        cluster.kubectl(*gitops_apply, input=manifests)
        for plural, obj in before.items():
            name = obj["metadata"]["name"]
            after = custom.get_namespaced_custom_object("configmanager.io", "v1alpha1", served, plural, name)
            assert after["metadata"]["resourceVersion"] == obj["metadata"]["resourceVersion"], plural
            assert after["metadata"]["generation"] == 1, plural
            assert not after["metadata"].get("finalizers") and not any(
                k.startswith("kopf.") for k in (after["metadata"].get("annotations") or {})), after["metadata"]
            ours = [e for e in after["metadata"]["managedFields"] if e["manager"] == "config-manager"]
            assert ours and all(e.get("subresource") == "status" for e in ours), after["metadata"]["managedFields"]
    text = log.read_text()
    for value in ("s3cr3t-A", "s3cr3t-C", "tok-B"):
        assert value not in text
    assert "forbidden" not in text.lower(), text[-4000:]


def test_status_command_against_the_cluster(cluster: ClusterInfo, namespaced_release: dict[str, str],
                                            capsys: pytest.CaptureFixture[str]) -> None:
    """Runs after the namespaced operator test above (same module-scoped release): reads what it synced."""
    from config_manager.cli import main as cli_main

    served = namespaced_release["served"]
    assert cli_main(["status", "--kubeconfig", str(cluster.kubeconfig), "-n", served, "-o", "json"]) == 0
    rows = {(r["kind"], r["name"]): r for r in json.loads(capsys.readouterr().out)}
    assert ("ManagedSecret", "app") in rows and ("ConfigBundle", "bundle") in rows
    assert rows[("ManagedSecret", "app")]["ready"] == "True", rows
    assert rows[("ManagedSecret", "app")]["providerReads"] >= 1
    assert cli_main(["status", "--kubeconfig", str(cluster.kubeconfig), "-n", served]) == 0
    table = capsys.readouterr().out
    assert "MANAGED SECRETS" in table and "CONFIG BUNDLES" in table and "s3cr3t" not in table


def test_operator_with_the_cluster_charts_token_syncs_any_namespace(
        cluster: ClusterInfo, helm: Helm, cluster_release: dict[str, str], tmp_path: Path) -> None:
    namespace = fresh_namespace(cluster)
    seed_local_store(cluster, namespace, tmp_path, {"db/password": "s3cr3t-D"})
    core = client.CoreV1Api(cluster.api_client())
    with operator_as(cluster, helm, cluster_release, tmp_path) as (_, log):
        cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump(managed_secret(namespace, "app", "app-secret", "db/password")))
        target = wait_for(lambda: core.read_namespaced_secret("app-secret", namespace), "the ManagedSecret's target", log)
        assert base64.b64decode(target.data["password"]).decode() == "s3cr3t-D"
    assert "s3cr3t-D" not in log.read_text()
    assert "forbidden" not in log.read_text().lower(), log.read_text()[-4000:]


def rendered_operator_args(helm: Helm, release: dict[str, str]) -> tuple[list[str], int]:
    """The operator arguments exactly as the chart renders them for this release (health on a free port)."""
    out = helm("get", "manifest", release["release"], "-n", release["namespace"]).stdout
    deployment = next(d for d in yaml.safe_load_all(out) if d and d["kind"] == "Deployment")
    args: list[str] = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return [f"--liveness=http://127.0.0.1:{port}/healthz" if a.startswith("--liveness=") else a for a in args], port
