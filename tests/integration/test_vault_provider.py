"""HashiCorpVaultSecrets against a real Vault server (dev mode over TLS, started by the fixture).

KV v1 and v2 read / write / delete / list, versions, custom metadata, token, AppRole and Kubernetes
auth, and our own clear errors for a wrong token, a missing path, a denied path and a server that stops
answering.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from hvac import exceptions as hvac_exc

from config_manager.errors import (
    AuthenticationError,
    ConfigManagerError,
    ConfigurationError,
    PermissionDeniedError,
    ProviderError,
    ProviderUnavailableError,
    SecretNotFoundError,
    UnsupportedOperationError,
)
from config_manager.providers import registry
from config_manager.providers.vault import AppRoleAuth, HashiCorpVaultSecrets, KubernetesAuth
from tests.helpers.vault_server import (  # noqa: F401  (fixtures)
    VaultServer,
    disposable_vault,
    vault_kubernetes_auth,
    vault_server,
)

pytestmark = pytest.mark.vault


def _provider(server: VaultServer, version: str = "v2", **kwargs: Any) -> HashiCorpVaultSecrets:
    mount = server.kv2_mount if version == "v2" else server.kv1_mount
    kwargs.setdefault("vault_token", server.root_token)
    return HashiCorpVaultSecrets(server.url, mount_point=mount, version=version, ca_bundle=str(server.ca_file), **kwargs)


@pytest.fixture()
def prefix() -> str:
    """A fresh folder per test, so tests never see each other's keys."""
    return f"t{uuid.uuid4().hex[:8]}"


@pytest.fixture(params=["v2", "v1"])
def kv(request: pytest.FixtureRequest, vault_server: VaultServer) -> Iterator[HashiCorpVaultSecrets]:
    provider = _provider(vault_server, request.param)
    yield provider
    provider.close()


# ---------------------------------------------------------------- both KV versions


def test_scalars_and_mappings_round_trip(kv: HashiCorpVaultSecrets, prefix: str) -> None:
    kv.set(f"{prefix}/api_key", "sk-1234567890abcdef")
    kv.set(f"{prefix}/db", {"username": "app", "password": "pw", "port": 5432})
    kv.set(f"{prefix}/count", 3)
    assert kv.get(f"{prefix}/api_key").value == "sk-1234567890abcdef"
    assert kv.get(f"{prefix}/db").value == {"username": "app", "password": "pw", "port": 5432}
    assert kv.get(f"{prefix}/count").value == 3


def test_the_stored_shape_is_plain_vault_data(kv: HashiCorpVaultSecrets, vault_server: VaultServer, prefix: str) -> None:
    kv.set(f"{prefix}/api_key", "sk-abc")
    if kv.version == "v2":
        raw = vault_server.admin.secrets.kv.v2.read_secret_version(
            path=f"{prefix}/api_key", mount_point=kv.mount_point, raise_on_deleted_version=True
        )["data"]["data"]
    else:
        raw = vault_server.admin.secrets.kv.v1.read_secret(path=f"{prefix}/api_key", mount_point=kv.mount_point)["data"]
    assert raw == {"value": "sk-abc"}


def test_missing_keys_are_secret_not_found(kv: HashiCorpVaultSecrets, prefix: str) -> None:
    with pytest.raises(SecretNotFoundError) as caught:
        kv.get(f"{prefix}/nothing/here")
    assert caught.value.key == f"{prefix}/nothing/here" and caught.value.provider == "vault"
    assert not kv.exists(f"{prefix}/nothing/here")


def test_delete_reports_whether_something_was_deleted(kv: HashiCorpVaultSecrets, prefix: str) -> None:
    kv.set(f"{prefix}/gone", "x")
    assert kv.exists(f"{prefix}/gone")
    assert kv.delete(f"{prefix}/gone") is True
    assert kv.delete(f"{prefix}/gone") is False
    with pytest.raises(SecretNotFoundError):
        kv.get(f"{prefix}/gone")
    assert kv.list(prefix) == []


def test_list_walks_folders_and_filters_by_prefix(kv: HashiCorpVaultSecrets, prefix: str) -> None:
    for key in ("database/production", "database/staging", "external-apis/stripe", "external-apis/x/deep", "top"):
        kv.set(f"{prefix}/{key}", "v")
    assert kv.list(f"{prefix}/") == [
        f"{prefix}/database/production",
        f"{prefix}/database/staging",
        f"{prefix}/external-apis/stripe",
        f"{prefix}/external-apis/x/deep",
        f"{prefix}/top",
    ]
    assert kv.list(f"{prefix}/database/pro") == [f"{prefix}/database/production"]
    assert kv.list(f"{prefix}/ext") == [f"{prefix}/external-apis/stripe", f"{prefix}/external-apis/x/deep"]
    assert kv.list(f"{prefix}/", recursive=False) == [
        f"{prefix}/database/", f"{prefix}/external-apis/", f"{prefix}/top",
    ]
    assert kv.list(f"{prefix}/nope/") == []
    assert f"{prefix}/top" in kv.list()


def test_validate_accepts_the_right_mount_and_version(kv: HashiCorpVaultSecrets) -> None:
    kv.validate()


def test_registry_creates_the_provider_from_plain_configuration(vault_server: VaultServer, prefix: str) -> None:
    provider = registry.create(
        "vault", vault_url=vault_server.url, mount_point="secret", version="v2",
        auth={"token": vault_server.root_token}, ca_bundle=str(vault_server.ca_file),
    )
    provider.set(f"{prefix}/k", "v")
    assert provider.get(f"{prefix}/k").value == "v"


# ---------------------------------------------------------------- KV v2 only


def test_v2_keeps_versions_and_reads_old_ones(vault_server: VaultServer, prefix: str) -> None:
    kv = _provider(vault_server)
    first = kv.set(f"{prefix}/rotating", "one")
    second = kv.set(f"{prefix}/rotating", "two")
    assert (first.version, second.version) == ("1", "2")
    assert kv.get(f"{prefix}/rotating").value == "two"
    assert kv.get(f"{prefix}/rotating").version == "2"
    assert kv.get(f"{prefix}/rotating", version="1").value == "one"
    assert kv.versions(f"{prefix}/rotating") == ["1", "2"]
    latest = kv.get(f"{prefix}/rotating")
    assert latest.created_at is not None and latest.created_at.tzinfo is not None


def test_v2_versions_leave_out_deleted_ones(vault_server: VaultServer, prefix: str) -> None:
    kv = _provider(vault_server)
    for value in ("a", "b", "c"):
        kv.set(f"{prefix}/k", value)
    vault_server.admin.secrets.kv.v2.delete_secret_versions(path=f"{prefix}/k", versions=[2], mount_point="secret")
    assert kv.versions(f"{prefix}/k") == ["1", "3"]
    with pytest.raises(SecretNotFoundError) as caught:
        kv.get(f"{prefix}/k", version="2")
    assert caught.value.key == f"{prefix}/k"
    with pytest.raises(SecretNotFoundError):
        kv.versions(f"{prefix}/never")


def test_v2_a_soft_deleted_latest_version_reads_as_missing_and_delete_clears_it(
    vault_server: VaultServer, prefix: str
) -> None:
    kv = _provider(vault_server)
    kv.set(f"{prefix}/k", "a")
    vault_server.admin.secrets.kv.v2.delete_latest_version_of_secret(path=f"{prefix}/k", mount_point="secret")
    assert not kv.exists(f"{prefix}/k")
    with pytest.raises(SecretNotFoundError):
        kv.get(f"{prefix}/k")
    assert kv.delete(f"{prefix}/k") is True  # the metadata and the deleted version were still there
    with pytest.raises(hvac_exc.InvalidPath):
        vault_server.admin.secrets.kv.v2.read_secret_metadata(path=f"{prefix}/k", mount_point="secret")


def test_v2_custom_metadata(vault_server: VaultServer, prefix: str) -> None:
    kv = _provider(vault_server)
    kv.set(f"{prefix}/m", "v", {"tier": "critical", "rotation_schedule": "weekly"})
    assert kv.metadata(f"{prefix}/m") == {"tier": "critical", "rotation_schedule": "weekly"}
    assert dict(kv.get(f"{prefix}/m").metadata) == {"tier": "critical", "rotation_schedule": "weekly"}
    kv.set(f"{prefix}/m", "v2")  # metadata=None leaves it as it is
    assert kv.metadata(f"{prefix}/m") == {"tier": "critical", "rotation_schedule": "weekly"}
    kv.set(f"{prefix}/m", "v3", {"tier": "high"})  # given metadata replaces it
    assert kv.metadata(f"{prefix}/m") == {"tier": "high"}
    raw = vault_server.admin.secrets.kv.v2.read_secret_metadata(path=f"{prefix}/m", mount_point="secret")["data"]
    assert raw["custom_metadata"] == {"tier": "high"}
    with pytest.raises(SecretNotFoundError):
        kv.metadata(f"{prefix}/none")


def test_v2_metadata_write_keeps_other_settings(vault_server: VaultServer, prefix: str) -> None:
    kv = _provider(vault_server)
    kv.set(f"{prefix}/m", "v")
    vault_server.admin.secrets.kv.v2.update_metadata(
        path=f"{prefix}/m", max_versions=3, delete_version_after="1h", mount_point="secret"
    )
    kv.set(f"{prefix}/m", "v2", {"owner": "team-a"})
    raw = vault_server.admin.secrets.kv.v2.read_secret_metadata(path=f"{prefix}/m", mount_point="secret")["data"]
    assert raw["max_versions"] == 3 and raw["delete_version_after"] == "1h0m0s"


# ---------------------------------------------------------------- KV v1 only


def test_v1_has_no_versions_or_metadata(vault_server: VaultServer, prefix: str) -> None:
    kv = _provider(vault_server, "v1")
    kv.set(f"{prefix}/k", "v")
    with pytest.raises(UnsupportedOperationError):
        kv.versions(f"{prefix}/k")
    with pytest.raises(UnsupportedOperationError):
        kv.get(f"{prefix}/k", version="1")
    with pytest.raises(UnsupportedOperationError, match="KV v1"):
        kv.set(f"{prefix}/k", "v", {"tier": "x"})
    assert kv.get(f"{prefix}/k").value == "v"  # the refused write changed nothing
    assert kv.metadata(f"{prefix}/k") == {}


def test_validate_names_a_version_mismatch(vault_server: VaultServer) -> None:
    wrong = HashiCorpVaultSecrets(vault_server.url, vault_server.root_token, mount_point="kv1", version="v2",
                                  ca_bundle=str(vault_server.ca_file))
    with pytest.raises(ConfigurationError, match="KV v1"):
        wrong.validate()


def test_a_missing_mount_is_named(vault_server: VaultServer) -> None:
    nowhere = HashiCorpVaultSecrets(vault_server.url, vault_server.root_token, mount_point="no-such-mount",
                                    ca_bundle=str(vault_server.ca_file))
    with pytest.raises(ConfigurationError, match="mount"):
        nowhere.get("x")
    with pytest.raises(ConfigManagerError):
        nowhere.validate()


# ---------------------------------------------------------------- auth and errors


def test_a_wrong_token_is_an_authentication_error_that_does_not_quote_it(vault_server: VaultServer) -> None:
    bad = "hvs.this-token-does-not-exist-0123456789"
    kv = _provider(vault_server, vault_token=bad)
    with pytest.raises(AuthenticationError) as caught:
        kv.get("app/anything")
    assert bad not in str(caught.value) and "invalid or expired" in str(caught.value)
    with pytest.raises(AuthenticationError):
        kv.validate()


def test_a_valid_token_without_the_policy_is_permission_denied(vault_server: VaultServer, prefix: str) -> None:
    _provider(vault_server).set(f"app/{prefix}", "readable")
    _provider(vault_server).set(f"private/{prefix}", "not for the app")
    token = vault_server.create_token(["app-read"])
    kv = _provider(vault_server, vault_token=token)
    assert kv.get(f"app/{prefix}").value == "readable"
    with pytest.raises(PermissionDeniedError) as caught:
        kv.get(f"private/{prefix}")
    assert token not in str(caught.value) and f"private/{prefix}" in str(caught.value)
    with pytest.raises(PermissionDeniedError):
        kv.set(f"app/{prefix}", "overwrite")
    assert _provider(vault_server).get(f"app/{prefix}").value == "readable"


def test_approle_login_reads_and_logs_in_again_after_revocation(vault_server: VaultServer, prefix: str) -> None:
    _provider(vault_server).set(f"app/{prefix}", "via-approle")
    role_id, secret_id = vault_server.create_approle(f"r{prefix}", ["app-read"])
    kv = _provider(vault_server, vault_token=None, auth=AppRoleAuth(role_id=role_id, secret_id=secret_id))
    assert kv.get(f"app/{prefix}").value == "via-approle"
    vault_server.admin.auth.token.revoke(kv._client.token)  # the token dies; the role still works
    assert kv.get(f"app/{prefix}").value == "via-approle"
    assert secret_id not in repr(kv) and role_id not in repr(kv)


def test_concurrent_reads_share_one_login(vault_server: VaultServer, prefix: str) -> None:
    from concurrent.futures import ThreadPoolExecutor

    _provider(vault_server).set(f"app/{prefix}", "shared")
    role_id, secret_id = vault_server.create_approle(f"conc{prefix}", ["app-read"])
    kv = _provider(vault_server, vault_token=None, auth=AppRoleAuth(role_id=role_id, secret_id=secret_id))
    with ThreadPoolExecutor(max_workers=8) as pool:
        values = list(pool.map(lambda _: kv.get(f"app/{prefix}").value, range(200)))
    assert values == ["shared"] * 200
    accessors = vault_server.admin.list("auth/token/accessors")["data"]["keys"]
    metas = [vault_server.admin.auth.token.lookup_accessor(a)["data"].get("meta") or {} for a in accessors]
    assert sum(1 for meta in metas if meta.get("role_name") == f"conc{prefix}") == 1


def test_approle_tokens_are_renewed_before_their_lease_ends(vault_server: VaultServer, prefix: str) -> None:
    _provider(vault_server).set(f"app/{prefix}", "fresh")
    role_id, secret_id = vault_server.create_approle(f"short{prefix}", ["app-read"], token_ttl="3s")
    kv = _provider(vault_server, vault_token=None, auth=AppRoleAuth(role_id=role_id, secret_id=secret_id))
    assert kv.get(f"app/{prefix}").value == "fresh"
    first_token = kv._client.token
    time.sleep(3.5)
    assert kv.get(f"app/{prefix}").value == "fresh"
    assert kv._client.token != first_token


def test_a_refused_approle_login_is_an_authentication_error_without_credentials(vault_server: VaultServer) -> None:
    role_id, _ = vault_server.create_approle("refused", ["app-read"])
    wrong_secret = "00000000-1111-2222-3333-444444444444"
    kv = _provider(vault_server, vault_token=None, auth=AppRoleAuth(role_id=role_id, secret_id=wrong_secret))
    with pytest.raises(AuthenticationError) as caught:
        kv.get("app/x")
    message = str(caught.value)
    assert "login" in message and wrong_secret not in message and role_id not in message


@pytest.mark.cluster
def test_kubernetes_auth_with_a_real_service_account_token(
    vault_server: VaultServer, vault_kubernetes_auth: Any, cluster: Any, namespace: str, prefix: str
) -> None:
    from kubernetes import client as k8s

    _provider(vault_server).set(f"app/{prefix}", "via-kubernetes")
    core = k8s.CoreV1Api(cluster.api_client())
    for sa in ("app", "intruder"):
        core.create_namespaced_service_account(namespace, {"metadata": {"name": sa}})
    vault_server.admin.auth.kubernetes.create_role(
        name=f"app-{prefix}", bound_service_account_names=["app"], bound_service_account_namespaces=[namespace],
        policies=["app-read"], ttl="10m", mount_point=vault_kubernetes_auth.mount_point,
    )

    def token_of(sa: str) -> str:
        return str(core.create_namespaced_service_account_token(sa, namespace, {"spec": {"expirationSeconds": 600}}).status.token)

    kv = _provider(vault_server, vault_token=None, auth=KubernetesAuth(role=f"app-{prefix}", jwt=token_of("app")))
    assert kv.get(f"app/{prefix}").value == "via-kubernetes"

    intruder_jwt = token_of("intruder")
    refused = _provider(vault_server, vault_token=None, auth=KubernetesAuth(role=f"app-{prefix}", jwt=intruder_jwt))
    with pytest.raises(AuthenticationError) as caught:
        refused.get(f"app/{prefix}")
    assert intruder_jwt not in str(caught.value)


def test_kubernetes_auth_reads_its_token_file_at_login(vault_server: VaultServer, tmp_path: Any) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("not-a-jwt-but-from-the-file\n")
    kv = _provider(vault_server, vault_token=None, auth=KubernetesAuth(role="nobody", jwt_file=str(token_file)))
    with pytest.raises(AuthenticationError) as caught:
        kv.get("app/x")
    assert "not-a-jwt-but-from-the-file" not in str(caught.value)


def test_tls_without_the_ca_is_a_clear_provider_error(vault_server: VaultServer) -> None:
    kv = HashiCorpVaultSecrets(vault_server.url, vault_server.root_token)  # system CAs only
    with pytest.raises(ProviderError, match="TLS"):
        kv.get("x")
    missing = HashiCorpVaultSecrets(vault_server.url, vault_server.root_token, ca_bundle="/nonexistent/ca.pem")
    with pytest.raises(ConfigurationError, match="CA bundle"):
        missing.get("x")


# ---------------------------------------------------------------- a server that goes away


def test_a_frozen_server_gives_provider_unavailable_within_the_timeout(disposable_vault: VaultServer) -> None:
    kv = HashiCorpVaultSecrets(disposable_vault.url, disposable_vault.root_token,
                               ca_bundle=str(disposable_vault.ca_file), timeout=2)
    kv.set("k", "v")  # connected and working
    disposable_vault.freeze()
    try:
        started = time.monotonic()
        with pytest.raises(ProviderUnavailableError, match="did not answer within 2s"):
            kv.get("k")
        assert time.monotonic() - started < 4
    finally:
        disposable_vault.thaw()
    assert kv.get("k").value == "v"  # and it recovers when the server answers again


def test_a_stopped_server_gives_provider_unavailable_at_once(disposable_vault: VaultServer) -> None:
    kv = HashiCorpVaultSecrets(disposable_vault.url, disposable_vault.root_token,
                               ca_bundle=str(disposable_vault.ca_file), timeout=2)
    kv.set("k", "v")
    disposable_vault.kill()
    started = time.monotonic()
    with pytest.raises(ProviderUnavailableError, match="cannot connect"):
        kv.get("k")
    with pytest.raises(ProviderUnavailableError):
        kv.validate()
    assert time.monotonic() - started < 4


def test_no_credential_or_value_appears_in_any_error(vault_server: VaultServer, prefix: str) -> None:
    value = "s3cret-value-that-must-not-leak"
    _provider(vault_server).set(f"private/{prefix}", value)
    token = vault_server.create_token(["app-read"])
    messages: list[str] = []
    for call in (
        lambda: _provider(vault_server, vault_token=token).get(f"private/{prefix}"),
        lambda: _provider(vault_server, vault_token=token).set(f"private/{prefix}", value),
        lambda: _provider(vault_server, vault_token=token).list("private/"),
        lambda: _provider(vault_server, vault_token=token + "x").get(f"app/{prefix}"),
    ):
        with pytest.raises(ConfigManagerError) as caught:
            call()
        messages.append(str(caught.value) + repr(caught.value))
    for message in messages:
        assert value not in message and token not in message and vault_server.root_token not in message
