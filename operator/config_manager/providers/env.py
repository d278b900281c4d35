"""A provider over environment variables (or any mutable str → str mapping standing in for them).

Read-mostly: ``get`` / ``list`` read the mapping; ``set`` / ``delete`` change the mapping given (by
default ``os.environ`` of this process only, never the parent shell). Keys are looked up as given after
the prefix, then in the conventional form: upper case with ``.``, ``-`` and ``/`` as ``_``, so
``get("database.password")`` with prefix ``APP_`` finds ``APP_DATABASE_PASSWORD``. ``list`` returns
the names after the prefix as they are in the environment. Non-string values are stored as JSON.
"""

from __future__ import annotations

import builtins
import json
import os
import re
from collections.abc import Mapping, MutableMapping
from typing import Any

from ..errors import ConfigurationError, SecretNotFoundError
from .base import FindCriteria, SecretProvider, SecretValue, bounded

_SEPARATORS = re.compile(r"[.\-/]")


class EnvironmentSecrets(SecretProvider):
    """Secrets from environment variables whose names start with ``prefix``."""

    provider_type = "env"

    def __init__(self, prefix: str = "", environ: MutableMapping[str, str] | None = None) -> None:
        self.prefix = prefix
        self._environ: MutableMapping[str, str] = os.environ if environ is None else environ

    def __repr__(self) -> str:
        return f"EnvironmentSecrets(prefix={self.prefix!r})"

    def describe(self) -> str:
        return f"env:{self.prefix}*" if self.prefix else "env"

    def _names(self, key: str) -> builtins.list[str]:
        exact = self.prefix + key
        conventional = self.prefix + _SEPARATORS.sub("_", key).upper()
        return [exact] if exact == conventional else [exact, conventional]

    def _find(self, key: str) -> str | None:
        for name in self._names(key):
            if name in self._environ:
                return name
        return None

    def get(self, key: str, version: str | None = None) -> SecretValue:
        name = self._find(key)
        if name is None or version is not None:  # the environment keeps no versions
            raise SecretNotFoundError(key, self.provider_type, version)
        return SecretValue(key=key, value=self._environ[name], version=None)

    def set(self, key: str, value: Any, metadata: Mapping[str, str] | None = None) -> SecretValue:
        if not key:
            raise ConfigurationError("secret key must be a non-empty string")
        text = value if isinstance(value, str) else json.dumps(value)
        name = self._find(key) or self._names(key)[-1]
        self._environ[name] = text
        return SecretValue(key=key, value=text, version=None)

    def delete(self, key: str) -> bool:
        name = self._find(key)
        if name is None:
            return False
        del self._environ[name]
        return True

    def list(self, prefix: str = "") -> builtins.list[str]:
        start = len(self.prefix)
        return sorted(
            name[start:] for name in list(self._environ) if name.startswith(self.prefix) and name[start:].startswith(prefix)
        )

    def exists(self, key: str) -> bool:
        return self._find(key) is not None

    def find(self, criteria: FindCriteria) -> builtins.list[str]:
        """Variable names (after the prefix) matching ``name_regexp``. The environment has neither
        tags nor folders: ``tags`` or ``path`` are refused rather than matching nothing."""
        if criteria.tags:
            raise ConfigurationError("env: environment variables carry no tags; find by name.regexp instead")
        if criteria.path:
            raise ConfigurationError("env: environment variables have no folders; find by name.regexp instead")
        pattern = criteria.pattern()
        return bounded([name for name in self.list() if criteria.selects_name(name, pattern)], criteria, self.describe())

    def metadata(self, key: str) -> dict[str, str]:
        if self._find(key) is None:
            raise SecretNotFoundError(key, self.provider_type)
        return {}

    def validate(self) -> None:
        """Nothing to reach: the environment is always there."""
