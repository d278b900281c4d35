"""ManagedSecret dataFrom find / rewrite / generatorRef on the real control plane: the local store and the
real Vault (KV v1 and v2 mounts); invalid input refused naming the field with the synced Secret kept;
generated values stable across refreshes and made again on force-sync. (Azure's find by tags is in
test_managedsecret_azure.py, beside that module's operator.)"""

from __future__ import annotations

import base64
import uuid
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization

from config_manager.k8s.api.client import ApiError, KubeApi
from tests.helpers.operator_process import OperatorProcess, make_local_store, wait_for
from tests.helpers.vault_server import VaultServer, vault_server  # noqa: F401  (fixture)
from tests.integration.opkit import API, condition, events_for, managed_secret, secret_data, wait_ready

pytestmark = pytest.mark.cluster


def b64(text: str | bytes) -> str:
    return base64.b64encode(text.encode() if isinstance(text, str) else text).decode()


def finder(name: str, store: str, *entries: dict[str, Any], refresh: str = "1h") -> dict[str, Any]:
    return managed_secret(name, store=store, refresh=refresh, dataFrom=list(entries))


def test_find_by_regexp_path_and_tags_with_rewrite_on_the_local_store(kube: KubeApi, namespace: str,
                                                                       running_operator: OperatorProcess) -> None:
    store = make_local_store(kube, namespace, values={"app/db-user": "svc", "other/db-user": "x"})
    store.provider.set("app/db-pass", b64("pässwörd"), metadata={"team": "payments"})
    store.provider.set("app/api-token", "tok", metadata={"team": "payments"})
    kube.create("managedsecrets", namespace, finder(
        "db", "local",
        {"find": {"path": "app", "name": {"regexp": "^app/db-"}},
         "rewrite": [{"regexp": {"source": "^app/db-(?P<what>.*)$", "target": "DB_${what}"}},
                     {"transform": {"template": "{{ .value | upper }}"}}]},
        {"find": {"tags": {"team": "payments"}, "decodingStrategy": "Auto"}},
    ))
    wait_ready(kube, namespace, "db", reason="SecretSynced")
    assert secret_data(kube, namespace, "db") == {"DB_USER": "svc", "DB_PASS": b64("pässwörd"),
                                                 "app_db-pass": "pässwörd", "app_api-token": "tok"}


def test_invalid_regexp_and_colliding_rewrite_are_refused_and_the_secret_kept(kube: KubeApi, namespace: str,
                                                                              running_operator: OperatorProcess) -> None:
    store = make_local_store(kube, namespace, values={"a/x": "1"})
    with pytest.raises(ApiError) as refused:  # at admission: the CRD's CEL compiles the pattern
        kube.create("managedsecrets", namespace, finder("bad", "local", {"find": {"name": {"regexp": "(unclosed"}}}))
    assert "spec.dataFrom[0].find.name.regexp" in str(refused.value)
    kube.create("managedsecrets", namespace, finder("c", "local", {"find": {"path": "a"},
                                                                   "rewrite": [{"regexp": {"source": "^[ab]/", "target": ""}}]}))
    wait_ready(kube, namespace, "c")
    assert secret_data(kube, namespace, "c") == {"x": "1"}
    store.provider.set("b/x", "2")
    kube.patch("managedsecrets", namespace, "c", {"spec": {"dataFrom": [
        {"find": {"name": {"regexp": "/x$"}}, "rewrite": [{"regexp": {"source": "^[ab]/", "target": ""}}]}]}})
    ms = wait_ready(kube, namespace, "c", status="False", reason="InvalidSpec", generation=2)
    assert "spec.dataFrom[0].rewrite[0]" in condition(ms)["message"]
    wait_for(lambda: any("spec.dataFrom[0].rewrite[0]" in e.get("message", "") for e in events_for(kube, namespace, "c")),
             what="an Event naming the rewrite")
    assert secret_data(kube, namespace, "c") == {"x": "1"}, "nothing already synced is lost"
    with pytest.raises(ApiError) as refused:  # an update with an invalid pattern is refused at admission too
        kube.patch("managedsecrets", namespace, "c", {"spec": {"dataFrom": [
            {"find": {"path": "a"}, "rewrite": [{"regexp": {"source": "a[", "target": ""}}]}]}})
    assert "spec.dataFrom[0].rewrite[0].regexp.source" in str(refused.value)
    # valid for RE2 (the apiserver), not for Python's re: refused by the operator, in status, naming the field
    kube.patch("managedsecrets", namespace, "c", {"spec": {"dataFrom": [
        {"find": {"path": "a"}, "rewrite": [{"regexp": {"source": "\\pL+", "target": "k"}}]}]}})
    ms = wait_ready(kube, namespace, "c", status="False", reason="InvalidSpec", generation=3)
    assert "spec.dataFrom[0].rewrite[0].regexp.source" in condition(ms)["message"]
    assert secret_data(kube, namespace, "c") == {"x": "1"}


def vault_stores(kube: KubeApi, ns: str, server: VaultServer) -> None:
    kube.create("secrets", ns, {"metadata": {"name": "vault-ca"}, "data": {"ca.crt": b64(server.ca_file.read_bytes())}})
    kube.create("secrets", ns, {"metadata": {"name": "vault-token"}, "data": {"token": b64(server.create_token(["app-read"]))}})
    for name, path, version in (("kv2", "secret", "v2"), ("kv1", "kv1", "v1")):
        kube.create("secretstores", ns, {"apiVersion": API, "kind": "SecretStore", "metadata": {"name": name}, "spec": {"provider": {
            "vault": {"server": server.url, "path": path, "version": version,
                      "caProvider": {"type": "Secret", "name": "vault-ca", "key": "ca.crt"},
                      "auth": {"tokenSecretRef": {"name": "vault-token", "key": "token"}}}}}})


@pytest.mark.vault
def test_find_on_vault_kv_v1_and_v2(kube: KubeApi, namespace: str, running_operator: OperatorProcess,
                                    vault_server: VaultServer) -> None:  # noqa: F811
    uid = uuid.uuid4().hex[:8]
    base = f"app/{uid}"
    admin = vault_server.admin
    for path, value, tags in ((f"{base}/db", {"user": "u2"}, {"team": uid}), (f"{base}/deep/api", {"token": "t2"}, {"team": "b"}),
                              (f"{base}x/db", {"user": "not-under-the-path"}, {"team": uid})):
        admin.secrets.kv.v2.create_or_update_secret(path=path, secret=value, mount_point="secret")
        admin.secrets.kv.v2.update_metadata(path=path, custom_metadata=tags, mount_point="secret")
        admin.secrets.kv.v1.create_or_update_secret(path=path, secret={k: v.replace("2", "1") for k, v in value.items()}, mount_point="kv1")
    vault_stores(kube, namespace, vault_server)
    rewrite = [{"regexp": {"source": f"^{base}/", "target": ""}}, {"regexp": {"source": "/", "target": "."}}]
    for store in ("kv2", "kv1"):
        kube.create("managedsecrets", namespace, finder(f"{store}-path", store, {"find": {"path": base}, "rewrite": rewrite}))
    kube.create("managedsecrets", namespace, finder("kv2-tags", "kv2", {"find": {"path": "app", "tags": {"team": uid}}}))
    kube.create("managedsecrets", namespace, finder("kv2-regexp", "kv2", {"find": {"path": base, "name": {"regexp": "api$"}}}))
    kube.create("managedsecrets", namespace, finder("kv1-tags", "kv1", {"find": {"path": base, "tags": {"team": uid}}}))
    for name in ("kv2-path", "kv1-path", "kv2-tags", "kv2-regexp"):
        wait_ready(kube, namespace, name, timeout=45)
    assert secret_data(kube, namespace, "kv2-path") == {"db": '{"user":"u2"}', "deep.api": '{"token":"t2"}'}
    assert secret_data(kube, namespace, "kv1-path") == {"db": '{"user":"u1"}', "deep.api": '{"token":"t1"}'}
    assert secret_data(kube, namespace, "kv2-tags") == {f"{base}/db".replace("/", "_"): '{"user":"u2"}',
                                                       f"{base}x/db".replace("/", "_"): '{"user":"not-under-the-path"}'}
    assert secret_data(kube, namespace, "kv2-regexp") == {f"{base}/deep/api".replace("/", "_"): '{"token":"t2"}'}
    ms = wait_ready(kube, namespace, "kv1-tags", status="False", reason="InvalidSpec")
    assert "spec.dataFrom[0].find" in condition(ms)["message"] and "KV v1" in condition(ms)["message"]


def generator(kube: KubeApi, ns: str, kind: str, name: str, spec: dict[str, Any]) -> None:
    plural = {"Password": "passwords", "SSHKey": "sshkeys", "UUID": "uuids"}[kind]
    kube.create(plural, ns, {"apiVersion": API, "kind": kind, "metadata": {"name": name}, "spec": spec})


def test_generated_values_are_stable_across_refreshes_and_new_on_force_sync(kube: KubeApi, namespace: str,
                                                                           running_operator: OperatorProcess) -> None:
    store = make_local_store(kube, namespace, values={"marker": "v1"})
    generator(kube, namespace, "Password", "db", {"length": 32, "digits": 4, "symbols": 4, "noUpper": True})
    generator(kube, namespace, "SSHKey", "deploy", {"keyType": "ed25519", "comment": "deploy@ci"})
    generator(kube, namespace, "UUID", "id", {})
    kube.create("managedsecrets", namespace, managed_secret("gen", refresh="5s", data={"marker": "marker"}, dataFrom=[
        {"sourceRef": {"generatorRef": {"kind": "Password", "name": "db"}}},
        {"sourceRef": {"generatorRef": {"kind": "SSHKey", "name": "deploy"}}},
        {"sourceRef": {"generatorRef": {"kind": "UUID", "name": "id"}}, "rewrite": [{"regexp": {"source": "uuid", "target": "client-id"}}]},
    ]))
    wait_ready(kube, namespace, "gen")
    first = secret_data(kube, namespace, "gen") or {}
    assert set(first) == {"password", "privateKey", "publicKey", "client-id", "marker"}
    assert len(first["password"]) == 32 and first["password"] == first["password"].lower()
    key = serialization.load_ssh_private_key(first["privateKey"].encode(), password=None)
    public = serialization.load_ssh_public_key(first["publicKey"].encode())
    fmt = serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    assert key.public_key().public_bytes(*fmt) == public.public_bytes(*fmt) and first["publicKey"].rstrip().endswith("deploy@ci")
    store.provider.set("marker", "v2")  # later passes (the store changed, then refreshes) rewrite the Secret
    wait_for(lambda: (secret_data(kube, namespace, "gen") or {}).get("marker") == "v2", timeout=30, what="a later pass")
    assert secret_data(kube, namespace, "gen") == {**first, "marker": "v2"}, "generated values are kept"
    kube.patch("managedsecrets", namespace, "gen", {"metadata": {"annotations": {"configmanager.io/force-sync": "1"}}})
    wait_for(lambda: (o := kube.get("managedsecrets", namespace, "gen")) and o["status"].get("forceSync") == "1", what="force-sync")
    again = secret_data(kube, namespace, "gen") or {}
    assert all(again[k] != first[k] for k in first if k != "marker"), "a force-sync makes every generated key again"
    text = repr(kube.get("managedsecrets", namespace, "gen")) + repr(events_for(kube, namespace, "gen"))
    assert first["password"] not in text and again["password"] not in text


def test_rotation_takes_its_values_from_a_password_generator(kube: KubeApi, namespace: str,
                                                            running_operator: OperatorProcess) -> None:
    store = make_local_store(kube, namespace)
    generator(kube, namespace, "Password", "rot", {"length": 40, "digits": 10, "symbols": 0, "allowRepeat": True})
    kube.create("managedsecrets", namespace, {"apiVersion": API, "kind": "ManagedSecret", "metadata": {"name": "rot"}, "spec": {
        "storeRef": {"name": "local"}, "refreshInterval": "1h",
        "rotation": {"interval": "24h", "keys": ["api-key"], "generatorRef": {"kind": "Password", "name": "rot"}}}})

    def rotated(count: int) -> dict[str, str] | None:
        ms = kube.get("managedsecrets", namespace, "rot") or {}
        if ((ms.get("status") or {}).get("rotation") or {}).get("count") != count:
            return None
        return secret_data(kube, namespace, "rot")

    first = wait_for(lambda: rotated(1), timeout=30, what="initial value from the generator")
    assert len(first["api-key"]) == 40 and sum(c.isdigit() for c in first["api-key"]) == 10
    assert store.provider.get("api-key").value == first["api-key"]
    kube.patch("managedsecrets", namespace, "rot", {"metadata": {"annotations": {"configmanager.io/rotate": "now"}}})
    second = wait_for(lambda: (d := rotated(2)) and d["api-key"] != first["api-key"] and d, timeout=30, what="rotation")
    assert len(second["api-key"]) == 40 and sum(c.isdigit() for c in second["api-key"]) == 10


def test_a_missing_generator_is_reported_and_its_creation_syncs(kube: KubeApi, namespace: str,
                                                               running_operator: OperatorProcess) -> None:
    make_local_store(kube, namespace)
    kube.create("managedsecrets", namespace, managed_secret("later", dataFrom=[
        {"sourceRef": {"generatorRef": {"kind": "UUID", "name": "later"}}}]))
    ms = wait_ready(kube, namespace, "later", status="False", reason="GeneratorNotFound")
    assert "spec.dataFrom[0].sourceRef.generatorRef" in condition(ms)["message"]
    generator(kube, namespace, "UUID", "later", {})
    wait_ready(kube, namespace, "later", reason="SecretSynced")
    assert len((secret_data(kube, namespace, "later") or {})["uuid"]) == 36
