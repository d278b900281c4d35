"""Key derivation: turn a passphrase (or a raw key) into the 32-byte key that encrypts a document.

Kept apart from the container format so the choice of KDF and its cost is one small, testable place.
The parameters chosen here are written into every document's header, so a document always says how
its key was derived and old documents stay readable when the defaults change.

Defaults follow OWASP's password-storage guidance: PBKDF2-HMAC-SHA256 with 600,000 iterations, or
scrypt with N=2**17, r=8, p=1. Lower costs are accepted as parameters (tests use them) but never chosen
by default. When reading, costs far above the defaults are refused, so a crafted header cannot make
us spend minutes or gigabytes before the authentication check fails.
"""

from __future__ import annotations

import hashlib
import hmac
import unicodedata
from dataclasses import dataclass
from typing import ClassVar, Final

from ..errors import ConfigurationError, DecryptionError

KEY_SIZE: Final = 32
SALT_SIZE: Final = 16

KDF_RAW: Final = 0
KDF_PBKDF2_SHA256: Final = 1
KDF_SCRYPT: Final = 2

DEFAULT_PBKDF2_ITERATIONS: Final = 600_000
MAX_PBKDF2_ITERATIONS: Final = 10_000_000
DEFAULT_SCRYPT_LOG2_N: Final = 17
MAX_SCRYPT_LOG2_N: Final = 22
MAX_SCRYPT_R: Final = 32
MAX_SCRYPT_P: Final = 16
MAX_SCRYPT_MEMORY: Final = 1 << 30  # bytes; 128 * N * r must stay below this


@dataclass(frozen=True)
class RawKey:
    """No derivation: the caller holds a random 32-byte key. A per-document subkey is made with HKDF."""

    kdf_id: ClassVar[int] = KDF_RAW

    @property
    def name(self) -> str:
        return "raw-key"

    def params(self) -> tuple[int, int, int]:
        return (0, 0, 0)


@dataclass(frozen=True)
class Pbkdf2:
    """PBKDF2-HMAC-SHA256. ``iterations`` below 600,000 is for tests only."""

    iterations: int = DEFAULT_PBKDF2_ITERATIONS
    kdf_id: ClassVar[int] = KDF_PBKDF2_SHA256

    def __post_init__(self) -> None:
        if not 1 <= self.iterations <= MAX_PBKDF2_ITERATIONS:
            raise ConfigurationError(
                f"pbkdf2 iterations must be between 1 and {MAX_PBKDF2_ITERATIONS}, got {self.iterations}"
            )

    @property
    def name(self) -> str:
        return "pbkdf2-sha256"

    def params(self) -> tuple[int, int, int]:
        return (self.iterations, 0, 0)


@dataclass(frozen=True)
class Scrypt:
    """scrypt with N = 2**log2_n. Memory used is 128 * N * r bytes (128 MiB with the defaults)."""

    log2_n: int = DEFAULT_SCRYPT_LOG2_N
    r: int = 8
    p: int = 1
    kdf_id: ClassVar[int] = KDF_SCRYPT

    def __post_init__(self) -> None:
        if not (1 <= self.log2_n <= MAX_SCRYPT_LOG2_N and 1 <= self.r <= MAX_SCRYPT_R and 1 <= self.p <= MAX_SCRYPT_P):
            raise ConfigurationError(
                f"scrypt parameters out of range: log2_n 1..{MAX_SCRYPT_LOG2_N}, r 1..{MAX_SCRYPT_R}, "
                f"p 1..{MAX_SCRYPT_P} (got {self.log2_n}, {self.r}, {self.p})"
            )
        if self.memory_bytes() > MAX_SCRYPT_MEMORY:
            raise ConfigurationError(f"scrypt parameters need {self.memory_bytes()} bytes, more than {MAX_SCRYPT_MEMORY}")

    @property
    def name(self) -> str:
        return "scrypt"

    def memory_bytes(self) -> int:
        return 128 * (1 << self.log2_n) * self.r

    def params(self) -> tuple[int, int, int]:
        return (self.log2_n, self.r, self.p)


Kdf = RawKey | Pbkdf2 | Scrypt
PassphraseKdf = Pbkdf2 | Scrypt


def kdf_from_header(kdf_id: int, params: tuple[int, int, int]) -> Kdf:
    """Rebuild the KDF description stored in a header; unknown ids or absurd costs are DecryptionErrors."""
    try:
        if kdf_id == KDF_RAW:
            if params != (0, 0, 0):
                raise DecryptionError("malformed header: raw-key documents carry no KDF parameters")
            return RawKey()
        if kdf_id == KDF_PBKDF2_SHA256:
            if params[1:] != (0, 0):
                raise DecryptionError("malformed header: unexpected pbkdf2 parameters")
            return Pbkdf2(iterations=params[0])
        if kdf_id == KDF_SCRYPT:
            return Scrypt(log2_n=params[0], r=params[1], p=params[2])
    except ConfigurationError as exc:
        raise DecryptionError(f"header KDF parameters refused: {exc}") from None
    raise DecryptionError(f"unknown KDF id {kdf_id} in header (known: 0 raw key, 1 pbkdf2-sha256, 2 scrypt)")


def normalise_passphrase(passphrase: str) -> bytes:
    """NFC-normalised UTF-8, so the same passphrase typed on different systems gives the same key."""
    if not isinstance(passphrase, str) or not passphrase:
        raise ConfigurationError("passphrase must be a non-empty string")
    return unicodedata.normalize("NFC", passphrase).encode("utf-8")


def derive_from_passphrase(passphrase: str, salt: bytes, kdf: PassphraseKdf) -> bytes:
    """The 32-byte key for ``passphrase`` under ``kdf`` and ``salt``."""
    secret = normalise_passphrase(passphrase)
    if isinstance(kdf, Pbkdf2):
        return hashlib.pbkdf2_hmac("sha256", secret, salt, kdf.iterations, dklen=KEY_SIZE)
    return hashlib.scrypt(
        secret, salt=salt, n=1 << kdf.log2_n, r=kdf.r, p=kdf.p, maxmem=kdf.memory_bytes() + (1 << 20), dklen=KEY_SIZE
    )


def hkdf_sha256(key: bytes, salt: bytes, info: bytes, length: int = KEY_SIZE) -> bytes:
    """HKDF (RFC 5869) with SHA-256: a per-document subkey from a raw key and the document's salt."""
    prk = hmac.new(salt, key, hashlib.sha256).digest()
    out, block, counter = b"", b"", 1
    while len(out) < length:
        block = hmac.new(prk, block + info + bytes([counter]), hashlib.sha256).digest()
        out += block
        counter += 1
    return out[:length]


def key_id(key: bytes) -> bytes:
    """An 8-byte identifier of a key, safe to store and show: it tells keys apart without revealing them."""
    return hmac.new(key, b"config-manager/key-id/v1", hashlib.sha256).digest()[:8]
