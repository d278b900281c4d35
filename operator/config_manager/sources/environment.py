"""``EnvironmentSecretsSource``: configuration from prefixed environment variables, secrets detected.

``APP_DATABASE_PASSWORD`` with prefix ``APP_`` becomes ``database.password``. Names split into sections
on ``_``; when a name contains ``__``, only ``__`` splits (``APP_DB__MAX_CONNECTIONS`` →
``db.max_connections``). Whether a variable is secret is decided by ``config_manager.masking``.

* ``mask_values``: the detected secret paths are reported to the ``ConfigManager``, which shows them as
  ``[MASKED]`` (``get`` and ``get_raw_config`` still return the real values).
* ``store_in_secrets``: each detected secret is also stored in the secrets manager under its lower-case
  name without prefix (``database_password``), with metadata naming the variable. A value is written
  again only when it changed, so reloading does not pile up versions.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Mapping
from typing import Any

from ..errors import ConfigurationError
from ..masking import is_secret_path
from ..secrets.manager import SecretsManager
from .base import ConfigSource

log = logging.getLogger(__name__)


def env_path(name: str) -> list[str]:
    """``DATABASE_PASSWORD`` → ``["database", "password"]``; ``DB__MAX_CONNECTIONS`` → ``["db", "max_connections"]``."""
    separator = "__" if "__" in name else "_"
    return [part.lower() for part in name.split(separator) if part]


class EnvironmentSecretsSource(ConfigSource):
    """A layer from environment variables starting with ``env_prefix``; see the module docstring."""

    def __init__(self, env_prefix: str = "", store_in_secrets: bool = False, mask_values: bool = True,
                 secrets_manager: SecretsManager | None = None, *, environ: Mapping[str, str] | None = None,
                 provider_name: str | None = None) -> None:
        self.env_prefix = env_prefix
        self.store_in_secrets = store_in_secrets
        self.mask_values = mask_values
        self.secrets_manager = secrets_manager
        self.provider_name = provider_name
        self._environ: Mapping[str, str] = os.environ if environ is None else environ
        self._secret_paths: set[str] = set()
        self._secret_keys: dict[str, str] = {}
        self._stored: dict[str, str] = {}  # secret key -> sha256 of the value this source last stored
        self._snapshot: int | None = None

    def describe(self) -> str:
        return f"EnvironmentSecretsSource(prefix={self.env_prefix!r})"

    def bind(self, secrets_manager: SecretsManager) -> None:
        if self.secrets_manager is None:
            self.secrets_manager = secrets_manager

    def _variables(self) -> dict[str, str]:
        prefix = self.env_prefix
        return {name: value for name, value in list(self._environ.items())
                if name.startswith(prefix) and len(name) > len(prefix)}

    @staticmethod
    def _fingerprint(variables: Mapping[str, str]) -> int:
        return hash(tuple(sorted(variables.items())))

    def load(self) -> dict[str, Any]:
        variables = self._variables()
        data: dict[str, Any] = {}
        secret_paths: set[str] = set()
        secret_keys: dict[str, str] = {}
        secret_variables: dict[str, str] = {}  # variable name -> secret key
        # Shorter names first, so APP_DB_HOST (a section) wins over APP_DB (a value) deterministically.
        for name in sorted(variables, key=lambda item: (item.count("_"), item)):
            rest = name[len(self.env_prefix):]
            parts = env_path(rest)
            if not parts:
                continue
            node = data
            for depth, part in enumerate(parts[:-1]):
                child = node.get(part)
                if not isinstance(child, dict):
                    if child is not None:
                        log.warning("environment variable %s turns '%s' from a value into a section",
                                    name, ".".join(parts[: depth + 1]))
                    child = node[part] = {}
                node = child
            if isinstance(node.get(parts[-1]), dict):
                log.warning("environment variable %s ignored: '%s' is a section", name, ".".join(parts))
                continue
            node[parts[-1]] = variables[name]
            if is_secret_path(parts):
                path = ".".join(parts)
                secret_paths.add(path)
                secret_keys[path] = rest.lower()
                secret_variables[name] = rest.lower()
        self._secret_paths = secret_paths
        self._secret_keys = secret_keys
        self._snapshot = self._fingerprint(variables)
        if self.store_in_secrets:
            self._store(secret_variables, variables)
        return data

    def _store(self, secret_variables: Mapping[str, str], variables: Mapping[str, str]) -> None:
        if self.secrets_manager is None:
            raise ConfigurationError(f"{self.describe()} with store_in_secrets=True needs a secrets manager")
        for name, key in sorted(secret_variables.items()):
            value = variables[name]
            digest = hashlib.sha256(value.encode()).hexdigest()
            if self._stored.get(key) == digest:
                continue
            self.secrets_manager.set_secret(key, value, self.provider_name,
                                            {"source": "environment", "variable": name})
            self._stored[key] = digest

    def is_stale(self) -> bool:
        return self._snapshot is None or self._fingerprint(self._variables()) != self._snapshot

    def secret_paths(self) -> set[str]:
        return set(self._secret_paths) if self.mask_values else set()

    def secret_keys(self) -> dict[str, str]:
        """Config path → secret key under which ``store_in_secrets`` keeps each detected secret."""
        return dict(self._secret_keys)
