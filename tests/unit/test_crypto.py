"""The encrypted document format: round trips, tamper and truncation detection, KDFs, key files."""

from __future__ import annotations

import os
import stat
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from config_manager import crypto
from config_manager.crypto import format as fmt
from config_manager.errors import ConfigurationError, DecryptionError

FAST = crypto.Pbkdf2(iterations=1_000)  # test-only cost; the default is checked below
KEY = bytes(range(32))
OTHER_KEY = bytes(range(1, 33))


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=4096))
def test_raw_key_round_trip_for_any_bytes(plaintext: bytes) -> None:
    assert crypto.decrypt(crypto.encrypt(plaintext, key=KEY), key=KEY) == plaintext


@settings(max_examples=25, deadline=None)
@given(st.binary(max_size=512), st.text(min_size=1, max_size=40))
def test_passphrase_round_trip_for_any_bytes_and_passphrase(plaintext: bytes, passphrase: str) -> None:
    blob = crypto.encrypt(plaintext, passphrase=passphrase, kdf=FAST)
    assert crypto.decrypt(blob, passphrase=passphrase) == plaintext


# A document whose KDF parameters are flipped may ask for millions of iterations before failing; these
# tests flip bits with a raw key, where every position is cheap, and check passphrase headers apart.
_SAMPLE = crypto.encrypt(b"the quick brown fox " * 8, key=KEY)


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_any_flipped_bit_is_rejected(data: st.DataObject) -> None:
    position = data.draw(st.integers(0, len(_SAMPLE) * 8 - 1))
    tampered = bytearray(_SAMPLE)
    tampered[position // 8] ^= 1 << (position % 8)
    with pytest.raises(DecryptionError):
        crypto.decrypt(bytes(tampered), key=KEY)


def test_every_single_bit_flip_is_rejected_exhaustively() -> None:
    blob = crypto.encrypt(b"x" * 20, key=KEY)
    for position in range(len(blob) * 8):
        tampered = bytearray(blob)
        tampered[position // 8] ^= 1 << (position % 8)
        with pytest.raises(DecryptionError):
            crypto.decrypt(bytes(tampered), key=KEY)


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_any_truncation_is_rejected(data: st.DataObject) -> None:
    cut = data.draw(st.integers(0, len(_SAMPLE) - 1))
    with pytest.raises(DecryptionError):
        crypto.decrypt(_SAMPLE[:cut], key=KEY)


def test_appended_bytes_are_rejected() -> None:
    with pytest.raises(DecryptionError):
        crypto.decrypt(_SAMPLE + b"\x00", key=KEY)


def test_passphrase_document_rejects_changed_salt_nonce_and_ciphertext() -> None:
    blob = crypto.encrypt(b"payload", passphrase="correct horse", kdf=FAST)
    for offset in (18, 30, 34, 41, 42, 53, 54, len(blob) - 1):  # salt, key id, nonce, ciphertext, tag
        tampered = bytearray(blob)
        tampered[offset] ^= 0x01
        with pytest.raises(DecryptionError):
            crypto.decrypt(bytes(tampered), passphrase="correct horse")


def test_passphrase_document_rejects_changed_iteration_count() -> None:
    blob = bytearray(crypto.encrypt(b"payload", passphrase="pw", kdf=FAST))
    struct.pack_into(">I", blob, 6, 1_001)
    with pytest.raises(DecryptionError):
        crypto.decrypt(bytes(blob), passphrase="pw")


def test_absurd_kdf_cost_in_a_header_is_refused_before_deriving() -> None:
    blob = bytearray(crypto.encrypt(b"payload", passphrase="pw", kdf=FAST))
    struct.pack_into(">I", blob, 6, 0xFFFFFFFF)
    with pytest.raises(DecryptionError, match="iterations"):
        crypto.decrypt(bytes(blob), passphrase="pw")


def test_wrong_key_and_wrong_passphrase_say_so() -> None:
    with pytest.raises(DecryptionError, match="wrong key"):
        crypto.decrypt(crypto.encrypt(b"x", key=KEY), key=OTHER_KEY)
    with pytest.raises(DecryptionError, match="wrong key"):
        crypto.decrypt(crypto.encrypt(b"x", passphrase="a", kdf=FAST), passphrase="b")


def test_key_kind_mismatch_is_explained() -> None:
    with pytest.raises(DecryptionError, match="passphrase"):
        crypto.decrypt(crypto.encrypt(b"x", passphrase="a", kdf=FAST), key=KEY)
    with pytest.raises(DecryptionError, match="raw key"):
        crypto.decrypt(crypto.encrypt(b"x", key=KEY), passphrase="a")


def test_unknown_format_and_version_are_named() -> None:
    with pytest.raises(DecryptionError, match="not a config-manager encrypted document"):
        crypto.decrypt(b'{"plain": "json"}', key=KEY)
    future = bytearray(crypto.encrypt(b"x", key=KEY))
    future[4] = 2
    with pytest.raises(DecryptionError, match="version 2"):
        crypto.decrypt(bytes(future), key=KEY)
    unknown_kdf = bytearray(crypto.encrypt(b"x", key=KEY))
    unknown_kdf[5] = 9
    with pytest.raises(DecryptionError, match="unknown KDF id 9"):
        crypto.decrypt(bytes(unknown_kdf), key=KEY)


def test_every_encryption_uses_a_fresh_salt_and_nonce() -> None:
    first, second = crypto.encrypt(b"same", key=KEY), crypto.encrypt(b"same", key=KEY)
    assert first != second
    a, b = fmt.parse(first), fmt.parse(second)
    assert a.nonce != b.nonce and a.header.salt != b.header.salt
    assert len(a.nonce) == 12 and len(a.header.salt) == 16
    assert a.header.key_id == b.header.key_id  # same key, same id


def test_sealing_twice_with_one_data_key_changes_only_the_nonce() -> None:
    data_key = crypto.derive_data_key(passphrase="pw", kdf=FAST)
    first, second = crypto.seal(b"doc", data_key), crypto.seal(b"doc", data_key)
    assert first[: fmt.HEADER_SIZE] == second[: fmt.HEADER_SIZE]
    assert fmt.parse(first).nonce != fmt.parse(second).nonce
    assert crypto.decrypt(second, passphrase="pw") == b"doc"
    assert "pw" not in repr(data_key) and data_key.aes_key.hex() not in repr(data_key)


def test_header_records_the_kdf_and_its_parameters() -> None:
    pbkdf2 = fmt.parse(crypto.encrypt(b"x", passphrase="pw", kdf=crypto.Pbkdf2(iterations=1234)))
    assert pbkdf2.header.kdf == crypto.Pbkdf2(iterations=1234)
    scrypt = fmt.parse(crypto.encrypt(b"x", passphrase="pw", kdf=crypto.Scrypt(log2_n=10, r=8, p=1)))
    assert scrypt.header.kdf == crypto.Scrypt(log2_n=10, r=8, p=1)
    assert crypto.decrypt(crypto.encrypt(b"s", passphrase="pw", kdf=crypto.Scrypt(log2_n=10)), passphrase="pw") == b"s"
    assert isinstance(fmt.parse(crypto.encrypt(b"x", key=KEY)).header.kdf, crypto.RawKey)


def test_default_kdf_is_pbkdf2_with_at_least_600000_iterations() -> None:
    assert crypto.Pbkdf2().iterations >= 600_000
    assert crypto.Scrypt().log2_n >= 17
    blob = crypto.encrypt(b"x", passphrase="pw")  # pays the real cost once
    header = fmt.parse(blob).header
    assert isinstance(header.kdf, crypto.Pbkdf2) and header.kdf.iterations >= 600_000


def test_bad_arguments_are_configuration_errors() -> None:
    with pytest.raises(ConfigurationError):
        crypto.encrypt(b"x")
    with pytest.raises(ConfigurationError):
        crypto.encrypt(b"x", key=KEY, passphrase="pw")
    with pytest.raises(ConfigurationError, match="32 bytes"):
        crypto.encrypt(b"x", key=b"short")
    with pytest.raises(ConfigurationError):
        crypto.encrypt(b"x", passphrase="")


def test_generate_key_is_32_random_bytes() -> None:
    keys = {crypto.generate_key() for _ in range(50)}
    assert len(keys) == 50 and all(len(key) == 32 for key in keys)


# -- key files ------------------------------------------------------------------------------------


def test_create_key_file_is_0600_and_loadable(tmp_path) -> None:
    path = tmp_path / "k.bin"
    key = crypto.create_key_file(path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert crypto.load_key_file(path) == key
    assert [p.name for p in tmp_path.iterdir()] == ["k.bin"]  # no temp file left behind


def test_create_key_file_never_replaces_an_existing_key(tmp_path) -> None:
    path = tmp_path / "k.bin"
    key = crypto.create_key_file(path)
    with pytest.raises(ConfigurationError, match="already exists"):
        crypto.create_key_file(path)
    assert crypto.load_key_file(path) == key
    assert crypto.create_key_file(path, overwrite=True) != key


def test_load_or_create_returns_the_existing_key(tmp_path) -> None:
    path = tmp_path / "k.bin"
    first, created = crypto.load_or_create_key_file(path)
    again, created_again = crypto.load_or_create_key_file(path)
    assert (created, created_again) == (True, False) and first == again


def test_load_key_file_errors_name_the_problem(tmp_path) -> None:
    with pytest.raises(ConfigurationError, match="does not exist"):
        crypto.load_key_file(tmp_path / "missing")
    short = tmp_path / "short"
    short.write_bytes(b"0123456789")
    with pytest.raises(ConfigurationError, match="10 bytes found"):
        crypto.load_key_file(short)
    with pytest.raises(ConfigurationError, match="directory"):
        crypto.load_key_file(tmp_path)


def test_load_key_file_accepts_base64_and_hex_text(tmp_path) -> None:
    import base64

    b64 = tmp_path / "b64"
    b64.write_text(base64.b64encode(KEY).decode() + "\n")
    hexed = tmp_path / "hex"
    hexed.write_text(KEY.hex())
    assert crypto.load_key_file(b64) == KEY == crypto.load_key_file(hexed)


def test_loose_key_file_permissions_are_warned_about(tmp_path, caplog) -> None:
    path = tmp_path / "k.bin"
    crypto.write_key_file(path, KEY)
    os.chmod(path, 0o644)
    with caplog.at_level("WARNING"):
        assert crypto.load_key_file(path) == KEY
    assert "chmod 600" in caplog.text and KEY.hex() not in caplog.text
