"""Planted secret values never show up in repr, str, logs, audit entries, exceptions or masked output."""

from __future__ import annotations

import base64
import json
import logging
from pathlib import Path
from typing import Any

import pytest

from config_manager import (
    ConfigManager,
    InMemorySecrets,
    LocalEncryptedSecrets,
    SecretsManager,
    SecretValue,
    crypto,
)
from config_manager.errors import ConfigManagerError, ProviderUnavailableError
from config_manager.masking import SecretRedactor
from config_manager.sources import (
    DictSource,
    EncryptedFileSource,
    EnvironmentSecretsSource,
    SecretsConfigSource,
    formats,
    write_encrypted_config,
)

DB_PASS = "PLANTED-db-pass-8f3a91"
API_KEY = "PLANTED-api-key-77c1e0"
ROTATED = "PLANTED-rotated-5d2b44"
ENV_PASS = "PLANTED-env-pass-0c9d17"
FILE_PASS = "PLANTED-file-pass-a1b2c3"
PASSPHRASE = "PLANTED-passphrase-e4f5a6"
RAW_KEY = bytes(range(100, 132))
PLANTED = [DB_PASS, API_KEY, ROTATED, ENV_PASS, FILE_PASS, PASSPHRASE, RAW_KEY.hex(),
           base64.b64encode(RAW_KEY).decode()]


class FlakyProvider(InMemorySecrets):
    down = False

    def get(self, key: str, version: str | None = None) -> SecretValue:
        if self.down:
            raise ProviderUnavailableError(f"backend down while reading '{key}'", "flaky")
        return super().get(key, version)

    def set(self, key: str, value: Any, metadata: Any = None) -> SecretValue:
        if self.down:
            raise ProviderUnavailableError(f"backend down while writing '{key}'", "flaky")
        return super().set(key, value, metadata)


def _exception_text(exc: BaseException) -> str:
    parts = []
    while exc is not None:
        parts += [str(exc), repr(exc), repr(exc.args)]
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
    return "\n".join(parts)


def test_no_planted_value_escapes(tmp_path: Path, caplog: pytest.LogCaptureFixture,
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[str] = []
    caplog.set_level(logging.DEBUG)

    store = LocalEncryptedSecrets(tmp_path / "s.enc", passphrase=PASSPHRASE, kdf=crypto.Pbkdf2(iterations=1000))
    flaky = FlakyProvider()
    manager = SecretsManager(store, cache_ttl=0.0, redactor=SecretRedactor())
    manager.add_provider("flaky", flaky)
    manager.set_secret("database_password", DB_PASS, {"tier": "critical"})
    manager.set_secret("api_key", API_KEY)
    manager.set_secret("file_key", base64.b64encode(RAW_KEY).decode())
    manager.set_secret("cached", DB_PASS, "flaky")

    def leaky_callback(key: str, secret: SecretValue) -> None:
        raise RuntimeError(f"callback saw {secret.value}")  # a listener bug must not leak via our logs

    def leaky_generator() -> str:
        raise ValueError(f"generator failed making {ROTATED}")

    manager.add_refresh_callback(leaky_callback)
    assert manager.rotate_secret("api_key", ROTATED) is True
    manager.schedule_rotation("generated", 1, leaky_generator)
    manager.check_rotations()
    secret = manager.get_secret("database_password")
    assert secret is not None
    manager.get_secret("cached", "flaky")
    flaky.down = True
    manager.get_secret("cached", "flaky")  # stale value served, failure logged
    assert manager.rotate_secret("cached", ROTATED, "flaky") is False

    write_encrypted_config(tmp_path / "c.enc", {"db": {"password": FILE_PASS}}, key=RAW_KEY)
    monkeypatch.setenv("LEAK_DATABASE_PASSWORD", ENV_PASS)
    secrets_source = SecretsConfigSource(manager)
    secrets_source.add_secret_mapping("database.password", "database_password")
    secrets_source.add_secret_mapping("missing.value", "missing_secret")
    config = ConfigManager(secrets_manager=manager)
    config.add_source(DictSource({"note": f"contains {API_KEY} inline", "url": f"postgres://u:{DB_PASS}@h/db"}))
    config.add_source(secrets_source)
    config.add_source(EncryptedFileSource(tmp_path / "c.enc", manager, "file_key"))
    config.add_source(EnvironmentSecretsSource("LEAK_", store_in_secrets=True))
    assert config.get("database.password") == ENV_PASS  # the environment layer is on top

    # exceptions
    for action in (
        lambda: LocalEncryptedSecrets(tmp_path / "s.enc", passphrase="wrong").get("database_password"),
        lambda: crypto.decrypt(crypto.encrypt(DB_PASS.encode(), key=RAW_KEY)[:-3], key=RAW_KEY),
        lambda: crypto.decrypt(crypto.encrypt(DB_PASS.encode(), key=RAW_KEY), key=bytes(32)),
        lambda: store.set("bad", {DB_PASS: object()}),
        lambda: formats.parse(f'{{"password": "{DB_PASS}" oops}}', "json"),
        lambda: formats.parse(f"password: [{DB_PASS}\n", "yaml"),
        lambda: formats.parse(f"{DB_PASS}\n", "env"),
        lambda: formats.parse(f"x=\\u{DB_PASS[:2]}", "properties"),
        lambda: EncryptedFileSource(tmp_path / "c.enc", manager, "database_password").load(),
        lambda: manager.set_secret("x", DB_PASS, "flaky"),
    ):
        with pytest.raises(ConfigManagerError) as info:
            action()
        seen.append(_exception_text(info.value))

    # representations, info, stats, audit, masked configuration
    seen += [repr(secret), str(secret), repr(store), store.describe(), repr(manager), repr(config),
             repr(manager.redactor), repr(crypto.derive_data_key(key=RAW_KEY)), repr(secrets_source)]
    seen.append(json.dumps(manager.get_secret_info("database_password"), default=str))
    seen.append(json.dumps(manager.get_secret_info("api_key"), default=str))
    seen.append(json.dumps(manager.get_stats(), default=str))
    seen.append(json.dumps(config.get_secrets_stats(), default=str))
    seen += [json.dumps(event.as_dict()) for event in manager.audit_trail()]
    seen += [repr(job) for job in manager.rotation_jobs()] + [str(job.summary()) for job in manager.rotation_jobs()]
    seen.append(json.dumps(config.get_config()))
    seen += [record.getMessage() for record in caplog.records]
    seen += [logging.Formatter().formatException(record.exc_info) for record in caplog.records if record.exc_info]

    text = "\n".join(seen)
    assert "rotation of secret 'cached'" in text and "[MASKED]" in text  # the scan sees real output
    for value in PLANTED:
        assert value not in text, f"planted value {value[:12]}... leaked"
    assert DB_PASS.encode() not in (tmp_path / "s.enc").read_bytes()
    assert FILE_PASS.encode() not in (tmp_path / "c.enc").read_bytes()
