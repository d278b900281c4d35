"""Our own logic in the Vault provider, without a server: value mapping, error translation, auth config.

The provider against a real server is proven in tests/integration/test_vault_provider.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import requests
from hvac import exceptions as hvac_exc

from config_manager.errors import (
    AuthenticationError,
    ConfigurationError,
    PermissionDeniedError,
    ProviderError,
    ProviderUnavailableError,
    SecretNotFoundError,
)
from config_manager.providers.vault import (
    AppRoleAuth,
    HashiCorpVaultSecrets,
    KubernetesAuth,
    TokenAuth,
    auth_from_config,
)
from config_manager.providers.vault.errors import translate, translate_login
from config_manager.providers.vault.kv import parse_time
from config_manager.providers.vault.values import decode_value, encode_value

TOKEN = "hvs.CAESIJ-very-secret-token"


# ---------------------------------------------------------------- values


@pytest.mark.parametrize("value", ["s3cret", 42, 1.5, True, None, ["a", "b"]])
def test_scalars_are_stored_under_value_and_read_back_as_themselves(value: object) -> None:
    stored = encode_value("k", value)
    assert stored == {"value": value}
    assert decode_value(stored) == value


def test_mappings_are_stored_as_fields_and_read_back_as_dicts() -> None:
    creds = {"username": "app", "password": "pw"}
    assert encode_value("k", creds) == creds
    assert decode_value(creds) == creds
    assert decode_value({}) == {}


def test_a_mapping_with_only_a_value_field_reads_back_as_its_content() -> None:
    # documented ambiguity: Vault cannot tell these apart
    assert decode_value(encode_value("k", {"value": 1})) == 1


def test_bytes_and_non_string_field_names_are_refused_naming_the_key() -> None:
    with pytest.raises(ConfigurationError, match="'k'"):
        encode_value("k", b"raw")
    with pytest.raises(ConfigurationError, match="'k'"):
        encode_value("k", {1: "x"})


def test_vault_timestamps_with_nanoseconds_parse() -> None:
    parsed = parse_time("2026-11-29T22:03:56.123456789Z")
    assert parsed is not None and parsed.microsecond == 123456 and parsed.utcoffset() is not None
    assert parse_time("") is None and parse_time("0001-01-01T00:00:00Z") is None


# ---------------------------------------------------------------- errors


def _translate(exc: BaseException, **kw: object) -> Exception:
    args: dict[str, object] = {"operation": "reading", "key": "db/prod", "where": "mount 'secret' at http://v"}
    args.update(kw)
    return translate(exc, **args)  # type: ignore[arg-type]


def test_missing_path_is_secret_not_found() -> None:
    err = _translate(hvac_exc.InvalidPath(errors=[]))
    assert isinstance(err, SecretNotFoundError) and err.key == "db/prod" and err.provider == "vault"


def test_missing_mount_is_a_configuration_error_naming_the_mount() -> None:
    err = _translate(hvac_exc.InvalidPath(errors=['no handler for route "nope/data/x". route entry not found.']))
    assert isinstance(err, ConfigurationError) and "mount_point" in str(err)


def test_forbidden_is_permission_denied_unless_the_token_itself_is_rejected() -> None:
    denied = _translate(hvac_exc.Forbidden(errors=["permission denied"]), token_rejected=False)
    assert isinstance(denied, PermissionDeniedError) and "HTTP 403" in str(denied)
    rejected = _translate(hvac_exc.Forbidden(errors=["permission denied"]), token_rejected=True)
    assert isinstance(rejected, AuthenticationError) and "invalid or expired" in str(rejected)


@pytest.mark.parametrize(
    "exc",
    [
        hvac_exc.VaultDown(errors=["Vault is sealed"]),
        hvac_exc.InternalServerError(errors=["boom"]),
        hvac_exc.RateLimitExceeded(errors=[]),
        hvac_exc.BadGateway(),
        requests.exceptions.ConnectTimeout("x"),
        requests.exceptions.ReadTimeout("x"),
        requests.exceptions.ConnectionError("x"),
    ],
)
def test_unreachable_or_unready_servers_are_provider_unavailable(exc: BaseException) -> None:
    assert isinstance(_translate(exc, timeout=2.0), ProviderUnavailableError)


def test_timeouts_name_the_bound() -> None:
    assert "within 2s" in str(_translate(requests.exceptions.ReadTimeout("x"), timeout=2.0))


def test_tls_failures_are_provider_errors_pointing_at_the_ca_setting() -> None:
    err = _translate(requests.exceptions.SSLError("certificate verify failed"))
    assert type(err) is ProviderError and "ca_bundle" in str(err)


def test_credentials_are_scrubbed_from_quoted_vault_errors() -> None:
    err = _translate(hvac_exc.InvalidRequest(errors=[f"bad token {TOKEN} here"]), secrets=[TOKEN])
    assert TOKEN not in str(err) and "[MASKED]" in str(err)


def test_refused_logins_are_authentication_errors_without_credentials() -> None:
    err = translate_login(
        hvac_exc.InvalidRequest(errors=["invalid role or secret ID"]),
        method="approle at auth/approle",
        where="http://v",
        secrets=["role-id-123", "secret-id-456"],
    )
    assert isinstance(err, AuthenticationError) and "invalid role or secret ID" in str(err)


# ---------------------------------------------------------------- auth configuration


def test_auth_objects_never_show_credentials() -> None:
    for auth in (
        TokenAuth(TOKEN),
        AppRoleAuth(role_id="role-id-123", secret_id="secret-id-456"),
        KubernetesAuth(role="app", jwt="eyJhbGciOi.jwt.payload"),
    ):
        text = repr(auth) + str(auth) + auth.describe()
        for credential in auth.credentials():
            assert credential not in text


def test_provider_repr_and_description_hide_the_token_and_url_password() -> None:
    provider = HashiCorpVaultSecrets("https://user:pw@vault.example:8200", TOKEN)
    text = repr(provider) + provider.describe()
    assert TOKEN not in text and "pw" not in text and "vault.example:8200" in text


def test_auth_from_plain_configuration() -> None:
    approle = auth_from_config({"appRole": {"roleId": "r", "secretId": "s", "mountPath": "ar"}})
    assert isinstance(approle, AppRoleAuth) and approle.mount_point == "ar" and approle.secret_id == "s"
    k8s = auth_from_config({"kubernetes": {"role": "app", "jwt_file": "/tmp/t"}})
    assert isinstance(k8s, KubernetesAuth) and k8s.role == "app"
    assert isinstance(auth_from_config(None, TOKEN), TokenAuth)
    assert isinstance(auth_from_config({"token": TOKEN}), TokenAuth)


def test_auth_configuration_errors_name_what_is_wrong(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VAULT_TOKEN", raising=False)
    with pytest.raises(ConfigurationError, match="VAULT_TOKEN"):
        auth_from_config(None, None)
    with pytest.raises(ConfigurationError, match="exactly one"):
        auth_from_config({"token": "a", "kubernetes": {"role": "x"}})
    with pytest.raises(ConfigurationError, match="role_id"):
        auth_from_config({"approle": {"secret_id": "s"}})
    with pytest.raises(ConfigurationError, match="unknown method"):
        auth_from_config({"ldap": {"user": "u"}})


def test_vault_token_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VAULT_TOKEN", TOKEN)
    assert auth_from_config(None, None) == TokenAuth(TOKEN)


def test_kubernetes_auth_names_a_missing_token_file(tmp_path: object) -> None:
    auth = KubernetesAuth(role="app", jwt_file="/nonexistent/token")
    with pytest.raises(ConfigurationError, match="/nonexistent/token"):
        auth._read_jwt()


@pytest.mark.parametrize("key", ["", "/abs", "trailing/", "a//b", "a/../b", "./a"])
def test_bad_keys_are_refused_before_any_request(key: str) -> None:
    provider = HashiCorpVaultSecrets("http://127.0.0.1:9", TOKEN)
    with pytest.raises(ConfigurationError):
        provider.get(key)


def test_constructor_checks_its_arguments() -> None:
    with pytest.raises(ConfigurationError, match="version"):
        HashiCorpVaultSecrets("http://v", TOKEN, version="v3")
    with pytest.raises(ConfigurationError, match="URL"):
        HashiCorpVaultSecrets("vault.example", TOKEN)
    assert HashiCorpVaultSecrets("http://v", TOKEN, version=1).version == "v1"


def test_a_namespace_is_sent_with_every_request() -> None:
    provider = HashiCorpVaultSecrets("http://v", TOKEN, namespace="team-a")
    assert provider._client.adapter.namespace == "team-a"
    assert "namespace 'team-a'" in provider.describe()


def test_jwt_and_userpass_from_plain_configuration_mask_their_credentials(tmp_path: Path) -> None:
    from config_manager.providers.vault import JwtAuth, UserpassAuth

    token_file = tmp_path / "token"
    token_file.write_text("eyJ.signed.jwt\n")
    jwt = auth_from_config({"jwt": {"role": "app", "jwtFile": str(token_file), "path": "jwt-k8s"}})
    assert isinstance(jwt, JwtAuth) and jwt.mount_point == "jwt-k8s" and jwt.credentials() == ["eyJ.signed.jwt"]
    assert "eyJ" not in repr(JwtAuth(role="app", jwt="eyJ.secret"))
    up = auth_from_config({"userPass": {"username": "svc", "password": "pw-123"}})
    assert isinstance(up, UserpassAuth) and up.mount_point == "userpass" and "pw-123" not in repr(up)
    with pytest.raises(ConfigurationError, match="jwt_file"):
        JwtAuth(role="app")
    with pytest.raises(ConfigurationError, match="username and password"):
        UserpassAuth("svc", "")
    from config_manager.providers.vault import CertAuth

    pem = "-----BEGIN CERTIFICATE-----\nMII\n-----END CERTIFICATE-----\n"
    key = "-----BEGIN PRIVATE KEY-----\nMIGHsecret\n-----END PRIVATE KEY-----\n"
    cert = auth_from_config({"cert": {"certPem": pem, "keyPem": key, "role": "app", "mountPath": "cert-k8s"}})
    assert isinstance(cert, CertAuth) and cert.mount_point == "cert-k8s" and "MIGHsecret" not in repr(cert)
    with pytest.raises(ConfigurationError, match="PEM certificate and a PEM private key"):
        CertAuth(cert_pem="not a pem", key_pem=key)
