"""Secrets management with config_manager, end to end and offline.

Runs in a temporary folder with the local encrypted provider (Vault and Azure Key Vault are used the
same way, through the same SecretsManager; see the README). Covers what the seed document promises:

1. local encrypted secrets storage
2. several providers behind one SecretsManager
3. ConfigManager integration: layered sources, secrets mapped into configuration, masking
4. environment variable secrets
5. rotation: manual, scheduled, callbacks
6. monitoring: access counts, statistics, the audit trail
7. production patterns: encrypted configuration files, re-keying, no values in logs

Run it:  python examples/secrets_usage.py
Nothing printed here contains a secret value: everything shown goes through the masking rules.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import sys
import tempfile
from pathlib import Path

from config_manager import ConfigManager, EnvironmentSecrets, LocalEncryptedSecrets, SecretsManager
from config_manager.masking import SecretMaskingFilter
from config_manager.secrets import generators
from config_manager.sources import (
    EncryptedFileSource,
    EnvironmentSecretsSource,
    JsonSource,
    SecretsConfigSource,
    YamlSource,
)

log = logging.getLogger("secrets_usage")


def section(title: str) -> None:
    print(f"\n== {title} ==")


def show(label: str, value: object) -> None:
    print(f"{label}: {json.dumps(value, indent=2, default=str, sort_keys=True)}")


def setup_logging() -> None:
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("  log %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(SecretMaskingFilter())  # masks every value a SecretsManager has handed out
    logging.basicConfig(level=logging.INFO, handlers=[handler])


def local_encrypted_storage(workdir: Path) -> SecretsManager:
    section("1. Local encrypted secrets")
    local_secrets = LocalEncryptedSecrets(secrets_file=workdir / "app_secrets.enc", key_file=workdir / "app_key.bin")
    manager = SecretsManager(local_secrets)
    manager.set_secret("database_password", generators.password(24))
    manager.set_secret("api_key", "sk-" + secrets.token_hex(16))
    manager.set_secret("master_db_password", generators.password(32), {"tier": "critical", "rotation_schedule": "weekly"})
    print("stored keys:", manager.list_secrets())
    print("key file mode:", oct((workdir / "app_key.bin").stat().st_mode & 0o777))
    raw = (workdir / "app_secrets.enc").read_bytes()
    print("store is encrypted:", b"database_password" not in raw, f"({len(raw)} bytes)")
    print("a SecretValue prints as:", manager.get_secret("api_key"))
    return manager


def several_providers(manager: SecretsManager) -> None:
    section("2. Several providers")
    manager.add_provider("env", EnvironmentSecrets(prefix="DEMO_", environ={"DEMO_SMTP_PASSWORD": "smtp-" + secrets.token_hex(8)}))
    print("providers:", manager.provider_names, "default:", manager.default_provider_name)
    print("env provider keys:", manager.list_secrets("env"))
    print("smtp password found:", manager.get_secret("SMTP_PASSWORD", "env") is not None)


def config_integration(workdir: Path, manager: SecretsManager) -> ConfigManager:
    section("3. ConfigManager with layered sources")
    (workdir / "base_config.json").write_text(json.dumps(
        {"database": {"host": "localhost", "port": 5432, "user": "app"}, "feature_flags": {"beta": False}}))
    (workdir / "production_config.yaml").write_text("database:\n  host: db.internal\nfeature_flags:\n  beta: true\n")
    secrets_source = SecretsConfigSource(secrets_manager=manager, auto_refresh=True)
    secrets_source.add_secret_mapping("database.password", "database_password")
    secrets_source.add_secret_mapping("payments.api_key", "api_key")
    config = ConfigManager(secrets_manager=manager, mask_secrets_in_display=True, enable_caching=True, auto_reload=True)
    config.add_source(JsonSource(workdir / "base_config.json"))
    config.add_source(YamlSource(workdir / "production_config.yaml"))
    config.add_source(secrets_source)
    print("database.host:", config.get("database.host"))
    print("password available to the app:", bool(config.get("database.password")))
    show("displayed configuration", config.get_config())
    return config


def environment_secrets(config: ConfigManager) -> None:
    section("4. Environment variable secrets")
    os.environ["APP_CACHE_PASSWORD"] = "cache-" + secrets.token_hex(8)
    os.environ["APP_CACHE_HOST"] = "redis.internal"
    config.add_source(EnvironmentSecretsSource(env_prefix="APP_", store_in_secrets=True, mask_values=True))
    show("cache section (displayed)", config.get_config()["cache"])
    print("stored in the secrets manager as:", [k for k in config.list_secrets() if k.startswith("cache")])


def rotation(config: ConfigManager, manager: SecretsManager) -> None:
    section("5. Rotation")
    manager.add_refresh_callback(lambda key, secret: log.info("secret %s rotated to version %s", key, secret.version))
    old = config.get_secret("api_key")
    config.rotate_secret("api_key", "sk-" + secrets.token_hex(16))
    print("api_key changed:", config.get_secret("api_key") != old)
    print("configuration follows the rotation:", config.get("payments.api_key") == config.get_secret("api_key"))
    print("previous version kept:", manager.provider().versions("api_key"))
    config.schedule_secret_rotation("jwt_secret", 24, lambda: secrets.token_urlsafe(32))
    config.schedule_secret_rotation("database_password", 168, generators.generator_from_spec({"type": "password", "length": 24}))
    config.check_secret_rotations()  # jwt_secret did not exist: created now; the password is not due for a week
    for job in manager.rotation_jobs():
        print(f"  {job.key}: every {job.interval_hours:g} h, next {job.next_due:%Y-%m-%d %H:%M} UTC, rotations {job.rotations}")


def monitoring(config: ConfigManager, manager: SecretsManager) -> None:
    section("6. Monitoring")
    for _ in range(3):
        config.get_secret("database_password")
    info = config.get_secret_info("database_password")
    assert info is not None
    print(f"database_password accessed {info['accessed_count']} times, last at {info['last_accessed']}")
    stats = config.get_secrets_stats()
    print(f"total secrets: {stats['default_secrets_count']}, scheduled rotations: {stats['scheduled_rotations']}, "
          f"providers: {stats['providers']}")
    for key in config.list_secrets():
        usage = config.get_secret_info(key)
        if usage and usage["accessed_count"] == 0:
            print("  unused secret:", key)
    print("last audit events:")
    for event in manager.audit_trail(limit=5):
        print(f"  {event.timestamp:%H:%M:%S} {event.action:<8} {event.key:<20} {event.outcome} {event.detail}")


def production_patterns(workdir: Path, manager: SecretsManager) -> None:
    section("7. Production patterns")
    encrypted = EncryptedFileSource.create(workdir / "production_config.enc",
                                           {"smtp": {"host": "mail.internal", "password": "mail-" + secrets.token_hex(8)}},
                                           manager, "config_encryption_key")
    config = ConfigManager(secrets_manager=manager)
    config.add_source(encrypted)
    show("encrypted config file (displayed)", config.get_config())
    store = manager.provider()
    assert isinstance(store, LocalEncryptedSecrets)
    before = len(store.list())
    store.rekey()
    print(f"re-keyed the store: {before} entries before, {len(store.list())} after")
    log.info("connecting with password %s", config.get("smtp.password"))  # the log filter masks it


def main() -> int:
    setup_logging()
    with tempfile.TemporaryDirectory(prefix="secrets-usage-") as folder:
        workdir = Path(folder)
        manager = local_encrypted_storage(workdir)
        several_providers(manager)
        config = config_integration(workdir, manager)
        environment_secrets(config)
        rotation(config, manager)
        monitoring(config, manager)
        production_patterns(workdir, manager)
    print("\ndone")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
