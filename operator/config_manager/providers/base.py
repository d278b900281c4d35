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
import re
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, ClassVar

from ..errors import ConfigurationError, SecretNotFoundError, UnsupportedOperationError
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


#: Default bound on how many keys one ``find`` may return.
DEFAULT_FIND_LIMIT = 1000


@dataclass(frozen=True)
class FindCriteria:
    """What ``SecretProvider.find`` selects: every given criterion must hold (an empty one selects all).

    ``name_regexp`` is searched in the key (Python ``re.search``, as Go's ``MatchString``); ``tags`` must
    all be present with equal values in the key's metadata; ``path`` keeps keys at or under that folder
    (``db`` keeps ``db/a`` and ``db/x/y``, not ``dbx``). ``limit`` bounds the answer: more matches than
    that is a ``FindLimitError`` rather than a silently cut list.
    """

    name_regexp: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    path: str | None = None
    limit: int = DEFAULT_FIND_LIMIT

    def pattern(self) -> re.Pattern[str] | None:
        """The compiled name regexp; ``ConfigurationError`` naming it when it is not a valid one."""
        if self.name_regexp is None:
            return None
        try:
            return re.compile(self.name_regexp)
        except re.error as exc:
            raise ConfigurationError(f"name.regexp {self.name_regexp!r} is not a valid regular expression: {exc}") from None

    def folder(self) -> str:
        """``path`` as a listing prefix: '' for all, else the folder with one trailing '/'."""
        path = (self.path or "").strip("/")
        return f"{path}/" if path else ""

    def selects_name(self, key: str, pattern: re.Pattern[str] | None) -> bool:
        """True when ``key`` passes the path and name criteria (tags are checked separately)."""
        folder = self.folder()
        if folder and not key.startswith(folder):
            return False
        return pattern is None or pattern.search(key) is not None

    def selects_tags(self, metadata: Mapping[str, str]) -> bool:
        return all(metadata.get(name) == value for name, value in self.tags.items())

    def describe(self) -> str:
        """The criteria without values of secrets (names, tags and paths are not secret)."""
        parts = [f"name.regexp={self.name_regexp!r}"] if self.name_regexp is not None else []
        parts += [f"path={self.path!r}"] if self.path else []
        parts += [f"tags={dict(sorted(self.tags.items()))!r}"] if self.tags else []
        return ", ".join(parts) or "every key"


class FindLimitError(ConfigurationError):
    """``find`` matched more keys than its criteria's ``limit`` allows."""

    def __init__(self, criteria: FindCriteria, where: str) -> None:
        self.limit = criteria.limit
        super().__init__(
            f"{where}: more than {criteria.limit} keys match {criteria.describe()}; narrow the criteria"
        )


def bounded(found: builtins.list[str], criteria: FindCriteria, where: str) -> builtins.list[str]:
    """``found`` sorted, or ``FindLimitError`` when it is longer than the criteria allow."""
    if len(found) > criteria.limit:
        raise FindLimitError(criteria, where)
    return sorted(found)


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

    def find(self, criteria: FindCriteria) -> builtins.list[str]:
        """Keys (never values) that meet ``criteria``, sorted; ``FindLimitError`` beyond its limit.

        The default lists under the path, filters names, then reads each remaining key's metadata for
        tags (refused up front when more than ten times ``limit`` candidates would each cost a metadata
        read); providers override it where their backend can do better (or cannot do it at all).
        """
        pattern = criteria.pattern()
        names = [key for key in self.list(criteria.folder()) if criteria.selects_name(key, pattern)]
        if criteria.tags:
            if len(names) > criteria.limit * 10:
                # reading metadata per key is one call each: bound that too, before it starts
                raise FindLimitError(criteria, f"{self.describe()} (tags over {len(names)} keys)")
            names = [key for key in names if criteria.selects_tags(self.metadata(key))]
        return bounded(names, criteria, self.describe())

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
