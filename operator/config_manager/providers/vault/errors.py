"""hvac and requests errors translated into ``config_manager.errors`` at the provider boundary.

Callers above the provider catch our classes only. The original exception is chained as ``__cause__``
by the caller (``raise translate(...) from exc``). Messages name the operation, the key and the mount,
the HTTP status and Vault's own error strings, and never a token, secret id, JWT or secret value: every
credential the provider holds is scrubbed from Vault's strings before they are quoted, and hvac's own
message (which quotes the request URL) is not used at all.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import requests
from hvac import exceptions as hvac_exc  # type: ignore[import-untyped]

from ...errors import (
    AuthenticationError,
    ConfigManagerError,
    ConfigurationError,
    PermissionDeniedError,
    ProviderError,
    ProviderUnavailableError,
    SecretNotFoundError,
)
from ..base import MASK

PROVIDER = "vault"
_MAX_DETAIL = 240


def scrub(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every non-trivial credential in ``secrets`` replaced by the mask."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, MASK)
    return text


def vault_detail(errors: Sequence[str] | None, secrets: Iterable[str] = ()) -> str:
    """Vault's error strings, scrubbed and shortened, for quoting in a message ('' when none)."""
    if not errors:
        return ""
    text = "; ".join(str(e) for e in errors)
    text = scrub(text, list(secrets))
    if len(text) > _MAX_DETAIL:
        text = text[:_MAX_DETAIL] + "..."
    return f": {text}"


def _status(exc: hvac_exc.VaultError) -> str:
    for cls, code in _STATUS_OF.items():
        if type(exc) is cls:
            return f" (HTTP {code})"
    return ""


_STATUS_OF: dict[type[hvac_exc.VaultError], int] = {
    hvac_exc.InvalidRequest: 400,
    hvac_exc.Unauthorized: 401,
    hvac_exc.Forbidden: 403,
    hvac_exc.InvalidPath: 404,
    hvac_exc.PreconditionFailed: 412,
    hvac_exc.RateLimitExceeded: 429,
    hvac_exc.InternalServerError: 500,
    hvac_exc.VaultNotInitialized: 501,
    hvac_exc.BadGateway: 502,
    hvac_exc.VaultDown: 503,
}


def translate(
    exc: BaseException,
    *,
    operation: str,
    key: str | None,
    where: str,
    secrets: Iterable[str] = (),
    token_rejected: bool | None = None,
    timeout: float | None = None,
) -> ConfigManagerError:
    """Our exception for ``exc``, raised while doing ``operation`` on ``key`` at ``where``.

    ``where`` names the location without credentials (for example ``mount 'secret' at https://vault:8200``).
    ``token_rejected`` tells a 403 apart: Vault answers 403 both for an invalid token and for a valid
    token without the policy; the provider checks the token (lookup-self) and passes the result.
    """
    secrets = [s for s in secrets if s]
    subject = f"'{key}'" if key else "the server"
    what = f"vault: {operation} {subject} ({where})"

    if isinstance(exc, hvac_exc.VaultError):
        detail = vault_detail(exc.errors, secrets)
        status = _status(exc)
        if isinstance(exc, hvac_exc.InvalidPath):
            if exc.errors and any("no handler for route" in str(e) for e in exc.errors):
                return ConfigurationError(
                    f"{what} failed: no secrets engine is mounted there{status}; check mount_point"
                )
            if key:
                return SecretNotFoundError(key, PROVIDER)
            return ProviderError(f"{what} failed: not found{status}{detail}", PROVIDER)
        if isinstance(exc, hvac_exc.Unauthorized):
            return AuthenticationError(f"{what} failed: credentials refused{status}{detail}", PROVIDER)
        if isinstance(exc, hvac_exc.Forbidden):
            if token_rejected:
                return AuthenticationError(
                    f"{what} failed: the Vault token is invalid or expired{status}", PROVIDER
                )
            return PermissionDeniedError(
                f"{what} failed: permission denied by Vault policy{status}{detail}", PROVIDER
            )
        if isinstance(
            exc,
            (
                hvac_exc.RateLimitExceeded,
                hvac_exc.InternalServerError,
                hvac_exc.VaultNotInitialized,
                hvac_exc.BadGateway,
                hvac_exc.VaultDown,
                hvac_exc.PreconditionFailed,
            ),
        ):
            return ProviderUnavailableError(f"{what} failed: server not ready{status}{detail}", PROVIDER)
        if isinstance(exc, hvac_exc.ParamValidationError):
            return ConfigurationError(f"{what} failed: invalid parameter{detail}")
        return ProviderError(f"{what} failed{status}{detail}", PROVIDER)

    if isinstance(exc, requests.exceptions.SSLError):
        return ProviderError(
            f"{what} failed: TLS verification failed; check ca_bundle / verify", PROVIDER
        )
    if isinstance(exc, requests.exceptions.Timeout):
        limit = f" within {timeout:g}s" if timeout else " in time"
        return ProviderUnavailableError(f"{what} failed: Vault did not answer{limit}", PROVIDER)
    if isinstance(exc, requests.exceptions.ConnectionError):
        return ProviderUnavailableError(f"{what} failed: cannot connect to Vault", PROVIDER)
    if isinstance(exc, requests.exceptions.RequestException):
        return ProviderUnavailableError(f"{what} failed: {type(exc).__name__}", PROVIDER)
    if isinstance(exc, OSError):
        # requests raises a bare OSError before connecting when the CA bundle file is missing
        return ConfigurationError(f"{what} failed: the TLS CA bundle cannot be read; check ca_bundle / verify")
    return ProviderError(f"{what} failed: unexpected {type(exc).__name__}", PROVIDER)


def translate_login(
    exc: BaseException,
    *,
    method: str,
    where: str,
    secrets: Iterable[str] = (),
    timeout: float | None = None,
) -> ConfigManagerError:
    """Our exception for a failed login: a refusal (400/401/403) is an ``AuthenticationError``."""
    secrets = [s for s in secrets if s]
    if isinstance(exc, (hvac_exc.InvalidRequest, hvac_exc.Unauthorized, hvac_exc.Forbidden)):
        return AuthenticationError(
            f"vault: login ({method}) at {where} was refused{_status(exc)}{vault_detail(exc.errors, secrets)}",
            PROVIDER,
        )
    return translate(
        exc, operation=f"login ({method})", key=None, where=where, secrets=secrets, timeout=timeout
    )
