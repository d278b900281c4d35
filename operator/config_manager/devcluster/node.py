"""One real node for the local cluster: containerd + kubelet on a Pod bridge of our own.

``LocalControlPlane(nodes=1)`` creates it after the control plane is up. The kubelet is the real one
(built from the same Kubernetes module as the apiserver), registers as ``NODE_NAME`` with a client
certificate of the ``system:nodes`` group (the Node authorizer applies), serves its API with a
certificate from the cluster CA on the bridge address (so ``kubectl logs``/``exec`` work through the
apiserver), authenticates callers by certificate or token and authorizes them with the apiserver.
Images are never pulled: the pause and busybox images are imported at start, others with
``import_image``. Settings that these machines need (cgroup v1 with cgroupfs, no QoS cgroups, no
CAP_SYS_RESOURCE) are explained next to them.
"""

from __future__ import annotations

import json
import os
import shutil
import ssl
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from ..errors import ConfigManagerError
from . import images
from .network import PodNetwork, remove_kubelet_chains
from .pki import CertificateAuthority
from .processes import ManagedProcess, free_port
from .runtime import Containerd, other_kubelets, unmount_under

NODE_NAME = "cm-node-1"
CLUSTER_DNS = "10.0.0.10"  # no DNS server runs there; set so Pods do not warn MissingClusterDNS


class NodeError(ConfigManagerError):
    """The node did not come up; the message names the component (containerd, kubelet) and quotes its log."""


class LocalNode:
    """containerd + kubelet for one control plane; ``start()`` waits until the Node is Ready."""

    def __init__(self, folder: Path, network: PodNetwork, ca: CertificateAuthority, server: str,
                 admin_context: ssl.SSLContext, kubelet: Path, start_timeout: float = 120.0) -> None:
        self.folder = folder
        self.network = network
        self.name = NODE_NAME
        self._ca = ca
        self._server = server
        self._context = admin_context
        self._kubelet_binary = kubelet
        self._timeout = start_timeout
        self.containerd: Containerd | None = None
        self.kubelet: ManagedProcess | None = None

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        """Start containerd, import the base images, start the kubelet and wait for the Node to be Ready."""
        self.folder.mkdir(parents=True, exist_ok=True)
        cni_dir = self.folder / "cni"
        cni_dir.mkdir()
        (cni_dir / "10-bridge.conflist").write_text(self.network.cni_config(self.folder / "cni-ipam"))
        self.containerd = Containerd(self.folder / "containerd", cni_dir, images.PAUSE_IMAGE)
        self.containerd.start()
        for archive in (images.pause_archive(), images.busybox_archive()):
            self.containerd.import_image(archive)
        self.kubelet = self._start_kubelet()
        self._wait_ready()

    def stop(self) -> list[str]:
        """Stop the kubelet, then containerd with every container and shim; returns what stayed behind."""
        problems: list[str] = []
        if self.kubelet:
            self.kubelet.stop()
        if self.containerd:
            problems += self.containerd.stop()
        problems += unmount_under(self.folder)  # the kubelet's volume mounts
        if not other_kubelets():
            problems += remove_kubelet_chains()
        return problems

    def import_image(self, archive: Path) -> None:
        """Make a docker-archive image available to Pods on this node (use imagePullPolicy Never/IfNotPresent)."""
        if self.containerd is None:
            raise NodeError("the node is not running")
        self.containerd.import_image(archive)

    # ------------------------------------------------------------------ kubelet
    def _start_kubelet(self) -> ManagedProcess:
        assert self.containerd is not None
        pki = self.folder / "pki"
        pki.mkdir(mode=0o700)
        ca = self._ca
        client = ca.issue("kubelet-client", f"system:node:{self.name}", ("system:nodes",))
        serving = ca.issue("kubelet-serving", self.name, server=True, dns_names=(self.name,),
                           ip_addresses=(self.network.gateway,))
        kubeconfig = self.folder / "kubelet.kubeconfig"
        kubeconfig.write_text(yaml.safe_dump({
            "apiVersion": "v1", "kind": "Config",
            "clusters": [{"name": "local", "cluster": {"server": self._server, "certificate-authority": str(ca.cert_file)}}],
            "users": [{"name": "kubelet", "user": {"client-certificate": str(client.cert), "client-key": str(client.key)}}],
            "contexts": [{"name": "kubelet", "context": {"cluster": "local", "user": "kubelet"}}],
            "current-context": "kubelet",
        }))
        manifests = self.folder / "manifests"
        manifests.mkdir()
        self.kubelet_port, self.healthz_port = free_port(), free_port()
        config = {
            "apiVersion": "kubelet.config.k8s.io/v1beta1",
            "kind": "KubeletConfiguration",
            # The API on the bridge address: the apiserver reaches it there (node InternalIP).
            "address": self.network.gateway,
            "port": self.kubelet_port,
            "readOnlyPort": 0,
            "healthzBindAddress": "127.0.0.1",
            "healthzPort": self.healthz_port,
            "tlsCertFile": str(serving.cert),
            "tlsPrivateKeyFile": str(serving.key),
            "authentication": {"anonymous": {"enabled": False}, "webhook": {"enabled": True},
                               "x509": {"clientCAFile": str(ca.cert_file)}},
            "authorization": {"mode": "Webhook"},
            "containerRuntimeEndpoint": f"unix://{self.containerd.socket}",
            "staticPodPath": str(manifests),
            # cgroup v1 with cgroupfs and no systemd here; QoS cgroups and node-allocatable enforcement
            # need cgroup controllers this VM does not delegate, so they are off.
            "cgroupDriver": "cgroupfs",
            "failCgroupV1": False,
            "cgroupsPerQOS": False,
            "enforceNodeAllocatable": [],
            "failSwapOn": False,
            "protectKernelDefaults": False,
            "localStorageCapacityIsolation": False,
            # A shared build machine's disk and memory must not evict the tests' Pods.
            "evictionHard": {"memory.available": "100Mi", "nodefs.available": "1%", "imagefs.available": "1%"},
            "imageGCHighThresholdPercent": 100,
            "imageGCLowThresholdPercent": 99,
            "clusterDNS": [CLUSTER_DNS],
            "clusterDomain": "cluster.local",
            "serializeImagePulls": False,
            "rotateCertificates": False,
            "nodeStatusUpdateFrequency": "5s",
            "syncFrequency": "10s",
        }
        config_file = self.folder / "kubelet-config.yaml"
        config_file.write_text(yaml.safe_dump(config))
        argv = [
            str(self._kubelet_binary), "--config", str(config_file), "--kubeconfig", str(kubeconfig),
            "--root-dir", str(self.folder / "kubelet"), "--cert-dir", str(pki),
            "--hostname-override", self.name, "--node-ip", self.network.gateway, "--v", "1",
        ]
        try:
            return ManagedProcess("kubelet", argv, self.folder.parent / "kubelet.log")
        except OSError as exc:
            raise NodeError(f"kubelet could not be started from {argv[0]}: {exc}") from exc

    def _node(self) -> dict[str, Any] | None:
        url = f"{self._server}/api/v1/nodes/{self.name}"
        try:
            with urllib.request.urlopen(url, context=self._context, timeout=5) as response:  # noqa: S310
                node: dict[str, Any] = json.load(response)
                return node
        except (urllib.error.URLError, OSError):
            return None

    def _wait_ready(self) -> None:
        assert self.kubelet is not None and self.containerd is not None
        deadline = time.monotonic() + self._timeout
        state = "not registered"
        while time.monotonic() < deadline:
            for process in (self.kubelet, self.containerd.process):
                if process is not None and not process.running():
                    raise NodeError(f"{process.name} exited with code {process.process.returncode} while the node "
                                    f"was starting; last lines of {process.log_file}:\n{process.log_tail()}")
            node = self._node()
            if node is not None:
                conditions = node.get("status", {}).get("conditions", [])
                ready = [c for c in conditions if c.get("type") == "Ready"]
                if ready and ready[0].get("status") == "True":
                    return
                state = f"Ready={ready[0].get('status')}: {ready[0].get('message')}" if ready else "no Ready condition"
            time.sleep(0.5)
        raise NodeError(f"node {self.name} not Ready within {self._timeout:.0f}s ({state}); last lines of "
                        f"{self.kubelet.log_file}:\n{self.kubelet.log_tail()}")


def require_root() -> None:
    """A node needs root (network namespaces, mounts, cgroups); say so plainly."""
    if os.geteuid() != 0:
        raise NodeError("a local node needs root (bridge, network namespaces, mounts, cgroups)")
    for tool in ("ip", "iptables", "umount"):
        if shutil.which(tool) is None:
            raise NodeError(f"{tool} not found: tools/install-node-deps.sh installs what a node needs")
