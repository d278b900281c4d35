"""Fixtures of the reliability suite: a control plane of its own that fault tests may restart.

The session ``cluster`` is shared by every other test, so a test that restarts etcd or the apiserver
must not use it. ``fault_cluster`` (module scope) starts a separate ``LocalControlPlane`` with the CRDs
installed, and hands out the same ``ClusterInfo`` shape as ``cluster`` (with ``plane`` set).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from config_manager.devcluster import ControlPlaneSettings, LocalControlPlane
from tests.helpers.cluster import ClusterInfo
from tests.helpers.operator_process import install_crds


@pytest.fixture(scope="module")
def fault_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClusterInfo]:
    """A local control plane of this module's own (etcd, apiserver, controller-manager), CRDs installed."""
    plane = LocalControlPlane(ControlPlaneSettings(base_dir=tmp_path_factory.mktemp("fault-plane")))
    plane.start()
    try:
        info = ClusterInfo(kubeconfig=plane.kubeconfig, server=plane.server, ca_file=plane.ca_file, local=True, plane=plane)
        install_crds(info)
        yield info
    finally:
        plane.stop()
