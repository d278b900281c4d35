"""The local control plane used by the demo, the CLI and the test suite (real etcd + kube-apiserver +
kube-controller-manager built from the Go module proxy). Not needed to run the operator on a cluster."""

from .binaries import MissingBinaryError, find_all, read_versions
from .controlplane import ControlPlaneError, ControlPlaneSettings, LocalControlPlane

__all__ = [
    "ControlPlaneError",
    "ControlPlaneSettings",
    "LocalControlPlane",
    "MissingBinaryError",
    "find_all",
    "read_versions",
]
