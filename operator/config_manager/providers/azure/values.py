"""How a Python value is stored as an Azure Key Vault secret (always a string), and read back.

- ``str`` is stored as it is, without a content type of ours, so secrets set by other tools read back
  unchanged;
- ``bytes`` are stored base64-encoded with content type ``application/octet-stream;base64``;
- anything else JSON can hold (dict, list, int, float, bool, None) is stored as JSON with content type
  ``application/json``, and decoded on the way back.

Only these two content types are interpreted; any other (``password``, ``text/plain``...) reads back as
the stored string.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from ...errors import ConfigurationError

JSON_CONTENT_TYPE = "application/json"
BYTES_CONTENT_TYPE = "application/octet-stream;base64"


def encode_value(key: str, value: Any) -> tuple[str, str | None]:
    """The string to store and its content type (None: leave the content type unset)."""
    if isinstance(value, str):
        return value, None
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(bytes(value)).decode("ascii"), BYTES_CONTENT_TYPE
    try:
        return json.dumps(value, separators=(",", ":"), sort_keys=True), JSON_CONTENT_TYPE
    except (TypeError, ValueError) as exc:
        raise ConfigurationError(
            f"azure: secret '{key}': a {type(value).__name__} cannot be stored (str, bytes or JSON data only)"
        ) from exc


def decode_value(text: str | None, content_type: str | None) -> Any:
    """The Python value for a stored string and its content type (the inverse of ``encode_value``)."""
    if text is None:
        return None
    kind = (content_type or "").replace(" ", "").lower()
    if kind == JSON_CONTENT_TYPE:
        try:
            return json.loads(text)
        except ValueError:
            return text
    if kind == BYTES_CONTENT_TYPE:
        try:
            return base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            return text
    return text
