"""A real local Kubernetes control plane: etcd + kube-apiserver + kube-controller-manager.

Started the way envtest does it, on free loopback ports, in a temporary folder that is removed on stop:
TLS everywhere, RBAC on, users are client certificates from a throw-away CA, service-account tokens
signed with a fresh key pair (so TokenRequest and TokenReview work), and a controller-manager for
garbage collection, namespace deletion and service-account tokens. There are no nodes: Pods stay
Pending, which is all an operator test needs.

    with LocalControlPlane() as cp:
        print(cp.kubeconfig)         # admin (system:masters) kubeconfig
        cp.user_kubeconfig("alice")  # an unprivileged user: RBAC applies
"""

from __future__ import annotations

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
from .binaries import Binaries, find_all, read_versions
from .pki import CertificateAuthority, CertificateFiles, write_service_account_keys
from .processes import ManagedProcess, free_port

# Controllers that need nodes or a cloud are left out; everything an operator relies on stays.
CONTROLLERS = "*,-node-ipam-controller,-node-lifecycle-controller"


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

    def __init__(self, settings: ControlPlaneSettings | None = None, binaries: Binaries | None = None) -> None:
        self.settings = settings or ControlPlaneSettings()
        self._binaries = binaries
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
        base = self.settings.base_dir
        self.dir = Path(tempfile.mkdtemp(prefix="cm-controlplane-", dir=str(base) if base else None))
        try:
            self._start_all(binaries, self.dir)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop every component (reverse order) and remove the temporary folder."""
        for process in reversed(self._processes):
            process.stop()
        self._processes.clear()
        if self.dir and not self.settings.keep_dir:
            shutil.rmtree(self.dir, ignore_errors=True)
        self.dir = None

    @property
    def pids(self) -> list[int]:
        """Process ids of the running components."""
        return [p.pid for p in self._processes if p.running()]

    # ------------------------------------------------------------------ details
    def _start_all(self, binaries: Binaries, folder: Path) -> None:
        pki = folder / "pki"
        pki.mkdir(mode=0o700)
        ca = self._ca = CertificateAuthority(pki)
        serving = ca.issue("apiserver", "kube-apiserver", server=True,
                           dns_names=("localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc"),
                           ip_addresses=("127.0.0.1", "10.0.0.1"))
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

        self.server = f"https://127.0.0.1:{api_port}"
        apiserver = self._spawn("kube-apiserver", [
            str(binaries.kube_apiserver),
            "--etcd-servers", etcd_url,
            "--cert-dir", str(pki),
            "--tls-cert-file", str(serving.cert), "--tls-private-key-file", str(serving.key),
            "--secure-port", str(api_port), "--bind-address", "127.0.0.1", "--advertise-address", "127.0.0.1",
            "--service-cluster-ip-range", "10.0.0.0/24",
            "--endpoint-reconciler-type", "none",  # loopback cannot be advertised in the kubernetes Service
            "--allow-privileged=true",
            "--authorization-mode", "RBAC",
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
                "--controllers", CONTROLLERS,
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
