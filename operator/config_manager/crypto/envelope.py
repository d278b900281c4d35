"""Encrypt and decrypt whole documents: AES-256-GCM under a raw key or a passphrase-derived key.

This is the API the rest of the package uses (the local provider, encrypted config files, and the
operator on bytes held in a Kubernetes Secret): ``encrypt`` / ``decrypt`` / ``generate_key``, plus
``DataKey`` for callers that write the same document many times and must not pay the passphrase KDF on
every write (derive once, then ``seal`` repeatedly: the salt is reused, the nonce is always fresh).

Every failure to open a document is a ``DecryptionError`` whose message says what is wrong (not our
format, unsupported version, truncated, wrong key, modified) and never contains key or plaintext bytes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ..errors import ConfigurationError, DecryptionError
from .format import NONCE_SIZE, Header, Parsed, parse
from .kdf import (
    KEY_SIZE,
    SALT_SIZE,
    Kdf,
    PassphraseKdf,
    Pbkdf2,
    RawKey,
    derive_from_passphrase,
    hkdf_sha256,
    key_id,
)

_SUBKEY_INFO = b"config-manager/document-key/v1"


def generate_key() -> bytes:
    """A new random 32-byte key from the operating system's CSPRNG."""
    return os.urandom(KEY_SIZE)


@dataclass(frozen=True, repr=False, eq=False)
class DataKey:
    """The AES key for documents with one salt and KDF, with what goes into their header.

    ``repr`` shows the KDF and key id only.
    """

    aes_key: bytes
    kdf: Kdf
    salt: bytes
    key_id: bytes

    def __repr__(self) -> str:
        return f"DataKey(kdf={self.kdf.name!r}, key_id={self.key_id.hex()!r})"

    __str__ = __repr__

    @property
    def header(self) -> Header:
        return Header(kdf=self.kdf, salt=self.salt, key_id=self.key_id)


def _check_key(key: bytes) -> bytes:
    if not isinstance(key, (bytes, bytearray)) or len(key) != KEY_SIZE:
        size = len(key) if isinstance(key, (bytes, bytearray)) else type(key).__name__
        raise ConfigurationError(f"key must be {KEY_SIZE} bytes, got {size}")
    return bytes(key)


def _one_of(key: bytes | None, passphrase: str | None) -> None:
    if (key is None) == (passphrase is None):
        raise ConfigurationError("give exactly one of key= or passphrase=")


def derive_data_key(
    *,
    key: bytes | None = None,
    passphrase: str | None = None,
    kdf: PassphraseKdf | None = None,
    salt: bytes | None = None,
) -> DataKey:
    """A ``DataKey`` for new documents. A fresh random salt unless one is given.

    ``kdf`` applies to passphrases only (default PBKDF2-HMAC-SHA256, 600,000 iterations).
    """
    _one_of(key, passphrase)
    salt = os.urandom(SALT_SIZE) if salt is None else salt
    if len(salt) != SALT_SIZE:
        raise ConfigurationError(f"salt must be {SALT_SIZE} bytes")
    if key is not None:
        if kdf is not None:
            raise ConfigurationError("kdf= applies to passphrases only, not to a raw key")
        raw = _check_key(key)
        return DataKey(aes_key=hkdf_sha256(raw, salt, _SUBKEY_INFO), kdf=RawKey(), salt=salt, key_id=key_id(raw))
    assert passphrase is not None
    chosen: PassphraseKdf = kdf if kdf is not None else Pbkdf2()
    master = derive_from_passphrase(passphrase, salt, chosen)
    return DataKey(aes_key=master, kdf=chosen, salt=salt, key_id=key_id(master))


def data_key_for(header: Header, *, key: bytes | None = None, passphrase: str | None = None) -> DataKey:
    """The ``DataKey`` that opens documents with ``header``; a ``DecryptionError`` if ours cannot."""
    _one_of(key, passphrase)
    if isinstance(header.kdf, RawKey):
        if key is None:
            raise DecryptionError("document is encrypted with a raw key, but a passphrase was given")
        data_key = derive_data_key(key=key, salt=header.salt)
    else:
        if passphrase is None:
            raise DecryptionError(f"document is encrypted with a passphrase ({header.kdf.name}), but a raw key was given")
        data_key = derive_data_key(passphrase=passphrase, kdf=header.kdf, salt=header.salt)
    if data_key.key_id != header.key_id:
        raise DecryptionError(
            f"wrong key: the document was encrypted with key id {header.key_id.hex()}, "
            f"the given {'key' if key is not None else 'passphrase'} has key id {data_key.key_id.hex()}"
        )
    return data_key


def seal(plaintext: bytes, data_key: DataKey) -> bytes:
    """Encrypt ``plaintext`` into a document under ``data_key`` with a fresh random nonce."""
    if not isinstance(plaintext, (bytes, bytearray, memoryview)):
        raise ConfigurationError(f"plaintext must be bytes, got {type(plaintext).__name__}")
    nonce = os.urandom(NONCE_SIZE)
    associated = data_key.header.pack() + nonce
    return associated + AESGCM(data_key.aes_key).encrypt(nonce, bytes(plaintext), associated)


def open_parsed(parsed: Parsed, data_key: DataKey) -> bytes:
    """Decrypt an already parsed document with a key obtained from ``data_key_for``."""
    if data_key.key_id != parsed.header.key_id or data_key.salt != parsed.header.salt:
        raise DecryptionError("wrong key: the key id or salt of the document does not match the key")
    try:
        return AESGCM(data_key.aes_key).decrypt(parsed.nonce, parsed.ciphertext, parsed.associated_data)
    except InvalidTag:
        raise DecryptionError(
            "authentication failed: the encrypted document was modified or truncated, or the key is wrong"
        ) from None


def encrypt(
    plaintext: bytes,
    *,
    key: bytes | None = None,
    passphrase: str | None = None,
    kdf: PassphraseKdf | None = None,
) -> bytes:
    """Encrypt ``plaintext`` with a 32-byte ``key`` or a ``passphrase`` (exactly one).

    Each call uses a fresh 16-byte salt and 96-bit nonce, so encrypting twice gives different bytes.
    With a passphrase each call pays the KDF; use ``derive_data_key`` + ``seal`` to write repeatedly.
    """
    return seal(plaintext, derive_data_key(key=key, passphrase=passphrase, kdf=kdf))


def decrypt(blob: bytes, *, key: bytes | None = None, passphrase: str | None = None) -> bytes:
    """Decrypt a document made by ``encrypt``; any problem is a ``DecryptionError`` that says which."""
    parsed = parse(blob)
    return open_parsed(parsed, data_key_for(parsed.header, key=key, passphrase=passphrase))
