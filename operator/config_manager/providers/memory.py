"""An in-memory provider: for tests, and the default store of a ``ConfigManager`` given no secrets manager.

Keeps versions like the local provider, so code written against it behaves the same, but nothing is
persisted and nothing leaves the process.
"""

from __future__ import annotations

import builtins
import threading
from collections.abc import Mapping
from typing import Any

from ..errors import ConfigurationError, SecretNotFoundError
from .base import SecretProvider, SecretValue, utcnow
from .local_document import Entry, find_version, new_version, to_secret_value, versions_of


class InMemorySecrets(SecretProvider):
    """Secrets in a dict of this process. ``max_versions`` kept per key, current included."""

    provider_type = "memory"

    def __init__(self, max_versions: int = 10) -> None:
        self.max_versions = max_versions
        self._entries: dict[str, Entry] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"InMemorySecrets({len(self._entries)} keys)"

    def describe(self) -> str:
        return "memory"

    def _entry(self, key: str) -> Entry:
        entry = self._entries.get(key)
        if entry is None:
            raise SecretNotFoundError(key, self.provider_type)
        return entry

    def get(self, key: str, version: str | None = None) -> SecretValue:
        with self._lock:
            record = find_version(self._entry(key), version)
            if record is None:
                raise SecretNotFoundError(key, self.provider_type, version)
            return to_secret_value(key, record)

    def set(self, key: str, value: Any, metadata: Mapping[str, Any] | None = None) -> SecretValue:
        if not isinstance(key, str) or not key:
            raise ConfigurationError("secret key must be a non-empty string")
        with self._lock:
            entry = new_version(key, self._entries.get(key), value, metadata, utcnow(), self.max_versions)
            self._entries[key] = entry
            return to_secret_value(key, entry)

    def delete(self, key: str) -> bool:
        with self._lock:
            return self._entries.pop(key, None) is not None

    def list(self, prefix: str = "") -> builtins.list[str]:
        with self._lock:
            return sorted(key for key in self._entries if key.startswith(prefix))

    def exists(self, key: str) -> bool:
        return key in self._entries

    def metadata(self, key: str) -> dict[str, str]:
        with self._lock:
            return dict(self._entry(key)["metadata"])

    def versions(self, key: str) -> builtins.list[str]:
        with self._lock:
            return versions_of(self._entry(key))

    def validate(self) -> None:
        """Always usable."""
