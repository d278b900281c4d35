"""The public API of ``config_manager`` is pinned: a change here is a deliberate API change."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import config_manager

EXPECTED = [
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
LAZY = {"HashiCorpVaultSecrets", "AzureKeyVaultSecrets"}


def test_all_is_pinned() -> None:
    assert config_manager.__all__ == EXPECTED


def test_every_eager_name_resolves() -> None:
    for name in set(EXPECTED) - LAZY:
        assert getattr(config_manager, name) is not None, name


def test_sources_names_used_by_the_seed() -> None:
    from config_manager import sources

    for name in ("JsonSource", "YamlSource", "SecretsConfigSource", "EncryptedFileSource", "EnvironmentSecretsSource"):
        assert name in sources.__all__ and hasattr(sources, name)


def test_crypto_functions_the_operator_uses() -> None:
    from config_manager import crypto

    for name in ("encrypt", "decrypt", "generate_key", "create_key_file", "load_key_file"):
        assert callable(getattr(crypto, name))


def test_import_works_without_hvac_and_azure() -> None:
    script = textwrap.dedent("""
        import sys
        sys.modules["hvac"] = None          # makes "import hvac" fail
        sys.modules["azure"] = None
        import config_manager
        from config_manager import ConfigManager, LocalEncryptedSecrets, SecretsManager
        for name in ("HashiCorpVaultSecrets", "AzureKeyVaultSecrets"):
            try:
                getattr(config_manager, name)
            except ImportError as exc:
                print(name, "ImportError", exc)
            else:
                print(name, "imported")
        try:
            config_manager.NoSuchThing
        except AttributeError:
            print("AttributeError ok")
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "AttributeError ok" in result.stdout
    for name in LAZY:
        line = next(line for line in result.stdout.splitlines() if line.startswith(name))
        # Either the provider imports without its SDK at import time, or the error says what is missing.
        assert line.endswith("imported") or "ImportError" in line
