"""How a Python value is stored as a Vault secret, and read back.

A Vault KV secret is always a JSON object. The library's API also stores scalars
(``set_secret("api_key", "sk-...")``), so one rule maps between the two, in both directions:

- a mapping is stored as it is (its keys become the secret's fields) and read back as a ``dict``;
- any other value (str, int, float, bool, list, None) is stored as ``{"value": <value>}``;
- reading a secret whose only field is ``value`` returns that field's content, so scalars round-trip.

The one ambiguity is a mapping whose only key is ``value``: ``{"value": 1}`` reads back as ``1``. Such
a secret is indistinguishable in Vault from a stored scalar, and other Vault clients (the ``vault kv``
CLI, External Secrets' ``property: value``) see the same single field either way.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ...errors import ConfigurationError

#: The field that holds a scalar value inside its Vault secret.
SCALAR_FIELD = "value"


def encode_value(key: str, value: Any) -> dict[str, Any]:
    """The JSON object to store for ``value`` (see the module docstring)."""
    if isinstance(value, Mapping):
        data = dict(value)
        for field in data:
            if not isinstance(field, str):
                raise ConfigurationError(
                    f"secret '{key}': Vault field names must be strings, got a {type(field).__name__}"
                )
        return data
    if isinstance(value, (bytes, bytearray)):
        raise ConfigurationError(
            f"secret '{key}': Vault stores JSON; encode bytes (for example base64) before storing them"
        )
    return {SCALAR_FIELD: value}


def decode_value(data: Mapping[str, Any] | None) -> Any:
    """The Python value for a Vault secret's fields (the inverse of ``encode_value``)."""
    fields = dict(data or {})
    if len(fields) == 1 and SCALAR_FIELD in fields:
        return fields[SCALAR_FIELD]
    return fields
