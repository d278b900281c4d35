"""PushSecret on the real control plane: keys of a Secret written to the local store and to the real Vault;
IfNotExists never overwrites; a change of the source Secret is pushed again; a pass with nothing new
writes nothing to the store; deletionPolicy Delete removes only what was pushed (a key leaving the spec,
the PushSecret deleted); a ClusterSecretStore that does not admit the namespace is refused with the field
named and nothing pushed; a selector naming another namespace is refused at admission."""

from __future__ import annotations

import base64
import uuid
from typing import Any

import pytest

from config_manager.errors import SecretNotFoundError
from config_manager.k8s.api.client import ApiError, KubeApi
from tests.helpers.operator_process import OperatorProcess, make_local_store, wait_for
from tests.helpers.vault_server import VaultServer, vault_server  # noqa: F401  (fixture)
from tests.integration.opkit import API, condition, events_for, wait_ready

KIND = "PushSecret"
# values long and random enough that a leak check cannot match them inside a uid or a resourceVersion
A1, B1, C1, A2, C2 = (f"{k}-{uuid.uuid4().hex}" for k in ("a1", "b1", "c1", "a2", "c2"))


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def source(kube: KubeApi, ns: str, name: str, values: dict[str, str]) -> None:
    kube.create("secrets", ns, {"metadata": {"name": name}, "data": {k: b64(v) for k, v in values.items()}})


def push_secret(name: str, secret: str, items: list[tuple[str, str, str | None]], *, store: str = "local",
                store_kind: str = "SecretStore", update: str = "Replace", deletion: str = "None",
                refresh: str = "1h") -> dict[str, Any]:
    return {
        "apiVersion": API, "kind": KIND, "metadata": {"name": name},
        "spec": {"secretStoreRefs": [{"name": store, "kind": store_kind}], "refreshInterval": refresh,
                 "selector": {"secret": {"name": secret}}, "updatePolicy": update, "deletionPolicy": deletion,
                 "data": [{"match": {"secretKey": k, "remoteRef": {"remoteKey": r, **({"property": p} if p else {})}}}
                          for k, r, p in items]},
    }


def wait_synced(kube: KubeApi, ns: str, name: str, resource_version: str) -> None:
    """The positive marker that a pass has seen this version of the source Secret (and ended in sync)."""
    wait_for(lambda: ((kube.get("pushsecrets", ns, name) or {}).get("status") or {}).get("syncedResourceVersion") == resource_version,
             what=f"PushSecret {name} passed over Secret version {resource_version}")


def remote(provider: Any, key: str) -> Any:
    try:
        return provider.get(key).value
    except SecretNotFoundError:
        return None


def test_push_to_the_local_store(kube: KubeApi, namespace: str, running_operator: OperatorProcess) -> None:
    ns, op = namespace, running_operator
    store = make_local_store(kube, ns, values={"existing": "theirs", "doc": {"user": "svc"}})
    source(kube, ns, "src", {"a": A1, "b": B1, "c": C1})
    kube.create("pushsecrets", ns, push_secret("p", "src", [("a", "pushed/a", None), ("b", "doc", "password")],
                                               deletion="Delete"))
    kube.create("pushsecrets", ns, push_secret("keep", "src", [("c", "existing", None), ("c", "fresh", None)],
                                               update="IfNotExists"))
    p = wait_ready(kube, ns, "p", plural="pushsecrets", reason="Pushed")
    assert remote(store.provider, "pushed/a") == A1
    assert remote(store.provider, "doc") == {"user": "svc", "password": B1}  # the other property kept
    assert [(e["remoteKey"], e["synced"], e["pushed"]) for e in p["status"]["keys"]] == [("pushed/a", True, True), ("doc", True, True)]
    keep = wait_ready(kube, ns, "keep", plural="pushsecrets", reason="Pushed")
    assert remote(store.provider, "existing") == "theirs"  # IfNotExists: never overwritten
    assert remote(store.provider, "fresh") == C1
    assert {e["remoteKey"]: e["pushed"] for e in keep["status"]["keys"]} == {"existing": False, "fresh": True}
    assert p["metadata"]["finalizers"] == ["configmanager.io/pushsecret"]
    assert "finalizers" not in keep["metadata"]
    text = str(p) + str(keep) + str(events_for(kube, ns, "p")) + op.log_text()
    assert A1 not in text and B1 not in text and C1 not in text

    # a pass with nothing new (a label on the source Secret) writes nothing to the store
    blob_version = kube.get("secrets", ns, "local-blob")["metadata"]["resourceVersion"]
    touched = kube.patch("secrets", ns, "src", {"metadata": {"labels": {"touched": "yes"}}})["metadata"]["resourceVersion"]
    wait_synced(kube, ns, "p", touched)
    assert kube.get("secrets", ns, "local-blob")["metadata"]["resourceVersion"] == blob_version

    # a changed value is pushed again; IfNotExists leaves the value it pushed alone
    changed = kube.patch("secrets", ns, "src", {"data": {"a": b64(A2), "c": b64(C2)}})["metadata"]["resourceVersion"]
    wait_for(lambda: remote(store.provider, "pushed/a") == A2, what="changed source value pushed")
    wait_synced(kube, ns, "keep", changed)
    assert remote(store.provider, "fresh") == C1 and remote(store.provider, "existing") == "theirs"

    # a key that leaves the spec is removed (only its property), the PushSecret's deletion removes the rest
    kube.patch("pushsecrets", ns, "p", {"spec": {"data": [{"match": {"secretKey": "a", "remoteRef": {"remoteKey": "pushed/a"}}}]}})
    wait_for(lambda: remote(store.provider, "doc") == {"user": "svc"}, what="property removed from doc")
    kube.delete("pushsecrets", ns, "p")
    wait_for(lambda: kube.get("pushsecrets", ns, "p") is None, what="PushSecret gone after its finalizer")
    assert remote(store.provider, "pushed/a") is None
    assert remote(store.provider, "existing") == "theirs" and remote(store.provider, "doc") == {"user": "svc"}
    kube.delete("pushsecrets", ns, "keep")  # deletionPolicy None: what it pushed stays
    wait_for(lambda: kube.get("pushsecrets", ns, "keep") is None, what="keep deleted")
    assert remote(store.provider, "fresh") == C1


def test_refused_store_and_no_other_namespace(kube: KubeApi, namespace: str, running_operator: OperatorProcess) -> None:
    ns = namespace
    store = make_local_store(kube, ns, name="blob")
    source(kube, ns, "src", {"a": "refused-value"})
    css = f"css-{uuid.uuid4().hex[:6]}"
    kube.create("clustersecretstores", None, {
        "apiVersion": API, "kind": "ClusterSecretStore", "metadata": {"name": css},
        "spec": {"conditions": [{"namespaceSelector": {"matchLabels": {"push": css}}}],
                 "provider": {"local": {"storage": {"name": "blob-blob", "namespace": ns},
                                        "keySecretRef": {"name": "blob-key", "key": "key", "namespace": ns}}}},
    })
    try:
        kube.create("pushsecrets", ns, push_secret("c", "src", [("a", "a", None)], store=css, store_kind="ClusterSecretStore"))
        ps = wait_ready(kube, ns, "c", plural="pushsecrets", status="False", reason="StoreRefused")
        message = condition(ps)["message"]
        assert "spec.secretStoreRefs[0]" in message and "does not admit" in message, message
        assert ps["status"]["keys"][0]["synced"] is False
        assert store.provider.list() == []  # nothing pushed
        # once the namespace is admitted, the same PushSecret pushes (the positive marker)
        kube.patch("namespaces", None, ns, {"metadata": {"labels": {"push": css}}})
        wait_ready(kube, ns, "c", plural="pushsecrets", reason="Pushed")
        assert remote(store.provider, "a") == "refused-value"
    finally:
        kube.delete("clustersecretstores", None, css)
    # a Secret of another namespace cannot be named: refused at admission, naming the field
    body = push_secret("x", "src", [("a", "a", None)])
    body["spec"]["selector"]["secret"]["namespace"] = "kube-system"
    with pytest.raises(ApiError) as err:
        kube.create("pushsecrets", ns, body)
    assert err.value.status == 422 and "selector.secret" in str(err.value), str(err.value)


def test_push_to_vault(kube: KubeApi, namespace: str, running_operator: OperatorProcess,
                       vault_server: VaultServer) -> None:  # noqa: F811
    ns = namespace
    base = f"push/{uuid.uuid4().hex[:8]}"
    vault_server.write_policy("push-rw", """
path "secret/data/push/*" { capabilities = ["create", "update", "read"] }
path "secret/metadata/push/*" { capabilities = ["read", "delete", "list"] }
""")
    admin = vault_server.admin.secrets.kv.v2
    admin.create_or_update_secret(path=f"{base}/db", secret={"user": "svc"}, mount_point="secret")
    kube.create("secrets", ns, {"metadata": {"name": "vault-token"}, "data": {"token": b64(vault_server.create_token(["push-rw"]))}})
    kube.create("secrets", ns, {"metadata": {"name": "vault-ca"}, "data": {"ca.crt": base64.b64encode(vault_server.ca_file.read_bytes()).decode()}})
    kube.create("secretstores", ns, {"apiVersion": API, "kind": "SecretStore", "metadata": {"name": "vault"}, "spec": {"provider": {"vault": {
        "server": vault_server.url, "path": "secret", "version": "v2",
        "caProvider": {"type": "Secret", "name": "vault-ca", "key": "ca.crt"},
        "auth": {"tokenSecretRef": {"name": "vault-token", "key": "token"}}}}}})
    source(kube, ns, "src", {"token": "vault-tok-1", "password": "vault-pw-1"})
    kube.create("pushsecrets", ns, push_secret("v", "src", [("token", f"{base}/token", None), ("password", f"{base}/db", "password")],
                                               store="vault", deletion="Delete"))
    wait_ready(kube, ns, "v", plural="pushsecrets", reason="Pushed", timeout=45)

    def read(path: str) -> dict[str, Any] | None:
        try:
            return dict(admin.read_secret_version(path=path, mount_point="secret", raise_on_deleted_version=True)["data"]["data"])
        except Exception:  # noqa: BLE001 - hvac's InvalidPath: the key does not exist
            return None

    assert read(f"{base}/token") == {"value": "vault-tok-1"}
    assert read(f"{base}/db") == {"user": "svc", "password": "vault-pw-1"}
    version = admin.read_secret_metadata(path=f"{base}/db", mount_point="secret")["data"]["current_version"]
    # nothing new: no new Vault version; a changed value: pushed again
    touched = kube.patch("secrets", ns, "src", {"metadata": {"labels": {"touched": "yes"}}})["metadata"]["resourceVersion"]
    wait_synced(kube, ns, "v", touched)
    assert admin.read_secret_metadata(path=f"{base}/db", mount_point="secret")["data"]["current_version"] == version
    kube.patch("secrets", ns, "src", {"data": {"password": b64("vault-pw-2")}})
    wait_for(lambda: (read(f"{base}/db") or {}).get("password") == "vault-pw-2", what="new value pushed to Vault")
    # deleted: the key we created goes, the property we added goes, the field that was there stays
    kube.delete("pushsecrets", ns, "v")
    wait_for(lambda: kube.get("pushsecrets", ns, "v") is None, what="PushSecret gone after its finalizer")
    assert read(f"{base}/token") is None
    assert read(f"{base}/db") == {"user": "svc"}
