"""The seed document's code samples that use the local provider and the sources, run as written.

The samples are read from ``data/seed_secrets_api.md`` (a copy of the seed document) and executed
unchanged. Names the seed leaves undefined (``generate_random_suffix``, ``notify_services_of_rotation``,
``logger``, ``value``, ``environment``) are provided in the namespace, and files a sample expects to
exist (``production_config.enc``) are made first. The Vault and Azure samples are exercised by the
provider tests against real servers; the API Reference is checked against our signatures.
"""

from __future__ import annotations

import ast
import inspect
import logging
import os
import re
import stat
import textwrap
from pathlib import Path
from typing import Any

import pytest

from config_manager import ConfigManager, LocalEncryptedSecrets, SecretsManager
from config_manager.masking import MASK
from config_manager.sources import DictSource, EncryptedFileSource

SEED = Path(__file__).parent / "data" / "seed_secrets_api.md"


def _samples() -> dict[tuple[str, int], str]:
    """(section heading, index within the section) → code of each ```python block."""
    samples: dict[tuple[str, int], str] = {}
    heading, counts = "", {}
    block: list[str] | None = None
    for line in SEED.read_text(encoding="utf-8").splitlines():
        if block is not None:
            if line.strip() == "```":
                counts[heading] = counts.get(heading, -1) + 1
                samples[(heading, counts[heading])] = textwrap.dedent("\n".join(block))
                block = None
            else:
                block.append(line)
        elif line.startswith("### "):
            heading = line[4:].strip()
        elif line.strip() == "```python":
            block = []
    return samples


SAMPLES = _samples()


def run(heading: str, namespace: dict[str, Any], index: int = 0) -> dict[str, Any]:
    exec(compile(SAMPLES[(heading, index)], f"<seed: {heading} #{index}>", "exec"), namespace)
    return namespace


@pytest.fixture
def quick_start(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    monkeypatch.chdir(tmp_path)
    return run("Basic Local Encrypted Secrets", {})


def test_the_samples_were_found() -> None:
    assert len(SAMPLES) >= 17
    assert ("Basic Local Encrypted Secrets", 0) in SAMPLES and ("Security Best Practices", 2) in SAMPLES


def test_quick_start(quick_start: dict[str, Any], tmp_path: Path) -> None:
    assert quick_start["db_password"] == "super_secret_db_pass"
    assert quick_start["api_key"] == "sk-1234567890abcdef"
    raw = (tmp_path / "app_secrets.enc").read_bytes()
    assert b"super_secret_db_pass" not in raw
    assert stat.S_IMODE(os.stat(tmp_path / "app_key.bin").st_mode) == 0o600
    reopened = LocalEncryptedSecrets(secrets_file="app_secrets.enc", key_file="app_key.bin")
    assert reopened.list() == ["api_key", "database_password"]


def test_secrets_aware_configuration_sources(quick_start: dict[str, Any]) -> None:
    quick_start["secrets_manager"].set_secret("db_password", "mapped-db-pass")
    quick_start["secrets_manager"].set_secret("jwt_signing_key", "mapped-jwt")
    ns = run("Secrets-Aware Configuration Sources", dict(quick_start))
    assert ns["db_config"] == {"password": "mapped-db-pass"}
    assert ns["config"].get("security.jwt_secret") == "mapped-jwt"
    assert ns["config"].get("api.stripe_key") is None  # not stored: left out, not an error
    assert ns["config"].get_config() == {"database": {"password": MASK}, "security": {"jwt_secret": MASK}}


def test_encrypted_configuration_files(quick_start: dict[str, Any]) -> None:
    EncryptedFileSource.create("production_config.enc", {"database": {"host": "prod-db", "password": "enc-pass"}},
                               quick_start["secrets_manager"], "config_encryption_key")
    ns = run("Encrypted Configuration Files", dict(quick_start))
    assert ns["config"].get("database") == {"host": "prod-db", "password": "enc-pass"}
    assert ns["config"].get_config()["database"]["password"] == MASK


def test_environment_variable_secrets_detection(quick_start: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APP_DATABASE_PASSWORD", "env-db-pass")
    monkeypatch.setenv("APP_DATABASE_HOST", "env-host")
    ns = run("Environment Variable Secrets Detection", dict(quick_start))
    config = ns["config"]
    assert config.get("database") == {"password": "env-db-pass", "host": "env-host"}
    assert config.get_config()["database"] == {"password": MASK, "host": "env-host"}
    assert config.get_secret("database_password") == "env-db-pass"  # stored in the secrets manager


def test_manual_secret_rotation(quick_start: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    ns = run("Manual Secret Rotation", {**quick_start, "generate_random_suffix": lambda: "abc123"})
    assert ns["old_value"] == "sk-1234567890abcdef" and ns["success"] is True
    assert ns["config"].get_secret("api_key") == "sk-new-rotated-key-abc123"
    assert "API key rotated successfully" in capsys.readouterr().out
    previous = ns["secrets_manager"].get_secret("api_key", version="1")
    assert previous is not None and previous.value == "sk-1234567890abcdef"


def test_automatic_secret_rotation(quick_start: dict[str, Any]) -> None:
    ns = run("Automatic Secret Rotation", dict(quick_start))
    value = ns["config"].get_secret("jwt_secret")
    assert isinstance(value, str) and len(value) == 43
    ns["config"].check_secret_rotations()
    assert ns["config"].get_secret("jwt_secret") == value  # not due again for 24 hours


def test_rotation_callbacks(quick_start: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    notified: list[str] = []
    ns = run("Rotation Callbacks", {**quick_start, "notify_services_of_rotation": notified.append})
    assert ns["config"].rotate_secret("api_key", "sk-rotated") is True
    assert notified == ["api_key"]
    assert "Secret 'api_key' was rotated" in capsys.readouterr().out


def test_access_monitoring(quick_start: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    run("Access Monitoring", dict(quick_start))
    out = capsys.readouterr().out
    assert "Secret accessed 1 times" in out and "Last accessed: 20" in out and "Metadata: {}" in out


def test_security_audit(quick_start: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    run("Security Audit", dict(quick_start))
    out = capsys.readouterr().out
    assert "Total secrets: 2" in out and "Scheduled rotations: 0" in out
    assert "Active providers: ['default']" in out
    assert "Managed secrets: ['api_key', 'database_password']" in out
    assert "super_secret_db_pass" not in out and "sk-1234567890abcdef" not in out


def test_secrets_masking(quick_start: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    quick_start["config"].add_source(DictSource({"database": {"host": "db", "password": "super_secret_db_pass"},
                                                 "copy_of_key": "sk-1234567890abcdef"}))
    ns = run("Secrets Masking", dict(quick_start))
    assert ns["masked_config"] == {"database": {"host": "db", "password": MASK}, "copy_of_key": MASK}
    assert ns["raw_config"]["database"]["password"] == "super_secret_db_pass"
    out = capsys.readouterr().out
    assert MASK in out and "super_secret_db_pass" not in out and "sk-1234567890abcdef" not in out


def test_use_appropriate_secret_tiers(quick_start: dict[str, Any]) -> None:
    ns = run("Security Best Practices", {**quick_start, "value": "tier-value-123"}, index=0)
    manager = ns["secrets_manager"]
    assert manager.get_secret("master_db_password").value == "tier-value-123"
    assert manager.get_secret_metadata("master_db_password") == {"tier": "critical", "rotation_schedule": "weekly"}
    assert manager.get_secret_metadata("payment_api_key") == {"tier": "high", "rotation_schedule": "monthly"}


def test_monitor_and_audit_secret_access(quick_start: dict[str, Any], caplog: pytest.LogCaptureFixture) -> None:
    quick_start["secrets_manager"].set_secret("never_read", "x-unused")
    with caplog.at_level(logging.INFO, logger="seed"):
        run("Security Best Practices", {**quick_start, "logger": logging.getLogger("seed")}, index=1)
    warnings = [record.getMessage() for record in caplog.records if record.name == "seed"]
    assert warnings == ["Unused secret: never_read"]


def test_environment_specific_secrets_management(quick_start: dict[str, Any]) -> None:
    ns = run("Security Best Practices", {**quick_start, "environment": "development"}, index=2)
    provider = ns["secrets_provider"]
    assert isinstance(provider, LocalEncryptedSecrets) and provider.key_file == Path("dev_secrets.enc.key")
    provider.set("x", "1")
    assert LocalEncryptedSecrets("dev_secrets.enc").get("x").value == "1"


# -- the API Reference ---------------------------------------------------------------------------


def _reference() -> dict[str, dict[str, list[str]]]:
    """Class → method → parameter names, from the API Reference's stubs (made parseable)."""
    classes: dict[str, dict[str, list[str]]] = {}
    for (heading, _), code in SAMPLES.items():
        if heading not in ("SecretsManager", "ConfigManager Secrets Methods"):
            continue
        tree = ast.parse(re.sub(r"(\) -> .+)$", r"\1: ...", code, flags=re.MULTILINE))
        for node in tree.body:
            assert isinstance(node, ast.ClassDef)
            classes[node.name] = {
                item.name: [arg.arg for arg in item.args.args]
                for item in node.body if isinstance(item, ast.FunctionDef)
            }
    return classes


@pytest.mark.parametrize("cls", [SecretsManager, ConfigManager])
def test_api_reference_methods_exist_with_the_same_parameters(cls: type) -> None:
    reference = _reference()[cls.__name__]
    assert reference, "no stubs parsed"
    for method, params in reference.items():
        signature = inspect.signature(getattr(cls, method))
        ours = [name for name, param in signature.parameters.items()
                if name != "self" and param.kind is not inspect.Parameter.KEYWORD_ONLY]
        assert ours[: len(params)] == params, f"{cls.__name__}.{method}: {ours} vs {params}"
        extra = [signature.parameters[name] for name in ours[len(params):]]
        assert all(param.default is not inspect.Parameter.empty for param in extra)
