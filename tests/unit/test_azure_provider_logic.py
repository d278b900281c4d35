"""Our own logic in the Azure provider, without a vault: value mapping and error translation.

The provider against a real server would be proven in tests/integration/test_azure_provider.py.
"""

from __future__ import annotations

import pytest
from azure.core import exceptions as az

from config_manager.errors import (
    AuthenticationError,
    ConfigurationError,
    PermissionDeniedError,
    ProviderError,
    ProviderUnavailableError,
    SecretNotFoundError,
)
from config_manager.providers.azure.errors import translate
from config_manager.providers.azure.values import (
    BYTES_CONTENT_TYPE,
    JSON_CONTENT_TYPE,
    decode_value,
    encode_value,
)


class _Response:
    """Just enough of an azure-core HTTP response for HttpResponseError to read a status."""

    def __init__(self, status: int) -> None:
        self.status_code = status
        self.reason = "reason"
        self.headers: dict[str, str] = {}
        self.request = None

    def text(self) -> str:
        return '{"error": {"code": "Code%d", "message": "the message quotes s3cret-value"}}' % self.status_code


def _http_error(cls: type[az.HttpResponseError], status: int) -> az.HttpResponseError:
    return cls(response=_Response(status))


def _translate(exc: BaseException) -> Exception:
    return translate(exc, operation="reading", key="db/prod", name="db--sprod", where="https://kv.example")


def test_strings_are_stored_as_they_are() -> None:
    assert encode_value("k", "s3cret") == ("s3cret", None)
    assert decode_value("s3cret", None) == "s3cret"
    assert decode_value("s3cret", "password") == "s3cret"


@pytest.mark.parametrize("value", [{"user": "u", "password": "p"}, [1, 2], 42, True, None])
def test_json_values_round_trip(value: object) -> None:
    text, content_type = encode_value("k", value)
    assert content_type == JSON_CONTENT_TYPE
    assert decode_value(text, content_type) == value


def test_bytes_round_trip_through_base64() -> None:
    text, content_type = encode_value("k", b"\x00\xffraw")
    assert content_type == BYTES_CONTENT_TYPE
    assert decode_value(text, content_type) == b"\x00\xffraw"


def test_values_json_cannot_hold_are_refused_naming_the_key() -> None:
    with pytest.raises(ConfigurationError, match="'k'"):
        encode_value("k", object())


def test_not_found_is_secret_not_found_with_the_key() -> None:
    err = _translate(_http_error(az.ResourceNotFoundError, 404))
    assert isinstance(err, SecretNotFoundError) and err.key == "db/prod" and err.provider == "azure"


def test_a_credential_that_cannot_get_a_token_is_an_authentication_error() -> None:
    err = _translate(az.ClientAuthenticationError("ManagedIdentityCredential: no endpoint"))
    assert isinstance(err, AuthenticationError) and "could not get a token" in str(err)


def test_statuses_map_to_our_classes_and_never_quote_azure_text() -> None:
    cases = {
        401: (az.ClientAuthenticationError, AuthenticationError),
        403: (az.HttpResponseError, PermissionDeniedError),
        409: (az.ResourceExistsError, ProviderError),
        429: (az.HttpResponseError, ProviderUnavailableError),
        503: (az.HttpResponseError, ProviderUnavailableError),
        400: (az.HttpResponseError, ProviderError),
    }
    for status, (cls, ours) in cases.items():
        err = _translate(_http_error(cls, status))
        assert isinstance(err, ours), status
        assert "s3cret" not in str(err) and f"HTTP {status}" in str(err)
        assert "db--sprod" in str(err)


@pytest.mark.parametrize(
    "exc",
    [az.ServiceRequestError("refused"), az.ServiceResponseError("reset"), az.ServiceResponseTimeoutError("t")],
)
def test_network_failures_are_provider_unavailable(exc: BaseException) -> None:
    assert isinstance(_translate(exc), ProviderUnavailableError)


# ---------------------------------------------------------------- credentials from settings (the operator's way)


def test_service_principal_settings_build_a_client_secret_credential() -> None:
    from azure.identity import ClientSecretCredential

    from config_manager.providers import registry

    provider = registry.create(
        "azure", vault_url="https://kv.example.vault.azure.net/", tenant_id="t", client_id="c", client_secret="s3cret"
    )
    assert isinstance(provider._credential, ClientSecretCredential)  # type: ignore[attr-defined]
    assert "s3cret" not in repr(provider) + provider.describe()


def test_managed_identity_settings_build_a_managed_identity_credential() -> None:
    from azure.identity import ManagedIdentityCredential

    from config_manager.providers.azure import AzureKeyVaultSecrets

    provider = AzureKeyVaultSecrets("https://kv.example.vault.azure.net/", managed_identity_client_id="mi")
    assert isinstance(provider._credential, ManagedIdentityCredential)


def test_incomplete_or_conflicting_credential_settings_are_named() -> None:
    from config_manager.providers.azure import AzureKeyVaultSecrets

    with pytest.raises(ConfigurationError, match="client_secret"):
        AzureKeyVaultSecrets("https://kv.example.vault.azure.net/", tenant_id="t", client_id="c")
    with pytest.raises(ConfigurationError, match="not both"):
        AzureKeyVaultSecrets("https://kv.example.vault.azure.net/", tenant_id="t", client_id="c",
                             client_secret="s", managed_identity_client_id="mi")
    with pytest.raises(ConfigurationError, match="https"):
        AzureKeyVaultSecrets("http://kv.example/", managed_identity_client_id="mi")


class _DisabledResponse(_Response):
    def text(self) -> str:
        return ('{"error": {"code": "Forbidden", "message": "Operation get is not allowed on a disabled secret.",'
                ' "innererror": {"code": "SecretDisabled"}}}')


def test_a_disabled_secret_is_named_as_such_not_as_a_permission_problem() -> None:
    err = _translate(az.HttpResponseError(response=_DisabledResponse(403)))
    assert type(err) is ProviderError and "disabled" in str(err) and "(HTTP 403, Forbidden)" in str(err)
    assert type(_translate(_http_error(az.HttpResponseError, 403))) is PermissionDeniedError
