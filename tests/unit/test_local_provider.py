"""LocalEncryptedSecrets: storage, versions, keys, re-keying, refusal to overwrite, several processes."""

from __future__ import annotations

import multiprocessing
import os
import stat
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from config_manager import crypto
from config_manager.errors import ConfigurationError, DecryptionError, SecretNotFoundError, UnsupportedOperationError
from config_manager.providers import registry
from config_manager.providers.local import FileBlobStorage, LocalEncryptedSecrets
from config_manager.providers.storage import BlobStorage, StampedBlobStorage

FAST = crypto.Pbkdf2(iterations=1_000)


class MemoryBlob:
    """A BlobStorage without stamps, like a caller's own storage (the operator's Secret-backed one)."""

    def __init__(self) -> None:
        self.data: bytes | None = None
        self.writes = 0

    def read(self) -> bytes | None:
        return self.data

    def write(self, data: bytes) -> None:
        self.data = data
        self.writes += 1

    def lock(self) -> AbstractContextManager[object]:
        return nullcontext()

    def describe(self) -> str:
        return "memory-blob"


def test_round_trip_of_json_values_bytes_and_metadata(tmp_path: Path) -> None:
    store = LocalEncryptedSecrets(tmp_path / "s.enc", tmp_path / "s.key")
    store.set("str", "value")
    store.set("dict", {"user": "u", "n": [1, 2]}, {"tier": "high", "weekly": True})
    store.set("bytes", b"\x00\xff")
    reopened = LocalEncryptedSecrets(tmp_path / "s.enc", tmp_path / "s.key")
    assert reopened.get("str").value == "value"
    assert reopened.get("dict").value == {"user": "u", "n": [1, 2]}
    assert reopened.get("bytes").value == b"\x00\xff"
    assert reopened.metadata("dict") == {"tier": "high", "weekly": "true"}
    assert reopened.list() == ["bytes", "dict", "str"] and reopened.list("d") == ["dict"]
    assert reopened.get("str").created_at is not None


def test_file_is_encrypted_and_private(tmp_path: Path) -> None:
    store = LocalEncryptedSecrets(tmp_path / "s.enc")
    store.set("api_key", "sk-plaintext-marker")
    raw = (tmp_path / "s.enc").read_bytes()
    assert crypto.looks_encrypted(raw) and b"sk-plaintext-marker" not in raw and b"api_key" not in raw
    assert stat.S_IMODE(os.stat(tmp_path / "s.enc").st_mode) == 0o600


def test_default_key_file_sits_beside_the_store_with_mode_0600(tmp_path: Path) -> None:
    store = LocalEncryptedSecrets(str(tmp_path / "dev_secrets.enc"))
    assert store.key_file == tmp_path / "dev_secrets.enc.key"
    assert not store.key_file.exists()  # nothing is created before the first write
    store.set("a", "1")
    assert stat.S_IMODE(os.stat(store.key_file).st_mode) == 0o600
    assert LocalEncryptedSecrets(str(tmp_path / "dev_secrets.enc")).get("a").value == "1"


def test_versions_are_kept_and_bounded(tmp_path: Path) -> None:
    store = LocalEncryptedSecrets(tmp_path / "s.enc", max_versions=3)
    for number in range(1, 6):
        store.set("k", f"value-{number}")
    assert store.versions("k") == ["3", "4", "5"]
    assert store.get("k").version == "5"
    assert store.get("k", version="4").value == "value-4"
    with pytest.raises(SecretNotFoundError, match="version 1"):
        store.get("k", version="1")


def test_metadata_is_kept_across_versions_unless_replaced(tmp_path: Path) -> None:
    store = LocalEncryptedSecrets(tmp_path / "s.enc")
    store.set("k", "1", {"tier": "critical"})
    store.set("k", "2")
    assert store.metadata("k") == {"tier": "critical"}
    store.set("k", "3", {"tier": "low"})
    assert store.metadata("k") == {"tier": "low"}


def test_delete_and_missing_keys(tmp_path: Path) -> None:
    store = LocalEncryptedSecrets(tmp_path / "s.enc")
    store.set("k", "v")
    assert store.delete("k") is True and store.delete("k") is False
    with pytest.raises(SecretNotFoundError):
        store.get("k")
    assert store.exists("k") is False
    with pytest.raises(SecretNotFoundError):
        store.versions("k")


def test_unstorable_values_are_refused_without_echoing_them(tmp_path: Path) -> None:
    store = LocalEncryptedSecrets(tmp_path / "s.enc")
    with pytest.raises(ConfigurationError, match="object is not a JSON value") as info:
        store.set("k", object())
    assert "k" in str(info.value)


def test_changes_by_another_instance_are_seen(tmp_path: Path) -> None:
    first = LocalEncryptedSecrets(tmp_path / "s.enc")
    second = LocalEncryptedSecrets(tmp_path / "s.enc")
    first.set("a", "1")
    assert second.get("a").value == "1"
    second.set("a", "2")
    assert first.get("a").value == "2"


def test_in_memory_key_with_custom_storage(tmp_path: Path) -> None:
    blob = MemoryBlob()
    key = crypto.generate_key()
    store = LocalEncryptedSecrets(key=key, storage=blob)
    store.set("token", "t-123")
    assert crypto.looks_encrypted(blob.data or b"")
    assert isinstance(blob, BlobStorage) and not isinstance(blob, StampedBlobStorage)
    assert LocalEncryptedSecrets(key=key, storage=blob).get("token").value == "t-123"
    with pytest.raises(DecryptionError):
        LocalEncryptedSecrets(key=crypto.generate_key(), storage=blob).get("token")


def test_passphrase_store_pays_the_kdf_once_per_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    real = crypto.envelope.derive_from_passphrase

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(crypto.envelope, "derive_from_passphrase", counting)
    store = LocalEncryptedSecrets(tmp_path / "p.enc", passphrase="pw", kdf=FAST)
    for number in range(5):
        store.set(f"k{number}", "v")
    assert len(calls) == 1
    other = LocalEncryptedSecrets(tmp_path / "p.enc", passphrase="pw")
    assert other.list() == [f"k{n}" for n in range(5)]
    other.set("more", "v")
    assert len(calls) == 2


def test_constructor_refuses_ambiguous_or_missing_key_sources(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="only one"):
        LocalEncryptedSecrets(tmp_path / "s.enc", tmp_path / "k", "pw")
    with pytest.raises(ConfigurationError, match="exactly one of secrets_file or storage"):
        LocalEncryptedSecrets()
    with pytest.raises(ConfigurationError, match="key="):
        LocalEncryptedSecrets(storage=MemoryBlob())
    with pytest.raises(ConfigurationError, match="32 bytes"):
        LocalEncryptedSecrets(tmp_path / "s.enc", key=b"short")


def test_registry_creates_the_local_provider(tmp_path: Path) -> None:
    store = registry.create("local", secrets_file=str(tmp_path / "r.enc"))
    assert isinstance(store, LocalEncryptedSecrets) and store.provider_type == "local"
    assert store.describe() == f"local:{tmp_path / 'r.enc'}"


# -- nothing is lost, nothing is overwritten --------------------------------------------------------


def test_wrong_key_leaves_the_file_byte_identical(tmp_path: Path) -> None:
    good = LocalEncryptedSecrets(tmp_path / "s.enc", tmp_path / "good.key")
    good.set("a", "1")
    before = (tmp_path / "s.enc").read_bytes()
    crypto.create_key_file(tmp_path / "bad.key")
    bad = LocalEncryptedSecrets(tmp_path / "s.enc", tmp_path / "bad.key")
    with pytest.raises(DecryptionError):
        bad.set("b", "2")
    with pytest.raises(DecryptionError):
        bad.delete("a")
    with pytest.raises(DecryptionError):
        bad.rekey()
    with pytest.raises(DecryptionError):
        LocalEncryptedSecrets(tmp_path / "s.enc", passphrase="guess").set("c", "3")
    assert (tmp_path / "s.enc").read_bytes() == before
    assert good.get("a").value == "1"


def test_tampered_file_is_refused_and_left_alone(tmp_path: Path) -> None:
    store = LocalEncryptedSecrets(tmp_path / "s.enc")
    store.set("a", "1")
    tampered = bytearray((tmp_path / "s.enc").read_bytes())
    tampered[-5] ^= 0x40
    (tmp_path / "s.enc").write_bytes(bytes(tampered))
    fresh = LocalEncryptedSecrets(tmp_path / "s.enc")
    with pytest.raises(DecryptionError, match="modified or truncated"):
        fresh.set("b", "2")
    assert (tmp_path / "s.enc").read_bytes() == bytes(tampered)


def test_missing_key_file_for_an_existing_store_is_an_error_not_a_new_key(tmp_path: Path) -> None:
    store = LocalEncryptedSecrets(tmp_path / "s.enc")
    store.set("a", "1")
    before = (tmp_path / "s.enc").read_bytes()
    (tmp_path / "s.enc.key").unlink()
    again = LocalEncryptedSecrets(tmp_path / "s.enc")
    with pytest.raises(ConfigurationError, match="does not exist"):
        again.set("b", "2")
    assert not (tmp_path / "s.enc.key").exists()
    assert (tmp_path / "s.enc").read_bytes() == before


# -- re-keying -------------------------------------------------------------------------------------


def _fill(store: LocalEncryptedSecrets) -> dict[str, list[str]]:
    for number in range(20):
        store.set(f"key-{number}", f"v1-{number}")
    store.set("key-0", "v2-0")
    return {key: store.versions(key) for key in store.list()}


def test_rekey_with_key_file_keeps_every_entry_and_version(tmp_path: Path) -> None:
    store = LocalEncryptedSecrets(tmp_path / "s.enc", tmp_path / "s.key")
    versions = _fill(store)
    old_key = crypto.load_key_file(tmp_path / "s.key")
    new_key = store.rekey()
    assert new_key is not None and new_key != old_key
    assert crypto.load_key_file(tmp_path / "s.key") == new_key
    assert not (tmp_path / "s.key.new").exists()
    reopened = LocalEncryptedSecrets(tmp_path / "s.enc", tmp_path / "s.key")
    assert {key: reopened.versions(key) for key in reopened.list()} == versions
    assert reopened.get("key-0", version="1").value == "v1-0" and reopened.get("key-19").value == "v1-19"
    with pytest.raises(DecryptionError):
        crypto.decrypt((tmp_path / "s.enc").read_bytes(), key=old_key)


def test_rekey_to_passphrase_and_back_to_a_key(tmp_path: Path) -> None:
    store = LocalEncryptedSecrets(tmp_path / "s.enc", passphrase="old", kdf=FAST)
    versions = _fill(store)
    store.rekey(new_passphrase="new", kdf=FAST)
    assert LocalEncryptedSecrets(tmp_path / "s.enc", passphrase="new").versions("key-0") == versions["key-0"]
    with pytest.raises(DecryptionError):
        LocalEncryptedSecrets(tmp_path / "s.enc", passphrase="old").list()
    key = crypto.generate_key()
    assert store.rekey(new_key=key) == key
    assert LocalEncryptedSecrets(tmp_path / "s.enc", key=key).list() == sorted(versions)


def test_rekey_of_in_memory_key_and_custom_storage_returns_the_new_key() -> None:
    blob = MemoryBlob()
    store = LocalEncryptedSecrets(key=crypto.generate_key(), storage=blob)
    _fill(store)
    new_key = store.rekey()
    assert new_key is not None
    assert len(LocalEncryptedSecrets(key=new_key, storage=blob).list()) == 20


def test_another_process_rekeying_is_followed_through_the_key_file(tmp_path: Path) -> None:
    reader = LocalEncryptedSecrets(tmp_path / "s.enc")
    reader.set("a", "1")
    LocalEncryptedSecrets(tmp_path / "s.enc").rekey()
    assert reader.get("a").value == "1"


def test_rekey_interrupted_before_the_key_file_moved_is_recovered(tmp_path: Path) -> None:
    store = LocalEncryptedSecrets(tmp_path / "s.enc")
    store.set("a", "1")
    # What a crash between writing the store and moving the new key file leaves behind:
    new_key = crypto.generate_key()
    crypto.write_key_file(tmp_path / "s.enc.key.new", new_key)
    plaintext = crypto.decrypt((tmp_path / "s.enc").read_bytes(), key=crypto.load_key_file(tmp_path / "s.enc.key"))
    (tmp_path / "s.enc").write_bytes(crypto.encrypt(plaintext, key=new_key))
    recovered = LocalEncryptedSecrets(tmp_path / "s.enc")
    assert recovered.get("a").value == "1"
    assert crypto.load_key_file(tmp_path / "s.enc.key") == new_key
    assert not (tmp_path / "s.enc.key.new").exists()


# -- several processes -----------------------------------------------------------------------------


def _writer(path: str, keys: list[str]) -> None:
    store = LocalEncryptedSecrets(path)  # default key file: the first writer creates it, the rest share it
    for key in keys:
        store.set(key, f"value-of-{key}")


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.sets(st.from_regex(r"[a-z]{1,8}", fullmatch=True), min_size=1, max_size=6), min_size=3, max_size=4))
def test_concurrent_writers_in_several_processes_lose_no_entry(tmp_path: Path, key_sets: list[set[str]]) -> None:
    folder = tmp_path / os.urandom(4).hex()
    folder.mkdir()
    path = str(folder / "shared.enc")
    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=_writer, args=(path, [f"p{index}-{key}" for key in sorted(keys)]))
               for index, keys in enumerate(key_sets)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
        assert worker.exitcode == 0
    expected = {f"p{index}-{key}" for index, keys in enumerate(key_sets) for key in keys}
    store = LocalEncryptedSecrets(path)
    assert set(store.list()) == expected
    assert all(store.get(key).value == f"value-of-{key}" for key in expected)


def test_file_storage_is_stamped_and_atomic(tmp_path: Path) -> None:
    storage = FileBlobStorage(tmp_path / "deep" / "blob")
    assert isinstance(storage, StampedBlobStorage)
    assert storage.read() is None and storage.stamp() is None
    storage.write(b"one")
    first = storage.stamp()
    storage.write(b"two")
    assert storage.read() == b"two" and storage.stamp() != first
    assert sorted(p.name for p in (tmp_path / "deep").iterdir()) == ["blob"]  # no temp files left
    with storage.lock():
        pass


def test_versions_unsupported_by_the_env_provider_is_a_clear_error() -> None:
    from config_manager.providers.env import EnvironmentSecrets

    with pytest.raises(UnsupportedOperationError, match="env"):
        EnvironmentSecrets(environ={"A": "1"}).versions("A")


def test_set_many_writes_once_and_keeps_versions(tmp_path: Path) -> None:
    blob = MemoryBlob()
    store = LocalEncryptedSecrets(key=crypto.generate_key(), storage=blob)
    store.set("a", "old")
    stored = store.set_many({"a": "new", "b": "1", "c": {"x": 1}}, {"batch": "yes"})
    assert blob.writes == 2
    assert [secret.version for secret in stored] == ["2", "1", "1"]
    assert store.get("a", version="1").value == "old" and store.metadata("c") == {"batch": "yes"}
    with pytest.raises(ConfigurationError):
        store.set_many({"": "x"})
    assert blob.writes == 2
