"""The operator's Vault stores with JWT auth (a TokenRequest token of the store's ServiceAccount, checked
by Vault against our apiserver's issuer keys) and userpass auth, against the real Vault server."""

from __future__ import annotations

import base64
import uuid

import pytest

from config_manager.k8s.api.client import KubeApi
from tests.helpers.operator_process import OperatorProcess
from tests.helpers.vault_server import VaultServer
from tests.integration.opkit import API, condition, managed_secret, secret_data, wait_ready
from tests.integration.test_vault_auth_methods import trust_the_apiserver

pytestmark = [pytest.mark.cluster, pytest.mark.vault]


def _store(kube: KubeApi, ns: str, server: VaultServer, name: str, auth: dict[str, object]) -> None:
    kube.create("secretstores", ns, {"apiVersion": API, "kind": "SecretStore", "metadata": {"name": name}, "spec": {"provider": {
        "vault": {"server": server.url, "path": "secret", "version": "v2",
                  "caBundle": base64.b64encode(server.ca_file.read_bytes()).decode(), "auth": auth}}}})


def test_jwt_auth_with_a_service_account_token_and_userpass(kube: KubeApi, namespace: str, running_operator: OperatorProcess,
                                                            vault_server: VaultServer) -> None:
    ns, path = namespace, f"app/{uuid.uuid4().hex[:8]}"
    vault_server.admin.secrets.kv.v2.create_or_update_secret(path=path, secret={"k": "vault-auth-value"}, mount_point="secret")
    kube.create("serviceaccounts", ns, {"metadata": {"name": "app"}})
    kube.create("serviceaccounts", ns, {"metadata": {"name": "stranger"}})
    mount = trust_the_apiserver(vault_server, kube, f"system:serviceaccount:{ns}:app")
    _store(kube, ns, vault_server, "jwt", {"jwt": {"path": mount, "role": "app",
                                                   "kubernetesServiceAccountToken": {"serviceAccountRef": {"name": "app"}}}})
    _store(kube, ns, vault_server, "jwt-stranger", {"jwt": {"path": mount, "role": "app",
                                                            "kubernetesServiceAccountToken": {"serviceAccountRef": {"name": "stranger"}}}})
    userpass = f"userpass-{uuid.uuid4().hex[:6]}"
    vault_server.admin.sys.enable_auth_method("userpass", path=userpass)
    password = "op-up-" + uuid.uuid4().hex
    vault_server.admin.auth.userpass.create_or_update_user("svc", password, policies=["app-read"], mount_point=userpass)
    kube.create("secrets", ns, {"metadata": {"name": "vault-user"}, "data": {"password": base64.b64encode(password.encode()).decode()}})
    _store(kube, ns, vault_server, "userpass", {"userPass": {"path": userpass, "username": "svc",
                                                             "secretRef": {"name": "vault-user", "key": "password"}}})

    for store in ("jwt", "userpass"):
        kube.create("managedsecrets", ns, {**managed_secret(store, store=store),
                                           "spec": {"storeRef": {"name": store},
                                                    "data": [{"secretKey": "k", "remoteRef": {"key": path, "property": "k"}}]}})
        wait_ready(kube, ns, store, timeout=60)
        assert secret_data(kube, ns, store) == {"k": "vault-auth-value"}
    kube.create("managedsecrets", ns, {**managed_secret("stranger", store="jwt-stranger"),
                                       "spec": {"storeRef": {"name": "jwt-stranger"},
                                                "data": [{"secretKey": "k", "remoteRef": {"key": path, "property": "k"}}]}})
    refused = wait_ready(kube, ns, "stranger", status="False", timeout=60)
    assert "vault-auth-value" not in str(refused) and password not in condition(refused).get("message", "")
    assert kube.get("secrets", ns, "stranger") is None
    assert password not in running_operator.log_text()


def test_jwt_auth_needs_exactly_one_token_source_at_admission(kube: KubeApi, namespace: str, crds: None,
                                                              vault_server: VaultServer) -> None:
    from config_manager.k8s.api.client import ApiError

    for jwt in ({"role": "app"},
                {"role": "app", "secretRef": {"name": "t", "key": "t"},
                 "kubernetesServiceAccountToken": {"serviceAccountRef": {"name": "app"}}}):
        with pytest.raises(ApiError) as caught:
            _store(kube, namespace, vault_server, f"bad-{uuid.uuid4().hex[:4]}", {"jwt": jwt})
        assert caught.value.status == 422 and "exactly one of secretRef or kubernetesServiceAccountToken" in str(caught.value)


def test_cert_auth_from_a_secret(kube: KubeApi, namespace: str, running_operator: OperatorProcess,
                                 vault_server: VaultServer) -> None:
    from tests.integration.test_vault_auth_methods import _client_certificate

    ns, path = namespace, f"app/{uuid.uuid4().hex[:8]}"
    vault_server.admin.secrets.kv.v2.create_or_update_secret(path=path, secret={"k": "via-cert-store"}, mount_point="secret")
    mount = f"cert-{uuid.uuid4().hex[:6]}"
    vault_server.admin.sys.enable_auth_method("cert", path=mount)
    ca_pem, cert_pem, key_pem = _client_certificate("operator.example")
    vault_server.admin.auth.cert.create_ca_certificate_role("app", certificate=ca_pem, token_policies=["app-read"],
                                                            token_ttl=600, mount_point=mount)
    kube.create("secrets", ns, {"metadata": {"name": "vault-client"}, "type": "kubernetes.io/tls", "data": {
        "tls.crt": base64.b64encode(cert_pem.encode()).decode(), "tls.key": base64.b64encode(key_pem.encode()).decode()}})
    _store(kube, ns, vault_server, "cert", {"cert": {"path": mount, "role": "app",
                                                     "clientCert": {"name": "vault-client", "key": "tls.crt"},
                                                     "secretRef": {"name": "vault-client", "key": "tls.key"}}})
    kube.create("managedsecrets", ns, {**managed_secret("c", store="cert"), "spec": {
        "storeRef": {"name": "cert"}, "data": [{"secretKey": "k", "remoteRef": {"key": path, "property": "k"}}]}})
    wait_ready(kube, ns, "c", timeout=60)
    assert secret_data(kube, ns, "c") == {"k": "via-cert-store"}
    log = running_operator.log_text()
    assert "PRIVATE KEY" not in log and key_pem.splitlines()[1] not in log
