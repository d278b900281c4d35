"""One exception hierarchy for the whole package.

Every backend error (hvac, azure-core, cryptography, kubernetes) is translated into one of these at the
boundary where it happens, with the original chained as ``__cause__``. Callers catch our classes only.

Messages name the key, provider or field involved and never a secret value: exception text ends up in
logs, Events and status, so it is treated as public.
"""

from __future__ import annotations


class ConfigManagerError(Exception):
    """Base class of every error raised by config_manager."""


class ConfigurationError(ConfigManagerError, ValueError):
    """Bad input: a field, argument or file that cannot be used as given. The message names it."""


class SourceError(ConfigManagerError):
    """A configuration source could not be read or parsed."""


class SecretsError(ConfigManagerError):
    """Base class of errors about secrets and their providers."""


class SecretNotFoundError(SecretsError, KeyError):
    """The key (or the requested version of it) does not exist in the provider."""

    def __init__(self, key: str, provider: str | None = None, version: str | None = None) -> None:
        self.key = key
        self.provider = provider
        self.version = version
        where = f" in provider '{provider}'" if provider else ""
        which = f" (version {version})" if version else ""
        super().__init__(f"secret '{key}'{which} not found{where}")

    def __str__(self) -> str:  # KeyError would quote the whole message
        return str(self.args[0])


class DecryptionError(SecretsError):
    """Encrypted data could not be opened: wrong key, truncated or tampered file, unknown format."""


class ProviderError(SecretsError):
    """A provider call failed for a reason other than a missing key."""

    def __init__(self, message: str, provider: str | None = None) -> None:
        self.provider = provider
        super().__init__(message)


class ProviderUnavailableError(ProviderError):
    """The backend could not be reached or did not answer in time. Retrying later may succeed."""


class AuthenticationError(ProviderError):
    """The backend refused our credentials (bad token, expired role, refused identity)."""


class PermissionDeniedError(ProviderError):
    """The credentials are valid but not allowed to do this operation on this key."""


class UnsupportedOperationError(ProviderError):
    """The provider cannot do this operation (for example versions on KV v1)."""


class RotationError(SecretsError):
    """A rotation could not be completed; the previous value is still in place."""


__all__ = [
    "AuthenticationError",
    "ConfigManagerError",
    "ConfigurationError",
    "DecryptionError",
    "PermissionDeniedError",
    "ProviderError",
    "ProviderUnavailableError",
    "RotationError",
    "SecretNotFoundError",
    "SecretsError",
    "SourceError",
    "UnsupportedOperationError",
]
