"""The one narrow interface every secret backend implements, and the value type it returns.

A provider is a small class that talks to one backend (an encrypted file, Vault/OpenBao, Azure Key Vault,
the process environment). It translates its backend's errors into ``config_manager.errors`` at this
boundary, chaining the original as the cause, and it never puts a secret value in a message.

Everything above (SecretsManager, ConfigManager, the operator) uses only this interface, so a provider
can be swapped without touching them. ``SecretValue`` lives here, at the bottom of the layers, because
providers create it; ``config_manager.secrets`` re-exports it.
"""

from __future__ import annotations

import builtins
import hashlib
import json
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, ClassVar

from ..errors import SecretNotFoundError, UnsupportedOperationError
from ..masking import MASK as MASK  # the one definition of how a secret is shown (re-exported)


def utcnow() -> datetime:
    """The current time, timezone-aware in UTC (every timestamp in the package is)."""
    return datetime.now(timezone.utc)


@dataclass(frozen=True, repr=False, eq=False)
class SecretValue:
    """A secret as a provider returned it: the value plus what is known about it.

    ``repr`` and ``str`` never show the value; read it explicitly through ``.value``.
    """

    key: str
    value: Any
    version: str | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)
    created_at: datetime | None = None
    expires_at: datetime | None = None

    def __repr__(self) -> str:
        return f"SecretValue(key={self.key!r}, value={MASK!r}, version={self.version!r})"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SecretValue):
            return NotImplemented
        return (self.key, self.value, self.version) == (other.key, other.value, other.version)

    __hash__ = None  # type: ignore[assignment]  # values may be dicts; equality is by content

    def is_expired(self, now: datetime | None = None) -> bool:
        """True when an expiry is set and has passed."""
        return self.expires_at is not None and (now or utcnow()) >= self.expires_at

    def fingerprint(self) -> str:
        """A SHA-256 of the value, safe to log or store: it identifies a value without revealing it."""
        if isinstance(self.value, bytes):
            data = self.value
        elif isinstance(self.value, str):
            data = self.value.encode()
        else:
            data = json.dumps(self.value, sort_keys=True, separators=(",", ":"), default=str).encode()
        return hashlib.sha256(data).hexdigest()


class SecretProvider(ABC):
    """A secret backend: get / set / delete / list / metadata / versions / validate.

    Implementations raise ``SecretNotFoundError`` for a missing key, ``ProviderUnavailableError`` when the
    backend cannot be reached, ``AuthenticationError`` / ``PermissionDeniedError`` when refused, and
    never leak backend exception types.
    """

    #: Registry name of the provider type ("local", "vault", "azure", "env").
    provider_type: ClassVar[str] = "abstract"

    @abstractmethod
    def get(self, key: str, version: str | None = None) -> SecretValue:
        """Return the secret (the latest version unless ``version`` is given)."""

    @abstractmethod
    def set(self, key: str, value: Any, metadata: Mapping[str, str] | None = None) -> SecretValue:
        """Store a new value (a new version where the backend keeps versions) and return it."""

    @abstractmethod
    def delete(self, key: str) -> bool:
        """Delete the key. True when something was deleted, False when it did not exist."""

    @abstractmethod
    def list(self, prefix: str = "") -> builtins.list[str]:
        """Keys (never values) under ``prefix``, sorted."""

    def metadata(self, key: str) -> dict[str, str]:
        """The key's metadata (tags, custom metadata) without its value's content."""
        return dict(self.get(key).metadata)

    def versions(self, key: str) -> builtins.list[str]:
        """Known versions of the key, oldest first."""
        raise UnsupportedOperationError(
            f"provider '{self.provider_type}' does not keep versions of '{key}'", self.provider_type
        )

    def exists(self, key: str) -> bool:
        """True when the key exists."""
        try:
            self.get(key)
        except SecretNotFoundError:
            return False
        return True

    @abstractmethod
    def validate(self) -> None:
        """Check that the backend is reachable and our credentials work; raise our errors if not."""

    def close(self) -> None:  # noqa: B027 - optional for providers: the default holds nothing to release
        """Release connections or handles. Safe to call more than once."""

    def describe(self) -> str:
        """A short, secret-free description for logs and status (type and location)."""
        return self.provider_type
