"""Turning provider answers into Secret data: property paths, dataFrom spreading, bytes, base64.

Provider values may be strings, bytes or structured (a Vault KV entry is a dict; a local-store value may
be a JSON document). Errors name the remote key and property, never the value.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Mapping
from typing import Any

from ...errors import SecretNotFoundError

_SECRET_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")


class ValueShapeError(Exception):
    """A fetched value does not have the shape the spec asks for (missing property, not an object)."""


def _structured(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray)):
        try:
            value = bytes(value).decode()
        except UnicodeDecodeError:
            return value
    if isinstance(value, str) and value[:1] in ("{", "["):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def extract_property(value: Any, prop: str | None, key: str) -> Any:
    """``value`` itself, or the field at dotted path ``prop`` of its structured form."""
    if not prop:
        return value
    current = _structured(value)
    if isinstance(current, Mapping) and prop in current:  # a literal key containing dots wins
        return current[prop]
    for part in prop.split("."):
        if not isinstance(current, Mapping) or part not in current:
            raise SecretNotFoundError(f"{key}#{prop}")
        current = current[part]
    return current


def to_bytes(value: Any) -> bytes:
    """The bytes a Secret key should hold: text as UTF-8, bytes as is, structures as compact JSON."""
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    if isinstance(value, str):
        return value.encode()
    if isinstance(value, bool) or value is None:
        return json.dumps(value).encode()
    if isinstance(value, (int, float)):
        return str(value).encode()
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


def spread(value: Any, prop: str | None, key: str, *, check_keys: bool = True) -> dict[str, bytes]:
    """dataFrom.extract: one Secret key per field of the (structured) value (``check_keys=False``: field
    names as they are, for a rewrite or conversion to make valid)."""
    obj = _structured(extract_property(value, prop, key))
    if not isinstance(obj, Mapping):
        raise ValueShapeError(f"dataFrom key {key!r}{'#' + prop if prop else ''} does not hold an object")
    result: dict[str, bytes] = {}
    for field, field_value in obj.items():
        if check_keys and not _SECRET_KEY.match(str(field)):
            raise ValueShapeError(f"dataFrom key {key!r}: field {str(field)[:64]!r} is not a valid Secret key")
        result[str(field)] = to_bytes(field_value)
    return result


def b64(data: Mapping[str, bytes]) -> dict[str, str]:
    """Secret ``data`` encoding."""
    return {k: base64.b64encode(v).decode() for k, v in data.items()}
