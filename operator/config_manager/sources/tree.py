"""Operations on configuration trees (nested dicts): deep merge, dotted paths, flatten / unflatten.

The one home of ``deep_merge``: ConfigManager layers sources with it, and the operator's ConfigBundle
merges its sources with it. Paths are dotted strings (``"database.password"``) or sequences of parts;
a numeric part indexes a list when reading.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

from ..errors import SourceError

Path = str | Sequence[str]
_MISSING: Any = object()


def split_path(path: Path) -> list[str]:
    parts = path.split(".") if isinstance(path, str) else [str(part) for part in path]
    if not parts or any(part == "" for part in parts):
        raise SourceError(f"invalid configuration path {'.'.join(parts)!r}")
    return parts


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """A new dict: ``override`` on top of ``base``. Mappings merge key by key; anything else replaces.

    Neither argument is modified and the result shares no mutable parts with them.
    """
    merged: dict[str, Any] = {key: copy.deepcopy(value) for key, value in base.items()}
    for key, value in override.items():
        current = merged.get(key)
        if isinstance(current, Mapping) and isinstance(value, Mapping):
            merged[key] = deep_merge(current, value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def get_path(data: Any, path: Path, default: Any = None) -> Any:
    """The value at ``path``, or ``default`` when any part is missing."""
    current = data
    for part in split_path(path):
        if isinstance(current, Mapping):
            if part not in current:
                return default
            current = current[part]
        elif isinstance(current, list) and part.isdigit() and int(part) < len(current):
            current = current[int(part)]
        else:
            return default
    return current


def has_path(data: Any, path: Path) -> bool:
    return get_path(data, path, _MISSING) is not _MISSING


def set_path(data: dict[str, Any], path: Path, value: Any) -> None:
    """Set ``value`` at ``path``, creating sections on the way (a value in the way is replaced)."""
    parts = split_path(path)
    current = data
    for part in parts[:-1]:
        child = current.get(part)
        if not isinstance(child, dict):
            child = {}
            current[part] = child
        current = child
    current[parts[-1]] = value


def leaves(data: Mapping[str, Any]) -> list[tuple[tuple[str, ...], Any]]:
    """Every leaf as (path parts, value); lists and scalars are leaves, empty sections have none."""
    found: list[tuple[tuple[str, ...], Any]] = []

    def walk(value: Any, path: tuple[str, ...]) -> None:
        if isinstance(value, Mapping) and (value or not path):
            for key, item in value.items():
                walk(item, (*path, str(key)))
        elif path:
            found.append((path, value))

    walk(data, ())
    return found


def flatten(data: Mapping[str, Any], sep: str = ".") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` → ``{"a.b": 1}``. Two paths that join to the same key are a ``SourceError``."""
    flat: dict[str, Any] = {}
    for path, value in leaves(data):
        key = sep.join(path)
        if key in flat:
            raise SourceError(f"two configuration paths both become {key!r}")
        flat[key] = value
    return flat


def unflatten(flat: Mapping[str, Any], sep: str = ".") -> dict[str, Any]:
    """``{"a.b": 1}`` → ``{"a": {"b": 1}}``. A key that is both a value and a section is a ``SourceError``."""
    tree: dict[str, Any] = {}
    for key in sorted(flat, key=lambda name: name.count(sep)):
        parts = [part for part in key.split(sep)]
        if any(part == "" for part in parts):
            raise SourceError(f"key {key!r} has an empty part")
        current = tree
        for depth, part in enumerate(parts[:-1]):
            child = current.setdefault(part, {})
            if not isinstance(child, dict):
                raise SourceError(f"key {key!r} is below {sep.join(parts[: depth + 1])!r}, which holds a value")
            current = child
        if isinstance(current.get(parts[-1]), dict):
            raise SourceError(f"key {key!r} is both a value and a section")
        current[parts[-1]] = flat[key]
    return tree
