"""What a configuration source is, and the file-backed kind most sources are.

A source produces one layer of configuration (a dict). ``ConfigManager`` stacks layers in the order
they were added, later on top (deep merge). A source can say which of its paths hold secrets
(``secret_paths``, masked in display whatever their names), whether it changed since it was loaded
(``is_stale``, checked on access when the manager auto-reloads, or always when ``refresh_on_change``),
and receives the manager's ``SecretsManager`` through ``bind`` when it needs one and was given none.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import SourceError
from .formats import format_for_path, normalise_format, parse

if TYPE_CHECKING:
    from ..secrets.manager import SecretsManager


class ConfigSource(ABC):
    """One layer of configuration."""

    #: Checked for staleness on every access even when the manager does not auto-reload.
    refresh_on_change: bool = False

    @abstractmethod
    def load(self) -> dict[str, Any]:
        """Read the source now and return its data (a new dict the caller may keep)."""

    def is_stale(self) -> bool:
        """True when the data changed since the last ``load`` (cheap: no full read)."""
        return False

    def secret_paths(self) -> set[str]:
        """Dotted paths this source knows to be secret (masked in display whatever their names)."""
        return set()

    def bind(self, secrets_manager: SecretsManager) -> None:  # noqa: B027 - optional: most sources need no manager
        """Called by ``ConfigManager.add_source`` with its secrets manager."""

    def describe(self) -> str:
        """A short, value-free description for messages."""
        return type(self).__name__

    def __repr__(self) -> str:
        return f"<{self.describe()}>"


class DictSource(ConfigSource):
    """Configuration given as a dict (defaults, tests, data the operator read from a ConfigMap)."""

    def __init__(self, data: dict[str, Any], name: str = "inline") -> None:
        self._data = data
        self.name = name

    def load(self) -> dict[str, Any]:
        import copy

        return copy.deepcopy(self._data)

    def describe(self) -> str:
        return f"DictSource({self.name})"


FileStamp = tuple[int, int, int]


def decode_text(data: bytes, fmt: str, encoding: str, where: str) -> dict[str, Any]:
    """Decode and parse configuration bytes; a ``SourceError`` naming ``where``, with no content chained."""
    problem = None
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError:  # holds the bytes: report outside the except block, unchained
        problem = f"'{where}' is not valid {encoding} text"
    if problem is not None:
        raise SourceError(problem)
    try:
        return parse(text, fmt)
    except SourceError as exc:
        problem = f"'{where}': {exc}"
    raise SourceError(problem)


def file_stamp(path: Path) -> FileStamp | None:
    """(inode, size, mtime ns) of ``path``, or None when it does not exist."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return None
    return (info.st_ino, info.st_size, info.st_mtime_ns)


class FileSource(ConfigSource):
    """A configuration file in one of ``formats.FORMATS`` (from ``fmt``, else from the file name).

    ``optional``: a missing file is an empty layer instead of a ``SourceError``.
    """

    default_format: str | None = None

    def __init__(self, path: str | os.PathLike[str], fmt: str | None = None, *, optional: bool = False,
                 encoding: str = "utf-8") -> None:
        self.path = Path(path)
        chosen = fmt or self.default_format or format_for_path(self.path)
        if chosen is None:
            raise SourceError(f"cannot tell the format of '{self.path}' from its name; pass fmt=")
        self.format = normalise_format(chosen)
        self.optional = optional
        self.encoding = encoding
        self._stamp: FileStamp | None = None

    def describe(self) -> str:
        return f"{type(self).__name__}({str(self.path)!r})"

    def read_bytes(self) -> bytes | None:
        """The file's bytes (None when missing and optional); records the stamp for ``is_stale``."""
        stamp = file_stamp(self.path)
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            self._stamp = None
            if self.optional:
                return None
            raise SourceError(f"configuration file '{self.path}' not found") from None
        except OSError as exc:
            raise SourceError(f"cannot read configuration file '{self.path}': {exc.strerror}") from exc
        self._stamp = stamp
        return data

    def decode(self, data: bytes) -> dict[str, Any]:
        """Parse the file's bytes. Errors are raised unchained: decoder errors hold the content."""
        return decode_text(data, self.format, self.encoding, str(self.path))

    def load(self) -> dict[str, Any]:
        data = self.read_bytes()
        return {} if data is None else self.decode(data)

    def is_stale(self) -> bool:
        return file_stamp(self.path) != self._stamp
