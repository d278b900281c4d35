"""A ``BlobStorage`` over one file: atomic replace, durable, serialised across processes.

Writes go to a temporary file in the same folder (mode 0600), are fsynced, renamed over the target and
the folder is fsynced, so a crash leaves either the old bytes or the new ones. ``lock()`` takes a
``filelock`` lock on ``<file>.lock`` for read-modify-write cycles shared by several processes.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import filelock

from ..crypto.keyfile import fsync_directory
from ..errors import ProviderError, ProviderUnavailableError

FileStamp = tuple[int, int, int, int]


class FileBlobStorage:
    """One blob in one file. ``lock_timeout`` seconds to wait for another process's lock."""

    def __init__(self, path: str | os.PathLike[str], *, lock_timeout: float = 30.0) -> None:
        self.path = Path(path)
        self.lock_timeout = lock_timeout
        self._lock = filelock.FileLock(str(self.path) + ".lock", timeout=lock_timeout)

    def __repr__(self) -> str:
        return f"FileBlobStorage({str(self.path)!r})"

    def describe(self) -> str:
        return str(self.path)

    def _ensure_folder(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as exc:
            raise ProviderError(f"cannot create folder for '{self.path}': {exc.strerror}", "local") from exc

    def read(self) -> bytes | None:
        try:
            return self.path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise ProviderError(f"cannot read '{self.path}': {exc.strerror}", "local") from exc

    def stamp(self) -> FileStamp | None:
        try:
            info = os.stat(self.path)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise ProviderError(f"cannot stat '{self.path}': {exc.strerror}", "local") from exc
        return (info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns)

    def write(self, data: bytes) -> None:
        self._ensure_folder()
        folder = self.path.parent
        temp = folder / f".{self.path.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp"
        try:
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temp, self.path)
        except OSError as exc:
            temp.unlink(missing_ok=True)
            raise ProviderError(f"cannot write '{self.path}': {exc.strerror}", "local") from exc
        fsync_directory(folder)

    def lock(self) -> AbstractContextManager[object]:
        return self._locked()

    @contextmanager
    def _locked(self) -> Iterator[object]:
        self._ensure_folder()
        try:
            self._lock.acquire()
        except filelock.Timeout as exc:
            raise ProviderUnavailableError(
                f"timed out after {self.lock_timeout}s waiting for the lock on '{self.path}'", "local"
            ) from exc
        try:
            yield self
        finally:
            self._lock.release()
