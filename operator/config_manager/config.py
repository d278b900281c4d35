"""``ConfigManager``: layered configuration with secrets, masking, caching and reload.

Sources are stacked in the order they are added, later on top (deep merge). ``get("a.b")`` and
``get_raw_config()`` return real values; ``get_config()`` returns the same tree with secrets shown as
``[MASKED]`` (paths sources declare secret, names ``masking`` recognises, URL passwords, and any value
the secrets manager has handed out) unless masking is turned off.

With ``enable_caching`` the merged tree is kept and rebuilt only when a layer changes; without it every
access reads every source again. With ``auto_reload`` each access checks (at most every
``reload_check_interval`` seconds, a ``stat`` per file) whether a source changed and reloads that
layer; sources that follow their secrets (``SecretsConfigSource(auto_refresh=True)``) are checked on
every access (a counter comparison), with or without it. A reload that fails keeps the last good layer and logs why.

The secrets methods of the seed's API delegate to the ``SecretsManager``; without one, a manager over
an in-memory provider is created, so secrets then live only as long as the process. Values at secret
paths of the configuration are taught to the manager's redactor, so the log filter masks them too.
"""

from __future__ import annotations

import copy
import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from .errors import ConfigManagerError
from .masking import mask_tree
from .masking import secret_paths as detected_secret_paths
from .providers import registry
from .providers.base import SecretProvider
from .secrets.manager import SecretsManager
from .sources.base import ConfigSource
from .sources.tree import deep_merge, get_path

log = logging.getLogger(__name__)


class ConfigManager:
    """Layered configuration plus the seed's secrets API."""

    def __init__(
        self,
        secrets_manager: SecretsManager | None = None,
        mask_secrets_in_display: bool = True,
        enable_caching: bool = True,
        auto_reload: bool = False,
        *,
        reload_check_interval: float = 1.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.secrets_manager = secrets_manager if secrets_manager is not None else SecretsManager(registry.create("memory"))
        self.mask_secrets_in_display = mask_secrets_in_display
        self.enable_caching = enable_caching
        self.auto_reload = auto_reload
        self.reload_check_interval = reload_check_interval
        self._monotonic = monotonic
        self._sources: list[ConfigSource] = []
        self._layers: list[dict[str, Any]] = []
        self._merged: dict[str, Any] | None = None
        self._last_check = float("-inf")
        self._lock = threading.RLock()

    def __repr__(self) -> str:
        names = ", ".join(source.describe() for source in self._sources)
        return f"ConfigManager(sources=[{names}], masking={self.mask_secrets_in_display})"

    # -- sources -----------------------------------------------------------------------------------

    def add_source(self, source: ConfigSource) -> None:
        """Add a layer on top of the existing ones. It is loaded now: a broken source fails here."""
        if not isinstance(source, ConfigSource):
            raise TypeError(f"add_source needs a ConfigSource, got {type(source).__name__}")
        source.bind(self.secrets_manager)
        data = source.load()
        with self._lock:
            self._sources.append(source)
            self._layers.append(data)
            self._merged = None

    def remove_source(self, source: ConfigSource) -> bool:
        with self._lock:
            for index, candidate in enumerate(self._sources):
                if candidate is source:
                    del self._sources[index], self._layers[index]
                    self._merged = None
                    return True
        return False

    @property
    def sources(self) -> list[ConfigSource]:
        return list(self._sources)

    def reload(self) -> None:
        """Read every source again now (a failing source keeps its last good layer)."""
        with self._lock:
            for index in range(len(self._sources)):
                self._reload_layer(index)
            self._merged = None

    def _reload_layer(self, index: int) -> bool:
        source = self._sources[index]
        try:
            self._layers[index] = source.load()
        except ConfigManagerError as exc:
            log.warning("reloading %s failed, keeping its last good data: %s", source.describe(), exc)
            return False
        return True

    def _refresh(self) -> None:
        now = self._monotonic()
        check_all = self.auto_reload and now - self._last_check >= self.reload_check_interval
        if check_all:
            self._last_check = now
        for index, source in enumerate(self._sources):
            if (check_all or source.refresh_on_change) and source.is_stale():
                if self._reload_layer(index):
                    self._merged = None

    def _tree(self) -> dict[str, Any]:
        """The merged raw tree (shared: callers copy before handing it out)."""
        with self._lock:
            if not self.enable_caching:
                for index in range(len(self._sources)):
                    self._reload_layer(index)
                self._merged = None
            else:
                self._refresh()
            if self._merged is None:
                merged: dict[str, Any] = {}
                for layer in self._layers:
                    merged = deep_merge(merged, layer)
                self._merged = merged
                self._teach_redactor(merged)
            return self._merged

    def _teach_redactor(self, tree: dict[str, Any]) -> None:
        """Let the redactor (and so the log filter) know the secret values the configuration holds."""
        redactor = self.secrets_manager.redactor
        for path in self.secret_paths() | detected_secret_paths(tree):
            value = get_path(tree, path)
            if value is not None:
                redactor.add(value)

    # -- configuration -----------------------------------------------------------------------------

    def get(self, key: str, default: Any = None) -> Any:
        """The value at dotted ``key`` (real values, secrets included), or ``default``."""
        return copy.deepcopy(get_path(self._tree(), key, default))

    def get_raw_config(self) -> dict[str, Any]:
        """The whole merged configuration with real secret values. For internal use only."""
        return copy.deepcopy(self._tree())

    def secret_paths(self) -> set[str]:
        """Paths the sources declared secret."""
        with self._lock:
            return set().union(*(source.secret_paths() for source in self._sources))

    def get_config(self) -> dict[str, Any]:
        """The merged configuration for display: secrets shown as ``[MASKED]`` unless masking is off."""
        tree = self._tree()
        if not self.mask_secrets_in_display:
            return copy.deepcopy(tree)
        masked: dict[str, Any] = mask_tree(tree, paths=self.secret_paths(), detect=True,
                                           redactor=self.secrets_manager.redactor)
        return masked

    def enable_secrets_masking(self, enabled: bool = True) -> None:
        """Turn masking of ``get_config()`` on (the default) or off."""
        self.mask_secrets_in_display = enabled

    # -- secrets (the seed's API) --------------------------------------------------------------------

    def get_secret(self, key: str, provider_name: str | None = None) -> Any | None:
        """The secret's value, or None when it does not exist."""
        secret = self.secrets_manager.get_secret(key, provider_name)
        return None if secret is None else secret.value

    def set_secret(self, key: str, value: Any, provider_name: str | Mapping[str, Any] | None = None,
                   metadata: Mapping[str, Any] | None = None) -> None:
        self.secrets_manager.set_secret(key, value, provider_name, metadata)

    def get_secret_info(self, key: str, provider_name: str | None = None) -> dict[str, Any] | None:
        """Access count, first/last access, metadata, versions and rotation of ``key``; never its value."""
        return self.secrets_manager.get_secret_info(key, provider_name)

    def delete_secret(self, key: str, provider_name: str | None = None) -> bool:
        return self.secrets_manager.delete_secret(key, provider_name)

    def list_secrets(self, provider_name: str | None = None) -> list[str]:
        return self.secrets_manager.list_secrets(provider_name)

    def rotate_secret(self, key: str, new_value: Any, provider_name: str | None = None) -> bool:
        return self.secrets_manager.rotate_secret(key, new_value, provider_name)

    def add_secrets_provider(self, name: str, provider: SecretProvider) -> None:
        self.secrets_manager.add_provider(name, provider)

    def get_secrets_stats(self) -> dict[str, Any]:
        stats = self.secrets_manager.get_stats()
        stats["config_sources"] = len(self._sources)
        return stats

    def schedule_secret_rotation(self, key: str, interval_hours: float, generator_func: Callable[[], Any]) -> None:
        self.secrets_manager.schedule_rotation(key, interval_hours, generator_func)

    def check_secret_rotations(self) -> None:
        """Run the rotations that are due (call periodically)."""
        self.secrets_manager.check_rotations()
