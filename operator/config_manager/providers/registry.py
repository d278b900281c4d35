"""The provider registry: provider types by name, created from plain configuration.

The operator and the CLI never import a concrete provider; they ask the registry for a type by name
("local", "vault", "azure", "env", "memory"). Concrete modules are imported lazily, so a missing optional
dependency (hvac, azure-*) only matters when that provider is used, and the error says which extra
to install.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from ..errors import ConfigurationError
from .base import SecretProvider

ProviderFactory = Callable[..., SecretProvider]

_BUILTIN: dict[str, tuple[str, str, str]] = {
    # type: (module, class, pip extra that brings its dependencies)
    "local": ("config_manager.providers.local", "LocalEncryptedSecrets", "configmanagelib"),
    "vault": ("config_manager.providers.vault", "HashiCorpVaultSecrets", "configmanagelib[vault]"),
    "azure": ("config_manager.providers.azure", "AzureKeyVaultSecrets", "configmanagelib[azure]"),
    "env": ("config_manager.providers.env", "EnvironmentSecrets", "configmanagelib"),
    "memory": ("config_manager.providers.memory", "InMemorySecrets", "configmanagelib"),
}

_registered: dict[str, ProviderFactory] = {}


def register(provider_type: str, factory: ProviderFactory) -> None:
    """Register (or replace) a provider type, e.g. a plug-in backend."""
    if not provider_type or not provider_type.isidentifier():
        raise ConfigurationError(f"provider type name {provider_type!r} must be a non-empty identifier")
    _registered[provider_type] = factory


def provider_types() -> list[str]:
    """Every provider type that can be created, built-in or registered."""
    return sorted(set(_BUILTIN) | set(_registered))


def get_factory(provider_type: str) -> ProviderFactory:
    """The class or factory for a provider type; clear errors for unknown types and missing extras."""
    if provider_type in _registered:
        return _registered[provider_type]
    if provider_type not in _BUILTIN:
        raise ConfigurationError(
            f"unknown provider type {provider_type!r}; known: {', '.join(provider_types())}"
        )
    module_name, class_name, extra = _BUILTIN[provider_type]
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigurationError(
            f"provider type {provider_type!r} needs extra dependencies: pip install '{extra}' ({exc.name} missing)"
        ) from exc
    factory: ProviderFactory = getattr(module, class_name)
    return factory


def create(provider_type: str, **config: Any) -> SecretProvider:
    """Create a provider of ``provider_type`` from keyword configuration."""
    return get_factory(provider_type)(**config)
