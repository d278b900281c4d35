"""dataFrom key and value shaping, as External Secrets defines it: conversion, decoding, rewrite.

What a ``dataFrom`` entry fetched (the fields of an extracted value, the keys a ``find`` selected, what a
generator made) passes through, in External Secrets' order:

1. ``rewrite[]`` in order: ``regexp`` replaces every match of ``source`` in each key name by ``target``
   (Go's ``ReplaceAllString``: ``$1``, ``${1}``, ``${name}``, ``$$``; a group that does not exist is
   empty), ``transform`` renders the key name through a key template (``{{ .value | upper }}``);
2. without rewrites, ``conversionStrategy``: ``Default`` replaces every character a Secret key cannot
   hold by ``_``, ``Unicode`` by ``_U<hex>_``;
3. ``decodingStrategy`` on the values: ``Base64``, ``Base64URL`` (padding optional), ``Auto`` (padded
   base64 of either alphabet, as Go decodes it, else the value unchanged), ``None``.

Two keys that become one are refused (``KeyCollision`` naming the step), never silently merged; values
never appear in a message, key names (which are not secret) do.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Mapping, Sequence

from ..spec.managedsecret import InvalidSpecError, Rewrite, compile_regexp
from .template import render

_INVALID_KEY_CHAR = re.compile(r"[^-._a-zA-Z0-9]")
_SECRET_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")
_GO_REF = re.compile(r"\$(\$|\{([A-Za-z0-9_]+)\}|([A-Za-z0-9_]+))")


class KeyCollision(Exception):
    """Two keys of one dataFrom entry became the same key. ``field`` names the step that did it."""

    def __init__(self, field_path: str, first: str, second: str, result: str) -> None:
        self.field = field_path
        super().__init__(f"{field_path}: keys {first!r} and {second!r} both become {result!r}")


class KeyShapeError(Exception):
    """A key name that no Secret can hold after the entry's steps. ``field`` names the entry."""

    def __init__(self, field_path: str, key: str) -> None:
        self.field = field_path
        super().__init__(f"{field_path}: {key[:128]!r} is not a valid Secret key (letters, digits, '-', '_', '.')")


def go_replace(pattern: re.Pattern[str], target: str, key: str) -> str:
    """Every match of ``pattern`` in ``key`` replaced by ``target`` expanded as Go's ``Regexp.Expand``."""

    def expand(match: re.Match[str]) -> str:
        def ref(found: re.Match[str]) -> str:
            if found.group(1) == "$":
                return "$"
            name = found.group(2) or found.group(3)
            try:
                return match.group(int(name) if name.isdigit() else name) or ""
            except (IndexError, re.error):
                return ""  # Go expands a group that does not exist to nothing

        return _GO_REF.sub(ref, target)

    return pattern.sub(expand, key)


def transform_key(template: str, key: str, field_path: str) -> str:
    """The key template of ``rewrite[].transform`` applied to one key name (``{{ .value }}`` is the key).

    The one place the template engine is called for key names (write/template/ renders it)."""
    return render(template, {"value": key}, field=field_path)


def _renamed(data: Mapping[str, bytes], rename: Callable[[str], str], field_path: str) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    origin: dict[str, str] = {}
    for key, value in data.items():
        new = rename(key)
        if new in out:
            raise KeyCollision(field_path, origin[new], key, new)
        out[new], origin[new] = value, key
    return out


def rewrite_keys(data: Mapping[str, bytes], rewrites: Sequence[Rewrite], field_path: str) -> dict[str, bytes]:
    """``data`` with its key names passed through each rewrite in order (``field_path``: the entry's
    ``...rewrite``; errors name ``...rewrite[j]``)."""
    current = dict(data)
    for j, step in enumerate(rewrites):
        current = _renamed(current, _step(step, f"{field_path}[{j}]"), f"{field_path}[{j}]")
    return current


def _step(step: Rewrite, where: str) -> Callable[[str], str]:
    """One rewrite step as a function of a key name."""
    if step.source is not None:
        pattern = compile_regexp(step.source, f"{where}.regexp.source")
        target = step.target
        return lambda key: go_replace(pattern, target, key)
    template = step.template or ""
    return lambda key: transform_key(template, key, f"{where}.transform.template")


def convert_key(key: str, strategy: str) -> str:
    """One key name made valid for a Secret: ``Default`` (``_``) or ``Unicode`` (``_U<hex>_``)."""
    if strategy == "Unicode":
        return _INVALID_KEY_CHAR.sub(lambda m: f"_U{ord(m.group(0)):04x}_", key)
    return _INVALID_KEY_CHAR.sub("_", key)


def convert_keys(data: Mapping[str, bytes], strategy: str, field_path: str) -> dict[str, bytes]:
    """Every key name converted; two names that convert to one are a ``KeyCollision``."""
    return _renamed(data, lambda key: convert_key(key, strategy), field_path)


_URL_ALPHABET = re.compile(rb"^[-_A-Za-z0-9]*={0,2}$")


def _b64(value: bytes, alphabet: str, *, padded: bool = True) -> bytes:
    """Standard base64 (padding required, as Go's StdEncoding) or URL-safe base64 (padding required as
    Go's URLEncoding unless ``padded`` is False)."""
    text = value.strip()
    if alphabet == "url":
        if not _URL_ALPHABET.match(text) or (padded and len(text) % 4):
            raise binascii.Error("not base64url")
        return base64.urlsafe_b64decode(text + b"=" * (-len(text) % 4))
    return base64.b64decode(text, validate=True)


def decode_value(value: bytes, strategy: str) -> bytes:
    """One value decoded by ``strategy``; ``ValueError`` (without the value) when it cannot be."""
    if strategy == "None":
        return value
    if strategy == "Auto":
        for alphabet in ("std", "url"):
            try:
                return _b64(value, alphabet)
            except (binascii.Error, ValueError):
                continue
        return value
    try:
        return _b64(value, "url" if strategy == "Base64URL" else "std", padded=False)
    except (binascii.Error, ValueError):
        raise ValueError(f"is not {strategy}-encoded") from None


def decode_values(data: Mapping[str, bytes], strategy: str, field_path: str) -> dict[str, bytes]:
    """Every value decoded; the error names the field and the key, never the value."""
    out: dict[str, bytes] = {}
    for key, value in data.items():
        try:
            out[key] = decode_value(value, strategy)
        except ValueError as exc:
            raise InvalidSpecError(field_path, f"value of {key!r} {exc}") from None
    return out


def shape(data: Mapping[str, bytes], *, rewrites: Sequence[Rewrite], conversion: str | None, decoding: str,
          field_path: str) -> dict[str, bytes]:
    """One dataFrom entry's data after rewrite (or conversion), decoding, and the final key check.

    ``field_path`` is the entry (``spec.dataFrom[i]``)."""
    if rewrites:
        shaped = rewrite_keys(data, rewrites, f"{field_path}.rewrite")
    elif conversion is not None:
        shaped = convert_keys(data, conversion, f"{field_path}.conversionStrategy")
    else:
        shaped = dict(data)
    for key in shaped:
        if not _SECRET_KEY.match(key) or len(key) > 253:
            raise KeyShapeError(f"{field_path}.rewrite" if rewrites else field_path, key)
    return decode_values(shaped, decoding, f"{field_path}.decodingStrategy")
