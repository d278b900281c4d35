"""``LocalControlPlane.restart``: a component comes back on the same port with the same data."""

from __future__ import annotations

import pytest

from config_manager.devcluster import ControlPlaneError
from config_manager.k8s.api.client import KubeApi
from tests.helpers.cluster import ClusterInfo

pytestmark = pytest.mark.cluster


def test_restart_keeps_address_and_stored_objects(fault_cluster: ClusterInfo) -> None:
    plane = fault_cluster.plane
    assert plane is not None
    kube = KubeApi.from_environment(str(fault_cluster.kubeconfig))
    kube.create("configmaps", "default", {"metadata": {"name": "survives"}, "data": {"a": "b"}})
    server, before = plane.server, dict(zip(("etcd", "kube-apiserver", "kube-controller-manager"), plane.pids, strict=True))

    plane.restart("etcd", kill=True, down_for=1.0)
    plane.restart("kube-apiserver")
    after = dict(zip(("etcd", "kube-apiserver", "kube-controller-manager"), plane.pids, strict=True))

    assert plane.server == server
    assert after["etcd"] != before["etcd"] and after["kube-apiserver"] != before["kube-apiserver"]
    assert after["kube-controller-manager"] == before["kube-controller-manager"]
    assert (kube.get("configmaps", "default", "survives") or {}).get("data") == {"a": "b"}
    with pytest.raises(ControlPlaneError, match="no component named 'nope'"):
        plane.restart("nope")
