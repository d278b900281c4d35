"""A catalogue of malformed and malicious specs, one test id per case.

Each case is refused either at admission (the apiserver's 422 message must name the field) or in status
(Ready=False with a reason and a message naming the problem, plus a Warning Event). After every case
the operator is still the same process and healthy (no crash, no restart), and a healthy ManagedSecret
in the same namespace is still in sync with its value unchanged: bad input affects nobody else.

Runs against the session cluster and the session operator (the catalogue needs no faults), plus the
session Vault for the cases where the remote key reaches a real server (path traversal, NUL).
"""

from __future__ import annotations

import base64
import copy
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from config_manager.k8s.api.client import ApiError, KubeApi
from tests.helpers.operator_process import OperatorProcess, make_local_store, wait_for
from tests.helpers.vault_server import VaultServer
from tests.integration.opkit import API, condition, events_for, managed_secret, secret_data, wait_ready

pytestmark = [pytest.mark.cluster, pytest.mark.vault]

Body = dict[str, Any]


@dataclass(frozen=True)
class Admission:
    """Refused by the apiserver; ``field`` must appear in its message."""

    field: str
    strict: bool = False  # send with fieldValidation=Strict (unknown fields are refused, not pruned)


@dataclass(frozen=True)
class Refused:
    """Admitted, then refused by the operator: Ready=False with ``reason`` and ``fragment`` in the message."""

    reason: str
    fragment: str
    forbidden: tuple[str, ...] = ()  # texts that must not show up in status/Events (e.g. env values)


def ms(name: str, **changes: Any) -> Body:
    """A valid ManagedSecret on the local store, then ``changes`` applied (dotted paths under spec)."""
    body = managed_secret(name, data={"k": "k"})
    for path, value in changes.items():
        node = body["spec"]
        parts = path.split("__")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return body


def with_data(name: str, *items: tuple[str, str], store: str = "local", **remote: Any) -> Body:
    body = managed_secret(name, store=store)
    body["spec"]["data"] = [{"secretKey": k, "remoteRef": {"key": v, **remote}} for k, v in items]
    return body


HUGE = "x" * 70_000
CSS_NAME = f"css-deny-{uuid.uuid4().hex[:6]}"
VAULT_PATH = f"app/hostile-{uuid.uuid4().hex[:6]}"
NS_OTHER = "kube-system"

CASES: list[tuple[str, Callable[[], Body], Admission | Refused]] = [
    # --- wrong types
    ("wrong-type-refresh-int", lambda: ms("c", refreshInterval=30), Admission("spec.refreshInterval")),
    ("wrong-type-data-string", lambda: ms("c", data="k"), Admission("spec.data")),
    ("wrong-type-storeRef-string", lambda: ms("c", storeRef="local"), Admission("spec.storeRef")),
    ("wrong-type-remote-key-int", lambda: ms("c", data=[{"secretKey": "k", "remoteRef": {"key": 7}}]), Admission("spec.data[0].remoteRef.key")),
    ("wrong-type-target-list", lambda: ms("c", target=["x"]), Admission("spec.target")),
    ("wrong-type-rotation-keys", lambda: ms("c", rotation={"interval": "1h", "keys": "k"}), Admission("spec.rotation.keys")),
    # --- huge values
    ("huge-remote-key", lambda: ms("c", data=[{"secretKey": "k", "remoteRef": {"key": "k" * 5000}}]), Admission("spec.data[0].remoteRef.key")),
    ("huge-template-value", lambda: ms("c", target={"template": {"data": {"k": HUGE}}}), Admission("spec.target.template.data")),
    ("huge-data-list", lambda: ms("c", data=[{"secretKey": f"k{i}", "remoteRef": {"key": "k"}} for i in range(300)]), Admission("spec.data")),
    ("huge-secret-key", lambda: ms("c", data=[{"secretKey": "k" * 300, "remoteRef": {"key": "k"}}]), Admission("spec.data[0].secretKey")),
    ("huge-duration", lambda: ms("c", refreshInterval="9" * 31 + "h"), Admission("spec.refreshInterval")),
    # --- unknown fields
    ("unknown-field-strict", lambda: ms("c", bogus=1), Admission('unknown field "spec.bogus"', strict=True)),
    ("unknown-field-store-namespace-strict", lambda: ms("c", storeRef={"name": "local", "namespace": NS_OTHER}),
     Admission('unknown field "spec.storeRef.namespace"', strict=True)),
    # --- other namespaces and cluster stores
    ("store-of-another-namespace", lambda: ms("c", storeRef={"name": "theirs"}), Refused("StoreNotReady", "theirs")),
    ("cluster-store-not-admitting", lambda: ms("c", storeRef={"name": CSS_NAME, "kind": "ClusterSecretStore"}),
     Refused("StoreNotReady", "does not admit")),
    ("target-name-path", lambda: ms("c", target={"name": "../kube-system/x"}), Admission("spec.target.name")),
    # --- credential-minting targets
    ("target-type-sa-token", lambda: ms("c", target={"type": "kubernetes.io/service-account-token"}), Admission("spec.target.type")),
    ("target-type-bootstrap-token", lambda: ms("c", target={"type": "bootstrap.kubernetes.io/token"}), Admission("spec.target.type")),
    ("template-type-sa-token", lambda: ms("c", target={"template": {"type": "kubernetes.io/service-account-token", "data": {"a": "b"}}}),
     Admission("spec.target.template.type")),
    ("template-reserved-annotation", lambda: ms("c", target={"template": {"metadata": {"annotations": {"configmanager.io/owner": "x"}}}}),
     Admission("spec.target.template.metadata.annotations")),
    # --- templates reaching for the operator's environment or files
    ("template-env-function", lambda: ms("c", target={"template": {"data": {"a": '{{ env "HOME" }}'}}}), Refused("InvalidSpec", "spec.target.template.data[a]")),
    ("template-dot-env", lambda: ms("c", target={"template": {"data": {"a": "{{ .Env.KUBECONFIG }}"}}}), Refused("InvalidSpec", "spec.target.template.data[a]")),
    ("template-readfile", lambda: ms("c", target={"template": {"data": {"a": '{{ readFile "/etc/passwd" }}'}}}), Refused("InvalidSpec", "spec.target.template.data[a]")),
    ("template-index-traversal", lambda: ms("c", target={"template": {"data": {"a": '{{ index . "../../proc/self/environ" }}'}}}),
     Refused("InvalidSpec", "spec.target.template.data[a]")),
    ("template-python-dunder", lambda: ms("c", target={"template": {"data": {"a": "{{ ''.__class__.__mro__ }}"}}}), Refused("InvalidSpec", "spec.target.template.data[a]")),
    ("template-bad-b64dec", lambda: ms("c", target={"template": {"data": {"a": "{{ .k | b64dec }}"}}}), Refused("InvalidSpec", "b64dec")),
    ("template-bad-key", lambda: ms("c", target={"template": {"data": {"../a": "x"}}}), Admission("spec.target.template.data")),
    # --- colliding key names
    ("duplicate-secret-key", lambda: with_data("c", ("k", "k"), ("k", "other")), Admission("spec.data[1]")),
    ("secret-key-path", lambda: with_data("c", ("../k", "k")), Admission("spec.data[0].secretKey")),
    # --- path traversal and odd characters in remote keys
    ("local-key-dotdot", lambda: with_data("c", ("a", "../k")), Refused("ProviderError", "../k")),
    ("local-key-absolute", lambda: with_data("c", ("a", "/etc/passwd")), Refused("ProviderError", "/etc/passwd")),
    ("local-key-nul", lambda: with_data("c", ("a", "k\x00x")), Refused("ProviderError", "local")),
    ("vault-key-dotdot", lambda: with_data("c", ("a", "app/../../sys/policy"), store="vault"), Refused("InvalidSpec", "spec.data[0].remoteRef")),
    ("vault-key-absolute", lambda: with_data("c", ("a", "/sys/policy"), store="vault"), Refused("InvalidSpec", "relative path")),
    ("vault-key-nul", lambda: with_data("c", ("a", "app/x\x00y"), store="vault"), Refused("InvalidSpec", "control character")),
    ("vault-version-not-number", lambda: with_data("c", ("a", "app/x"), store="vault", version="latest; rm"), Refused("InvalidSpec", "positive integer")),
    ("remote-key-empty", lambda: with_data("c", ("a", "")), Admission("spec.data[0].remoteRef.key")),
    # --- invalid durations and cron expressions
    ("duration-words", lambda: ms("c", refreshInterval="often"), Admission("spec.refreshInterval")),
    ("duration-negative", lambda: ms("c", refreshInterval="-5s"), Admission("spec.refreshInterval")),
    ("duration-too-short", lambda: ms("c", refreshInterval="1s"), Admission("spec.refreshInterval")),
    ("rotation-interval-too-short", lambda: ms("c", rotation={"interval": "10s"}), Admission("spec.rotation.interval")),
    ("rotation-interval-and-schedule", lambda: ms("c", rotation={"interval": "1h", "schedule": "0 * * * *"}), Admission("spec.rotation")),
    ("cron-three-fields", lambda: ms("c", rotation={"schedule": "* * *"}), Admission("spec.rotation.schedule")),
    ("cron-out-of-range", lambda: ms("c", rotation={"schedule": "61 25 * * *"}), Refused("InvalidSpec", "spec.rotation.schedule")),
    ("cron-never-fires", lambda: ms("c", rotation={"schedule": "0 0 31 2 *"}), Refused("InvalidSpec", "spec.rotation.schedule")),
    ("debounce-words", lambda: ms("c", rotation={"interval": "1h", "restartWorkloads": {"debounce": "soon"}}),
     Admission("spec.rotation.restartWorkloads.debounce")),
    # --- policies and shapes
    ("merge-with-delete", lambda: ms("c", target={"creationPolicy": "Merge", "deletionPolicy": "Delete"}), Admission("spec.target")),
    ("store-kind-unknown", lambda: ms("c", storeRef={"name": "local", "kind": "Vault"}), Admission("spec.storeRef.kind")),
    ("store-name-traversal", lambda: ms("c", storeRef={"name": "../local"}), Admission("spec.storeRef.name")),
    ("nothing-to-fetch", lambda: managed_secret("c"), Admission("spec")),
]
TRIED: list[str] = []


@dataclass
class Arena:
    kube: KubeApi
    namespace: str
    operator: OperatorProcess
    pid: int
    healthy_value: str
    log_offset: int  # the session operator's log before this module: only what follows is ours to judge


def b64(text: str | bytes) -> str:
    return base64.b64encode(text.encode() if isinstance(text, str) else text).decode()


@pytest.fixture(scope="module")
def arena(kube: KubeApi, operator: OperatorProcess, vault_server: VaultServer) -> Iterator[Arena]:
    """One namespace with a local and a Vault store, a healthy ManagedSecret, a store in another namespace
    and a ClusterSecretStore that admits nobody here."""
    namespace, other = f"h-{uuid.uuid4().hex[:8]}", f"h-{uuid.uuid4().hex[:8]}"
    for name in (namespace, other):
        kube.create("namespaces", None, {"metadata": {"name": name}})
    value = "healthy-" + uuid.uuid4().hex
    if operator.proc is None:
        operator.start()
    running_operator = operator
    try:
        make_local_store(kube, namespace, values={"k": value})
        make_local_store(kube, other, name="theirs", values={"k": "their-secret"})
        token = vault_server.create_token(["app-read"])
        kube.create("secrets", namespace, {"metadata": {"name": "vault"}, "data": {
            "token": b64(token), "ca.crt": b64(vault_server.ca_file.read_bytes())}})
        kube.create("secretstores", namespace, {
            "apiVersion": API, "kind": "SecretStore", "metadata": {"name": "vault"},
            "spec": {"provider": {"vault": {"server": vault_server.url, "path": "secret", "version": "v2",
                                            "caProvider": {"type": "Secret", "name": "vault", "key": "ca.crt"},
                                            "auth": {"tokenSecretRef": {"name": "vault", "key": "token"}}}}}})
        kube.create("clustersecretstores", None, {
            "apiVersion": API, "kind": "ClusterSecretStore", "metadata": {"name": CSS_NAME},
            "spec": {"conditions": [{"namespaces": [other]}],
                     "provider": {"local": {"storage": {"name": "theirs-blob", "namespace": other},
                                            "keySecretRef": {"name": "theirs-key", "key": "key", "namespace": other}}}}})
        kube.create("managedsecrets", namespace, managed_secret("healthy", data={"k": "k"}, refresh="5s"))
        vault_server.admin.secrets.kv.v2.create_or_update_secret(path=VAULT_PATH, secret={"v": value}, mount_point="secret")
        kube.create("managedsecrets", namespace, {**managed_secret("healthy-vault", store="vault"), "spec": {
            "storeRef": {"name": "vault"}, "refreshInterval": "5s",
            "data": [{"secretKey": "v", "remoteRef": {"key": VAULT_PATH, "property": "v"}}]}})
        wait_ready(kube, namespace, "healthy")
        wait_ready(kube, namespace, "healthy-vault")
        assert running_operator.proc is not None
        yield Arena(kube, namespace, running_operator, running_operator.proc.pid, value, len(running_operator.log_text()))
    finally:
        kube.delete("clustersecretstores", None, CSS_NAME)
        for name in (namespace, other):
            kube.delete("namespaces", None, name)


def create(kube: KubeApi, namespace: str, body: Body, strict: bool) -> None:
    if not strict:
        kube.create("managedsecrets", namespace, body)
        return
    kube.request("create", "POST", "managedsecrets", f"/apis/configmanager.io/v1alpha1/namespaces/{namespace}/managedsecrets",
                 body=body, query={"fieldValidation": "Strict"})


@pytest.mark.parametrize(("build", "expect"), [(b, e) for _, b, e in CASES], ids=[c[0] for c in CASES])
def test_bad_input_is_refused_without_harm(arena: Arena, build: Callable[[], Body], expect: Admission | Refused,
                                           request: pytest.FixtureRequest) -> None:
    kube, namespace = arena.kube, arena.namespace
    body = copy.deepcopy(build())
    name = f"c-{uuid.uuid4().hex[:8]}"
    body["metadata"]["name"] = name
    TRIED.append(request.node.callspec.id)
    if isinstance(expect, Admission):
        with pytest.raises(ApiError) as err:
            create(kube, namespace, body, expect.strict)
        assert err.value.status in (400, 422), str(err.value)
        assert expect.field in str(err.value), f"the apiserver's message should name {expect.field}: {err.value}"
        assert kube.get("managedsecrets", namespace, name) is None
    else:
        create(kube, namespace, body, False)
        try:
            def refused() -> dict[str, Any] | None:
                current = kube.get("managedsecrets", namespace, name)
                return current if condition(current).get("status") == "False" else None
            obj = wait_for(refused, timeout=30, what=f"{name} refused in status")
            assert obj is not None
            ready = condition(obj)
            assert ready["reason"] == expect.reason, ready
            assert expect.fragment in ready["message"], ready
            assert kube.get("secrets", namespace, name) is None, "nothing written for a refused spec"
            events = wait_for(lambda: [e for e in events_for(kube, namespace, name) if e["type"] == "Warning"],
                              timeout=15, what=f"a Warning Event for {name}")
            assert any(expect.fragment in e["message"] or expect.reason in e["reason"] for e in events), events
            shown = repr(obj.get("status")) + repr(events)
            assert arena.healthy_value not in shown and "their-secret" not in shown
        finally:
            kube.delete("managedsecrets", namespace, name)
    # nobody else is affected, the operator did not crash
    assert arena.operator.proc is not None and arena.operator.proc.pid == arena.pid, "operator restarted"
    assert arena.operator.healthy()
    assert condition(kube.get("managedsecrets", namespace, "healthy"))["status"] == "True"
    assert secret_data(kube, namespace, "healthy") == {"k": arena.healthy_value}
    # the shared Vault store is not backing off because of someone else's bad reference: a forced
    # re-read of the healthy Vault object succeeds at once
    stamp = uuid.uuid4().hex[:8]
    kube.patch("managedsecrets", namespace, "healthy-vault", {"metadata": {"annotations": {"configmanager.io/force-sync": stamp}}})
    done = wait_for(lambda: (o := kube.get("managedsecrets", namespace, "healthy-vault")) and
                    o["status"].get("forceSync") == stamp and o, timeout=20, what="healthy Vault object re-synced")
    assert condition(done)["reason"] == "SecretSynced", condition(done)
    assert secret_data(kube, namespace, "healthy-vault") == {"v": arena.healthy_value}


def test_catalogue_size(arena: Arena) -> None:
    """The catalogue is what the note counts; make the count visible and keep it from shrinking silently."""
    admission = sum(isinstance(e, Admission) for _, _, e in CASES)
    print(f"hostile input catalogue: {len(CASES)} cases ({admission} at admission, {len(CASES) - admission} in status)")
    assert len(CASES) >= 45
    assert "Traceback" not in arena.operator.log_text()[arena.log_offset:], "no unhandled exception in the operator's log"
