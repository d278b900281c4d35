"""Rotation of ManagedSecrets (and ConfigBundles, at the end) on the real control plane, with the operator
as a subprocess and the real local encrypted store: manual and scheduled rotation, write-back, previous value kept, restarts of only
the workloads that use a rotated key, debounce, GitOps re-apply, and SIGKILL at every step converging to
one new value. Also measures trigger -> new pod template time and the API writes of one rotation.
"""

from __future__ import annotations

import base64
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from config_manager.k8s.api.client import KubeApi
from config_manager.k8s.rotation.restarts import annotation_key
from tests.helpers.operator_process import DEFAULT_ARGS, OperatorProcess, make_local_store, wait_for
from tests.integration.opkit import API, events_for, secret_data, wait_ready

pytestmark = pytest.mark.cluster

SCALE = "--rotation-interval-scale=0.16667"  # the CRD admits no interval under 1m: 1m runs as 10s here
WRITE_VERBS = ("create", "patch", "patch/status", "update", "delete")


@pytest.fixture(scope="module")
def rot_operator(operator: OperatorProcess) -> Iterator[OperatorProcess]:
    """The session operator, restarted with the test-only interval scale (restored afterwards)."""
    operator.restart(SCALE)
    yield operator
    operator.stop()
    operator.start()


@pytest.fixture()
def op(rot_operator: OperatorProcess) -> OperatorProcess:
    if rot_operator.proc is None:
        rot_operator.start(SCALE)
    return rot_operator


@pytest.fixture()
def scoped_op(rot_operator: OperatorProcess, namespace: str, tmp_path: Any) -> Iterator[OperatorProcess]:
    """An operator serving only this test's namespace, so its write counters hold this test's writes
    alone (the session operator's are process-wide: objects in earlier tests' namespaces, deleted in the
    background, write their status too). The session operator is stopped meanwhile."""
    rot_operator.stop()
    args = tuple(a for a in DEFAULT_ARGS if a != "--all-namespaces") + (f"--namespace={namespace}",)
    own = OperatorProcess(kubeconfig=rot_operator.kubeconfig, log_path=tmp_path / "scoped-operator.log", args=args)
    own.start(SCALE)
    try:
        yield own
    finally:
        own.stop()
        rot_operator.start(SCALE)


def deployment(name: str, *, env: dict[str, tuple[str, str]] | None = None, env_from: str | None = None) -> dict[str, Any]:
    container: dict[str, Any] = {"name": "app", "image": "registry.invalid/app:1"}
    if env:
        container["env"] = [{"name": n, "valueFrom": {"secretKeyRef": {"name": s, "key": k}}} for n, (s, k) in env.items()]
    if env_from:
        container["envFrom"] = [{"secretRef": {"name": env_from}}]
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [container]}}}}


def rotating_secret(name: str, rotation: dict[str, Any], data: dict[str, str] | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"storeRef": {"name": "local"}, "refreshInterval": "1h", "rotation": rotation}
    if data:
        spec["data"] = [{"secretKey": k, "remoteRef": {"key": v}} for k, v in data.items()]
    return {"apiVersion": API, "kind": "ManagedSecret", "metadata": {"name": name}, "spec": spec}


def rotation_status(kube: KubeApi, ns: str, name: str) -> dict[str, Any]:
    return ((kube.get("managedsecrets", ns, name) or {}).get("status") or {}).get("rotation") or {}


def template_annotation(kube: KubeApi, ns: str, name: str, secret: str) -> str | None:
    body = kube.get("deployments", ns, name) or {}
    return (((body.get("spec") or {}).get("template") or {}).get("metadata") or {}).get("annotations", {}).get(annotation_key(secret))


def generation(kube: KubeApi, ns: str, name: str) -> int:
    return int(((kube.get("deployments", ns, name) or {}).get("metadata") or {}).get("generation") or 0)


def annotate(kube: KubeApi, ns: str, name: str, value: str) -> None:
    kube.patch("managedsecrets", ns, name, {"metadata": {"annotations": {"configmanager.io/rotate": value}}})


def counter(op: OperatorProcess, line_prefix: str) -> float:
    """The value of one Prometheus sample of the operator's /metrics (0 when not exported yet)."""
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{op.port}/metrics", timeout=5) as resp:
        for line in resp.read().decode().splitlines():
            if line.startswith(line_prefix + " "):
                return float(line.rsplit(" ", 1)[1])
    return 0.0


ROTATED_BY_ANNOTATION = 'configmanager_rotations_total{result="success",trigger="annotation"}'
DEPLOYMENT_RESTARTS = 'configmanager_workload_restarts_total{kind="Deployment"}'


def rotation_writes(cost: dict[str, int]) -> int:
    """Writes a rotation makes, Events aside."""
    return sum(v for k, v in cost.items() if not k.endswith(" events"))


def writes(before: dict[tuple[str, str], float], after: dict[tuple[str, str], float]) -> dict[str, int]:
    out = {f"{verb} {res}": int(after.get((verb, res), 0) - before.get((verb, res), 0))
           for (verb, res) in after if verb in WRITE_VERBS}
    return {k: v for k, v in out.items() if v}


@pytest.fixture(autouse=True)
def _register_workloads(kube: KubeApi) -> None:
    from config_manager.k8s.api.client import RESOURCES

    for plural in ("deployments", "replicasets"):
        RESOURCES.setdefault(plural, ("apps", "v1", plural))


def test_manual_rotation_writes_back_keeps_previous_and_restarts_only_users_of_the_key(
        kube: KubeApi, namespace: str, scoped_op: OperatorProcess, cluster: Any) -> None:
    op = scoped_op
    ns = namespace
    initial_pw, token = f"pw-{uuid.uuid4().hex}", f"tok-{uuid.uuid4().hex}"
    store = make_local_store(kube, ns, values={"db/password": initial_pw, "api/token": token})
    for body in (deployment("uses-pw", env={"DB_PW": ("app", "password")}),
                 deployment("uses-token", env={"TOKEN": ("app", "token")}),
                 deployment("uses-all", env_from="app")):
        kube.create("deployments", ns, body)
    kube.create("managedsecrets", ns, rotating_secret("app", {
        "keys": ["password"], "keepPrevious": True, "generator": {"type": "password", "length": 24},
        "restartWorkloads": {"debounce": "0s"}}, data={"password": "db/password", "token": "api/token"}))
    wait_ready(kube, ns, "app")
    wait_for(lambda: (kube.get("managedsecrets", ns, "app") or {}).get("status", {}).get("access", {}).get("usedByCount") == 3,
             what="the three Deployments seen as users")
    assert rotation_status(kube, ns, "app").get("count") is None, "no rotation before a trigger"
    assert secret_data(kube, ns, "app") == {"password": initial_pw, "password_previous": initial_pw, "token": token}

    before = op.metrics()
    rotations_before, restarts_before = counter(op, ROTATED_BY_ANNOTATION), counter(op, DEPLOYMENT_RESTARTS)
    started = time.monotonic()
    annotate(kube, ns, "app", "r1")
    wait_for(lambda: template_annotation(kube, ns, "uses-pw", "app"), timeout=30, interval=0.05, what="uses-pw restarted")
    trigger_to_template = time.monotonic() - started
    status = wait_for(lambda: (s := rotation_status(kube, ns, "app")).get("count") == 1 and not s.get("pending") and s,
                      what="rotation recorded")
    # the pass's last writes are its Events (Rotated, then WorkloadsRestarted): count once they are there
    wait_for(lambda: {"Rotated", "WorkloadsRestarted"} <= {e["reason"] for e in events_for(kube, ns, "app")},
             what="the rotation pass's Events")
    cost = writes(before, op.metrics())
    assert counter(op, ROTATED_BY_ANNOTATION) - rotations_before == 1
    assert counter(op, DEPLOYMENT_RESTARTS) - restarts_before == 2

    data = secret_data(kube, ns, "app")
    assert data is not None
    new_pw = data["password"]
    assert new_pw != initial_pw and len(new_pw) == 24
    assert data["password_previous"] == initial_pw, "the previous value stays readable for the cut-over"
    assert data["token"] == token, "a key that is not rotated keeps its value"
    assert store.provider.get("db/password").value == new_pw, "written back: the store is the source of truth"
    assert store.provider.get("db/password_previous").value == initial_pw
    assert status["manualTrigger"] == "r1" and status["history"][-1]["trigger"] == "annotation"
    assert status["history"][-1]["version"] == store.provider.get("db/password").version
    assert status["lastRotationTime"]

    assert template_annotation(kube, ns, "uses-all", "app"), "envFrom uses every key: restarted"
    assert template_annotation(kube, ns, "uses-token", "app") is None, "uses only the unrotated key: untouched"
    assert generation(kube, ns, "uses-token") == 1
    assert generation(kube, ns, "uses-pw") == 2 and generation(kube, ns, "uses-all") == 2
    reasons = {e["reason"] for e in events_for(kube, ns, "app")}
    assert {"Rotated", "WorkloadsRestarted"} <= reasons
    assert any(e["reason"] == "Restarted" for e in events_for(kube, ns, "uses-pw"))
    assert not [e for e in events_for(kube, ns, "uses-token") if e.get("source", {}).get("component") == "config-manager"]

    # the same annotation value again, and an unrelated spec-less touch: no second rotation
    annotate(kube, ns, "app", "r1")
    time.sleep(2.0)
    assert rotation_status(kube, ns, "app")["count"] == 1

    # a GitOps tool re-applies the Deployment (server-side apply, without our annotation): no loop, no restart
    manifest = deployment("uses-pw", env={"DB_PW": ("app", "password")})
    manifest["metadata"]["namespace"] = ns
    import json
    cluster.kubectl("apply", "--server-side", "--field-manager=gitops", "--force-conflicts", "-f", "-", input=json.dumps(manifest))
    time.sleep(3.0)
    assert template_annotation(kube, ns, "uses-pw", "app"), "the annotation we own survives the re-apply"
    assert generation(kube, ns, "uses-pw") == 2, "no restart caused by the re-apply, and none by us after it"

    log = op.log_text()
    for value in (initial_pw, new_pw, token):
        assert value not in log
    for event in events_for(kube, ns, "app") + events_for(kube, ns, "uses-pw"):
        assert new_pw not in event["message"] and initial_pw not in event["message"]
    ms = kube.get("managedsecrets", ns, "app")
    assert ms is not None
    assert new_pw not in json.dumps(ms) and initial_pw not in json.dumps(ms)
    print(f"\nROTATION trigger->new pod template: {trigger_to_template:.2f}s; API writes of one rotation: {cost} "
          f"(total {sum(cost.values())})")
    # intent status + Secret + 2 workloads + final status + blob Secret writes (previous, new) + Events
    assert rotation_writes(cost) <= 8, cost


def test_scheduled_rotation_fires_on_time_and_generates_missing_keys(kube: KubeApi, namespace: str, op: OperatorProcess) -> None:
    ns = namespace
    store = make_local_store(kube, ns)
    kube.create("managedsecrets", ns, rotating_secret("sched", {
        "interval": "1m", "keys": ["api-key", "signing-key"],
        "generators": {"api-key": {"type": "token", "length": 40}, "signing-key": {"type": "ed25519"}}}))
    first = wait_for(lambda: (s := rotation_status(kube, ns, "sched")).get("count") == 1 and s, timeout=20,
                     what="initial values generated")
    assert first["history"][-1]["trigger"] == "initial"
    data = wait_for(lambda: secret_data(kube, ns, "sched"), what="Secret")
    assert len(data["api-key"]) == 40 and data["signing-key"].startswith("-----BEGIN PRIVATE KEY-----")
    assert store.provider.get("api-key").value == data["api-key"]
    second = wait_for(lambda: (s := rotation_status(kube, ns, "sched")).get("count") == 2 and s, timeout=25,
                      interval=0.2, what="scheduled rotation")
    from config_manager.k8s.rotation.plan import parse_time

    t1, t2 = parse_time(first["lastRotationTime"]), parse_time(second["lastRotationTime"])
    assert t1 and t2
    gap = (t2 - t1).total_seconds()
    assert 9 <= gap <= 13, f"scheduled every 10s (1m scaled), took {gap}s"
    assert second["history"][-1]["trigger"] == "schedule"
    rotated = wait_for(lambda: (d := secret_data(kube, ns, "sched")) and d["api-key"] != data["api-key"] and d, what="new value")
    assert store.provider.get("api-key").value == rotated["api-key"]
    assert second["nextRotationTime"] > second["lastRotationTime"]


def test_debounce_two_rotations_close_together_restart_once(kube: KubeApi, namespace: str, op: OperatorProcess) -> None:
    ns = namespace
    make_local_store(kube, ns, values={"pw": "seed-" + uuid.uuid4().hex})
    kube.create("deployments", ns, deployment("web", env={"PW": ("deb", "pw")}))
    kube.create("managedsecrets", ns, rotating_secret("deb", {"restartWorkloads": {"debounce": "4s"}}, data={"pw": "pw"}))
    wait_ready(kube, ns, "deb")
    wait_for(lambda: (kube.get("managedsecrets", ns, "deb") or {}).get("status", {}).get("access", {}).get("usedByCount") == 1,
             what="web seen as user")
    annotate(kube, ns, "deb", "a")
    wait_for(lambda: rotation_status(kube, ns, "deb").get("count") == 1, what="first rotation")
    annotate(kube, ns, "deb", "b")
    wait_for(lambda: rotation_status(kube, ns, "deb").get("count") == 2, what="second rotation")
    assert generation(kube, ns, "web") == 1, "inside the debounce window nothing restarts yet"
    wait_for(lambda: template_annotation(kube, ns, "web", "deb"), timeout=15, what="debounced restart")
    wait_for(lambda: not rotation_status(kube, ns, "deb").get("pendingRestart"), what="the restart recorded in status")
    assert generation(kube, ns, "web") == 2, "two rotations, one restart"
    assert not rotation_status(kube, ns, "deb").get("pendingRestart")


STEPS = ["after-intent", "after-store-write", "after-secret-write", "after-restart", "after-status"]


@pytest.mark.parametrize("step", STEPS)
def test_sigkill_at_each_step_converges_to_one_new_value(kube: KubeApi, namespace: str, op: OperatorProcess, step: str) -> None:
    ns = namespace
    initial = "seed-" + uuid.uuid4().hex
    store = make_local_store(kube, ns, values={"db/pw": initial})
    kube.create("deployments", ns, deployment("api", env={"PW": ("crash", "pw")}))
    kube.create("managedsecrets", ns, rotating_secret("crash", {"keepPrevious": True, "restartWorkloads": {"debounce": "0s"}},
                                                      data={"pw": "db/pw"}))
    wait_ready(kube, ns, "crash")
    wait_for(lambda: (kube.get("managedsecrets", ns, "crash") or {}).get("status", {}).get("access", {}).get("usedByCount") == 1,
             what="api seen as user")
    versions_before = len(store.provider.versions("db/pw"))
    op.stop()
    op.start(SCALE, env={"CONFIG_MANAGER_FAULT": step})
    annotate(kube, ns, "crash", "once")
    code = op.wait_exit(timeout=30)
    assert code == -9, f"the operator was SIGKILLed at {step}"
    op.start(SCALE)
    status = wait_for(lambda: (s := rotation_status(kube, ns, "crash")).get("count") == 1 and not s.get("pending") and s,
                      timeout=30, what=f"convergence after a kill at {step}")
    wait_for(lambda: template_annotation(kube, ns, "api", "crash"), timeout=15, what="restart after recovery")
    time.sleep(1.5)
    data = secret_data(kube, ns, "crash")
    assert data is not None
    stored = store.provider.get("db/pw")
    assert data["pw"] == stored.value != initial, "store and Secret agree on the new value"
    assert data["pw_previous"] == initial
    assert status["history"][-1]["version"] == stored.version, "status names the store version"
    assert len(store.provider.versions("db/pw")) == versions_before + 1, "exactly one new value written for one trigger"
    assert rotation_status(kube, ns, "crash")["count"] == 1 and len(status["history"]) == 1
    assert generation(kube, ns, "api") == 2, "the workload restarted exactly once"


# -- ConfigBundle: the same engine, its spec.secrets paths rotate ----------------------------------------------------

def rotating_bundle(name: str, rotation: dict[str, Any], secrets: dict[str, str]) -> dict[str, Any]:
    return {"apiVersion": API, "kind": "ConfigBundle", "metadata": {"name": name},
            "spec": {"storeRef": {"name": "local"}, "refreshInterval": "1h", "rotation": rotation,
                     "sources": [{"inline": {"log": {"level": "info"}}}],
                     "secrets": [{"path": p, "remoteRef": {"key": k}} for p, k in secrets.items()],
                     "output": {"format": "json"}}}


def bundle_config(kube: KubeApi, ns: str, name: str, kind: str = "secrets") -> dict[str, Any]:
    import json

    obj = kube.get(kind, ns, name) or {}
    raw = (obj.get("data") or {}).get("config.json")
    if raw is None:
        return {}
    return dict(json.loads(base64.b64decode(raw) if kind == "secrets" else raw))


def bundle_rotation(kube: KubeApi, ns: str, name: str) -> dict[str, Any]:
    return ((kube.get("configbundles", ns, name) or {}).get("status") or {}).get("rotation") or {}


def test_bundle_manual_rotation_by_cli_writes_back_keeps_previous_masks_and_restarts_only_users(
        kube: KubeApi, namespace: str, scoped_op: OperatorProcess, cluster: Any) -> None:
    op = scoped_op
    import json
    import subprocess
    import sys

    ns = namespace
    initial_pw, token = f"pw-{uuid.uuid4().hex}", f"tok-{uuid.uuid4().hex}"
    store = make_local_store(kube, ns, values={"db/password": initial_pw, "api/token": token})
    kube.create("secrets", ns, {"metadata": {"name": "unrelated"}, "stringData": {"x": "y"}})
    kube.create("deployments", ns, deployment("uses-bundle", env_from="cfg-secret"))
    kube.create("deployments", ns, deployment("uses-other", env_from="unrelated"))
    kube.create("configbundles", ns, rotating_bundle("cfg", {
        "keys": ["database.password"], "keepPrevious": True, "generator": {"type": "password", "length": 24},
        "restartWorkloads": {"debounce": "0s"}}, {"database.password": "db/password", "api.token": "api/token"}))
    wait_ready(kube, ns, "cfg", plural="configbundles")
    first = wait_for(lambda: (c := bundle_config(kube, ns, "cfg-secret")).get("database", {}).get("password_previous") and c,
                     what="bundle Secret with the previous value")
    assert first["database"] == {"password": initial_pw, "password_previous": initial_pw}
    assert bundle_rotation(kube, ns, "cfg").get("count") is None, "no rotation before a trigger"

    before = op.metrics()
    started = time.monotonic()
    cli = subprocess.run([sys.executable, "-c", "import sys; from config_manager.cli import main; sys.exit(main())", "rotate", f"{ns}/cfg", "--wait", "--timeout", "30",
                          "--kubeconfig", str(cluster.kubeconfig)], capture_output=True, text=True, timeout=60)
    assert cli.returncode == 0, cli.stderr
    assert "ConfigBundle" in cli.stderr + cli.stdout, "the command found the kind by itself"
    wait_for(lambda: template_annotation(kube, ns, "uses-bundle", "cfg-secret"), timeout=30, interval=0.05,
             what="uses-bundle restarted")
    trigger_to_template = time.monotonic() - started
    status = wait_for(lambda: (s := bundle_rotation(kube, ns, "cfg")).get("count") == 1 and not s.get("pending") and s,
                      what="rotation recorded")
    assert isinstance(status, dict)
    wait_for(lambda: {"Rotated", "WorkloadsRestarted"} <= {e["reason"] for e in events_for(kube, ns, "cfg")},
             what="the rotation pass's Events")
    cost = writes(before, op.metrics())

    config = bundle_config(kube, ns, "cfg-secret")
    new_pw = config["database"]["password"]
    assert new_pw != initial_pw and len(new_pw) == 24
    assert config["database"]["password_previous"] == initial_pw, "the previous value stays readable at <path>_previous"
    assert config["api"] == {"token": token} and config["log"] == {"level": "info"}, "what is not rotated keeps its value"
    assert store.provider.get("db/password").value == new_pw, "written back: the store is the source of truth"
    assert store.provider.get("db/password_previous").value == initial_pw
    assert store.provider.get("api/token").value == token
    masked = bundle_config(kube, ns, "cfg", kind="configmaps")
    assert masked["database"] == {"password": "[MASKED]", "password_previous": "[MASKED]"}
    assert masked["api"] == {"token": "[MASKED]"}
    assert status["manualTrigger"] and status["history"][-1]["trigger"] == "annotation"
    assert status["history"][-1]["keys"] == ["database.password"]
    assert status["history"][-1]["version"] == store.provider.get("db/password").version
    assert generation(kube, ns, "uses-bundle") == 2
    assert generation(kube, ns, "uses-other") == 1 and template_annotation(kube, ns, "uses-other", "cfg-secret") is None
    assert {"Rotated", "WorkloadsRestarted"} <= {e["reason"] for e in events_for(kube, ns, "cfg")}

    texts = [op.log_text(), json.dumps(kube.get("configbundles", ns, "cfg")), json.dumps(kube.get("configmaps", ns, "cfg")),
             json.dumps(events_for(kube, ns, "cfg") + events_for(kube, ns, "uses-bundle")), cli.stdout + cli.stderr]
    for value in (initial_pw, new_pw, token):
        assert not [t for t in texts if value in t], "a value leaked into a log, status, ConfigMap, Event or the CLI"
    print(f"\nBUNDLE ROTATION trigger->new pod template: {trigger_to_template:.2f}s (CLI start-up included); "
          f"API writes: {cost} (total {sum(cost.values())})")
    # measured: intent status + 2 blob Secret writes (previous, new) + bundle Secret + 1 workload + final status = 6
    # (+ Events); the masked ConfigMap does not change ([MASKED] before and after)
    assert rotation_writes(cost) <= 7, cost


def test_bundle_sigkill_after_store_write_converges_to_one_new_value(kube: KubeApi, namespace: str, op: OperatorProcess) -> None:
    ns = namespace
    initial = "seed-" + uuid.uuid4().hex
    store = make_local_store(kube, ns, values={"db/pw": initial})
    kube.create("deployments", ns, deployment("api", env_from="crashcfg-secret"))
    kube.create("configbundles", ns, rotating_bundle("crashcfg", {"keepPrevious": True, "restartWorkloads": {"debounce": "0s"}},
                                                     {"db.pw": "db/pw"}))
    wait_ready(kube, ns, "crashcfg", plural="configbundles")
    wait_for(lambda: bundle_config(kube, ns, "crashcfg-secret").get("db", {}).get("pw_previous"), what="bundle Secret")
    versions_before = len(store.provider.versions("db/pw"))
    op.stop()
    op.start(SCALE, env={"CONFIG_MANAGER_FAULT": "after-store-write"})
    kube.patch("configbundles", ns, "crashcfg", {"metadata": {"annotations": {"configmanager.io/rotate": "once"}}})
    assert op.wait_exit(timeout=30) == -9, "the operator was SIGKILLed after the store write"
    assert bundle_rotation(kube, ns, "crashcfg").get("pending"), "the intent was recorded before the store write"
    op.start(SCALE)
    status = wait_for(lambda: (s := bundle_rotation(kube, ns, "crashcfg")).get("count") == 1 and not s.get("pending") and s,
                      timeout=30, what="convergence after the kill")
    assert isinstance(status, dict)
    wait_for(lambda: template_annotation(kube, ns, "api", "crashcfg-secret"), timeout=15, what="restart after recovery")
    time.sleep(1.5)
    stored = store.provider.get("db/pw")
    config = bundle_config(kube, ns, "crashcfg-secret")
    assert config["db"]["pw"] == stored.value != initial, "store and the bundle's Secret agree on the new value"
    assert config["db"]["pw_previous"] == initial
    assert status["history"][-1]["version"] == stored.version
    assert len(store.provider.versions("db/pw")) == versions_before + 1, "exactly one new value for one trigger"
    assert len(status["history"]) == 1 and bundle_rotation(kube, ns, "crashcfg")["count"] == 1
    assert generation(kube, ns, "api") == 2, "the workload restarted exactly once"
