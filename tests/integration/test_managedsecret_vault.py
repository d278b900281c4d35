"""ManagedSecret with a real Vault server: token, AppRole and Kubernetes (TokenRequest) auth, KV v1 and v2,
CA bundle from a Secret, store validation in status, and a frozen server (failure, last good Secret kept,
recovery)."""

from __future__ import annotations

import base64
import uuid
from typing import Any

import pytest

from config_manager.k8s.api.client import KubeApi
from tests.helpers.operator_process import OperatorProcess, wait_for
from tests.helpers.vault_server import VaultServer, vault_kubernetes_auth, vault_server  # noqa: F401  (fixtures)
from tests.integration.opkit import API, condition, managed_secret, secret_data, wait_ready

pytestmark = [pytest.mark.cluster, pytest.mark.vault]


def b64(text: str | bytes) -> str:
    return base64.b64encode(text.encode() if isinstance(text, str) else text).decode()


def vault_store(kube: KubeApi, ns: str, server: VaultServer, auth: dict[str, Any], *, name: str = "vault",
                path: str = "secret", version: str = "v2") -> None:
    kube.create("secrets", ns, {"metadata": {"name": "vault-ca"}, "data": {"ca.crt": b64(server.ca_file.read_bytes())}})
    kube.create("secretstores", ns, {
        "apiVersion": API, "kind": "SecretStore", "metadata": {"name": name},
        "spec": {"provider": {"vault": {"server": server.url, "path": path, "version": version,
                                        "caProvider": {"type": "Secret", "name": "vault-ca", "key": "ca.crt"},
                                        "auth": auth}}},
    })


def test_token_auth_kv2_with_property_and_validation(kube: KubeApi, namespace: str, running_operator: OperatorProcess,
                                                      vault_server: VaultServer) -> None:  # noqa: F811
    path = f"app/{uuid.uuid4().hex[:8]}"
    vault_server.admin.secrets.kv.v2.create_or_update_secret(path=path, secret={"user": "svc", "password": "vpw-1"}, mount_point="secret")
    token = vault_server.create_token(["app-read"])
    kube.create("secrets", namespace, {"metadata": {"name": "vault-token"}, "data": {"token": b64(token)}})
    vault_store(kube, namespace, vault_server, {"tokenSecretRef": {"name": "vault-token", "key": "token"}})
    store = wait_for(lambda: condition(kube.get("secretstores", namespace, "vault")).get("status") == "True"
                     and kube.get("secretstores", namespace, "vault"), what="vault store Ready")
    assert store["status"]["provider"] == "vault"
    kube.create("managedsecrets", namespace, {
        **managed_secret("v", store="vault", refresh="5s"),
        "spec": {"storeRef": {"name": "vault"}, "refreshInterval": "5s",
                 "data": [{"secretKey": "pw", "remoteRef": {"key": path, "property": "password"}}],
                 "dataFrom": [{"extract": {"key": path}}]},
    })
    wait_ready(kube, namespace, "v")
    assert secret_data(kube, namespace, "v") == {"user": "svc", "password": "vpw-1", "pw": "vpw-1"}
    vault_server.admin.secrets.kv.v2.create_or_update_secret(path=path, secret={"user": "svc", "password": "vpw-2"}, mount_point="secret")
    wait_for(lambda: (secret_data(kube, namespace, "v") or {}).get("pw") == "vpw-2", timeout=30, what="new Vault version synced")


def test_approle_auth_and_permission_error(kube: KubeApi, namespace: str, running_operator: OperatorProcess,
                                           vault_server: VaultServer) -> None:  # noqa: F811
    path = f"app/{uuid.uuid4().hex[:8]}"
    vault_server.admin.secrets.kv.v2.create_or_update_secret(path=path, secret={"k": "approle-value"}, mount_point="secret")
    vault_server.admin.secrets.kv.v2.create_or_update_secret(path=f"other/{path}", secret={"k": "nope"}, mount_point="secret")
    role_id, secret_id = vault_server.create_approle(f"r-{namespace}", ["app-read"])
    kube.create("secrets", namespace, {"metadata": {"name": "approle"}, "data": {"secret-id": b64(secret_id)}})
    vault_store(kube, namespace, vault_server, {"appRole": {"roleId": role_id, "secretRef": {"name": "approle", "key": "secret-id"}}})
    kube.create("managedsecrets", namespace, managed_secret("a", store="vault", data={"k": path}))
    wait_ready(kube, namespace, "a")
    assert secret_data(kube, namespace, "a") == {"k": '{"k":"approle-value"}'}
    kube.create("managedsecrets", namespace, managed_secret("denied", store="vault", data={"k": f"other/{path}"}))
    ms = wait_ready(kube, namespace, "denied", status="False", reason="ProviderError")
    assert "nope" not in condition(ms)["message"]
    assert kube.get("secrets", namespace, "denied") is None


def test_kubernetes_auth_with_a_service_account_token(kube: KubeApi, namespace: str, running_operator: OperatorProcess,
                                                      vault_server: VaultServer, vault_kubernetes_auth: Any) -> None:  # noqa: F811
    path = f"app/{uuid.uuid4().hex[:8]}"
    vault_server.admin.secrets.kv.v2.create_or_update_secret(path=path, secret={"k": "k8s-auth-value"}, mount_point="secret")
    kube.create("serviceaccounts", namespace, {"metadata": {"name": "app"}})
    role = f"role-{namespace}"
    vault_server.admin.auth.kubernetes.create_role(
        name=role, bound_service_account_names=["app"], bound_service_account_namespaces=[namespace],
        policies=["app-read"], audience="vault", mount_point=vault_kubernetes_auth.mount_point)
    vault_store(kube, namespace, vault_server, {"kubernetes": {"role": role, "serviceAccountRef": {"name": "app"}}})
    kube.create("managedsecrets", namespace, {
        **managed_secret("k", store="vault"),
        "spec": {"storeRef": {"name": "vault"}, "data": [{"secretKey": "k", "remoteRef": {"key": path, "property": "k"}}]}})
    wait_ready(kube, namespace, "k", timeout=45)
    assert secret_data(kube, namespace, "k") == {"k": "k8s-auth-value"}


def test_frozen_vault_keeps_last_good_secret_and_recovers(kube: KubeApi, namespace: str, running_operator: OperatorProcess,
                                                          vault_server: VaultServer) -> None:  # noqa: F811
    path = f"app/{uuid.uuid4().hex[:8]}"
    vault_server.admin.secrets.kv.v2.create_or_update_secret(path=path, secret={"k": "before"}, mount_point="secret")
    token = vault_server.create_token(["app-read"])
    kube.create("secrets", namespace, {"metadata": {"name": "vault-token"}, "data": {"token": b64(token)}})
    vault_store(kube, namespace, vault_server, {"tokenSecretRef": {"name": "vault-token", "key": "token"}})
    kube.create("managedsecrets", namespace, {
        **managed_secret("f", store="vault"),
        "spec": {"storeRef": {"name": "vault"}, "refreshInterval": "5s",
                 "data": [{"secretKey": "k", "remoteRef": {"key": path, "property": "k"}}]}})
    wait_ready(kube, namespace, "f")
    vault_server.freeze()
    try:
        ms = wait_ready(kube, namespace, "f", status="False", reason="ProviderError", timeout=60)
        assert ms["status"]["access"]["consecutiveFailures"] >= 1 and ms["status"]["access"].get("nextRetry")
        assert secret_data(kube, namespace, "f") == {"k": "before"}
    finally:
        vault_server.thaw()
    wait_ready(kube, namespace, "f", reason="SecretSynced", timeout=60)
    assert secret_data(kube, namespace, "f") == {"k": "before"}
