"""pytest fixture ``node_cluster``: a local cluster with one real node, and the operator image on it.

Only tests that need Pods to run pay for it (session scope, started on first use): a control plane with
kube-scheduler and a kubelet + containerd node (``LocalControlPlane(nodes=1)``), the operator image built
by ``tools/build-image.sh`` and imported into the node's containerd, the busybox workload image, and the
helm binary. With ``--use-existing-cluster`` the cluster under test is that one instead; the operator
image must then be loadable there (``CONFIG_MANAGER_IMAGE``, default ``config-manager:<version>``) and
the busybox workload image is ``CONFIG_MANAGER_WORKLOAD_IMAGE`` (default ``busybox:1.36``).

A node needs root and the Debian packages of ``tools/install-node-deps.sh``; a machine without them
fails with a message naming what is missing. ``CONFIG_MANAGER_SKIP_NODE=1`` is the explicit opt-out
(for machines that cannot run containers): the tests are then skipped, saying so.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import pytest

from config_manager.devcluster import ControlPlaneSettings, LocalControlPlane
from config_manager.devcluster.binaries import find_component
from config_manager.devcluster.images import BUSYBOX_IMAGE
from tests.helpers.cluster import ClusterInfo, _existing_cluster

REPO = Path(__file__).resolve().parents[2]
T = TypeVar("T")


@dataclass
class NodeCluster:
    """A cluster whose Pods run: what to install, with which images."""

    info: ClusterInfo
    operator_image: str
    workload_image: str
    helm: Path
    image_build_seconds: float = 0.0
    node_start_seconds: float = 0.0

    @property
    def repository(self) -> str:
        return self.operator_image.rsplit(":", 1)[0]

    @property
    def tag(self) -> str:
        return self.operator_image.rsplit(":", 1)[1]


def _version() -> str:
    for line in (REPO / "pyproject.toml").read_text().splitlines():
        if line.startswith("version = "):
            return line.split('"')[1]
    raise AssertionError("no version in pyproject.toml")


def build_operator_image() -> Path:
    """Run tools/build-image.sh; returns the docker-archive it made (cached when nothing changed)."""
    result = subprocess.run([str(REPO / "tools" / "build-image.sh")], capture_output=True, text=True,
                            timeout=1800, check=False)
    if result.returncode != 0:
        raise AssertionError(f"tools/build-image.sh failed ({result.returncode}):\n{result.stderr[-4000:]}")
    return Path(result.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="session")
def node_cluster(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeCluster]:
    """One real node (or the existing cluster), with the operator image available to it."""
    if os.environ.get("CONFIG_MANAGER_SKIP_NODE", "") in ("1", "true", "yes"):
        pytest.skip("CONFIG_MANAGER_SKIP_NODE is set: the tests that need a node (real Pods) are not run")
    helm = find_component("helm")
    use_existing = request.config.getoption("--use-existing-cluster") or os.environ.get(
        "CONFIG_MANAGER_USE_EXISTING_CLUSTER", "") in ("1", "true", "yes")
    if use_existing:
        kubeconfig = request.config.getoption("--kubeconfig") or os.environ.get("KUBECONFIG")
        if not kubeconfig:
            pytest.exit("--use-existing-cluster needs --kubeconfig or $KUBECONFIG", returncode=4)
        yield NodeCluster(_existing_cluster(kubeconfig, tmp_path_factory.mktemp("existing-node-cluster")),
                          os.environ.get("CONFIG_MANAGER_IMAGE", f"config-manager:{_version()}"),
                          os.environ.get("CONFIG_MANAGER_WORKLOAD_IMAGE", "busybox:1.36"), helm)
        return
    started = time.monotonic()
    archive = build_operator_image()
    built = time.monotonic() - started
    plane = LocalControlPlane(ControlPlaneSettings(), nodes=1)
    started = time.monotonic()
    plane.start()
    try:
        assert plane.node is not None
        plane.node.import_image(archive)
        info = ClusterInfo(kubeconfig=plane.kubeconfig, server=plane.server, ca_file=plane.ca_file, local=True,
                           plane=plane)
        yield NodeCluster(info, f"config-manager:{_version()}", BUSYBOX_IMAGE, helm,
                          image_build_seconds=built, node_start_seconds=time.monotonic() - started)
    finally:
        plane.stop()


def wait_until(check: Callable[[], T | None | bool], *, timeout: float, what: str, interval: float = 0.5,
               explain: Callable[[], str] | None = None) -> T:
    """Poll ``check`` until it returns something truthy; fail naming ``what`` (and the last error) otherwise.

    ``explain`` adds what the failure message should show (component logs, object status).
    """
    deadline = time.monotonic() + timeout
    last_error = ""
    while time.monotonic() < deadline:
        try:
            result = check()
        except AssertionError as exc:
            last_error = str(exc)[-500:]
            result = None
        if result:
            return result  # type: ignore[return-value]
        time.sleep(interval)
    details = f" (last: {last_error})" if last_error else ""
    if explain is not None:
        details += "\n" + explain()
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}{details}")
