"""Which ``TokenCredential`` the Azure provider uses when it is not handed one.

The library passes a credential object (``AzureKeyVaultSecrets(url, credential=DefaultAzureCredential())``);
the operator, which reads plain values from Kubernetes Secrets, passes settings instead:

- ``tenant_id`` + ``client_id`` + ``client_secret``: a service principal (``ClientSecretCredential``);
- ``managed_identity_client_id``: a user-assigned managed identity (``ManagedIdentityCredential``);
- nothing: ``DefaultAzureCredential()`` (environment, workload identity, managed identity, CLI...).

``azure-identity`` is imported only here and only when needed, so it stays an optional dependency for
callers that bring their own credential.
"""

from __future__ import annotations

from typing import Any

from azure.core.credentials import TokenCredential

from ...errors import ConfigurationError


def _identity() -> Any:
    try:
        import azure.identity as identity
    except ImportError as exc:  # pragma: no cover - depends on the installed extras
        raise ConfigurationError(
            "azure: building a credential needs azure-identity: pip install 'configmanagelib[azure]'"
        ) from exc
    return identity


def credential_from_settings(
    *,
    tenant_id: str | None = None,
    client_id: str | None = None,
    client_secret: str | None = None,
    managed_identity_client_id: str | None = None,
) -> TokenCredential:
    """The credential for these settings (see the module docstring); ``ConfigurationError`` names what is missing."""
    principal = {"tenant_id": tenant_id, "client_id": client_id, "client_secret": client_secret}
    given = [name for name, value in principal.items() if value]
    if given and managed_identity_client_id:
        raise ConfigurationError("azure: give either a service principal or a managed identity, not both")
    if given:
        missing = [name for name, value in principal.items() if not value]
        if missing:
            raise ConfigurationError(f"azure: the service principal also needs {', '.join(missing)}")
        credential: TokenCredential = _identity().ClientSecretCredential(
            tenant_id=str(tenant_id), client_id=str(client_id), client_secret=str(client_secret)
        )
        return credential
    if managed_identity_client_id:
        credential = _identity().ManagedIdentityCredential(client_id=managed_identity_client_id)
        return credential
    credential = _identity().DefaultAzureCredential()
    return credential
