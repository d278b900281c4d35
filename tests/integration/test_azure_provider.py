"""AzureKeyVaultSecrets against a Key Vault server on the wire (tests/helpers/azure_server.py: ours, or
Lowkey Vault when LOWKEY_VAULT_JAR is set), with azure-identity's real credentials.

get / set / delete / list, versions, tags, the name mapping as Azure stores it, and our own clear errors
for a missing secret, a refused credential and a server that stops answering; and the seed's Azure
sample, as written, through DefaultAzureCredential's managed-identity path.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from azure.keyvault.secrets import SecretClient

from config_manager import ConfigManager
from config_manager.errors import (
    AuthenticationError,
    PermissionDeniedError,
    ProviderError,
    ProviderUnavailableError,
    SecretNotFoundError,
)
from config_manager.providers.azure import AzureKeyVaultSecrets
from config_manager.providers.azure.provider import DEFAULT_RETRY_TOTAL
from tests.helpers.azure_server import TEST_CLIENT_ID, AzureVault, KeyVaultServer, RefusingCredential
from tests.helpers.operator_process import wait_for

pytestmark = pytest.mark.azure

SEED = Path(__file__).resolve().parents[1] / "unit" / "data" / "seed_secrets_api.md"


@pytest.fixture()
def azure(azure_vault: AzureVault) -> Iterator[AzureKeyVaultSecrets]:
    provider = AzureKeyVaultSecrets(
        azure_vault.vault_url, azure_vault.credential, purge_on_delete=True, **azure_vault.client_kwargs
    )
    yield provider
    provider.close()


@pytest.fixture()
def prefix() -> str:
    return f"t{uuid.uuid4().hex[:8]}"


def _raw_client(server: AzureVault) -> SecretClient:
    return SecretClient(server.vault_url, server.credential, verify_challenge_resource=False, **server.client_kwargs)


def test_values_round_trip(azure: AzureKeyVaultSecrets, prefix: str) -> None:
    azure.set(f"{prefix}-text", "sk-1234567890abcdef")
    azure.set(f"{prefix}-json", {"username": "app", "password": "pw"})
    azure.set(f"{prefix}-bytes", b"\x00\x01raw")
    assert azure.get(f"{prefix}-text").value == "sk-1234567890abcdef"
    assert azure.get(f"{prefix}-json").value == {"username": "app", "password": "pw"}
    assert azure.get(f"{prefix}-bytes").value == b"\x00\x01raw"


def test_forbidden_names_are_mapped_and_listed_back(azure: AzureKeyVaultSecrets, azure_vault: AzureVault, prefix: str) -> None:
    azure.set(f"{prefix}/database/prod_password", "pw")
    stored = {p.name for p in _raw_client(azure_vault).list_properties_of_secrets()}
    assert f"{prefix}--sdatabase--sprod--upassword" in stored
    assert azure.list(f"{prefix}/") == [f"{prefix}/database/prod_password"]
    assert azure.get(f"{prefix}/database/prod_password").value == "pw"


def test_versions_and_tags(azure: AzureKeyVaultSecrets, prefix: str) -> None:
    first = azure.set(f"{prefix}-rot", "one", {"tier": "critical"})
    second = azure.set(f"{prefix}-rot", "two", {"tier": "high"})
    assert azure.versions(f"{prefix}-rot") == [first.version, second.version]
    assert azure.get(f"{prefix}-rot").value == "two"
    assert azure.get(f"{prefix}-rot", version=first.version).value == "one"
    assert azure.metadata(f"{prefix}-rot") == {"tier": "high"}
    assert dict(azure.get(f"{prefix}-rot", version=first.version).metadata) == {"tier": "critical"}


def test_delete_with_purge_frees_the_name(azure: AzureKeyVaultSecrets, prefix: str) -> None:
    azure.set(f"{prefix}-gone", "x")
    assert azure.delete(f"{prefix}-gone") is True
    assert azure.delete(f"{prefix}-gone") is False
    with pytest.raises(SecretNotFoundError):
        azure.get(f"{prefix}-gone")
    azure.set(f"{prefix}-gone", "again")  # purged, so the name is free
    assert azure.get(f"{prefix}-gone").value == "again"


def test_soft_deleted_secrets_can_be_recovered(azure_vault: AzureVault, prefix: str) -> None:
    azure = AzureKeyVaultSecrets(azure_vault.vault_url, azure_vault.credential, **azure_vault.client_kwargs)
    azure.set(f"{prefix}-soft", "keep me")
    assert azure.delete(f"{prefix}-soft") is True
    wait_for(lambda: f"{prefix}-soft" in azure.list_deleted(prefix), timeout=10, what="the secret listed as deleted")
    azure.recover(f"{prefix}-soft")
    assert azure.get(f"{prefix}-soft").value == "keep me"


def test_missing_secret_is_secret_not_found(azure: AzureKeyVaultSecrets, prefix: str) -> None:
    with pytest.raises(SecretNotFoundError) as caught:
        azure.get(f"{prefix}/not/here")
    assert caught.value.key == f"{prefix}/not/here" and caught.value.provider == "azure"
    with pytest.raises(SecretNotFoundError):
        azure.versions(f"{prefix}-nothing")


def test_a_refused_credential_is_an_authentication_error(azure_vault: AzureVault) -> None:
    azure = AzureKeyVaultSecrets(azure_vault.vault_url, RefusingCredential(), **azure_vault.client_kwargs)
    with pytest.raises(AuthenticationError, match="could not get a token"):
        azure.get("anything")
    with pytest.raises(AuthenticationError):
        azure.validate()


def test_validate(azure: AzureKeyVaultSecrets) -> None:
    azure.validate()


def test_a_frozen_server_gives_provider_unavailable_in_bounded_time(azure_vault: AzureVault, prefix: str) -> None:
    azure = AzureKeyVaultSecrets(azure_vault.vault_url, azure_vault.credential, read_timeout=2,
                                 connection_timeout=2, retry_total=0, **azure_vault.client_kwargs)
    azure.set(f"{prefix}-k", "v")
    azure_vault.freeze()
    try:
        started = time.monotonic()
        with pytest.raises(ProviderUnavailableError):
            azure.get(f"{prefix}-k")
        assert time.monotonic() - started < 6
    finally:
        azure_vault.thaw()


def test_default_azure_credential_through_managed_identity_variables(managed_identity_env: AzureVault, prefix: str) -> None:
    azure = AzureKeyVaultSecrets(managed_identity_env.vault_url, **managed_identity_env.client_kwargs)
    azure.set(f"{prefix}-mi", "via managed identity")
    assert azure.get(f"{prefix}-mi").value == "via managed identity"


def test_seed_azure_sample(managed_identity_env: AzureVault) -> None:
    server = managed_identity_env
    seeded = AzureKeyVaultSecrets(server.vault_url, server.credential, **server.client_kwargs)
    seeded.set("storage-account-key", "storage-key-123")
    seeded.set("sql-connection-string", "Server=db;Password=pw")
    code = _sample("Azure Key Vault Integration").replace('"https://mykeyvault.vault.azure.net/"', repr(server.vault_url))
    ns: dict[str, Any] = {"ConfigManager": ConfigManager}
    exec(compile(code, "<seed: Azure Key Vault Integration>", "exec"), ns)
    assert ns["storage_key"] == "storage-key-123"
    assert ns["sql_connection"] == "Server=db;Password=pw"


def _sample(heading: str) -> str:
    import textwrap

    current = ""
    block: list[str] | None = None
    for line in SEED.read_text(encoding="utf-8").splitlines():
        if block is not None:
            if line.strip() == "```":
                if current == heading:
                    return textwrap.dedent("\n".join(block))
                block = None
            else:
                block.append(line)
        elif line.startswith("### "):
            current = line[4:].strip()
        elif line.strip() == "```python":
            block = []
    raise LookupError(heading)


# ---------------------------------------------------------------------------------------------------------
# What only our server can show (skipped, saying so, on Lowkey Vault): paging, token checks, permissions,
# throttling, 5xx and slow answers, disabled secrets, and what each call costs on the wire.


def _raw_get(server: KeyVaultServer, name: str, token: str) -> tuple[int, dict[str, Any], str]:
    """GET a secret with a bearer token of our choosing: (status, JSON body, WWW-Authenticate)."""
    import json
    import ssl
    import urllib.error
    import urllib.request

    request = urllib.request.Request(f"{server.vault_url}/secrets/{name}/?api-version=7.6",
                                     headers={"Authorization": f"Bearer {token}"})
    context = ssl.create_default_context(cafile=str(server.ca_file))
    try:
        with urllib.request.urlopen(request, timeout=10, context=context) as response:
            return int(response.status), json.loads(response.read()), ""
    except urllib.error.HTTPError as exc:
        return int(exc.code), json.loads(exc.read() or b"{}"), str(exc.headers.get("WWW-Authenticate") or "")


def test_listing_follows_next_links_across_pages(azure_knobs: KeyVaultServer, prefix: str) -> None:
    azure = AzureKeyVaultSecrets(azure_knobs.vault_url, azure_knobs.credential, **azure_knobs.client_kwargs)
    keys = sorted(f"{prefix}/k{i}" for i in range(7))
    for key in keys:
        azure.set(key, "v")
    azure_knobs.settings(page_size=2)
    azure_knobs.requests(reset=True)
    assert azure.list(f"{prefix}/") == keys
    assert azure_knobs.requests()["Client.NewListSecretPropertiesPager"] >= 4  # 7 of ours, 2 per page


def test_one_read_is_one_request_and_tokens_are_cached(azure_knobs: KeyVaultServer, prefix: str) -> None:
    azure = AzureKeyVaultSecrets(azure_knobs.vault_url, azure_knobs.client_secret_credential(TEST_CLIENT_ID, azure_knobs.admin_token),
                                 **azure_knobs.client_kwargs)
    azure.set(f"{prefix}-c", "v")  # the first call: a token (and the 401 challenge unless this vault's is cached)
    first = azure_knobs.requests(reset=True)
    assert first.pop("Token") == 1 and first.pop("Client.SetSecret") == 1 and first.pop("Unauthenticated", 0) <= 1, first
    assert not first
    for _ in range(3):
        assert azure.get(f"{prefix}-c").value == "v"
    assert azure_knobs.requests() == {"Client.GetSecret": 3}


def test_a_wrong_client_secret_is_refused_by_the_token_endpoint(azure_knobs: KeyVaultServer) -> None:
    wrong = azure_knobs.client_secret_credential(TEST_CLIENT_ID, "not-the-secret")
    azure = AzureKeyVaultSecrets(azure_knobs.vault_url, wrong, **azure_knobs.client_kwargs)
    with pytest.raises(AuthenticationError, match="could not get a token") as caught:
        azure.get("anything")
    assert "not-the-secret" not in str(caught.value)


def test_the_vault_checks_audience_and_expiry_of_tokens(azure_knobs: KeyVaultServer, prefix: str) -> None:
    AzureKeyVaultSecrets(azure_knobs.vault_url, azure_knobs.credential, **azure_knobs.client_kwargs).set(f"{prefix}-t", "v")
    fresh = azure_knobs.client_secret_credential(TEST_CLIENT_ID, azure_knobs.admin_token)
    storage = fresh.get_token("https://storage.azure.com/.default").token
    status, body, challenge = _raw_get(azure_knobs, f"{prefix}-t", storage)
    assert status == 401 and "Invalid audience" in body["error"]["message"]
    assert 'resource="https://vault.azure.net"' in challenge and azure_knobs.tenant_id in challenge
    assert _raw_get(azure_knobs, f"{prefix}-t", fresh.get_token("https://vault.azure.net/.default").token)[0] == 200

    azure_knobs.settings(token_lifetime_seconds=1)
    short = azure_knobs.client_secret_credential(TEST_CLIENT_ID, azure_knobs.admin_token).get_token("https://vault.azure.net/.default").token
    def refused() -> dict[str, Any] | None:
        status, body, _ = _raw_get(azure_knobs, f"{prefix}-t", short)
        return body if status == 401 else None
    assert "expired" in wait_for(refused, timeout=10, what="token expiry")["error"]["message"]


def test_a_principal_without_get_permission_is_permission_denied(azure_knobs: KeyVaultServer, prefix: str) -> None:
    AzureKeyVaultSecrets(azure_knobs.vault_url, azure_knobs.credential, **azure_knobs.client_kwargs).set(f"{prefix}-p", "v")
    azure_knobs.add_principal(f"lister-{prefix}", secret="lister-secret", permissions=["list"])
    lister = AzureKeyVaultSecrets(azure_knobs.vault_url, azure_knobs.client_secret_credential(f"lister-{prefix}", "lister-secret"),
                                  **azure_knobs.client_kwargs)
    assert f"{prefix}-p" in lister.list(prefix)
    with pytest.raises(PermissionDeniedError, match="permission denied"):
        lister.get(f"{prefix}-p")


def test_throttling_honours_retry_after_and_gives_up_bounded(azure_knobs: KeyVaultServer, prefix: str) -> None:
    azure = AzureKeyVaultSecrets(azure_knobs.vault_url, azure_knobs.credential, **azure_knobs.client_kwargs)
    azure.set(f"{prefix}-429", "v")
    azure_knobs.set_faults({"operation": "Client.GetSecret", "status": 429, "retryAfter": 1, "times": 1})
    azure_knobs.requests(reset=True)
    assert azure.get(f"{prefix}-429").value == "v"  # one 429, then the retry after Retry-After
    assert azure_knobs.requests(reset=True) == {"Client.GetSecret": 2}
    azure_knobs.set_faults({"operation": "Client.GetSecret", "status": 429, "retryAfter": 1})
    with pytest.raises(ProviderUnavailableError, match=r"busy or unavailable \(HTTP 429, Throttled\)"):
        azure.get(f"{prefix}-429")
    assert azure_knobs.requests() == {"Client.GetSecret": DEFAULT_RETRY_TOTAL + 1}


def test_server_errors_and_slow_answers_are_provider_unavailable(azure_knobs: KeyVaultServer, prefix: str) -> None:
    azure = AzureKeyVaultSecrets(azure_knobs.vault_url, azure_knobs.credential, retry_total=0, read_timeout=1,
                                 **azure_knobs.client_kwargs)
    azure.set(f"{prefix}-5xx", "v")
    azure_knobs.set_faults({"operation": "Client.GetSecret", "status": 503})
    with pytest.raises(ProviderUnavailableError, match="HTTP 503"):
        azure.get(f"{prefix}-5xx")
    azure_knobs.set_faults({"operation": "Client.GetSecret", "delayMs": 4000})
    started = time.monotonic()
    with pytest.raises(ProviderUnavailableError):
        azure.get(f"{prefix}-5xx")
    assert time.monotonic() - started < 3.5  # the read timeout, not the server's 4 s


def test_a_disabled_secret_says_disabled(azure_knobs: KeyVaultServer, prefix: str) -> None:
    azure = AzureKeyVaultSecrets(azure_knobs.vault_url, azure_knobs.credential, **azure_knobs.client_kwargs)
    azure.set(f"{prefix}/off", "v")
    _raw_client(azure_knobs).update_secret_properties(f"{prefix}--soff", enabled=False)
    with pytest.raises(ProviderError, match="disabled") as caught:
        azure.get(f"{prefix}/off")
    assert not isinstance(caught.value, PermissionDeniedError)


def test_managed_identity_through_the_instance_metadata_endpoint(
        azure_knobs: KeyVaultServer, prefix: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The path an AKS node's identity takes (IMDS), reached through AZURE_POD_IDENTITY_AUTHORITY_HOST."""
    from azure.identity import ManagedIdentityCredential

    for name in ("IDENTITY_ENDPOINT", "IDENTITY_HEADER", "MSI_ENDPOINT", "MSI_SECRET", "IMDS_ENDPOINT",
                 "AZURE_CLIENT_ID", "AZURE_FEDERATED_TOKEN_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AZURE_POD_IDENTITY_AUTHORITY_HOST", azure_knobs.vault_url)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(azure_knobs.ca_file))
    azure_knobs.add_principal(f"node-{prefix}", managed=True)
    azure = AzureKeyVaultSecrets(azure_knobs.vault_url, ManagedIdentityCredential(client_id=f"node-{prefix}"),
                                 **azure_knobs.client_kwargs)
    azure.set(f"{prefix}-imds", "via IMDS")
    assert azure.get(f"{prefix}-imds").value == "via IMDS"
    assert azure_knobs.requests()["ManagedIdentity"] == 1
    unknown = AzureKeyVaultSecrets(azure_knobs.vault_url, ManagedIdentityCredential(client_id="not-assigned"),
                                   **azure_knobs.client_kwargs)
    with pytest.raises(AuthenticationError, match="could not get a token"):
        unknown.get(f"{prefix}-imds")
