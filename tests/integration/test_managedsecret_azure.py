"""The operator with Azure Key Vault stores, against our Key Vault test server on the wire and the real
local control plane: each auth method (service principal, managed identity, workload identity with a
real ServiceAccount token checked against the apiserver's keys), a ClusterSecretStore, Azure's name
mapping, force-sync, soft-deleted and disabled secrets, throttling, and rotation written back with the
previous value kept. Request counts are read from the server, so the figures are what crossed the wire.

The stores name the server's authority through ``environmentType: AzureStackCloud`` +
``customCloudConfig.activeDirectoryEndpoint``, as a user of Azure Stack Hub would; the operator trusts the
server's CA through ``REQUESTS_CA_BUNDLE`` (docs/providers/azure.md).
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from azure.keyvault.secrets import SecretClient

from config_manager.k8s.api.client import KubeApi
from config_manager.providers.azure import AzureKeyVaultSecrets
from tests.helpers.azure_server import AzureVault, KeyVaultServer
from tests.helpers.operator_process import _SESSION_OPERATORS, OperatorProcess, wait_for
from tests.integration.opkit import API, condition, events_for, secret_data, wait_ready
from tests.integration.test_rotation import SCALE, annotate, rotation_status

pytestmark = [pytest.mark.cluster, pytest.mark.azure]


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


@pytest.fixture(scope="module")
def kv(azure_vault: AzureVault) -> KeyVaultServer:
    if not isinstance(azure_vault, KeyVaultServer):
        pytest.skip(f"the operator tests need the identity endpoints of tools/azure-keyvault; this session runs on {azure_vault.kind}")
    return azure_vault


@pytest.fixture(scope="module")
def azure_op(cluster: Any, crds: None, kv: KeyVaultServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[OperatorProcess]:
    """An operator that trusts the server's CA and has a managed identity (App Service-style variables).
    The session operator is stopped meanwhile (it would reconcile these stores without that trust)."""
    for proc in _SESSION_OPERATORS:
        proc.stop()
    kv.add_principal("system-assigned", managed=True)
    own = OperatorProcess(kubeconfig=Path(cluster.kubeconfig), log_path=tmp_path_factory.mktemp("azure-op") / "operator.log")
    own.start(SCALE, env={"REQUESTS_CA_BUNDLE": str(kv.ca_file), "IDENTITY_ENDPOINT": kv.identity_endpoint,
                          "IDENTITY_HEADER": kv.identity_header})
    try:
        yield own
    finally:
        own.stop()


@pytest.fixture()
def op(azure_op: OperatorProcess, kv: KeyVaultServer) -> Iterator[OperatorProcess]:
    kv.clear_faults()
    yield azure_op
    kv.clear_faults()


@pytest.fixture()
def vault(kv: KeyVaultServer) -> Iterator[AzureKeyVaultSecrets]:
    """The tests' own client of the vault (seeding values, checking write-back)."""
    client = AzureKeyVaultSecrets(kv.vault_url, kv.credential, purge_on_delete=True, **kv.client_kwargs)
    yield client
    client.close()


def azure_spec(kv: KeyVaultServer, **auth: Any) -> dict[str, Any]:
    return {"vaultUrl": kv.vault_url, "tenantId": kv.tenant_id, "environmentType": "AzureStackCloud",
            "customCloudConfig": {"activeDirectoryEndpoint": kv.authority_host}, **auth}


def service_principal_store(kube: KubeApi, kv: KeyVaultServer, ns: str, name: str = "azure",
                            permissions: list[str] | None = None) -> str:
    """A SecretStore with a service principal of its own (registered with the server); returns the client id."""
    client_id, secret = f"app-{ns}-{name}", uuid.uuid4().hex
    kv.add_principal(client_id, secret=secret, permissions=permissions)
    kube.create("secrets", ns, {"metadata": {"name": f"{name}-sp"}, "data": {"client-id": b64(client_id), "client-secret": b64(secret)}})
    kube.create("secretstores", ns, {"apiVersion": API, "kind": "SecretStore", "metadata": {"name": name}, "spec": {"provider": {
        "azure": azure_spec(kv, authType="ServicePrincipal", authSecretRef={
            "clientId": {"name": f"{name}-sp", "key": "client-id"}, "clientSecret": {"name": f"{name}-sp", "key": "client-secret"}})}}})
    return client_id


def store_status(kube: KubeApi, ns: str | None, name: str, status: str, plural: str = "secretstores") -> dict[str, Any]:
    """The store once its Ready condition has ``status``."""
    def check() -> dict[str, Any] | None:
        obj = kube.get(plural, ns, name)
        return obj if condition(obj).get("status") == status else None
    found: dict[str, Any] = wait_for(check, timeout=60, what=f"{plural} {name} Ready={status}")
    return found


def store_ready(kube: KubeApi, ns: str | None, name: str, plural: str = "secretstores") -> dict[str, Any]:
    return store_status(kube, ns, name, "True", plural)


def force_sync(kube: KubeApi, ns: str, name: str) -> None:
    kube.patch("managedsecrets", ns, name, {"metadata": {"annotations": {"configmanager.io/force-sync": uuid.uuid4().hex}}})


def ms(name: str, store: str, data: list[tuple[str, str, str | None]], *, kind: str = "SecretStore",
       refresh: str = "1h", **spec: Any) -> dict[str, Any]:
    entries = [{"secretKey": k, "remoteRef": {"key": r, **({"property": p} if p else {})}} for k, r, p in data]
    return {"apiVersion": API, "kind": "ManagedSecret", "metadata": {"name": name},
            "spec": {"storeRef": {"name": store, "kind": kind}, "refreshInterval": refresh, "data": entries, **spec}}


def test_service_principal_store_name_mapping_and_requests_per_sync(
        kube: KubeApi, namespace: str, op: OperatorProcess, kv: KeyVaultServer, vault: AzureKeyVaultSecrets) -> None:
    ns, p = namespace, f"t{uuid.uuid4().hex[:8]}"
    vault.set(f"{p}/db/prod_password", "sp-pw-1")  # '/' and '_' are not allowed in Azure names: mapped
    vault.set(f"{p}-json", {"user": "svc", "token": "sp-json-tok"})
    service_principal_store(kube, kv, ns)
    store = store_ready(kube, ns, "azure")
    assert store["status"]["provider"] == "azure"
    kube.create("managedsecrets", ns, ms("app", "azure", [("password", f"{p}/db/prod_password", None),
                                                          ("user", f"{p}-json", "user")],
                                         dataFrom=[{"extract": {"key": f"{p}-json"}}]))
    wait_ready(kube, ns, "app")
    assert secret_data(kube, ns, "app") == {"password": "sp-pw-1", "user": "svc", "token": "sp-json-tok"}

    # one forced sync after a change in the vault: what it costs on the wire
    vault.set(f"{p}/db/prod_password", "sp-pw-2")
    kv.requests(reset=True)
    force_sync(kube, ns, "app")
    wait_for(lambda: (secret_data(kube, ns, "app") or {}).get("password") == "sp-pw-2", what="forced sync of the new value")
    counts = kv.requests()
    # two distinct remote keys (one used twice): one read each, no token request (the token is cached)
    assert counts.get("Client.GetSecret") == 2, counts
    assert counts.get("Token", 0) == 0 and counts.get("Unauthenticated", 0) == 0, counts
    client_secret = base64.b64decode(kube.get("secrets", ns, "azure-sp")["data"]["client-secret"]).decode()
    log = op.log_text()  # at DEBUG
    for value in ("sp-pw-1", "sp-pw-2", "sp-json-tok", client_secret):
        assert value not in log
        assert all(value not in e["message"] for e in events_for(kube, ns, "app"))


def test_service_principal_without_get_permission_is_refused_and_writes_nothing(
        kube: KubeApi, namespace: str, op: OperatorProcess, kv: KeyVaultServer, vault: AzureKeyVaultSecrets) -> None:
    ns, p = namespace, f"t{uuid.uuid4().hex[:8]}"
    vault.set(f"{p}-k", "never-synced-value")
    service_principal_store(kube, kv, ns, permissions=["list"])  # may validate (list), may not read
    store_ready(kube, ns, "azure")
    kube.create("managedsecrets", ns, ms("denied", "azure", [("k", f"{p}-k", None)]))
    obj = wait_ready(kube, ns, "denied", status="False", reason="ProviderError")
    assert "permission denied" in condition(obj)["message"] and "never-synced-value" not in json.dumps(obj)
    assert kube.get("secrets", ns, "denied") is None


def test_wrong_client_secret_makes_the_store_not_ready(kube: KubeApi, namespace: str, op: OperatorProcess,
                                                       kv: KeyVaultServer) -> None:
    ns = namespace
    kv.add_principal(f"app-{ns}-bad", secret="the-right-secret")
    kube.create("secrets", ns, {"metadata": {"name": "bad-sp"}, "data": {"client-id": b64(f"app-{ns}-bad"), "client-secret": b64("a-wrong-secret")}})
    kube.create("secretstores", ns, {"apiVersion": API, "kind": "SecretStore", "metadata": {"name": "bad"}, "spec": {"provider": {
        "azure": azure_spec(kv, authType="ServicePrincipal", authSecretRef={
            "clientId": {"name": "bad-sp", "key": "client-id"}, "clientSecret": {"name": "bad-sp", "key": "client-secret"}})}}})
    store = store_status(kube, ns, "bad", "False")
    message = condition(store)["message"]
    assert "could not get a token" in message or "credentials refused" in message, message
    assert "a-wrong-secret" not in json.dumps(store) and "the-right-secret" not in json.dumps(store)
    assert all("a-wrong-secret" not in e["message"] for e in events_for(kube, ns, "bad"))


def test_managed_identity_cluster_secret_store(kube: KubeApi, namespace: str, op: OperatorProcess,
                                               kv: KeyVaultServer, vault: AzureKeyVaultSecrets) -> None:
    ns, p = namespace, f"t{uuid.uuid4().hex[:8]}"
    vault.set(f"{p}-mi", "via-managed-identity")
    identity = f"mi-{uuid.uuid4().hex[:6]}"
    kv.add_principal(identity, managed=True)
    css = f"css-{uuid.uuid4().hex[:6]}"
    kube.create("clustersecretstores", None, {"apiVersion": API, "kind": "ClusterSecretStore", "metadata": {"name": css},
                                             "spec": {"conditions": [{"namespaces": [ns]}],
                                                      "provider": {"azure": azure_spec(kv, authType="ManagedIdentity", identityId=identity)}}})
    try:
        store_ready(kube, None, css, "clustersecretstores")
        kube.create("managedsecrets", ns, ms("mi", css, [("k", f"{p}-mi", None)], kind="ClusterSecretStore"))
        wait_ready(kube, ns, "mi")
        assert secret_data(kube, ns, "mi") == {"k": "via-managed-identity"}
    finally:
        kube.delete("clustersecretstores", None, css)


def _apiserver_keys(kube: KubeApi) -> tuple[str, dict[str, Any]]:
    issuer = json.loads(kube.get_text("/.well-known/openid-configuration"))["issuer"]
    return str(issuer), json.loads(kube.get_text("/openid/v1/jwks"))


def test_workload_identity_exchanges_a_real_service_account_token(
        kube: KubeApi, namespace: str, op: OperatorProcess, kv: KeyVaultServer, vault: AzureKeyVaultSecrets) -> None:
    ns, p = namespace, f"t{uuid.uuid4().hex[:8]}"
    vault.set(f"{p}-wi", "via-workload-identity")
    issuer, jwks = _apiserver_keys(kube)
    app = f"wi-{uuid.uuid4().hex[:6]}"
    kv.add_principal(app, federated=[{"issuer": issuer, "subject": f"system:serviceaccount:{ns}:azure-app",
                                      "audiences": ["api://AzureADTokenExchange"], "jwks": jwks}])
    for sa in ("azure-app", "not-federated"):
        kube.create("serviceaccounts", ns, {"metadata": {"name": sa}})
    for store, sa in (("wi", "azure-app"), ("wi-other", "not-federated")):
        kube.create("secretstores", ns, {"apiVersion": API, "kind": "SecretStore", "metadata": {"name": store}, "spec": {"provider": {
            "azure": azure_spec(kv, authType="WorkloadIdentity", identityId=app, serviceAccountRef={"name": sa})}}})
    kube.create("managedsecrets", ns, ms("wi", "wi", [("k", f"{p}-wi", None)]))
    wait_ready(kube, ns, "wi", timeout=60)
    assert secret_data(kube, ns, "wi") == {"k": "via-workload-identity"}
    # the same application, asserted by a ServiceAccount it is not federated with: Azure AD says no
    refused = store_status(kube, ns, "wi-other", "False")
    message = condition(refused)["message"]
    assert "could not get a token" in message or "credentials refused" in message, message


def test_soft_deleted_and_disabled_secrets_keep_the_last_good_secret(
        kube: KubeApi, namespace: str, op: OperatorProcess, kv: KeyVaultServer, vault: AzureKeyVaultSecrets) -> None:
    ns, p = namespace, f"t{uuid.uuid4().hex[:8]}"
    vault.set(f"{p}-soft", "soft-v1")
    service_principal_store(kube, kv, ns)
    kube.create("managedsecrets", ns, ms("soft", "azure", [("k", f"{p}-soft", None)]))
    wait_ready(kube, ns, "soft")
    raw = AzureKeyVaultSecrets(kv.vault_url, kv.credential, **kv.client_kwargs)  # soft delete, no purge
    try:
        raw.delete(f"{p}-soft")
        force_sync(kube, ns, "soft")
        obj = wait_ready(kube, ns, "soft", status="False")
        assert "not found" in condition(obj)["message"].lower(), condition(obj)
        assert secret_data(kube, ns, "soft") == {"k": "soft-v1"}
        raw.recover(f"{p}-soft")
        force_sync(kube, ns, "soft")
        wait_ready(kube, ns, "soft", reason="SecretSynced")
        assert secret_data(kube, ns, "soft") == {"k": "soft-v1"}

        sdk = SecretClient(kv.vault_url, kv.credential, verify_challenge_resource=False, **kv.client_kwargs)
        sdk.update_secret_properties(f"{p}-soft", enabled=False)
        force_sync(kube, ns, "soft")
        obj = wait_ready(kube, ns, "soft", status="False", reason="ProviderError")
        assert "disabled" in condition(obj)["message"], condition(obj)
        assert secret_data(kube, ns, "soft") == {"k": "soft-v1"}
        sdk.update_secret_properties(f"{p}-soft", enabled=True)
        vault.set(f"{p}-soft", "soft-v2")
        force_sync(kube, ns, "soft")
        wait_for(lambda: (secret_data(kube, ns, "soft") or {}).get("k") == "soft-v2", what="re-enabled secret synced")
    finally:
        raw.close()


def test_throttling_backs_off_per_store_and_keeps_the_secrets(
        kube: KubeApi, namespace: str, op: OperatorProcess, kv: KeyVaultServer, vault: AzureKeyVaultSecrets) -> None:
    ns, p = namespace, f"t{uuid.uuid4().hex[:8]}"
    names = [f"m{i}" for i in range(3)]
    for n in names:
        vault.set(f"{p}-{n}", f"value-{n}")
    service_principal_store(kube, kv, ns)
    for n in names:
        kube.create("managedsecrets", ns, ms(n, "azure", [("k", f"{p}-{n}", None)], refresh="5s"))
    for n in names:
        wait_ready(kube, ns, n)
    kv.set_faults({"operation": "Client.GetSecret", "status": 429, "retryAfter": 1})
    kv.requests(reset=True)
    for n in names:
        force_sync(kube, ns, n)
    failing = [wait_ready(kube, ns, n, status="False", reason="ProviderError", timeout=90) for n in names]
    messages = [condition(o)["message"] for o in failing]
    assert any("busy or unavailable (HTTP 429" in m for m in messages), messages
    # the retries that follow meet the store's shared backoff instead of calling the vault again each
    wait_for(lambda: any("store backing off" in condition(kube.get("managedsecrets", ns, n))["message"] for n in names),
             timeout=60, what="an object refused by the store's shared backoff")
    for n in names:
        assert secret_data(kube, ns, n) == {"k": f"value-{n}"}
    throttled = kv.requests()["Client.GetSecret"]
    kv.clear_faults()
    for n in names:
        wait_ready(kube, ns, n, reason="SecretSynced", timeout=60)
        assert secret_data(kube, ns, n) == {"k": f"value-{n}"}
    print(f"GetSecret requests while 3 objects went from synced to failing under a permanent 429: {throttled}")


def test_rotation_writes_back_to_azure_and_keeps_the_previous_value(
        kube: KubeApi, namespace: str, op: OperatorProcess, kv: KeyVaultServer, vault: AzureKeyVaultSecrets) -> None:
    ns, p = namespace, f"t{uuid.uuid4().hex[:8]}"
    initial = "az-" + uuid.uuid4().hex
    vault.set(f"{p}/db_password", initial)
    service_principal_store(kube, kv, ns)
    kube.create("managedsecrets", ns, ms("rot", "azure", [("password", f"{p}/db_password", None)], rotation={
        "keys": ["password"], "keepPrevious": True, "generator": {"type": "token", "length": 32},
        "restartWorkloads": {"mode": "None"}}))
    wait_ready(kube, ns, "rot")
    kv.requests(reset=True)
    annotate(kube, ns, "rot", "now")
    def rotated_once() -> dict[str, Any] | None:
        s = rotation_status(kube, ns, "rot")
        return s if s.get("count") == 1 and not s.get("pending") else None
    status: dict[str, Any] = wait_for(rotated_once, timeout=60, what="rotation written back to Azure")
    rotated = vault.get(f"{p}/db_password")
    assert rotated.value != initial and len(str(rotated.value)) == 32
    assert status["history"][-1]["version"] == rotated.version
    assert vault.get(f"{p}/db_password_previous").value == initial  # stored as <name>--upassword--uprevious
    def rotated_secret() -> dict[str, str] | None:
        d = secret_data(kube, ns, "rot")
        return d if d and d["password"] == rotated.value else None
    data: dict[str, str] = wait_for(rotated_secret, what="rotated Secret")
    assert data["password_previous"] == initial
    counts = kv.requests()
    print(f"requests of one rotation with keepPrevious: {counts}")
    assert counts.get("Client.SetSecret") == 2, counts  # the previous value, then the new one
    for value in (initial, str(rotated.value)):
        assert value not in op.log_text()
        assert all(value not in e["message"] for e in events_for(kube, ns, "rot"))


def test_find_by_tags_and_name_regexp_with_rewrite(kube: KubeApi, namespace: str, op: OperatorProcess, kv: KeyVaultServer,
                                                   vault: AzureKeyVaultSecrets) -> None:
    """dataFrom[].find on Key Vault: one listing of the vault's secret properties (tags come with it)."""
    ns, p = namespace, f"f{uuid.uuid4().hex[:8]}"
    vault.set(f"{p}-db-user", "az-user", metadata={"team": p, "tier": "db"})
    vault.set(f"{p}/db/password", "az-pw", metadata={"team": p, "tier": "db"})  # an escaped Azure name, found by its key
    vault.set(f"{p}-web-token", "az-tok", metadata={"team": p, "tier": "web"})
    vault.set(f"{p}-untagged", "az-none")
    service_principal_store(kube, kv, ns)
    store_ready(kube, ns, "azure")
    kube.create("managedsecrets", ns, {**ms("found", "azure", []), "spec": {
        "storeRef": {"name": "azure"}, "refreshInterval": "1h", "dataFrom": [
            {"find": {"tags": {"team": p, "tier": "db"}}, "rewrite": [{"regexp": {"source": f"^{p}[-/]", "target": ""}},
                                                                      {"regexp": {"source": "/", "target": "."}}]},
            {"find": {"name": {"regexp": f"^{p}-web"}}, "rewrite": [{"transform": {"template": "{{ .value | upper }}"}}]},
        ]}})
    wait_ready(kube, ns, "found", timeout=45)
    assert secret_data(kube, ns, "found") == {"db-user": "az-user", "db.password": "az-pw", f"{p}-web-token".upper(): "az-tok"}
    # the vault is shared by the module's tests: a listing is one request per page of 25 (the server's
    # page size, set by the fixture) over every secret in it
    pages = -(-len(vault.list()) // 25)
    kv.requests(reset=True)
    force_sync(kube, ns, "found")
    wait_for(lambda: (o := kube.get("managedsecrets", ns, "found")) and o["status"].get("forceSync") and o, what="forced sync")
    counts = kv.requests()
    # one listing per find (tags come with it: no read of a secret that does not match), one read per key found
    assert counts.get("Client.NewListSecretPropertiesPager") == 2 * pages and counts.get("Client.GetSecret") == 3, (pages, counts)


def test_push_secret_to_key_vault(
        kube: KubeApi, namespace: str, op: OperatorProcess, kv: KeyVaultServer, vault: AzureKeyVaultSecrets) -> None:
    """PushSecret through the Azure provider: a whole key and a property of a JSON value, a change pushed
    again, and deletionPolicy Delete removing only what it wrote."""
    ns, p = namespace, f"push-{uuid.uuid4().hex[:6]}"
    service_principal_store(kube, kv, ns)
    store_ready(kube, ns, "azure")
    vault.set(f"{p}/existing", "theirs")
    kube.create("secrets", ns, {"metadata": {"name": "src"}, "data": {"token": b64("az-tok-1"), "password": b64("az-pw-1")}})
    kube.create("pushsecrets", ns, {"apiVersion": API, "kind": "PushSecret", "metadata": {"name": "push"}, "spec": {
        "secretStoreRefs": [{"name": "azure"}], "selector": {"secret": {"name": "src"}}, "deletionPolicy": "Delete",
        "data": [{"match": {"secretKey": "token", "remoteRef": {"remoteKey": f"{p}/token"}}},
                 {"match": {"secretKey": "password", "remoteRef": {"remoteKey": f"{p}/db", "property": "password"}}}]}})
    wait_for(lambda: condition(kube.get("pushsecrets", ns, "push")).get("reason") == "Pushed", timeout=60, what="pushed to Key Vault")
    assert vault.get(f"{p}/token").value == "az-tok-1"
    assert vault.get(f"{p}/db").value == {"password": "az-pw-1"}
    kube.patch("secrets", ns, "src", {"data": {"token": b64("az-tok-2")}})
    wait_for(lambda: vault.get(f"{p}/token").value == "az-tok-2", timeout=30, what="changed value pushed")
    kube.delete("pushsecrets", ns, "push")
    wait_for(lambda: kube.get("pushsecrets", ns, "push") is None, timeout=60, what="PushSecret gone after its finalizer")
    assert not vault.exists(f"{p}/token") and not vault.exists(f"{p}/db")
    assert vault.get(f"{p}/existing").value == "theirs"
