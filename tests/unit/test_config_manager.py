"""ConfigManager with its sources: layering, masking, caching, reload, secrets-backed layers."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

import pytest

from config_manager import ConfigManager, InMemorySecrets, LocalEncryptedSecrets, SecretsManager, crypto
from config_manager.errors import SourceError
from config_manager.masking import MASK, SecretRedactor
from config_manager.sources import (
    DictSource,
    DotenvSource,
    EncryptedFileSource,
    EnvironmentSecretsSource,
    JsonSource,
    PropertiesSource,
    SecretsConfigSource,
    YamlSource,
    write_encrypted_config,
)


class Tick:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def manager() -> SecretsManager:
    return SecretsManager(InMemorySecrets(), redactor=SecretRedactor())


def test_layers_deep_merge_later_wins(tmp_path: Path) -> None:
    (tmp_path / "base.json").write_text(json.dumps({"db": {"host": "localhost", "port": 5432}, "debug": True}))
    (tmp_path / "prod.yaml").write_text("db:\n  host: prod-db\ndebug: false\n")
    config = ConfigManager()
    config.add_source(JsonSource(tmp_path / "base.json"))
    config.add_source(YamlSource(str(tmp_path / "prod.yaml")))
    assert config.get("db") == {"host": "prod-db", "port": 5432}
    assert config.get("db.port") == 5432 and config.get("debug") is False
    assert config.get("missing.key", "fallback") == "fallback"


def test_get_returns_copies(tmp_path: Path) -> None:
    config = ConfigManager()
    config.add_source(DictSource({"a": {"b": [1]}}))
    config.get("a")["b"].append(2)
    assert config.get("a.b") == [1]


def test_dotenv_and_properties_files(tmp_path: Path) -> None:
    (tmp_path / "app.env").write_text("LOG_LEVEL=debug\n")
    (tmp_path / "app.properties").write_text("server.port=8080\n")
    config = ConfigManager()
    config.add_source(DotenvSource(tmp_path / "app.env"))
    config.add_source(PropertiesSource(tmp_path / "app.properties"))
    assert config.get("LOG_LEVEL") == "debug" and config.get("server.port") == "8080"


def test_missing_file_is_an_error_unless_optional(tmp_path: Path) -> None:
    config = ConfigManager()
    with pytest.raises(SourceError, match="not found"):
        config.add_source(JsonSource(tmp_path / "none.json"))
    config.add_source(JsonSource(tmp_path / "none.json", optional=True))
    assert config.get_raw_config() == {}


def test_get_config_masks_and_raw_config_does_not() -> None:
    config = ConfigManager(secrets_manager=manager())
    config.add_source(DictSource({"database": {"host": "db", "password": "pw-1"},
                                  "url": "postgres://u:pw-2@db/x", "monkey": "ok"}))
    assert config.get_config() == {"database": {"host": "db", "password": MASK},
                                   "url": f"postgres://u:{MASK}@db/x", "monkey": "ok"}
    assert config.get_raw_config()["database"]["password"] == "pw-1"
    config.enable_secrets_masking(False)
    assert config.get_config()["database"]["password"] == "pw-1"


def test_values_known_to_the_secrets_manager_are_masked_anywhere() -> None:
    secrets = manager()
    secrets.set_secret("anything", "known-secret-value")
    config = ConfigManager(secrets_manager=secrets)
    config.add_source(DictSource({"innocent_name": "known-secret-value", "note": "uses known-secret-value"}))
    assert config.get_config() == {"innocent_name": MASK, "note": f"uses {MASK}"}


def test_auto_reload_follows_file_changes(tmp_path: Path) -> None:
    path = tmp_path / "c.json"
    path.write_text('{"v": 1}')
    tick = Tick()
    config = ConfigManager(auto_reload=True, reload_check_interval=1.0, monotonic=tick)
    config.add_source(JsonSource(path))
    assert config.get("v") == 1
    path.write_text('{"v": 22}')
    tick.now += 2
    assert config.get("v") == 22
    path.write_text('{"v": "broken')
    tick.now += 2
    assert config.get("v") == 22  # a broken file keeps the last good layer


def test_without_auto_reload_changes_wait_for_reload(tmp_path: Path) -> None:
    path = tmp_path / "c.json"
    path.write_text('{"v": 1}')
    config = ConfigManager(reload_check_interval=0)
    config.add_source(JsonSource(path))
    path.write_text('{"v": 2}')
    assert config.get("v") == 1
    config.reload()
    assert config.get("v") == 2


def test_without_caching_every_access_reads_the_sources(tmp_path: Path) -> None:
    path = tmp_path / "c.json"
    path.write_text('{"v": 1}')
    config = ConfigManager(enable_caching=False)
    config.add_source(JsonSource(path))
    path.write_text('{"v": 3}')
    assert config.get("v") == 3


def test_secrets_config_source_maps_and_follows_rotation() -> None:
    secrets = manager()
    secrets.set_secret("db_password", "first")
    secrets.set_secret("vault_style", {"username": "app", "password": "from-dict"})
    source = SecretsConfigSource(secrets_manager=secrets, auto_refresh=True)
    source.add_secret_mapping("database.password", "db_password")
    source.add_secret_mapping("database.user", "vault_style", field="username")
    source.add_secret_mapping("api.stripe_key", "does_not_exist")
    config = ConfigManager()
    config.add_source(DictSource({"database": {"host": "db"}}))
    config.add_source(source)
    assert config.get("database") == {"host": "db", "password": "first", "user": "app"}
    assert config.get("api") is None
    assert config.get_config()["database"] == {"host": "db", "password": MASK, "user": MASK}
    secrets.rotate_secret("db_password", "second")
    assert config.get("database.password") == "second"


def test_secrets_config_source_without_auto_refresh_keeps_values_until_reload() -> None:
    secrets = manager()
    secrets.set_secret("k", "first")
    source = SecretsConfigSource(secrets, auto_refresh=False)
    source.add_secret_mapping("a.k", "k")
    config = ConfigManager()
    config.add_source(source)
    secrets.rotate_secret("k", "second")
    assert config.get("a.k") == "first"
    config.reload()
    assert config.get("a.k") == "second"


def test_environment_source_maps_names_and_detects_secrets() -> None:
    environ = {"APP_DATABASE_PASSWORD": "env-pw", "APP_DATABASE_HOST": "db", "APP_DB__MAX_CONNECTIONS": "10",
               "APP_MONKEY_NAME": "george", "OTHER_PASSWORD": "not-mine"}
    secrets = manager()
    source = EnvironmentSecretsSource(env_prefix="APP_", store_in_secrets=True, environ=environ)
    config = ConfigManager(secrets_manager=secrets)
    config.add_source(source)
    assert config.get("database") == {"password": "env-pw", "host": "db"}
    assert config.get("db.max_connections") == "10" and config.get("monkey.name") == "george"
    assert config.get_config()["database"]["password"] == MASK
    assert source.secret_paths() == {"database.password"}
    assert secrets.list_secrets() == ["database_password"]
    assert config.get_secret("database_password") == "env-pw"
    assert secrets.get_secret_metadata("database_password") == {"source": "environment",
                                                                "variable": "APP_DATABASE_PASSWORD"}
    config.reload()
    assert secrets.provider().versions("database_password") == ["1"]  # unchanged value: no new version
    environ["APP_DATABASE_PASSWORD"] = "changed"
    config.reload()
    assert secrets.provider().versions("database_password") == ["1", "2"]


def test_environment_source_mask_values_off_reports_no_paths() -> None:
    source = EnvironmentSecretsSource("APP_", mask_values=False, environ={"APP_TOKEN": "t"})
    source.load()
    assert source.secret_paths() == set()


def test_environment_source_auto_reload_sees_new_variables() -> None:
    environ = {"APP_A": "1"}
    config = ConfigManager(auto_reload=True, reload_check_interval=0)
    config.add_source(EnvironmentSecretsSource("APP_", environ=environ))
    environ["APP_B"] = "2"
    assert config.get("b") == "2"


def test_encrypted_file_source_with_raw_key_secret(tmp_path: Path) -> None:
    secrets = manager()
    key = crypto.generate_key()
    secrets.set_secret("config_encryption_key", base64.b64encode(key).decode())
    write_encrypted_config(tmp_path / "prod.enc", {"db": {"password": "enc-pw", "host": "h"}}, key=key)
    assert b"enc-pw" not in (tmp_path / "prod.enc").read_bytes()
    config = ConfigManager()
    config.add_source(EncryptedFileSource(tmp_path / "prod.enc", secrets, "config_encryption_key"))
    assert config.get("db") == {"password": "enc-pw", "host": "h"}
    assert config.get_config()["db"] == {"password": MASK, "host": "h"}


def test_encrypted_file_source_with_passphrase_secret_and_yaml(tmp_path: Path) -> None:
    secrets = manager()
    secrets.set_secret("file_pass", "a long passphrase")
    write_encrypted_config(tmp_path / "c.yaml.enc", {"feature": {"on": True}}, passphrase="a long passphrase",
                           fmt="yaml", kdf=crypto.Pbkdf2(iterations=1000))
    source = EncryptedFileSource(tmp_path / "c.yaml.enc", secrets, "file_pass", mask_all=True)
    assert source.load() == {"feature": {"on": True}} and source.secret_paths() == {"feature.on"}


def test_encrypted_file_source_create_and_save_make_a_key_secret(tmp_path: Path) -> None:
    store = LocalEncryptedSecrets(tmp_path / "s.enc")
    secrets = SecretsManager(store, redactor=SecretRedactor())
    source = EncryptedFileSource.create(tmp_path / "new.enc", {"a": 1}, secrets, "file_key")
    assert "file_key" in store.list() and source.load() == {"a": 1}
    source.save({"a": 2})
    assert source.load() == {"a": 2}


def test_encrypted_file_source_errors_are_clear(tmp_path: Path) -> None:
    secrets = manager()
    write_encrypted_config(tmp_path / "c.enc", {"a": 1}, key=crypto.generate_key())
    with pytest.raises(SourceError, match="key secret 'k' does not exist"):
        EncryptedFileSource(tmp_path / "c.enc", secrets, "k").load()
    secrets.set_secret("k", base64.b64encode(crypto.generate_key()).decode())
    with pytest.raises(SourceError, match="cannot decrypt .* wrong key"):
        EncryptedFileSource(tmp_path / "c.enc", secrets, "k").load()
    secrets.set_secret("k", "not a key")
    with pytest.raises(SourceError, match="does not hold a 32-byte key"):
        EncryptedFileSource(tmp_path / "c.enc", secrets, "k").load()


def test_encrypted_source_takes_the_config_managers_secrets_when_given_none(tmp_path: Path) -> None:
    secrets = manager()
    key = crypto.generate_key()
    secrets.set_secret("k", key.hex())
    write_encrypted_config(tmp_path / "c.enc", {"x": "y"}, key=key)
    config = ConfigManager(secrets_manager=secrets)
    config.add_source(EncryptedFileSource(tmp_path / "c.enc", decryption_key_name="k"))
    assert config.get("x") == "y"


def test_config_manager_secret_api_delegates(tmp_path: Path) -> None:
    config = ConfigManager(secrets_manager=SecretsManager(LocalEncryptedSecrets(tmp_path / "s.enc"),
                                                          redactor=SecretRedactor()))
    config.set_secret("k", "v1", {"tier": "high"})
    assert config.get_secret("k") == "v1" and config.get_secret("nope") is None
    assert config.rotate_secret("k", "v2") is True and config.get_secret("k") == "v2"
    config.add_secrets_provider("mem", InMemorySecrets())
    config.set_secret("m", "x", "mem")
    assert config.list_secrets() == ["k"] and config.list_secrets("mem") == ["m"]
    info = config.get_secret_info("k")
    assert info is not None and info["accessed_count"] == 2 and info["metadata"]["tier"] == "high"
    config.schedule_secret_rotation("gen", 1, lambda: "generated")
    assert config.check_secret_rotations() is None and config.get_secret("gen") == "generated"
    stats = config.get_secrets_stats()
    assert stats["providers"] == ["default", "mem"] and stats["scheduled_rotations"] == 1
    assert config.delete_secret("k") is True


def test_default_config_manager_keeps_secrets_in_memory() -> None:
    config = ConfigManager()
    config.set_secret("a", "b")
    assert config.get_secret("a") == "b"
    assert os.path.exists("a") is False


def test_secret_values_in_configuration_reach_the_log_filter(tmp_path: Path) -> None:
    import logging

    from config_manager.masking import SecretMaskingFilter

    secrets = manager()
    config = ConfigManager(secrets_manager=secrets)
    config.add_source(DictSource({"smtp": {"password": "from-a-config-file"}, "mail": {"sender": "a@b.c"}}))
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "using %s for %s", (config.get("smtp.password"),
                               config.get("mail.sender")), None)
    SecretMaskingFilter(secrets.redactor).filter(record)
    assert record.getMessage() == f"using {MASK} for a@b.c"
