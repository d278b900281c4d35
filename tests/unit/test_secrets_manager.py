"""SecretsManager: providers, TTL cache, stale values on failure, tracking, audit, rotation, callbacks."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from config_manager import InMemorySecrets, SecretsManager, SecretValue
from config_manager.errors import ConfigurationError, ProviderUnavailableError
from config_manager.masking import SecretRedactor
from config_manager.secrets import generators
from config_manager.secrets.rotation import RotationSchedule, retry_delay

T0 = datetime(2030, 1, 1, tzinfo=timezone.utc)


class Clocks:
    """The manager's clocks. They start at the real time because providers stamp versions with it."""

    def __init__(self) -> None:
        self.start = self.wall = datetime.now(timezone.utc)
        self.mono = 1000.0

    def now(self) -> datetime:
        return self.wall

    def monotonic(self) -> float:
        return self.mono

    def advance(self, seconds: float) -> None:
        self.wall += timedelta(seconds=seconds)
        self.mono += seconds


class CountingProvider(InMemorySecrets):
    """An in-memory provider that counts reads and can be switched off."""

    def __init__(self) -> None:
        super().__init__()
        self.reads = 0
        self.down = False

    def get(self, key: str, version: str | None = None) -> SecretValue:
        self.reads += 1
        if self.down:
            raise ProviderUnavailableError("backend down", "counting")
        return super().get(key, version)


@pytest.fixture
def clocks() -> Clocks:
    return Clocks()


@pytest.fixture
def provider() -> CountingProvider:
    return CountingProvider()


@pytest.fixture
def manager(provider: CountingProvider, clocks: Clocks) -> SecretsManager:
    return SecretsManager(provider, cache_ttl=60, clock=clocks.now, monotonic=clocks.monotonic,
                          redactor=SecretRedactor())


def test_default_and_named_providers(manager: SecretsManager) -> None:
    other = InMemorySecrets()
    manager.add_provider("other", other)
    manager.set_secret("k", "default-value")
    manager.set_secret("k", "other-value", "other")
    assert manager.get_secret("k").value == "default-value"
    assert manager.get_secret("k", "other").value == "other-value"
    assert manager.default_provider_name == "default" and manager.provider_names == ["default", "other"]
    with pytest.raises(ConfigurationError, match="unknown secrets provider 'nope'"):
        manager.get_secret("k", "nope")


def test_no_provider_is_a_clear_error() -> None:
    with pytest.raises(ConfigurationError, match="no secrets provider"):
        SecretsManager().get_secret("k")


def test_first_added_provider_becomes_default() -> None:
    manager = SecretsManager()
    manager.add_provider("mem", InMemorySecrets())
    manager.set_secret("a", "1")
    assert manager.default_provider_name == "mem" and manager.list_secrets() == ["a"]


def test_missing_secret_is_none(manager: SecretsManager) -> None:
    assert manager.get_secret("nothing") is None
    assert manager.get_secret_info("nothing") is None


def test_metadata_as_third_positional_argument(manager: SecretsManager) -> None:
    manager.set_secret("master_db_password", "v", {"tier": "critical", "rotation_schedule": "weekly"})
    assert manager.get_secret_metadata("master_db_password") == {"tier": "critical", "rotation_schedule": "weekly"}


def test_cache_serves_reads_for_the_ttl(manager: SecretsManager, provider: CountingProvider, clocks: Clocks) -> None:
    provider.set("k", "v")
    for _ in range(5):
        assert manager.get_secret("k").value == "v"
    assert provider.reads == 1
    clocks.advance(61)
    manager.get_secret("k")
    assert provider.reads == 2
    stats = manager.get_stats()
    assert stats["cache_hits"] == 4 and stats["total_accesses"] == 6


def test_set_and_delete_update_the_cache(manager: SecretsManager, provider: CountingProvider) -> None:
    manager.set_secret("k", "v1")
    assert manager.get_secret("k").value == "v1" and provider.reads == 0
    manager.set_secret("k", "v2")
    assert manager.get_secret("k").value == "v2"
    assert manager.delete_secret("k") is True and manager.get_secret("k") is None
    assert manager.delete_secret("k") is False


def test_stale_value_served_when_provider_fails_after_expiry(manager: SecretsManager, provider: CountingProvider,
                                                             clocks: Clocks) -> None:
    provider.set("k", "good")
    manager.get_secret("k")
    clocks.advance(120)
    provider.down = True
    assert manager.get_secret("k").value == "good"
    assert manager.get_stats()["stale_reads"] == 1
    assert manager.audit_trail(key="k")[-1].outcome == "stale"
    with pytest.raises(ProviderUnavailableError):
        manager.get_secret("never-cached")


def test_refresh_that_finds_a_new_version_notifies(manager: SecretsManager, provider: CountingProvider,
                                                   clocks: Clocks) -> None:
    seen: list[tuple[str, str | None]] = []
    manager.add_refresh_callback(lambda key, secret: seen.append((key, secret.version)))
    provider.set("k", "v1")
    manager.get_secret("k")
    provider.set("k", "v2")  # changed behind the manager's back
    revision = manager.revision
    clocks.advance(61)
    assert manager.get_secret("k").value == "v2"
    assert seen == [("k", "2")] and manager.revision > revision


def test_access_tracking(manager: SecretsManager, clocks: Clocks) -> None:
    manager.set_secret("k", "v", {"team": "payments"})
    manager.get_secret("k")
    clocks.advance(5)
    manager.get_secret("k")
    info = manager.get_secret_info("k")
    assert info is not None
    assert info["accessed_count"] == 2
    assert info["first_accessed"] == clocks.start and info["last_accessed"] == clocks.start + timedelta(seconds=5)
    assert info["metadata"] == {"team": "payments"}
    assert info["versions"] == ["1"] and "value" not in info


def test_audit_trail_is_bounded_and_records_actions(provider: CountingProvider, clocks: Clocks) -> None:
    manager = SecretsManager(provider, audit_size=5, clock=clocks.now, monotonic=clocks.monotonic)
    manager.set_secret("k", "v")
    manager.get_secret("k")
    manager.get_secret("missing")
    manager.rotate_secret("k", "v2")
    manager.delete_secret("k")
    assert [(event.action, event.outcome) for event in manager.audit_trail()] == [
        ("write", "ok"), ("read", "ok"), ("read", "not_found"), ("rotate", "ok"), ("delete", "ok")]
    for _ in range(10):
        manager.get_secret("missing")
    assert len(manager.audit_trail()) == 5


def test_rotate_secret_keeps_previous_version_and_notifies(manager: SecretsManager, clocks: Clocks) -> None:
    rotated: list[str] = []
    manager.add_refresh_callback(lambda key, secret: rotated.append(key))
    manager.set_secret("api_key", "old", {"tier": "high"})
    assert manager.rotate_secret("api_key", "new") is True
    assert manager.get_secret("api_key").value == "new"
    assert manager.get_secret("api_key", version="1").value == "old"
    assert manager.get_secret_metadata("api_key")["tier"] == "high"
    assert manager.get_secret_metadata("api_key")["rotated_at"] == clocks.start.isoformat()
    assert rotated == ["api_key"]


def test_rotating_a_missing_secret_fails_cleanly(manager: SecretsManager) -> None:
    assert manager.rotate_secret("ghost", "v") is False
    assert manager.get_stats()["rotation_failures"] == 1
    assert manager.get_secret("ghost") is None


def test_a_failing_callback_does_not_stop_rotation_or_other_callbacks(manager: SecretsManager) -> None:
    calls: list[str] = []

    def broken(key: str, secret: SecretValue) -> None:
        raise RuntimeError("listener bug")

    manager.add_refresh_callback(broken)
    manager.add_refresh_callback(lambda key, secret: calls.append(key))
    manager.set_secret("k", "v")
    assert manager.rotate_secret("k", "v2") is True and calls == ["k"]


def test_scheduled_rotation_driven_by_the_caller(manager: SecretsManager, clocks: Clocks) -> None:
    values = iter(["gen-1", "gen-2", "gen-3"])
    manager.schedule_rotation("jwt", 24, lambda: next(values))
    assert manager.check_rotations() == ["jwt"]  # missing: created at once
    assert manager.get_secret("jwt").value == "gen-1"
    clocks.advance(23 * 3600)
    assert manager.check_rotations() == []
    clocks.advance(3600)
    assert manager.check_rotations() == ["jwt"]
    assert manager.get_secret("jwt").value == "gen-2"
    assert manager.check_rotations(now=clocks.now() + timedelta(hours=24)) == ["jwt"]
    assert manager.get_stats()["scheduled_rotations"] == 1
    info = manager.get_secret_info("jwt")
    assert info is not None and info["rotation"]["rotations"] == 3 and info["versions"] == ["1", "2", "3"]


def test_existing_secret_is_first_rotated_one_interval_after_it_was_written(manager: SecretsManager,
                                                                          clocks: Clocks) -> None:
    manager.set_secret("db", "initial")
    clocks.advance(3600)
    manager.schedule_rotation("db", 2, lambda: "rotated")
    assert manager.check_rotations() == []
    clocks.advance(3600 + 60)
    assert manager.check_rotations() == ["db"]


def test_failing_generator_backs_off_and_keeps_the_old_value(manager: SecretsManager, clocks: Clocks) -> None:
    attempts: list[int] = []

    def flaky() -> str:
        attempts.append(1)
        if len(attempts) < 3:
            raise ValueError("cannot generate")
        return "finally"

    manager.set_secret("k", "old")
    manager.schedule_rotation("k", 1, flaky)
    clocks.advance(3600 + 60)
    assert manager.check_rotations() == [] and manager.get_secret("k").value == "old"
    assert manager.check_rotations() == []  # backing off: not retried at once
    clocks.advance(60)
    assert manager.check_rotations() == []  # second failure, next retry after 2 minutes
    clocks.advance(120)
    assert manager.check_rotations() == ["k"] and manager.get_secret("k").value == "finally"
    assert len(attempts) == 3


def test_retry_delay_is_bounded() -> None:
    assert retry_delay(1, timedelta(days=1)) == timedelta(minutes=1)
    assert retry_delay(3, timedelta(days=1)) == timedelta(minutes=4)
    assert retry_delay(50, timedelta(days=1)) == timedelta(hours=1)
    assert retry_delay(50, timedelta(minutes=10)) == timedelta(minutes=10)


def test_rotation_schedule_needs_no_manager() -> None:
    schedule = RotationSchedule()
    job = schedule.schedule("k", "p", timedelta(hours=1), lambda: "v", now=T0, exists=False)
    assert schedule.due(T0) == [job]
    schedule.succeeded(job, T0)
    assert schedule.due(T0) == [] and schedule.next_due() == T0 + timedelta(hours=1)
    with pytest.raises(ConfigurationError):
        schedule.schedule("k", "p", timedelta(0), lambda: "v", now=T0, exists=False)


def test_invalid_schedules_are_refused(manager: SecretsManager) -> None:
    with pytest.raises(ConfigurationError):
        manager.schedule_rotation("k", 0, lambda: "v")
    with pytest.raises(ConfigurationError):
        manager.schedule_rotation("k", 1, "not callable")  # type: ignore[arg-type]


def test_get_stats_has_the_keys_the_seed_reads(manager: SecretsManager) -> None:
    manager.set_secret("a", "1")
    manager.set_secret("b", "2")
    stats = manager.get_stats()
    assert stats["default_secrets_count"] == 2
    assert stats["scheduled_rotations"] == 0
    assert stats["providers"] == ["default"]


def test_thread_safety_under_concurrent_use(provider: CountingProvider) -> None:
    manager = SecretsManager(provider, cache_ttl=0.001)
    errors: list[BaseException] = []

    def work(index: int) -> None:
        try:
            for number in range(50):
                manager.set_secret(f"t{index}-{number}", f"v{number}")
                assert manager.get_secret(f"t{index}-{number}").value == f"v{number}"
                manager.rotate_secret(f"t{index}-{number}", "r")
        except BaseException as exc:  # noqa: BLE001  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(index,)) for index in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(manager.list_secrets()) == 400
    assert manager.get_stats()["rotations"] == 400 and manager.get_stats()["total_accesses"] == 400


# -- generators -----------------------------------------------------------------------------------


def test_password_has_every_class_and_length() -> None:
    for _ in range(20):
        value = generators.password(16)
        assert len(value) == 16
        assert any(c.islower() for c in value) and any(c.isupper() for c in value)
        assert any(c.isdigit() for c in value) and any(c in generators.DEFAULT_SYMBOLS for c in value)
    assert generators.password(8, symbols=False, uppercase=False).isalnum()
    with pytest.raises(ConfigurationError):
        generators.password(2)
    with pytest.raises(ConfigurationError):
        generators.password(10, lowercase=False, uppercase=False, digits=False, symbols=False)


def test_token_generators() -> None:
    assert len(generators.urlsafe_token(32)) == 43
    assert len(generators.hex_token(16)) == 32 and int(generators.hex_token(16), 16) >= 0
    assert len(generators.uuid4()) == 36
    assert len({generators.urlsafe_token() for _ in range(20)}) == 20


def test_pem_generators_produce_loadable_keys() -> None:
    from cryptography.hazmat.primitives import serialization

    for pem in (generators.ed25519_private_key_pem(), generators.rsa_private_key_pem(2048)):
        assert pem.startswith("-----BEGIN PRIVATE KEY-----")
        serialization.load_pem_private_key(pem.encode(), password=None)


def test_generator_specs_and_plugins() -> None:
    make = generators.generator_from_spec({"type": "password", "length": 24, "symbols": False})
    assert len(make()) == 24 and make() != make()
    assert len(generators.generator_from_spec("uuid")()) == 36
    with pytest.raises(ConfigurationError, match="unknown generator type"):
        generators.generator_from_spec({"type": "nope"})
    with pytest.raises(ConfigurationError, match="bad options"):
        generators.generator_from_spec({"type": "hex", "size": 3})
    counter: dict[str, Any] = {"n": 0}

    def sequential(start: int = 0) -> str:
        counter["n"] += 1
        return f"seq-{start + counter['n']}"

    generators.register_generator("sequential", sequential)
    assert generators.generator_from_spec({"type": "sequential", "start": 10})() == "seq-11"
