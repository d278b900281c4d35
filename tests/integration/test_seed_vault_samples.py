"""The seed document's Vault samples, run as written against the real Vault server.

Only the URL and the token are substituted (the seed's placeholders are replaced in the sample text);
trust in the dev server's certificate comes from ``VAULT_CACERT``, as for the vault CLI, so the samples
need no extra argument. Names a sample leaves undefined (``ConfigManager`` in the Vault sample, the
generator functions and ``logger`` in the production one) are provided in its namespace, as in
tests/unit/test_seed_samples.py.
"""

from __future__ import annotations

import json
import logging
import os
import textwrap
import uuid
from pathlib import Path
from typing import Any

import pytest

from config_manager import ConfigManager, HashiCorpVaultSecrets
from tests.helpers.vault_server import VaultServer, vault_server  # noqa: F401  (fixture)

pytestmark = pytest.mark.vault

SEED = Path(__file__).resolve().parents[1] / "unit" / "data" / "seed_secrets_api.md"


def sample(heading: str, index: int = 0) -> str:
    """The code of the ``index``-th python block under the ``### heading`` of the seed."""
    current, count, block = "", -1, None
    for line in SEED.read_text(encoding="utf-8").splitlines():
        if block is not None:
            if line.strip() == "```":
                count += 1
                if current == heading and count == index:
                    return textwrap.dedent("\n".join(block))
                block = None
            else:
                block.append(line)
        elif line.startswith("### "):
            current, count = line[4:].strip(), -1
        elif line.strip() == "```python":
            block = []
    raise LookupError(f"no sample #{index} under '### {heading}' in {SEED}")


@pytest.fixture()
def trust(vault_server: VaultServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VAULT_CACERT", str(vault_server.ca_file))


def test_hashicorp_vault_integration_sample(vault_server: VaultServer, trust: None) -> None:
    admin = HashiCorpVaultSecrets(vault_server.url, vault_server.root_token)
    admin.set("database/production", {"username": "app", "password": "db-pass-123"})
    admin.set("external-apis/stripe", "sk_live_abc123")
    token = vault_server.create_token(["root"])

    code = sample("HashiCorp Vault Integration")
    assert '"https://vault.company.com"' in code and '"your-vault-token"' in code
    code = code.replace('"https://vault.company.com"', repr(vault_server.url))
    code = code.replace('"your-vault-token"', repr(token))
    ns: dict[str, Any] = {"ConfigManager": ConfigManager}
    exec(compile(code, "<seed: HashiCorp Vault Integration>", "exec"), ns)

    assert ns["db_creds"] == {"username": "app", "password": "db-pass-123"}
    assert ns["api_keys"] == "sk_live_abc123"
    assert isinstance(ns["vault_secrets"], HashiCorpVaultSecrets)
    shown = json.dumps(ns["config"].get_config(), default=str) + repr(ns["vault_secrets"])
    assert "db-pass-123" not in shown and token not in shown


def test_production_deployment_sample(
    vault_server: VaultServer, trust: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    vault_server.admin.sys.enable_secrets_engine("kv", path="production", options={"version": "2"})
    try:
        monkeypatch.chdir(tmp_path)
        monkeypatch.setenv("VAULT_URL", vault_server.url)
        monkeypatch.setenv("VAULT_TOKEN", vault_server.root_token)
        monkeypatch.setenv("PROD_DATABASE_PASSWORD", "from-the-environment")
        (tmp_path / "base_config.json").write_text(json.dumps({"app": {"name": "shop", "debug": True}}))
        (tmp_path / "production_config.json").write_text(json.dumps({"app": {"debug": False}}))
        generated = iter(f"generated-{n}-{uuid.uuid4().hex}" for n in range(100))
        ns: dict[str, Any] = {
            "os": os,
            "generate_db_password": lambda: next(generated),
            "generate_api_keys": lambda: next(generated),
            "logger": logging.getLogger("seed"),
        }
        exec(compile(sample("Recommended Architecture"), "<seed: Recommended Architecture>", "exec"), ns)

        config = ns["config"]
        assert config.get("app.name") == "shop" and config.get("app.debug") is False
        provider = ns["vault_secrets"]
        assert provider.mount_point == "production" and provider.version == "v2"
        # the rotations the sample scheduled write to Vault's production mount when they run
        config.secrets_manager.set_secret("database_password", "initial")
        assert provider.get("database_password").value == "initial"
        assert vault_server.admin.secrets.kv.v2.read_secret_version(
            path="database_password", mount_point="production", raise_on_deleted_version=True
        )["data"]["data"] == {"value": "initial"}
    finally:
        vault_server.admin.sys.disable_secrets_engine("production")


def test_environment_specific_sample_in_production(vault_server: VaultServer, trust: None) -> None:
    ns: dict[str, Any] = {
        "environment": "production",
        "vault_url": vault_server.url,
        "vault_token": vault_server.root_token,
        "LocalEncryptedSecrets": None,
        "HashiCorpVaultSecrets": HashiCorpVaultSecrets,
    }
    exec(compile(sample("Security Best Practices", 2), "<seed: Security Best Practices #2>", "exec"), ns)
    provider = ns["secrets_provider"]
    assert isinstance(provider, HashiCorpVaultSecrets)
    provider.validate()
    provider.set("env-specific/check", "ok")
    assert provider.get("env-specific/check").value == "ok"
