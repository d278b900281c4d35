"""Key files: a 32-byte random key on disk, created atomically with mode 0600, loaded with clear errors.

A key file holds the raw 32 bytes. For keys that travelled through text channels (a Kubernetes Secret,
a CI variable) loading also accepts the key as base64 or hex text. Creating never replaces an existing
file unless asked to: two processes that race to create the same key file end up sharing the one that
won, instead of each encrypting with its own key.
"""

from __future__ import annotations

import base64
import binascii
import logging
import os
import stat
from pathlib import Path

from ..errors import ConfigurationError
from .envelope import generate_key
from .kdf import KEY_SIZE

log = logging.getLogger(__name__)

StrPath = str | os.PathLike[str]


def fsync_directory(directory: Path) -> None:
    """Make a rename or link in ``directory`` durable (a no-op where directories cannot be opened)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _write_private_temp(directory: Path, name: str, data: bytes) -> Path:
    """Write ``data`` to a new 0600 file beside the target and fsync it; return its path."""
    temp = directory / f".{name}.{os.getpid()}.{generate_key()[:6].hex()}.tmp"
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return temp


def write_key_file(path: StrPath, key: bytes, *, overwrite: bool = False) -> None:
    """Store ``key`` at ``path`` (mode 0600) atomically. ``FileExistsError`` if it exists and not ``overwrite``."""
    if not isinstance(key, bytes) or len(key) != KEY_SIZE:
        raise ConfigurationError(f"a key file holds a {KEY_SIZE}-byte key")
    target = Path(path)
    directory = target.parent if str(target.parent) else Path(".")
    try:
        temp = _write_private_temp(directory, target.name, key)
    except OSError as exc:
        raise ConfigurationError(f"cannot create key file '{target}': {exc.strerror}") from exc
    try:
        if overwrite:
            os.replace(temp, target)
        else:
            os.link(temp, target)  # atomic and never replaces: raises FileExistsError
    finally:
        temp.unlink(missing_ok=True)
    fsync_directory(directory)


def create_key_file(path: StrPath, *, overwrite: bool = False) -> bytes:
    """Create a key file with a new random key and return the key.

    Raises ``ConfigurationError`` when the file exists (unless ``overwrite``): an existing key may be the
    only way to open data encrypted with it.
    """
    key = generate_key()
    try:
        write_key_file(path, key, overwrite=overwrite)
    except FileExistsError:
        raise ConfigurationError(f"key file '{path}' already exists; refusing to replace it") from None
    return key


def load_or_create_key_file(path: StrPath) -> tuple[bytes, bool]:
    """Load the key at ``path``, creating it first if absent. Returns (key, created). Safe across processes."""
    try:
        key = generate_key()
        write_key_file(path, key)
        return key, True
    except FileExistsError:
        return load_key_file(path), False


def decode_key(data: bytes) -> bytes | None:
    """32 key bytes from raw bytes or from hex / base64 (standard or URL-safe) text; None otherwise."""
    if len(data) == KEY_SIZE:
        return data
    text = data.strip()
    if len(text) == 2 * KEY_SIZE:
        try:
            return bytes.fromhex(text.decode("ascii"))
        except (UnicodeDecodeError, ValueError):
            pass
    for altchars in (None, b"-_"):
        try:
            decoded = base64.b64decode(text, altchars=altchars, validate=True)
        except (binascii.Error, ValueError):
            continue
        if len(decoded) == KEY_SIZE:
            return decoded
    return None


def load_key_file(path: StrPath) -> bytes:
    """Read a 32-byte key (raw, base64 or hex). Clear ``ConfigurationError`` for every way this can fail."""
    target = Path(path)
    try:
        info = target.stat()
        if stat.S_ISDIR(info.st_mode):
            raise ConfigurationError(f"key file '{target}' is a directory")
        data = target.read_bytes()
    except FileNotFoundError:
        raise ConfigurationError(f"key file '{target}' does not exist") from None
    except PermissionError:
        raise ConfigurationError(f"key file '{target}' is not readable by this process") from None
    except OSError as exc:
        raise ConfigurationError(f"cannot read key file '{target}': {exc.strerror}") from None
    if info.st_mode & 0o077:
        log.warning("key file %s is accessible to group or others (mode %o); run chmod 600 on it",
                    target, stat.S_IMODE(info.st_mode))
    key = decode_key(data)
    if key is None:
        raise ConfigurationError(
            f"key file '{target}' does not hold a {KEY_SIZE}-byte key ({len(data)} bytes found; expected "
            f"{KEY_SIZE} raw bytes, or the key as base64 or hex text)"
        )
    return key
