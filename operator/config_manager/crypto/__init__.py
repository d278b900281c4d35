"""The encrypted document format: AES-256-GCM with a versioned, authenticated header.

Used by the local provider for its store, by ``EncryptedFileSource`` for encrypted configuration
files, and by the operator on bytes held in a Kubernetes Secret. The public functions are
``encrypt`` / ``decrypt`` / ``generate_key`` and the key-file helpers; ``DataKey`` with
``derive_data_key`` / ``data_key_for`` / ``seal`` / ``open_parsed`` serve callers that write the same
document repeatedly under a passphrase and must pay the KDF once. See ``format`` for the byte layout.
"""

from .envelope import DataKey, data_key_for, decrypt, derive_data_key, encrypt, generate_key, open_parsed, seal
from .format import FORMAT_VERSION, Header, Parsed, looks_encrypted, parse
from .kdf import KEY_SIZE, SALT_SIZE, Kdf, PassphraseKdf, Pbkdf2, RawKey, Scrypt
from .keyfile import create_key_file, decode_key, load_key_file, load_or_create_key_file, write_key_file

__all__ = [
    "FORMAT_VERSION",
    "KEY_SIZE",
    "SALT_SIZE",
    "DataKey",
    "Header",
    "Kdf",
    "Parsed",
    "PassphraseKdf",
    "Pbkdf2",
    "RawKey",
    "Scrypt",
    "create_key_file",
    "data_key_for",
    "decode_key",
    "decrypt",
    "derive_data_key",
    "encrypt",
    "generate_key",
    "load_key_file",
    "load_or_create_key_file",
    "looks_encrypted",
    "open_parsed",
    "parse",
    "seal",
    "write_key_file",
]
