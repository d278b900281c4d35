"""pytest fixtures for a Kubernetes cluster: the local control plane by default, any cluster on request.

By default the session starts a real local control plane (``config_manager.devcluster``). To run the
same suite on an existing cluster (kind, for example), opt in explicitly:

    pytest --use-existing-cluster --kubeconfig ~/.kube/config
    CONFIG_MANAGER_USE_EXISTING_CLUSTER=1 KUBECONFIG=... pytest

Fixtures: ``cluster`` (session) and ``namespace`` (a fresh namespace per test, deleted after it).
"""

from __future__ import annotations

import base64
import os
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client, config

from config_manager.devcluster import ControlPlaneSettings, LocalControlPlane
from config_manager.devcluster.binaries import find_kubectl


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("cluster")
    group.addoption("--use-existing-cluster", action="store_true", default=False,
                    help="run cluster tests against --kubeconfig / $KUBECONFIG instead of a local control plane")
    group.addoption("--kubeconfig", default=None, help="kubeconfig of the existing cluster (with --use-existing-cluster)")


@dataclass
class ClusterInfo:
    """What a test needs to reach the cluster."""

    kubeconfig: Path
    server: str
    ca_file: Path | None
    local: bool
    plane: LocalControlPlane | None = None

    def api_client(self, kubeconfig: Path | None = None) -> client.ApiClient:
        """A fresh API client (admin unless another kubeconfig is given)."""
        return config.new_client_from_config(config_file=str(kubeconfig or self.kubeconfig))

    def kubectl(self, *args: str, kubeconfig: Path | None = None, input: str | None = None,
                check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """Run kubectl against the cluster; raises with kubectl's stderr when ``check`` and it fails."""
        argv = [str(find_kubectl()), "--kubeconfig", str(kubeconfig or self.kubeconfig), *args]
        result = subprocess.run(argv, input=input, capture_output=True, text=True, timeout=timeout, check=False)
        if check and result.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({result.returncode}): {result.stderr.strip()}")
        return result

    def service_account_kubeconfig(self, namespace: str, name: str, folder: Path) -> Path:
        """A kubeconfig holding a TokenRequest token of a ServiceAccount (created if missing).

        Works on any cluster, so it is how tests act as a user with limited rights.
        """
        api = client.CoreV1Api(self.api_client())
        try:
            api.create_namespaced_service_account(namespace, {"metadata": {"name": name}})
        except client.ApiException as exc:
            if exc.status != 409:
                raise
        token = api.create_namespaced_service_account_token(
            name, namespace, {"spec": {"expirationSeconds": 3600}}
        ).status.token
        cluster_entry: dict[str, Any] = {"server": self.server}
        if self.ca_file:
            cluster_entry["certificate-authority"] = str(self.ca_file)
        else:
            cluster_entry["insecure-skip-tls-verify"] = True
        doc = {
            "apiVersion": "v1", "kind": "Config",
            "clusters": [{"name": "c", "cluster": cluster_entry}],
            "users": [{"name": name, "user": {"token": token}}],
            "contexts": [{"name": "ctx", "context": {"cluster": "c", "user": name, "namespace": namespace}}],
            "current-context": "ctx",
        }
        path = folder / f"{namespace}-{name}.kubeconfig"
        path.write_text(yaml.safe_dump(doc))
        path.chmod(0o600)
        return path


def _existing_cluster(kubeconfig: str, folder: Path) -> ClusterInfo:
    loader = config.kube_config.KubeConfigLoader(
        config_dict=yaml.safe_load(Path(kubeconfig).read_text()), config_base_path=str(Path(kubeconfig).parent)
    )
    cfg = client.Configuration()
    loader.load_and_set(cfg)
    ca_file: Path | None = None
    if cfg.ssl_ca_cert:
        ca_file = folder / "ca.crt"
        ca_file.write_bytes(Path(cfg.ssl_ca_cert).read_bytes())
    return ClusterInfo(kubeconfig=Path(kubeconfig), server=cfg.host, ca_file=ca_file, local=False)


@pytest.fixture(scope="session")
def cluster(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClusterInfo]:
    """The cluster under test: a local control plane, or an existing one when opted in."""
    use_existing = request.config.getoption("--use-existing-cluster") or os.environ.get(
        "CONFIG_MANAGER_USE_EXISTING_CLUSTER", ""
    ) in ("1", "true", "yes")
    if use_existing:
        kubeconfig = request.config.getoption("--kubeconfig") or os.environ.get("KUBECONFIG")
        if not kubeconfig:
            pytest.exit("--use-existing-cluster needs --kubeconfig or $KUBECONFIG", returncode=4)
        yield _existing_cluster(kubeconfig, tmp_path_factory.mktemp("existing-cluster"))
        return
    plane = LocalControlPlane(ControlPlaneSettings(base_dir=tmp_path_factory.getbasetemp()))
    plane.start()
    try:
        yield ClusterInfo(kubeconfig=plane.kubeconfig, server=plane.server, ca_file=plane.ca_file, local=True, plane=plane)
    finally:
        plane.stop()


@pytest.fixture()
def namespace(cluster: ClusterInfo) -> Iterator[str]:
    """A fresh namespace for one test; deleted afterwards (without waiting for it to go)."""
    name = f"t-{uuid.uuid4().hex[:10]}"
    api = client.CoreV1Api(cluster.api_client())
    api.create_namespace({"metadata": {"name": name, "labels": {"configmanager.io/test": "true"}}})
    try:
        yield name
    finally:
        try:
            api.delete_namespace(name)
        except client.ApiException as exc:
            if exc.status != 404:
                raise


def b64(text: str) -> str:
    """Base64 of a UTF-8 string, as Secret.data wants it."""
    return base64.b64encode(text.encode()).decode()
