"""``EncryptedFileSource``: a configuration file encrypted in the ``config_manager.crypto`` format.

The file's key is itself a secret in a ``SecretsManager`` (``decryption_key_name``). The file's header
says whether it was encrypted with a raw key or a passphrase: a raw key secret holds the 32 bytes, or
their base64 / hex text; a passphrase secret holds the passphrase. The decrypted text is JSON or YAML
(or any format of ``formats``; by default JSON when it starts with ``{``, YAML otherwise).

To make such a file: ``write_encrypted_config(path, data, key=...)`` with a key you hold, or
``EncryptedFileSource(...).save(data)`` with the key from the manager, which creates a new random key
secret when ``create_key=True`` and none exists yet.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path
from typing import Any

from .. import crypto
from ..errors import ConfigurationError, DecryptionError, SourceError
from ..masking import secret_paths as detect_secret_paths
from ..providers.file_storage import FileBlobStorage
from ..secrets.manager import SecretsManager
from .base import FileSource, decode_text
from .formats import format_for_path, render
from .tree import flatten


def key_from_secret(value: Any) -> bytes | None:
    """32 key bytes from a secret value (bytes, or base64 / hex text), or None if it holds no such key."""
    if isinstance(value, (bytes, bytearray)):
        return crypto.decode_key(bytes(value))
    if isinstance(value, str):
        return crypto.decode_key(value.encode())
    return None


def write_encrypted_config(path: str | os.PathLike[str], data: dict[str, Any], *, key: bytes | None = None,
                           passphrase: str | None = None, fmt: str = "json",
                           kdf: crypto.PassphraseKdf | None = None) -> None:
    """Encrypt ``data`` rendered as ``fmt`` into ``path`` (atomic replace, mode 0600)."""
    text = render(data, fmt)
    FileBlobStorage(path).write(crypto.encrypt(text.encode("utf-8"), key=key, passphrase=passphrase, kdf=kdf))


class EncryptedFileSource(FileSource):
    """An encrypted configuration file whose key is the secret ``decryption_key_name``.

    ``mask_all``: treat every value of the file as secret in display (default: mask by name).
    """

    def __init__(self, file_path: str | os.PathLike[str], secrets_manager: SecretsManager | None = None,
                 decryption_key_name: str = "config_encryption_key", *, fmt: str | None = None,
                 provider_name: str | None = None, optional: bool = False, mask_all: bool = False) -> None:
        self._explicit_format = fmt or format_for_path(Path(file_path))
        super().__init__(file_path, self._explicit_format or "json", optional=optional)
        if not decryption_key_name:
            raise ConfigurationError("decryption_key_name must name a secret")
        self.secrets_manager = secrets_manager
        self.decryption_key_name = decryption_key_name
        self.provider_name = provider_name
        self.mask_all = mask_all
        self._secret_paths: set[str] = set()

    def describe(self) -> str:
        return f"EncryptedFileSource({str(self.path)!r}, key secret {self.decryption_key_name!r})"

    def bind(self, secrets_manager: SecretsManager) -> None:
        if self.secrets_manager is None:
            self.secrets_manager = secrets_manager

    def _manager(self) -> SecretsManager:
        if self.secrets_manager is None:
            raise ConfigurationError(f"{self.describe()} needs a secrets manager holding its key")
        return self.secrets_manager

    def _key_material(self, header: crypto.Header | None) -> tuple[bytes | None, str | None]:
        secret = self._manager().get_secret(self.decryption_key_name, self.provider_name)
        if secret is None:
            raise SourceError(f"cannot open '{self.path}': key secret '{self.decryption_key_name}' does not exist")
        wants_passphrase = header is not None and not isinstance(header.kdf, crypto.RawKey)
        if wants_passphrase:
            if not isinstance(secret.value, str) or not secret.value:
                raise SourceError(f"'{self.path}' needs a passphrase; secret '{self.decryption_key_name}' holds none")
            return None, secret.value
        key = key_from_secret(secret.value)
        if key is None:
            if header is None and isinstance(secret.value, str) and secret.value:
                return None, secret.value  # writing a new file: a non-key string is a passphrase
            raise SourceError(
                f"secret '{self.decryption_key_name}' does not hold a 32-byte key (raw, base64 or hex) for '{self.path}'"
            )
        return key, None

    def load(self) -> dict[str, Any]:
        blob = self.read_bytes()
        if blob is None:
            return {}
        try:
            parsed = crypto.parse(blob)
            key, passphrase = self._key_material(parsed.header)
            plaintext = crypto.decrypt(blob, key=key, passphrase=passphrase)
        except DecryptionError as exc:
            raise SourceError(f"cannot decrypt '{self.path}': {exc}") from exc
        fmt = self._explicit_format or ("json" if plaintext.lstrip().startswith(b"{") else "yaml")
        data = decode_text(plaintext, fmt, self.encoding, f"decrypted {self.path}")
        self._secret_paths = set(flatten(data)) if self.mask_all else detect_secret_paths(data)
        return data

    def secret_paths(self) -> set[str]:
        return set(self._secret_paths)

    def save(self, data: dict[str, Any], *, create_key: bool = False, fmt: str | None = None) -> None:
        """Encrypt ``data`` into the file with the key secret (a new random key with ``create_key``)."""
        manager = self._manager()
        if create_key and manager.get_secret(self.decryption_key_name, self.provider_name) is None:
            new_key = crypto.generate_key()
            manager.set_secret(self.decryption_key_name, base64.b64encode(new_key).decode("ascii"),
                               self.provider_name, {"purpose": f"encryption key of {self.path.name}"})
        key, passphrase = self._key_material(None)
        write_encrypted_config(self.path, data, key=key, passphrase=passphrase,
                               fmt=fmt or self._explicit_format or "json")

    @classmethod
    def create(cls, file_path: str | os.PathLike[str], data: dict[str, Any], secrets_manager: SecretsManager,
               decryption_key_name: str, **options: Any) -> EncryptedFileSource:
        """Write ``data`` encrypted to ``file_path`` (creating the key secret if needed) and return its source."""
        source = cls(file_path, secrets_manager, decryption_key_name, **options)
        source.save(data, create_key=True)
        return source
