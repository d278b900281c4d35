"""The binary layout of an encrypted document, version 1.

One place that knows the bytes, so the format can evolve (a new version number) without touching the
code that encrypts. Every field before the ciphertext is fed to AES-GCM as associated data, so a
change to any of them (KDF, cost, salt, key id, nonce) makes decryption fail authentication.

Layout (big-endian)::

    offset size  field
         0    4  magic  b"CMEF"
         4    1  format version (1)
         5    1  KDF id (0 raw key + HKDF-SHA256, 1 PBKDF2-HMAC-SHA256, 2 scrypt)
         6   12  KDF parameters: three u32 (pbkdf2: iterations,0,0; scrypt: log2 N,r,p; raw: 0,0,0)
        18   16  salt (random per document for new documents)
        34    8  key id (HMAC-SHA256 of the key, truncated; tells keys apart, reveals nothing)
        42   12  nonce (random per encryption)
        54    n  AES-256-GCM ciphertext followed by its 16-byte tag
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Final

from ..errors import DecryptionError
from .kdf import SALT_SIZE, Kdf, kdf_from_header

MAGIC: Final = b"CMEF"
FORMAT_VERSION: Final = 1
NONCE_SIZE: Final = 12
TAG_SIZE: Final = 16

_HEADER = struct.Struct(">4sBB3I16s8s")
HEADER_SIZE: Final = _HEADER.size  # 42
PREFIX_SIZE: Final = HEADER_SIZE + NONCE_SIZE  # header + nonce: everything authenticated as associated data
MIN_SIZE: Final = PREFIX_SIZE + TAG_SIZE


@dataclass(frozen=True)
class Header:
    """What a document says about itself; none of it is secret."""

    kdf: Kdf
    salt: bytes
    key_id: bytes
    version: int = FORMAT_VERSION

    def pack(self) -> bytes:
        if len(self.salt) != SALT_SIZE or len(self.key_id) != 8:
            raise ValueError("salt must be 16 bytes and key id 8 bytes")
        return _HEADER.pack(MAGIC, self.version, self.kdf.kdf_id, *self.kdf.params(), self.salt, self.key_id)


@dataclass(frozen=True)
class Parsed:
    """A document split into its parts. ``associated_data`` is header + nonce, as authenticated."""

    header: Header
    nonce: bytes
    associated_data: bytes
    ciphertext: bytes


def looks_encrypted(blob: bytes) -> bool:
    """True when ``blob`` starts with our magic (any version)."""
    return blob[: len(MAGIC)] == MAGIC


def parse(blob: bytes) -> Parsed:
    """Split a document; anything not a well-formed version-1 document is a ``DecryptionError``."""
    if not isinstance(blob, (bytes, bytearray, memoryview)):
        raise DecryptionError(f"encrypted data must be bytes, got {type(blob).__name__}")
    blob = bytes(blob)
    if len(blob) < len(MAGIC) or not looks_encrypted(blob):
        raise DecryptionError("not a config-manager encrypted document (magic bytes missing)")
    if len(blob) < HEADER_SIZE:
        raise DecryptionError(f"encrypted document truncated: {len(blob)} bytes, the header alone needs {HEADER_SIZE}")
    magic, version, kdf_id, p1, p2, p3, salt, key_id = _HEADER.unpack_from(blob)
    if version != FORMAT_VERSION:
        raise DecryptionError(
            f"unsupported encrypted document format version {version} (this library reads version {FORMAT_VERSION})"
        )
    if len(blob) < MIN_SIZE:
        raise DecryptionError(f"encrypted document truncated: {len(blob)} bytes, at least {MIN_SIZE} expected")
    kdf = kdf_from_header(kdf_id, (p1, p2, p3))
    return Parsed(
        header=Header(kdf=kdf, salt=salt, key_id=key_id, version=version),
        nonce=blob[HEADER_SIZE:PREFIX_SIZE],
        associated_data=blob[:PREFIX_SIZE],
        ciphertext=blob[PREFIX_SIZE:],
    )
