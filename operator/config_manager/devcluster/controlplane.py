"""A real local Kubernetes control plane: etcd + kube-apiserver + kube-controller-manager.

Started the way envtest does it, on free loopback ports, in a temporary folder that is removed on stop:
TLS everywhere, RBAC on, users are client certificates from a throw-away CA, service-account tokens
signed with a fresh key pair (so TokenRequest and TokenReview work), and a controller-manager for
garbage collection, namespace deletion and service-account tokens. By default there are no nodes:
Pods stay Pending, which is all most operator tests need. ``nodes=1`` adds a real node (``node.py``:
containerd + kubelet on a Pod bridge of our own) and kube-scheduler; the apiserver then listens on the
bridge's address instead of loopback, so Pods reach it through the ``kubernetes`` Service.

    with LocalControlPlane() as cp:
        print(cp.kubeconfig)         # admin (system:masters) kubeconfig
        cp.user_kubeconfig("alice")  # an unprivileged user: RBAC applies

    with LocalControlPlane(nodes=1) as cp:   # as root: Pods run
        cp.node.import_image(archive)
"""

from __future__ import annotations

import json
import shutil
import ssl
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import yaml

from ..errors import ConfigManagerError
from .binaries import Binaries, find_all, find_component, read_versions
from .network import PodNetwork
from .node import LocalNode, require_root
from .pki import CertificateAuthority, CertificateFiles, write_service_account_keys
from .processes import ManagedProcess, free_port
from .sweep import record, sweep_stale

# Controllers that need nodes or a cloud are left out; everything an operator relies on stays. With a
# node, the node lifecycle controller runs too: it lifts the not-ready taint a kubelet registers with.
CONTROLLERS = "*,-node-ipam-controller,-node-lifecycle-controller"
CONTROLLERS_WITH_NODE = "*,-node-ipam-controller"


class ControlPlaneError(ConfigManagerError):
    """A component did not start or did not become ready; the message names it and quotes its log."""


@dataclass
class ControlPlaneSettings:
    """How the control plane is started."""

    #: Seconds to wait for each component to become ready.
    start_timeout: float = 120.0
    #: Keep the temporary folder (logs, certificates) after stop, for debugging.
    keep_dir: bool = False
    #: Start kube-controller-manager (garbage collection, namespace deletion, SA tokens).
    controller_manager: bool = True
    #: Extra kube-apiserver flags, e.g. ["--audit-log-path=/tmp/audit.log"].
    extra_apiserver_args: list[str] = field(default_factory=list)
    #: Parent folder for the temporary folder (default: the system temp dir).
    base_dir: Path | None = None


class LocalControlPlane:
    """Start with ``start()`` (or ``with``); everything is torn down by ``stop()``."""

    def __init__(self, settings: ControlPlaneSettings | None = None, binaries: Binaries | None = None,
                 *, nodes: int = 0) -> None:
        if nodes not in (0, 1):
            raise ControlPlaneError(f"nodes={nodes}: a local cluster has no node or one node")
        self.settings = settings or ControlPlaneSettings()
        self._binaries = binaries
        self.nodes = nodes
        self.network: PodNetwork | None = None
        self.node: LocalNode | None = None
        self.scheduler_log: Path | None = None
        self._processes: list[ManagedProcess] = []
        self.dir: Path | None = None
        self.server = ""
        self._ca: CertificateAuthority | None = None
        self._admin: CertificateFiles | None = None
        # name -> (readiness URL, needs the admin TLS context, what it waits for): used by restart()
        self._readiness: dict[str, tuple[str, bool, str]] = {}

    # ------------------------------------------------------------------ lifecycle
    def __enter__(self) -> LocalControlPlane:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    def start(self) -> None:
        """Start etcd, kube-apiserver and kube-controller-manager and wait until each is ready."""
        binaries = self._binaries or find_all()
        node_binaries: tuple[Path, Path] | None = None
        if self.nodes:
            require_root()
            node_binaries = (find_component("kube-scheduler"), find_component("kubelet"))
            sweep_stale()
        base = self.settings.base_dir
        # A node's sockets must fit in 108 bytes: its cluster lives in a short folder under /tmp.
        parent = None if self.nodes else (str(base) if base else None)
        self.dir = Path(tempfile.mkdtemp(prefix="cm-controlplane-", dir=parent))
        try:
            if self.nodes:
                self.network = PodNetwork.choose()
                self.network.create()
                record(self.dir, self.network)
            self._start_all(binaries, self.dir)
            if node_binaries:
                self._start_node(*node_binaries)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop every component (reverse order) and remove the temporary folder.

        With a node: the kubelet and containerd (every container, shim and mount) first, the bridge and
        its NAT chain last. Whatever could not be removed is raised as an error naming it.
        """
        problems: list[str] = []
        if self.node:
            problems += self.node.stop()
            self.node = None
        for process in reversed(self._processes):
            process.stop()
        self._processes.clear()
        if self.network:
            problems += self.network.delete()
            self.network = None
        if self.dir and not self.settings.keep_dir:
            shutil.rmtree(self.dir, ignore_errors=True)
        self.dir = None
        if problems:
            raise ControlPlaneError("teardown left things behind:\n" + "\n".join(problems))

    @property
    def pids(self) -> list[int]:
        """Process ids of the running components."""
        return [p.pid for p in self._processes if p.running()]

    # ------------------------------------------------------------------ details
    def _start_all(self, binaries: Binaries, folder: Path) -> None:
        pki = folder / "pki"
        pki.mkdir(mode=0o700)
        ca = self._ca = CertificateAuthority(pki)
        # With a node, the apiserver listens on the bridge address (reachable from Pods) and advertises it;
        # the lease endpoint reconciler then points the `kubernetes` Service there.
        host = self.network.gateway if self.network else "127.0.0.1"
        serving = ca.issue("apiserver", "kube-apiserver", server=True,
                           dns_names=("localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc",
                                      "kubernetes.default.svc.cluster.local"),
                           ip_addresses=tuple(dict.fromkeys(("127.0.0.1", "10.0.0.1", host))))
        self._admin = ca.issue("admin", "admin", ("system:masters",))
        sa_key, sa_pub = write_service_account_keys(pki)

        etcd_port, peer_port, api_port = free_port(), free_port(), free_port()
        etcd_url = f"http://127.0.0.1:{etcd_port}"
        etcd = self._spawn("etcd", [
            str(binaries.etcd), "--data-dir", str(folder / "etcd"),
            "--listen-client-urls", etcd_url, "--advertise-client-urls", etcd_url,
            "--listen-peer-urls", f"http://127.0.0.1:{peer_port}",
            "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer_port}",
            "--initial-cluster", f"default=http://127.0.0.1:{peer_port}",
            "--unsafe-no-fsync", "--quota-backend-bytes", str(4 * 1024**3),
        ])
        self._readiness["etcd"] = (f"{etcd_url}/health", False, "")
        self._wait_http(etcd, f"{etcd_url}/health", None)

        self.server = f"https://{host}:{api_port}"
        self.api_port = api_port
        node_args: list[str] = ["--authorization-mode", "RBAC", "--endpoint-reconciler-type", "none"]
        if self.network:
            kubelet_client = ca.issue("apiserver-kubelet-client", "kube-apiserver-kubelet-client", ("system:masters",))
            node_args = [
                "--authorization-mode", "Node,RBAC", "--enable-admission-plugins", "NodeRestriction",
                "--kubelet-client-certificate", str(kubelet_client.cert),
                "--kubelet-client-key", str(kubelet_client.key),
                "--kubelet-certificate-authority", str(ca.cert_file),
                "--kubelet-preferred-address-types", "InternalIP",
            ]
        apiserver = self._spawn("kube-apiserver", [
            str(binaries.kube_apiserver),
            "--etcd-servers", etcd_url,
            "--cert-dir", str(pki),
            "--tls-cert-file", str(serving.cert), "--tls-private-key-file", str(serving.key),
            "--secure-port", str(api_port), "--bind-address", host, "--advertise-address", host,
            "--service-cluster-ip-range", "10.0.0.0/24",
            # Without a node: loopback cannot be advertised in the kubernetes Service, so no endpoints.
            *node_args,
            "--allow-privileged=true",
            "--client-ca-file", str(ca.cert_file),
            "--service-account-issuer", f"{self.server}/",
            "--service-account-key-file", str(sa_pub),
            "--service-account-signing-key-file", str(sa_key),
            "--api-audiences", f"{self.server}/",
            "--enable-priority-and-fairness=false",
            *self.settings.extra_apiserver_args,
        ])
        self._readiness["kube-apiserver"] = (f"{self.server}/readyz", True, "")
        self._wait_http(apiserver, f"{self.server}/readyz", self._ssl_context())

        self.kubeconfig.parent.mkdir(exist_ok=True)
        self._write_kubeconfig(self.kubeconfig, "admin", self._admin)
        if self.settings.controller_manager:
            kcm_user = ca.issue("kcm", "system:kube-controller-manager")
            kcm_config = self._write_kubeconfig(folder / "kcm.kubeconfig", "system:kube-controller-manager", kcm_user)
            kcm = self._spawn("kube-controller-manager", [
                str(binaries.kube_controller_manager),
                "--kubeconfig", str(kcm_config),
                "--authentication-kubeconfig", str(kcm_config),
                "--authorization-kubeconfig", str(kcm_config),
                "--controllers", CONTROLLERS_WITH_NODE if self.nodes else CONTROLLERS,
                "--service-account-private-key-file", str(sa_key),
                "--root-ca-file", str(ca.cert_file),
                "--use-service-account-credentials",
                "--leader-elect=false",
                "--secure-port", str(free_port()), "--bind-address", "127.0.0.1",
                "--cert-dir", str(folder / "kcm-certs"),
            ])
            what = "the default ServiceAccount (made by kube-controller-manager)"
            self._readiness["kube-controller-manager"] = (
                f"{self.server}/api/v1/namespaces/default/serviceaccounts/default", True, what)
            self._wait_http(kcm, self._readiness["kube-controller-manager"][0], self._ssl_context(), what=what)

    def _start_node(self, scheduler: Path, kubelet: Path) -> None:
        """kube-scheduler, the Service route for Pods, and the node itself (containerd + kubelet)."""
        assert self.dir is not None and self._ca is not None and self.network is not None
        sched_user = self._ca.issue("scheduler", "system:kube-scheduler")
        sched_config = self._write_kubeconfig(self.dir / "scheduler.kubeconfig", "system:kube-scheduler", sched_user)
        sched_port = free_port()
        process = self._spawn("kube-scheduler", [
            str(scheduler), "--kubeconfig", str(sched_config),
            "--authentication-kubeconfig", str(sched_config), "--authorization-kubeconfig", str(sched_config),
            "--leader-elect=false", "--secure-port", str(sched_port), "--bind-address", "127.0.0.1",
        ])
        self._readiness["kube-scheduler"] = (f"https://127.0.0.1:{sched_port}/healthz", False, "")
        self._wait_http(process, f"https://127.0.0.1:{sched_port}/healthz", _insecure_context())
        # Pods reach the apiserver as the in-cluster config says: https://10.0.0.1:443.
        self.network.route_service("10.0.0.1", 443, self.api_port)
        self._grant_nodes_auth_delegation()
        self.node = LocalNode(self.dir / "node", self.network, self._ca, self.server, self._ssl_context(), kubelet,
                              start_timeout=self.settings.start_timeout)
        self.node.start()

    def _grant_nodes_auth_delegation(self) -> None:
        """Kubelets check callers with TokenReview / SubjectAccessReview: let system:nodes create them."""
        body = json.dumps({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
            "metadata": {"name": "config-manager:nodes-auth-delegator"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "system:auth-delegator"},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "system:nodes"}],
        }).encode()
        request = urllib.request.Request(f"{self.server}/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",  # noqa: S310 - our apiserver's https URL
                                         data=body, method="POST", headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, context=self._ssl_context(), timeout=10):  # noqa: S310 - our apiserver's https URL
                pass
        except urllib.error.HTTPError as exc:
            if exc.code != 409:
                raise ControlPlaneError(f"creating the nodes' auth-delegator binding failed: HTTP {exc.code}") from exc

    def restart(self, name: str, *, kill: bool = False, down_for: float = 0.0) -> None:
        """Stop one component and start it again with the same arguments, for fault-injection tests.

        Ports, data folder (etcd keeps everything stored) and certificates stay the same, so clients
        reconnect to the same address. ``kill`` sends SIGKILL instead of SIGTERM (a crash rather than a
        shutdown); ``down_for`` keeps it down that many seconds. Returns when it is ready again.
        """
        index = next((i for i, p in enumerate(self._processes) if p.name == name), None)
        if index is None or self.dir is None:
            known = ", ".join(p.name for p in self._processes) or "none (not running)"
            raise ControlPlaneError(f"no component named {name!r} to restart; running: {known}")
        old = self._processes[index]
        if kill and old.running():
            old.process.kill()
            old.process.wait(10)
        old.stop()
        if down_for > 0:
            time.sleep(down_for)
        new = ManagedProcess(name, old.argv, old.log_file)
        self._processes[index] = new
        url, tls, what = self._readiness[name]
        self._wait_http(new, url, self._ssl_context() if tls else None, what=what)

    def _spawn(self, name: str, argv: list[str]) -> ManagedProcess:
        assert self.dir is not None
        try:
            process = ManagedProcess(name, argv, self.dir / f"{name}.log")
        except OSError as exc:
            raise ControlPlaneError(f"{name} could not be started from {argv[0]}: {exc}") from exc
        self._processes.append(process)
        return process

    def _ssl_context(self) -> ssl.SSLContext:
        assert self._ca is not None and self._admin is not None
        context = ssl.create_default_context(cafile=str(self._ca.cert_file))
        context.load_cert_chain(str(self._admin.cert), str(self._admin.key))
        return context

    def _wait_http(self, process: ManagedProcess, url: str, context: ssl.SSLContext | None, what: str = "") -> None:
        deadline = time.monotonic() + self.settings.start_timeout
        last_error = ""
        while time.monotonic() < deadline:
            if not process.running():
                raise ControlPlaneError(
                    f"{process.name} exited with code {process.process.returncode} while starting; "
                    f"last lines of {process.log_file}:\n{process.log_tail()}"
                )
            try:
                with urllib.request.urlopen(url, context=context, timeout=5) as response:  # noqa: S310
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError) as exc:
                last_error = str(exc)
            time.sleep(0.2)
        raise ControlPlaneError(
            f"{process.name} not ready within {self.settings.start_timeout:.0f}s "
            f"(waiting for {what or url}: {last_error}); last lines of {process.log_file}:\n{process.log_tail()}"
        )

    def _write_kubeconfig(self, path: Path, user: str, files: CertificateFiles) -> Path:
        assert self._ca is not None
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "local", "cluster": {"server": self.server, "certificate-authority": str(self._ca.cert_file)}}],
            "users": [{"name": user, "user": {"client-certificate": str(files.cert), "client-key": str(files.key)}}],
            "contexts": [{"name": f"{user}@local", "context": {"cluster": "local", "user": user}}],
            "current-context": f"{user}@local",
        }
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        path.chmod(0o600)
        return path

    # ------------------------------------------------------------------ public helpers
    @property
    def kubeconfig(self) -> Path:
        """The admin (system:masters) kubeconfig."""
        if self.dir is None:
            raise ControlPlaneError("the control plane is not running")
        return self.dir / "kubeconfig" / "admin.kubeconfig"

    @property
    def ca_file(self) -> Path:
        """The CA that signed the apiserver's certificate."""
        assert self._ca is not None, "the control plane is not running"
        return self._ca.cert_file

    def user_kubeconfig(self, user: str, groups: tuple[str, ...] = ()) -> Path:
        """A kubeconfig for a new client-certificate user: RBAC decides what it may do."""
        if self._ca is None or self.dir is None:
            raise ControlPlaneError("the control plane is not running")
        files = self._ca.issue(f"user-{user}", user, groups)
        return self._write_kubeconfig(self.dir / "kubeconfig" / f"{user}.kubeconfig", user, files)

    def version(self) -> str:
        """The Kubernetes version that was pinned for this build."""
        return read_versions()["KUBERNETES_VERSION"]


def _insecure_context() -> ssl.SSLContext:
    """For a component's own /healthz, served with a self-signed certificate it made itself."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context
