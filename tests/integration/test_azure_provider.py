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
    ProviderUnavailableError,
    SecretNotFoundError,
)
from config_manager.providers.azure import AzureKeyVaultSecrets

from tests.helpers.azure_server import AzureVault, RefusingCredential

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
    time.sleep(1)
    assert f"{prefix}-soft" in azure.list_deleted(prefix)
    azure.recover(f"{prefix}-soft")
    assert azure.get(f"{prefix}-soft").value == "keep me"


def test_missing_secret_is_secret_not_found(azure: AzureKeyVaultSecrets, prefix: str) -> None:
    with pytest.raises(SecretNotFoundError) as caught:
        azure.get(f"{prefix}/not/here")
    assert caught.value.key == f"{prefix}/not/here" and caught.value.provider == "azure"
    with pytest.raises(SecretNotFoundError):
        azure.versions(f"{prefix}-nothing")


def test_a_refused_credential_is_an_authentication_error(azure_vault: AzureVault) -> None:
    azure = AzureKeyVaultSecrets(azure_vault.vault_url, RefusingCredential(), **azure_vault.client_kwargs)  # type: ignore[arg-type]
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

    current, block = "", None
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
