"""The local provider: secrets in one AES-256-GCM encrypted document, in a file or any ``BlobStorage``.

The whole store is one JSON document (see ``local_document``), encrypted with ``config_manager.crypto``.
Reads decrypt once and are served from memory until the blob changes (a cheap stamp check per call);
writes are read-modify-write under the storage's lock, so several processes writing the same file lose
no entry. A blob that cannot be decrypted is never overwritten.

Keys, exactly one of:

* ``key_file``: a 32-byte key file (mode 0600). Created with a new random key when neither it nor the
  store exists yet; when the store exists but the key file does not, that is an error, not a new key.
* ``passphrase``: PBKDF2-HMAC-SHA256 (600,000 iterations) by default, or ``kdf=Scrypt()``. The KDF is
  paid once per process and salt; later writes reuse the derived key with a fresh nonce.
* ``key``: 32 bytes held by the caller (the operator passes a key from a Kubernetes Secret, together
  with ``storage=`` its own ``BlobStorage``).
* none of them, with ``secrets_file``: the key file ``<secrets_file>.key`` beside the store. Keeping the
  key beside the data protects a copy of the store, not a copy of the folder; pass ``key_file`` or a
  passphrase to keep them apart.
"""

from __future__ import annotations

import builtins
import os
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from .. import crypto
from ..crypto.kdf import normalise_passphrase
from ..crypto.keyfile import fsync_directory
from ..errors import ConfigurationError, DecryptionError, SecretNotFoundError
from .base import SecretProvider, SecretValue, utcnow
from .file_storage import FileBlobStorage
from .local_document import (
    Document,
    decode_document,
    empty_document,
    encode_document,
    find_version,
    new_version,
    to_secret_value,
    versions_of,
)
from .storage import BlobStorage

T = TypeVar("T")

DEFAULT_MAX_VERSIONS = 10
_UNKNOWN = object()

__all__ = ["DEFAULT_MAX_VERSIONS", "FileBlobStorage", "LocalEncryptedSecrets"]


class LocalEncryptedSecrets(SecretProvider):
    """Secrets in an encrypted document. See the module docstring for how the key is chosen.

    ``max_versions``: versions kept per key, current included (``versions()``, ``get(key, version)``).
    """

    provider_type = "local"

    def __init__(
        self,
        secrets_file: str | os.PathLike[str] | None = None,
        key_file: str | os.PathLike[str] | None = None,
        passphrase: str | None = None,
        *,
        key: bytes | None = None,
        storage: BlobStorage | None = None,
        kdf: crypto.PassphraseKdf | None = None,
        max_versions: int = DEFAULT_MAX_VERSIONS,
        lock_timeout: float = 30.0,
    ) -> None:
        if (secrets_file is None) == (storage is None):
            raise ConfigurationError("LocalEncryptedSecrets needs exactly one of secrets_file or storage")
        given = [name for name, item in (("key_file", key_file), ("passphrase", passphrase), ("key", key)) if item is not None]
        if len(given) > 1:
            raise ConfigurationError(f"give only one of key_file, passphrase or key (got {', '.join(given)})")
        if kdf is not None and passphrase is None:
            raise ConfigurationError("kdf= applies only with a passphrase")
        if max_versions < 1:
            raise ConfigurationError("max_versions must be at least 1")
        if passphrase is not None:
            normalise_passphrase(passphrase)  # fail early on an empty passphrase
        if key is not None and (not isinstance(key, (bytes, bytearray)) or len(key) != crypto.KEY_SIZE):
            raise ConfigurationError(f"key must be {crypto.KEY_SIZE} bytes")
        if storage is None:
            assert secrets_file is not None
            storage = FileBlobStorage(secrets_file, lock_timeout=lock_timeout)
            if not given:
                key_file = f"{os.fspath(secrets_file)}.key"
        elif not given:
            raise ConfigurationError("with storage=, give key=, passphrase= or key_file=")
        self._storage = storage
        self._key_file = Path(key_file) if key_file is not None else None
        self._raw_key = bytes(key) if key is not None else None
        self._passphrase = passphrase
        self._kdf = kdf
        self.max_versions = max_versions
        self._lock = threading.RLock()
        self._data_key: crypto.DataKey | None = None
        self._document: Document | None = None
        self._blob: bytes | None = None
        self._stamp: object = _UNKNOWN

    # -- description -------------------------------------------------------------------------------

    def __repr__(self) -> str:
        return f"LocalEncryptedSecrets({self._storage.describe()!r}, key={self._key_source()})"

    def describe(self) -> str:
        return f"local:{self._storage.describe()}"

    @property
    def storage(self) -> BlobStorage:
        return self._storage

    @property
    def key_file(self) -> Path | None:
        return self._key_file

    def _key_source(self) -> str:
        if self._passphrase is not None:
            return "passphrase"
        if self._key_file is not None:
            return f"file {str(self._key_file)!r}"
        return "in-memory key"

    # -- keys --------------------------------------------------------------------------------------

    def _pending_key_file(self) -> Path:
        assert self._key_file is not None
        return self._key_file.with_name(self._key_file.name + ".new")

    def _current_raw_key(self, *, create: bool) -> bytes:
        if self._raw_key is None:
            assert self._key_file is not None
            if create:
                self._raw_key, _ = crypto.load_or_create_key_file(self._key_file)
            elif not self._key_file.exists():
                raise ConfigurationError(
                    f"key file '{self._key_file}' does not exist, but the store '{self._storage.describe()}' does: "
                    "it cannot be opened without the key it was encrypted with"
                )
            else:
                self._raw_key = crypto.load_key_file(self._key_file)
        return self._raw_key

    def _open_header(self, header: crypto.Header) -> crypto.DataKey:
        cached = self._data_key
        if cached is not None and (cached.salt, cached.key_id, cached.kdf) == (header.salt, header.key_id, header.kdf):
            return cached
        if self._passphrase is not None:
            data_key = crypto.data_key_for(header, passphrase=self._passphrase)
        else:
            data_key = self._raw_key_for(header)
        self._data_key = data_key
        return data_key

    def _raw_key_for(self, header: crypto.Header) -> crypto.DataKey:
        try:
            return crypto.data_key_for(header, key=self._current_raw_key(create=False))
        except DecryptionError:
            if self._key_file is None:
                raise
        # The key file may have changed under us: re-keyed by another process, or a re-key that stopped
        # between writing the store and moving the new key file into place.
        self._raw_key = None
        for candidate in (self._key_file, self._pending_key_file()):
            if candidate.exists():
                try:
                    data_key = crypto.data_key_for(header, key=crypto.load_key_file(candidate))
                except DecryptionError:
                    continue
                if candidate != self._key_file:
                    os.replace(candidate, self._key_file)
                    fsync_directory(self._key_file.parent)
                self._raw_key = crypto.load_key_file(self._key_file)
                return data_key
        raise DecryptionError(
            f"cannot open '{self._storage.describe()}' with key file '{self._key_file}': "
            f"the store was encrypted with key id {header.key_id.hex()}"
        )

    def _new_data_key(self) -> crypto.DataKey:
        if self._passphrase is not None:
            return crypto.derive_data_key(passphrase=self._passphrase, kdf=self._kdf)
        return crypto.derive_data_key(key=self._current_raw_key(create=True))

    # -- the document --------------------------------------------------------------------------------

    def _decode(self, blob: bytes) -> Document:
        parsed = crypto.parse(blob)
        plaintext = crypto.open_parsed(parsed, self._open_header(parsed.header))
        return decode_document(plaintext, self._storage.describe())

    def _load(self, *, fresh: bool = False) -> Document:
        """The current document; from memory when the storage's stamp (or bytes) did not change."""
        stamp_of = getattr(self._storage, "stamp", None)
        stamp = stamp_of() if callable(stamp_of) else _UNKNOWN
        if not fresh and self._document is not None and stamp is not _UNKNOWN and stamp == self._stamp:
            return self._document
        blob = self._storage.read()
        if blob is None:
            document = empty_document()
        elif self._document is not None and blob == self._blob:
            document = self._document
        else:
            document = self._decode(blob)
        self._document, self._blob, self._stamp = document, blob, stamp
        return document

    def _write(self, document: Document, data_key: crypto.DataKey) -> None:
        blob = crypto.seal(encode_document(document), data_key)
        self._storage.write(blob)
        stamp_of = getattr(self._storage, "stamp", None)
        self._data_key = data_key
        self._document, self._blob = document, blob
        self._stamp = stamp_of() if callable(stamp_of) else _UNKNOWN

    def _mutate(self, change: Callable[[dict[str, Any]], T]) -> T:
        """Run ``change`` on a copy of the entries under the storage lock and write the result."""
        with self._lock, self._storage.lock():
            current = self._load(fresh=True)  # raises before anything is written if it cannot be opened
            entries = dict(current["entries"])
            result = change(entries)
            data_key = self._data_key if self._blob is not None and self._data_key is not None else self._new_data_key()
            self._write({**current, "entries": entries}, data_key)
            return result

    def _entries(self) -> dict[str, Any]:
        with self._lock:
            entries: dict[str, Any] = self._load()["entries"]
            return entries

    # -- SecretProvider ----------------------------------------------------------------------------------

    def get(self, key: str, version: str | None = None) -> SecretValue:
        entry = self._entries().get(key)
        if entry is None:
            raise SecretNotFoundError(key, self.provider_type)
        record = find_version(entry, version)
        if record is None:
            raise SecretNotFoundError(key, self.provider_type, version)
        return to_secret_value(key, record)

    def set(self, key: str, value: Any, metadata: Mapping[str, Any] | None = None) -> SecretValue:
        if not isinstance(key, str) or not key:
            raise ConfigurationError("secret key must be a non-empty string")

        def change(entries: dict[str, Any]) -> SecretValue:
            entry = new_version(key, entries.get(key), value, metadata, utcnow(), self.max_versions)
            entries[key] = entry
            return to_secret_value(key, entry)

        return self._mutate(change)

    def set_many(self, values: Mapping[str, Any], metadata: Mapping[str, Any] | None = None) -> builtins.list[SecretValue]:
        """Store several values in one write (one encryption, one fsync), all or nothing."""
        if any(not isinstance(key, str) or not key for key in values):
            raise ConfigurationError("secret keys must be non-empty strings")

        def change(entries: dict[str, Any]) -> builtins.list[SecretValue]:
            now = utcnow()
            stored = []
            for key, value in values.items():
                entries[key] = new_version(key, entries.get(key), value, metadata, now, self.max_versions)
                stored.append(to_secret_value(key, entries[key]))
            return stored

        return self._mutate(change)

    def delete(self, key: str) -> bool:
        if key not in self._entries():
            return False
        return self._mutate(lambda entries: entries.pop(key, None) is not None)

    def list(self, prefix: str = "") -> builtins.list[str]:
        return sorted(key for key in self._entries() if key.startswith(prefix))

    def exists(self, key: str) -> bool:
        return key in self._entries()

    def metadata(self, key: str) -> dict[str, str]:
        entry = self._entries().get(key)
        if entry is None:
            raise SecretNotFoundError(key, self.provider_type)
        return dict(entry["metadata"])

    def versions(self, key: str) -> builtins.list[str]:
        entry = self._entries().get(key)
        if entry is None:
            raise SecretNotFoundError(key, self.provider_type)
        return versions_of(entry)

    def validate(self) -> None:
        """Open the store (decrypting it) or, when it does not exist yet, check that the key is usable."""
        with self._lock:
            self._load(fresh=True)
            if self._blob is None and self._key_file is not None and self._key_file.exists():
                crypto.load_key_file(self._key_file)

    def close(self) -> None:
        with self._lock:
            self._document = self._blob = self._data_key = None
            self._stamp = _UNKNOWN

    # -- re-keying ---------------------------------------------------------------------------------

    def rekey(
        self,
        new_key: bytes | None = None,
        new_passphrase: str | None = None,
        *,
        kdf: crypto.PassphraseKdf | None = None,
    ) -> bytes | None:
        """Re-encrypt every entry (and its kept versions) under a new key, atomically.

        * ``new_passphrase``: switch to (or change) a passphrase; a key file is no longer used.
        * ``new_key``: switch to this 32-byte key; with a key file, the file is replaced by it.
        * neither: a new random key; with a key file it is written there, otherwise it is returned
          and the caller must keep it.

        With a key file the new key is first written to ``<key_file>.new``, then the store, then the
        file is moved into place, so a crash at any point leaves a store that can be opened.
        Returns the new raw key when one was generated or given, None for a passphrase.
        """
        if new_key is not None and new_passphrase is not None:
            raise ConfigurationError("give new_key or new_passphrase, not both")
        if new_key is None and new_passphrase is None and self._passphrase is not None and self._key_file is None:
            raise ConfigurationError("this store uses a passphrase: give new_passphrase (or new_key)")
        with self._lock, self._storage.lock():
            document = self._load(fresh=True)
            exists = self._blob is not None
            if new_passphrase is not None:
                data_key = crypto.derive_data_key(passphrase=new_passphrase, kdf=kdf)
                if exists:
                    self._write(document, data_key)
                self._passphrase, self._kdf, self._raw_key, self._key_file = new_passphrase, kdf, None, None
                self._data_key = data_key
                return None
            raw = bytes(new_key) if new_key is not None else crypto.generate_key()
            data_key = crypto.derive_data_key(key=raw)
            if self._key_file is not None:
                pending = self._pending_key_file()
                crypto.write_key_file(pending, raw, overwrite=True)
                if exists:
                    self._write(document, data_key)
                os.replace(pending, self._key_file)
                fsync_directory(self._key_file.parent)
            elif exists:
                self._write(document, data_key)
            self._passphrase, self._kdf, self._raw_key = None, None, raw
            self._data_key = data_key
            return raw
