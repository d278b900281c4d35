"""pytest fixtures that run the operator as a real subprocess against the test cluster.

``operator`` (session): installs crds/, starts ``python -m config_manager.k8s`` with short test timings,
its log at DEBUG in a file (tests assert no secret value ever appears in it), and its /metrics on a
free port (tests read the operator's own API request counters there). ``stop()`` / ``start()`` let a
test take the operator down (deletion must not wait for it; restart must converge).

Also: ``local_store(namespace)`` creates a local encrypted store (blob Secret + key Secret + SecretStore)
and returns a provider to put values into it, and ``wait_for(predicate)``.
"""

from __future__ import annotations

import base64
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest

from config_manager import crypto
from config_manager.devcluster.processes import free_port
from config_manager.k8s.api.client import KubeApi
from config_manager.k8s.stores.kubestorage import KubeBlobStorage
from config_manager.providers import SecretProvider, registry

REPO = Path(__file__).resolve().parents[2]
T = TypeVar("T")

DEFAULT_ARGS = (
    "--all-namespaces", "--standalone", "--log-level=debug", "--startup-spread=0.2", "--read-cache-ttl=1",
    "--backoff-base=1", "--backoff-cap=4", "--stats-flush=3600", "--workers=4",
)


def wait_for(predicate: Callable[[], T | None], timeout: float = 30.0, interval: float = 0.2, what: str = "condition") -> T:
    """Poll ``predicate`` until it returns something truthy; fail with ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = predicate()
        except Exception as exc:  # noqa: BLE001 - keep polling; report the last error on timeout
            last = exc
        if last and not isinstance(last, Exception):
            return last  # type: ignore[no-any-return]
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}; last: {last!r}")



@dataclass
class OperatorProcess:
    kubeconfig: Path
    log_path: Path
    args: tuple[str, ...] = DEFAULT_ARGS
    proc: subprocess.Popen[bytes] | None = None
    port: int = field(default_factory=free_port)

    def start(self, *extra: str, env: dict[str, str] | None = None, wait: bool = True) -> None:
        """Start the operator; ``env`` adds variables (e.g. CONFIG_MANAGER_FAULT for crash tests)."""
        assert self.proc is None, "operator already running"
        env = {**os.environ, "KUBECONFIG": str(self.kubeconfig), "PYTHONUNBUFFERED": "1", **(env or {})}
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "config_manager.k8s", *self.args, *extra,
             f"--liveness=http://127.0.0.1:{self.port}/healthz"],
            cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        if wait:
            wait_for(self.healthy, timeout=120, what="operator /healthz")

    def kill(self) -> None:
        """SIGKILL: no shutdown handlers run (a crash, an OOM kill, a lost node)."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(timeout=10)
            self.proc = None

    def wait_exit(self, timeout: float = 30.0) -> int:
        """Wait until the process ends by itself (e.g. fault injection); returns its exit status."""
        assert self.proc is not None
        code = self.proc.wait(timeout=timeout)
        self.proc = None
        return code

    def healthy(self) -> bool:
        if self.proc is None or self.proc.poll() is not None:
            raise AssertionError(f"operator exited; log tail:\n{self.log_tail()}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=2) as resp:
                return resp.status == 200
        except OSError:
            return False

    def ready(self) -> bool:
        """/readyz: True once the operator's informers have listed everything (its work queue runs)."""
        if self.proc is None or self.proc.poll() is not None:
            raise AssertionError(f"operator exited; log tail:\n{self.log_tail()}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/readyz", timeout=2) as resp:
                return resp.status == 200
        except OSError:
            return False

    def stop(self) -> None:
        if self.proc is None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.proc = None

    def restart(self, *extra: str) -> None:
        self.stop()
        self.start(*extra)

    def metrics(self) -> dict[tuple[str, str], float]:
        """The operator's own API request counters by (verb, resource)."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=5) as resp:
            text = resp.read().decode()
        counts: dict[tuple[str, str], float] = {}
        pattern = re.compile(r'^configmanager_api_requests_total\{resource="([^"]+)",verb="([^"]+)"\} (\S+)$')
        for line in text.splitlines():
            m = pattern.match(line)
            if m:
                counts[(m.group(2), m.group(1))] = float(m.group(3))
        return counts

    def syncs(self, kind: str) -> float:
        """Passes of ``kind`` that reached a Ready verdict (``configmanager_syncs_total``, every result): a
        positive marker for an operator that serves only the test's namespace."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=5) as resp:
            text = resp.read().decode()
        pattern = re.compile(r'^configmanager_syncs_total\{kind="([^"]+)",result="[^"]+"\} (\S+)$')
        return sum(float(m.group(2)) for m in map(pattern.match, text.splitlines()) if m and m.group(1) == kind)

    def passes(self, kind: str, namespace: str, name: str) -> int:
        """Finished reconcile passes of one object, from the work queue's DEBUG line for each pass."""
        return self.log_text().count(f"reconciled {kind}/{namespace}/{name} (")

    def wait_passes(self, kind: str, namespace: str, name: str, after: int, count: int = 1,
                    timeout: float = 60.0) -> int:
        """Wait until ``count`` more passes of the object than ``after`` have finished — the positive marker
        to wait on before asserting that those passes wrote nothing. Returns the new pass count."""
        def enough() -> int:
            done = self.passes(kind, namespace, name)
            return done if done >= after + count else 0

        return wait_for(enough, timeout=timeout, what=f"{count} more reconcile pass(es) of {kind} {namespace}/{name}")

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])


CRD_NAMES = ("secretstores", "clustersecretstores", "managedsecrets", "configbundles", "pushsecrets", "clustermanagedsecrets",
             "passwords", "sshkeys", "uuids", "vaultdynamicsecrets")


def install_crds(cluster: Any) -> None:
    """kubectl apply -f crds/ and wait until every CRD is established."""
    cluster.kubectl("apply", "-f", str(REPO / "crds"))
    result = None
    for _ in range(20):  # right after apply, kubectl wait may fail on a CRD whose status is not set yet
        result = cluster.kubectl("wait", "--for=condition=established", "--timeout=60s",
                                 *(f"crd/{n}.configmanager.io" for n in CRD_NAMES), check=False)
        if result.returncode == 0:
            return
        time.sleep(0.5)
    raise AssertionError(f"CRDs not established: {result.stderr.strip() if result else ''}")


@pytest.fixture(scope="session")
def crds(cluster: Any) -> None:
    """Install the CRDs from crds/ and wait until they are established."""
    install_crds(cluster)


# Session operators started by the ``operator`` fixture, so ``no_background_operator`` can pause them.
_SESSION_OPERATORS: list[OperatorProcess] = []


@pytest.fixture(scope="session")
def operator(cluster: Any, crds: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[OperatorProcess]:
    """The operator running against the test cluster for the whole session."""
    proc = OperatorProcess(kubeconfig=Path(cluster.kubeconfig), log_path=tmp_path_factory.mktemp("operator") / "operator.log")
    _SESSION_OPERATORS.append(proc)
    proc.start()
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture()
def no_background_operator() -> None:
    """Stop the session operator if it runs, so the operator a test starts itself is the only one
    (an all-namespaces operator with admin rights would otherwise sync what the test expects refused).
    ``running_operator`` starts it again for the next test that needs it."""
    for proc in _SESSION_OPERATORS:
        proc.stop()


@pytest.fixture()
def running_operator(operator: OperatorProcess) -> OperatorProcess:
    """The session operator, (re)started if a previous test left it stopped."""
    if operator.proc is None:
        operator.start()
    return operator


@pytest.fixture(scope="session")
def kube(cluster: Any) -> KubeApi:
    """A plain-dict admin client for the tests' own requests."""
    return KubeApi.from_environment(str(cluster.kubeconfig))


@dataclass
class LocalStore:
    name: str
    namespace: str
    provider: SecretProvider
    key: bytes


def make_local_store(kube: KubeApi, namespace: str, name: str = "local", values: dict[str, Any] | None = None) -> LocalStore:
    """A local encrypted store in ``namespace``: blob Secret, key Secret and the SecretStore object."""
    key = crypto.generate_key()
    kube.create("secrets", namespace, {"metadata": {"name": f"{name}-key"}, "data": {"key": base64.b64encode(key).decode()}})
    provider = registry.create("local", key=key, storage=KubeBlobStorage(kube, namespace, f"{name}-blob"))
    for k, v in (values or {}).items():
        provider.set(k, v)
    kube.create("secretstores", namespace, {
        "apiVersion": "configmanager.io/v1alpha1", "kind": "SecretStore",
        "metadata": {"name": name},
        "spec": {"provider": {"local": {"storage": {"name": f"{name}-blob"}, "keySecretRef": {"name": f"{name}-key", "key": "key"}}}},
    })
    return LocalStore(name=name, namespace=namespace, provider=provider, key=key)
