"""config_manager: layered configuration with secrets management.

The public API of the seed document, re-exported here (pinned by ``tests/unit/test_public_api.py``).
``HashiCorpVaultSecrets`` and ``AzureKeyVaultSecrets`` are imported on first use, so
``import config_manager`` works without hvac or the Azure SDK installed; using one of them without its
extra raises an ``ImportError`` that says which extra to install.
"""

from __future__ import annotations

import importlib
from typing import Any

from .config import ConfigManager
from .errors import (
    AuthenticationError,
    ConfigManagerError,
    ConfigurationError,
    DecryptionError,
    PermissionDeniedError,
    ProviderError,
    ProviderUnavailableError,
    RotationError,
    SecretNotFoundError,
    SecretsError,
    SourceError,
    UnsupportedOperationError,
)
from .masking import MASK
from .providers.base import SecretProvider, SecretValue
from .providers.env import EnvironmentSecrets
from .providers.file_storage import FileBlobStorage
from .providers.local import LocalEncryptedSecrets
from .providers.memory import InMemorySecrets
from .secrets.manager import SecretsManager

__version__ = "0.1.0"

_LAZY = {
    "HashiCorpVaultSecrets": ("config_manager.providers.vault", "configmanagelib[vault]"),
    "AzureKeyVaultSecrets": ("config_manager.providers.azure", "configmanagelib[azure]"),
}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'config_manager' has no attribute {name!r}")
    module_name, extra = _LAZY[name]
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        if (exc.name or "").startswith("config_manager"):
            raise ImportError(f"{name} is not available in this build ({exc})", name=exc.name) from exc
        raise ImportError(f"{name} needs extra dependencies: pip install '{extra}' ({exc})", name=exc.name) from exc
    value = getattr(module, name)
    globals()[name] = value
    return value


__all__ = [
    "MASK",
    "AuthenticationError",
    "AzureKeyVaultSecrets",
    "ConfigManager",
    "ConfigManagerError",
    "ConfigurationError",
    "DecryptionError",
    "EnvironmentSecrets",
    "FileBlobStorage",
    "HashiCorpVaultSecrets",
    "InMemorySecrets",
    "LocalEncryptedSecrets",
    "PermissionDeniedError",
    "ProviderError",
    "ProviderUnavailableError",
    "RotationError",
    "SecretNotFoundError",
    "SecretProvider",
    "SecretValue",
    "SecretsError",
    "SecretsManager",
    "SourceError",
    "UnsupportedOperationError",
]
