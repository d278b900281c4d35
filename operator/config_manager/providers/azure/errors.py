"""azure-core and azure-identity errors translated into ``config_manager.errors`` at the provider boundary.

Messages name the operation, the key (and the Azure name it maps to), the vault, the HTTP status and
Azure's error code (``SecretNotFound``, ``Forbidden``, ``Conflict``...). Azure's free-text message is
left out: it is not needed to act on the error and we do not control what it quotes. The original
exception is chained as ``__cause__`` by the caller.
"""

from __future__ import annotations

from azure.core import exceptions as az

from ...errors import (
    AuthenticationError,
    ConfigManagerError,
    PermissionDeniedError,
    ProviderError,
    ProviderUnavailableError,
    SecretNotFoundError,
)

PROVIDER = "azure"


def _code(exc: az.HttpResponseError) -> str:
    error = getattr(exc, "error", None)
    code = getattr(error, "code", None)
    return str(code) if code else ""


def _inner_code(exc: az.HttpResponseError) -> str:
    inner = getattr(getattr(exc, "error", None), "innererror", None) or {}
    return str(inner.get("code") or "") if isinstance(inner, dict) else ""


def _status_text(exc: BaseException) -> str:
    status = getattr(exc, "status_code", None)
    code = _code(exc) if isinstance(exc, az.HttpResponseError) else ""
    parts = [p for p in (f"HTTP {status}" if status else "", code) if p]
    return f" ({', '.join(parts)})" if parts else ""


def translate(
    exc: BaseException,
    *,
    operation: str,
    key: str | None,
    name: str | None,
    where: str,
    version: str | None = None,
) -> ConfigManagerError:
    """Our exception for ``exc``, raised while doing ``operation`` on ``key`` (Azure name ``name``)."""
    subject = "the vault"
    if key:
        subject = f"'{key}'" + (f" (Azure name '{name}')" if name and name != key else "")
    what = f"azure: {operation} {subject} at {where}"
    status = _status_text(exc)

    if isinstance(exc, az.ClientAuthenticationError):
        if getattr(exc, "status_code", None) is None:
            # raised by a credential (azure-identity) before any request reached the vault
            return AuthenticationError(
                f"{what} failed: the credential could not get a token ({type(exc).__name__})", PROVIDER
            )
        return AuthenticationError(f"{what} failed: credentials refused{status}", PROVIDER)
    if isinstance(exc, az.ResourceNotFoundError):
        if key:
            return SecretNotFoundError(key, PROVIDER, version)
        return ProviderError(f"{what} failed: not found{status}", PROVIDER)
    if isinstance(exc, az.ResourceExistsError):
        return ProviderError(
            f"{what} failed: conflict{status}; a deleted secret of that name may still be recoverable "
            "(purge or recover it first)",
            PROVIDER,
        )
    if isinstance(exc, az.HttpResponseError):
        code = getattr(exc, "status_code", None) or 0
        if code == 401:
            return AuthenticationError(f"{what} failed: credentials refused{status}", PROVIDER)
        if code == 403 and _inner_code(exc) == "SecretDisabled":
            return ProviderError(f"{what} failed: the secret (or that version) is disabled in the vault{status}", PROVIDER)
        if code == 403:
            return PermissionDeniedError(f"{what} failed: permission denied{status}", PROVIDER)
        if code == 404 and key:
            return SecretNotFoundError(key, PROVIDER, version)
        if code == 409:
            return ProviderError(
                f"{what} failed: conflict{status}; a deleted secret of that name may still be recoverable "
                "(purge or recover it first)",
                PROVIDER,
            )
        if code == 429 or code >= 500:
            return ProviderUnavailableError(f"{what} failed: service busy or unavailable{status}", PROVIDER)
        if code == 0:
            return ProviderUnavailableError(f"{what} failed: no usable answer ({type(exc).__name__})", PROVIDER)
        return ProviderError(f"{what} failed{status}", PROVIDER)
    if isinstance(exc, (az.ServiceRequestTimeoutError, az.ServiceResponseTimeoutError)):
        return ProviderUnavailableError(f"{what} failed: the vault did not answer in time", PROVIDER)
    if isinstance(exc, az.ServiceRequestError):
        return ProviderUnavailableError(f"{what} failed: cannot connect to the vault", PROVIDER)
    if isinstance(exc, az.ServiceResponseError):
        return ProviderUnavailableError(f"{what} failed: the connection broke or timed out", PROVIDER)
    if isinstance(exc, az.AzureError):
        return ProviderError(f"{what} failed: {type(exc).__name__}", PROVIDER)
    return ProviderError(f"{what} failed: unexpected {type(exc).__name__}", PROVIDER)
