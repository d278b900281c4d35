"""The library's Vault lease operations (providers/vault/leases.py) against a real Vault 1.14 database
engine on a real PostgreSQL 15: issue, log in, renew (TTL as Vault grants it), look up, revoke; refusals
translated into our errors without values."""

from __future__ import annotations

import uuid

import pytest

from config_manager.errors import ConfigurationError, ProviderError
from config_manager.providers import registry
from config_manager.providers.leases import LeaseRefusedError, lease_operations
from tests.helpers.postgres import VaultDatabase, postgres, vault_database  # noqa: F401  (fixtures)
from tests.helpers.vault_server import vault_server  # noqa: F401  (fixtures)

pytestmark = pytest.mark.vault


def test_issue_login_renew_lookup_revoke(vault_database: VaultDatabase) -> None:  # noqa: F811
    vault, pg = vault_database.vault, vault_database.pg
    role = "lib" + uuid.uuid4().hex[:6]
    path = vault_database.create_role(role, ttl="6s", max_ttl="8s")
    provider = registry.create("vault", vault_url=vault.url, vault_token=vault.root_token, ca_bundle=str(vault.ca_file))
    leases = lease_operations(provider)
    issued = leases.issue(path)
    user, password = str(issued.data["username"]), str(issued.data["password"])
    assert password not in repr(issued) and issued.lease.lease_id.startswith(f"{path}/")
    assert issued.lease.duration == 6 and issued.lease.renewable
    assert pg.can_log_in(user, password)
    assert vault_database.leases(role) == [issued.lease.lease_id]

    info = leases.lookup(issued.lease.lease_id)
    assert info is not None and 0 < info.ttl <= 6 and info.renewable
    renewed = leases.renew(issued.lease.lease_id, increment=60)
    assert renewed.lease_id == issued.lease.lease_id
    assert 0 < renewed.duration <= 8, "capped by the 8 s max TTL: Vault grants less than the 60 s asked, and we say so"
    again = leases.lookup(issued.lease.lease_id)
    assert again is not None and again.ttl <= renewed.duration

    leases.revoke(issued.lease.lease_id)
    assert not pg.can_log_in(user, password)
    assert leases.lookup(issued.lease.lease_id) is None
    leases.revoke(issued.lease.lease_id)  # gone already: still fine
    with pytest.raises(LeaseRefusedError) as refused:
        leases.renew(issued.lease.lease_id)
    assert password not in str(refused.value)
    assert vault_database.leases(role) == []


def test_refusals_name_the_path_and_carry_no_value(vault_database: VaultDatabase) -> None:  # noqa: F811
    vault = vault_database.vault
    provider = registry.create("vault", vault_url=vault.url, vault_token=vault.root_token, ca_bundle=str(vault.ca_file))
    leases = lease_operations(provider)
    for bad in ("", "/database/creds/x", "database/../sys", "sys/leases/lookup"):
        with pytest.raises(ConfigurationError):
            leases.issue(bad)
    with pytest.raises(ConfigurationError):
        leases.issue("database/creds/x", method="DELETE")
    vault.admin.secrets.kv.v2.create_or_update_secret(path="lease-test", secret={"k": "kv-value-123"}, mount_point="secret")
    with pytest.raises(ProviderError) as no_lease:
        leases.issue("secret/data/lease-test")
    assert "without a lease" in str(no_lease.value) and "kv-value-123" not in str(no_lease.value)
    with pytest.raises(ProviderError):
        leases.issue("database/creds/no-such-role")
