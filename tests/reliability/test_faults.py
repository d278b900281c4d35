"""Faults on a real local control plane with a fleet of ManagedSecrets: nothing lost, blanked or half-written.

Everything here runs on ``fault_cluster`` (a control plane of this module's own, so restarting etcd and
the apiserver does not disturb other tests) with the operator as a real subprocess at DEBUG:

* the operator SIGKILLed five times at random moments while 150 ManagedSecrets are created and a fifth of
  their values change;
* etcd SIGKILLed and the apiserver restarted under the running operator, values changing meanwhile;
* a real Vault made unreachable (connections reset by a proxy in front of it) for ~25 s: status says
  ProviderError, Secrets keep their last good values, attempts are counted and bounded by the per-store
  backoff, and values changed in Vault meanwhile arrive once it is back;
* the same Vault behind 0.4 s of latency per request chunk: everything still converges.

A sampler thread lists the Secrets every 0.3 s during each fault: every Secret it sees must hold exactly
one complete expected version of its data (never empty, never a mix of keys). At the end every Secret's
data is compared with the expected values.
"""

from __future__ import annotations

import base64
import random
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from config_manager.k8s.api.client import KubeApi
from tests.helpers.cluster import ClusterInfo
from tests.helpers.operator_process import LocalStore, OperatorProcess, make_local_store, wait_for
from tests.helpers.tcp_proxy import TcpProxy
from tests.helpers.vault_server import VaultServer, start_vault
from tests.integration.opkit import API, condition, events_for, managed_secret

pytestmark = pytest.mark.cluster

FLEET = 150  # local-store ManagedSecrets (the suite's time budget on 2 cores; bench/ measures 1,000+)
VAULT_FLEET = 30  # Vault-backed ManagedSecrets
KILLS = 5
SEED = int(time.time())
# Figures collected for the closing summary (printed by the last test).
FIGURES: dict[str, int] = {"faults": 0, "objects_checked": 0, "secrets_compared": 0, "samples": 0}


def decode(secret: dict[str, Any]) -> dict[str, str]:
    return {k: base64.b64decode(v).decode(errors="replace") for k, v in (secret.get("data") or {}).items()}


@dataclass
class Expectation:
    """For each Secret name, every complete version of its data that may legitimately be seen."""

    allowed: dict[str, list[dict[str, str]]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def set(self, name: str, data: dict[str, str], *, keep_old: bool = True) -> None:
        with self.lock:
            versions = self.allowed.setdefault(name, [])
            if not keep_old:
                versions.clear()
            versions.append(dict(data))

    def final(self, name: str) -> dict[str, str]:
        with self.lock:
            return self.allowed[name][-1]

    def accepts(self, name: str, data: dict[str, str]) -> bool:
        with self.lock:
            return data in self.allowed.get(name, [])


class Sampler:
    """Lists the namespace's Secrets every 0.3 s and records any that holds an unexpected version."""

    def __init__(self, kube: KubeApi, namespace: str, expected: Expectation) -> None:
        self.kube, self.namespace, self.expected = kube, namespace, expected
        self.violations: list[str] = []
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        FIGURES["samples"] += self.samples

    def _run(self) -> None:
        while not self._stop.wait(0.3):
            try:
                secrets = self.kube.list("secrets", self.namespace)
            except Exception:  # noqa: BLE001 - the apiserver may be down on purpose
                continue
            self.samples += 1
            for secret in secrets:
                name = secret["metadata"]["name"]
                if name in self.expected.allowed and not self.expected.accepts(name, decode(secret)):
                    self.violations.append(f"{name}: keys {sorted(decode(secret))}")


def all_converged(kube: KubeApi, namespace: str, expected: Expectation) -> bool:
    """True when every expected Secret holds its final data and its ManagedSecret is Ready."""
    return not laggards(kube, namespace, expected)


def laggards(kube: KubeApi, namespace: str, expected: Expectation) -> list[str]:
    secrets = {s["metadata"]["name"]: decode(s) for s in kube.list("secrets", namespace)}
    objects = {o["metadata"]["name"]: o for o in kube.list("managedsecrets", namespace)}
    return [f"{n}: secret={'ok' if secrets.get(n) == expected.final(n) else 'missing' if n not in secrets else 'stale'} "
            f"ready={condition(objects.get(n)).get('reason')}" for n in expected.allowed
            if secrets.get(n) != expected.final(n) or condition(objects.get(n)).get("status") != "True"]


def wait_converged(kube: KubeApi, namespace: str, expected: Expectation, timeout: float = 150) -> None:
    try:
        wait_for(lambda: all_converged(kube, namespace, expected), timeout=timeout, interval=1.0, what="convergence")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; behind: {laggards(kube, namespace, expected)[:10]}") from None
    objects = kube.list("managedsecrets", namespace)
    for obj in objects:
        if obj["metadata"]["name"] in expected.allowed:
            assert condition(obj)["reason"] == "SecretSynced"
            assert obj["status"]["observedGeneration"] == obj["metadata"]["generation"]
    FIGURES["objects_checked"] += len(expected.allowed)
    FIGURES["secrets_compared"] += len(expected.allowed)


def make_namespace(kube: KubeApi) -> str:
    name = f"r-{uuid.uuid4().hex[:8]}"
    kube.create("namespaces", None, {"metadata": {"name": name}})
    return name


# ---------------------------------------------------------------- fixtures
@dataclass
class Fleet:
    kube: KubeApi
    namespace: str
    store: LocalStore
    operator: OperatorProcess
    expected: Expectation
    values: dict[str, str]


@pytest.fixture(scope="module")
def fleet(fault_cluster: ClusterInfo, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    """A namespace with a local store holding FLEET values and the operator running (no objects yet)."""
    kube = KubeApi.from_environment(str(fault_cluster.kubeconfig))
    namespace = make_namespace(kube)
    values = {f"k{i}": f"v{i}-{uuid.uuid4().hex[:12]}" for i in range(FLEET)}
    values["shared"] = "shared-" + uuid.uuid4().hex[:8]
    store = make_local_store(kube, namespace, values=values)
    operator = OperatorProcess(kubeconfig=Path(fault_cluster.kubeconfig),
                               log_path=tmp_path_factory.mktemp("fault-operator") / "operator.log")
    operator.start()
    try:
        yield Fleet(kube, namespace, store, operator, Expectation(), values)
    finally:
        operator.stop()


def expected_data(fleet: Fleet, i: int) -> dict[str, str]:
    return {"value": fleet.values[f"k{i}"], "shared": fleet.values["shared"]}


def create_fleet_objects(fleet: Fleet, indices: range) -> None:
    def create(i: int) -> None:
        fleet.expected.set(f"ms-{i}", expected_data(fleet, i))
        fleet.kube.create("managedsecrets", fleet.namespace, managed_secret(
            f"ms-{i}", data={"value": f"k{i}", "shared": "shared"}, refresh="30s"))
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(create, indices))


def change_values(fleet: Fleet, indices: list[int]) -> None:
    """New values in the store; both versions are acceptable until the end, the new one is final."""
    for i in indices:
        fleet.values[f"k{i}"] = f"v{i}-new-{uuid.uuid4().hex[:12]}"
        fleet.expected.set(f"ms-{i}", expected_data(fleet, i))
        fleet.store.provider.set(f"k{i}", fleet.values[f"k{i}"])


# ---------------------------------------------------------------- operator SIGKILL
def test_operator_sigkilled_repeatedly_during_a_burst_loses_nothing(fleet: Fleet) -> None:
    rng = random.Random(SEED)
    print(f"random seed {SEED}")
    with Sampler(fleet.kube, fleet.namespace, fleet.expected) as sampler:
        burst = threading.Thread(target=create_fleet_objects, args=(fleet, range(FLEET)))
        burst.start()
        pids = []
        for kill in range(KILLS):
            time.sleep(rng.uniform(0.5, 3.0))
            if kill == 2:  # a fifth of the values change in the store between kills
                change_values(fleet, rng.sample(range(FLEET), FLEET // 5))
            fleet.operator.kill()
            FIGURES["faults"] += 1
            fleet.operator.start()
            assert fleet.operator.proc is not None
            pids.append(fleet.operator.proc.pid)
        burst.join()
        wait_converged(fleet.kube, fleet.namespace, fleet.expected)
    assert len(set(pids)) == KILLS
    assert sampler.samples > 10
    assert sampler.violations == [], f"Secrets seen blank or half-written: {sampler.violations[:10]}"
    names = {s["metadata"]["name"] for s in fleet.kube.list("secrets", fleet.namespace)}
    assert {f"ms-{i}" for i in range(FLEET)} <= names, "no Secret lost"


# ---------------------------------------------------------------- etcd and apiserver restart
def test_etcd_and_apiserver_restart_under_the_operator(fleet: Fleet, fault_cluster: ClusterInfo) -> None:
    plane = fault_cluster.plane
    assert plane is not None
    if not fleet.expected.allowed:
        create_fleet_objects(fleet, range(FLEET))
    wait_converged(fleet.kube, fleet.namespace, fleet.expected)
    assert fleet.operator.proc is not None
    pid = fleet.operator.proc.pid
    rng = random.Random(SEED + 1)
    with Sampler(fleet.kube, fleet.namespace, fleet.expected) as sampler:
        change_values(fleet, rng.sample(range(FLEET), 20))
        plane.restart("etcd", kill=True, down_for=2.0)
        FIGURES["faults"] += 1
        change_values(fleet, rng.sample(range(FLEET), 20))
        plane.restart("kube-apiserver", down_for=3.0)
        FIGURES["faults"] += 1
        fleet.kube.delete("secrets", fleet.namespace, "ms-0")  # drift after the restart: the watch must be back
        wait_converged(fleet.kube, fleet.namespace, fleet.expected, timeout=120)
    assert fleet.operator.proc is not None and fleet.operator.proc.pid == pid and fleet.operator.healthy(), \
        "the operator rode out the restarts (no crash, no restart)"
    assert sampler.violations == [], f"Secrets seen blank or half-written: {sampler.violations[:10]}"
    # new work after the restart is picked up (watches re-established)
    fleet.values["k-late"] = "late-" + uuid.uuid4().hex[:8]
    fleet.store.provider.set("k-late", fleet.values["k-late"])
    fleet.kube.create("managedsecrets", fleet.namespace, managed_secret("late", data={"value": "k-late"}))
    fleet.expected.set("late", {"value": fleet.values["k-late"]})
    wait_converged(fleet.kube, fleet.namespace, fleet.expected, timeout=60)


# ---------------------------------------------------------------- Vault outage and slowness
@dataclass
class VaultFleet:
    kube: KubeApi
    namespace: str
    vault: VaultServer
    proxy: TcpProxy
    operator: OperatorProcess
    expected: Expectation
    paths: list[str]


def b64(text: str | bytes) -> str:
    return base64.b64encode(text.encode() if isinstance(text, str) else text).decode()


@pytest.fixture(scope="module")
def vault_fleet(fleet: Fleet) -> Iterator[VaultFleet]:
    """A real Vault behind a TcpProxy, a store pointing at the proxy, and VAULT_FLEET ManagedSecrets."""
    vault = start_vault(configure=False)
    port = int(vault.url.rsplit(":", 1)[1])
    proxy = TcpProxy(("127.0.0.1", port))
    kube, namespace = fleet.kube, make_namespace(fleet.kube)
    try:
        kube.create("secrets", namespace, {"metadata": {"name": "vault"}, "data": {
            "token": b64(vault.root_token), "ca.crt": b64(vault.ca_file.read_bytes())}})
        kube.create("secretstores", namespace, {
            "apiVersion": API, "kind": "SecretStore", "metadata": {"name": "vault"},
            "spec": {"provider": {"vault": {
                "server": f"https://127.0.0.1:{proxy.port}", "path": "secret", "version": "v2",
                "caProvider": {"type": "Secret", "name": "vault", "key": "ca.crt"},
                "auth": {"tokenSecretRef": {"name": "vault", "key": "token"}}}}}})
        expected = Expectation()
        paths = [f"app/p{i}" for i in range(VAULT_FLEET)]
        for i, path in enumerate(paths):
            value = f"vault-{i}-{uuid.uuid4().hex[:10]}"
            vault.admin.secrets.kv.v2.create_or_update_secret(path=path, secret={"v": value}, mount_point="secret")
            expected.set(f"vs-{i}", {"v": value})
            kube.create("managedsecrets", namespace, {
                **managed_secret(f"vs-{i}", store="vault"),
                "spec": {"storeRef": {"name": "vault"}, "refreshInterval": "5s",
                         "data": [{"secretKey": "v", "remoteRef": {"key": path, "property": "v"}}]}})
        wait_converged(kube, namespace, expected, timeout=90)
        yield VaultFleet(kube, namespace, vault, proxy, fleet.operator, expected, paths)
    finally:
        proxy.close()
        vault.stop()


def put_vault(vf: VaultFleet, i: int) -> None:
    value = f"vault-{i}-new-{uuid.uuid4().hex[:10]}"
    vf.vault.admin.secrets.kv.v2.create_or_update_secret(path=vf.paths[i], secret={"v": value}, mount_point="secret")
    vf.expected.set(f"vs-{i}", {"v": value})


OUTAGE_WINDOW = 20.0


def test_vault_outage_status_tells_the_truth_backoff_is_bounded_and_recovery_is_complete(vault_fleet: VaultFleet) -> None:
    vf = vault_fleet
    before = {n: vf.expected.final(n) for n in vf.expected.allowed}
    vf.proxy.go_down()
    FIGURES["faults"] += 1
    try:
        def all_failing() -> bool:
            objects = vf.kube.list("managedsecrets", vf.namespace)
            return len(objects) == VAULT_FLEET and all(condition(o)["reason"] == "ProviderError" for o in objects)
        wait_for(all_failing, timeout=60, interval=1.0, what="every Vault ManagedSecret Ready=False ProviderError")
        for i in range(0, VAULT_FLEET, 3):  # values change in Vault while it is unreachable for us
            put_vault(vf, i)
        attempts_before = vf.proxy.refused
        time.sleep(OUTAGE_WINDOW)
        attempts = vf.proxy.refused - attempts_before
        # the truth meanwhile: every object still says ProviderError, every Secret holds its last good value
        for obj in vf.kube.list("managedsecrets", vf.namespace):
            ready = condition(obj)
            assert (ready["status"], ready["reason"]) == ("False", "ProviderError"), obj["metadata"]["name"]
            assert obj["status"]["access"]["consecutiveFailures"] >= 1
        for secret in vf.kube.list("secrets", vf.namespace):
            name = secret["metadata"]["name"]
            if name in before:
                assert decode(secret) == before[name], f"{name} kept its last good value"
        assert "SyncFailed" in {e["reason"] for e in events_for(vf.kube, vf.namespace, "vs-0")}
    finally:
        vf.proxy.come_back()
    # Without backoff each of the 30 objects would retry at least every refresh (5 s), i.e. >= 120
    # connection attempts in 20 s, and far more on an immediate retry loop. The per-store backoff
    # (base 1 s, cap 4 s in the test settings) allows about window/cap = 5 rounds.
    print(f"connection attempts during {OUTAGE_WINDOW:.0f}s of outage: {attempts}")
    assert 1 <= attempts <= 60, f"{attempts} connection attempts in {OUTAGE_WINDOW}s: backoff not bounding them"
    wait_converged(vf.kube, vf.namespace, vf.expected, timeout=90)


def test_slow_vault_still_converges(vault_fleet: VaultFleet) -> None:
    vf = vault_fleet
    vf.proxy.delay = 0.4
    vf.proxy.cut_all()  # existing keep-alive connections would skip the slow handshake
    FIGURES["faults"] += 1
    try:
        for i in range(1, VAULT_FLEET, 3):
            put_vault(vf, i)
        started = time.monotonic()
        with Sampler(vf.kube, vf.namespace, vf.expected) as sampler:
            wait_converged(vf.kube, vf.namespace, vf.expected, timeout=120)
            assert vf.operator.healthy(), "liveness answers while provider calls are slow"
        print(f"converged behind a 0.4 s/chunk proxy in {time.monotonic() - started:.1f}s")
        assert sampler.violations == []
    finally:
        vf.proxy.delay = 0.0
    print(f"reliability fault figures: {FIGURES}")
