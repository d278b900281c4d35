"""``SecretsConfigSource``: configuration paths whose values come from a ``SecretsManager``.

``add_secret_mapping("database.password", "db_password")`` puts the secret's value at that path of the
configuration (the mapped paths are always masked in display). With ``auto_refresh`` the layer is
rebuilt when the manager changes a secret (set, rotation, a refreshed version) or when the manager's
cache time has passed, so a rotated value reaches ``config.get`` without a manual reload.
A mapped secret that does not exist is left out of the layer (and logged by key name).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigurationError
from ..secrets.manager import SecretsManager
from .base import ConfigSource
from .tree import get_path, set_path, split_path

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SecretMapping:
    config_path: str
    secret_key: str
    provider_name: str | None = None
    field: str | None = None  # for dict-valued secrets (Vault, Azure JSON): take this field


class SecretsConfigSource(ConfigSource):
    """A layer built from secrets. ``auto_refresh``: follow changes of the mapped secrets."""

    def __init__(self, secrets_manager: SecretsManager, auto_refresh: bool = True, *,
                 provider_name: str | None = None, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.secrets_manager = secrets_manager
        self.auto_refresh = auto_refresh
        self.refresh_on_change = auto_refresh
        self.provider_name = provider_name
        self._mappings: dict[str, SecretMapping] = {}
        self._monotonic = monotonic
        self._loaded_revision: int | None = None
        self._loaded_at = 0.0

    def describe(self) -> str:
        return f"SecretsConfigSource({len(self._mappings)} mappings)"

    def add_secret_mapping(self, config_path: str, secret_key: str, provider_name: str | None = None,
                           *, field: str | None = None) -> None:
        """Put secret ``secret_key`` (or its ``field``) at ``config_path``."""
        split_path(config_path)
        if not secret_key:
            raise ConfigurationError(f"secret key for '{config_path}' must be a non-empty string")
        self._mappings[config_path] = SecretMapping(config_path, secret_key, provider_name or self.provider_name, field)
        self._loaded_revision = None  # a new mapping makes the layer stale

    def remove_secret_mapping(self, config_path: str) -> bool:
        removed = self._mappings.pop(config_path, None) is not None
        self._loaded_revision = None
        return removed

    @property
    def mappings(self) -> list[SecretMapping]:
        return list(self._mappings.values())

    def load(self) -> dict[str, Any]:
        revision = self.secrets_manager.revision
        data: dict[str, Any] = {}
        for mapping in self._mappings.values():
            secret = self.secrets_manager.get_secret(mapping.secret_key, mapping.provider_name)
            if secret is None:
                log.warning("secret '%s' mapped to '%s' does not exist; leaving it out",
                            mapping.secret_key, mapping.config_path)
                continue
            value = secret.value
            if mapping.field is not None:
                value = get_path(value, mapping.field) if isinstance(value, dict) else None
                if value is None:
                    log.warning("secret '%s' has no field '%s' (mapped to '%s')",
                                mapping.secret_key, mapping.field, mapping.config_path)
                    continue
            set_path(data, mapping.config_path, value)
        self._loaded_revision = revision
        self._loaded_at = self._monotonic()
        return data

    def is_stale(self) -> bool:
        if self._loaded_revision is None or self.secrets_manager.revision != self._loaded_revision:
            return True
        ttl = self.secrets_manager.cache_ttl
        return bool(self._mappings) and self._monotonic() - self._loaded_at >= ttl

    def secret_paths(self) -> set[str]:
        return set(self._mappings)
