"""Writing one value into a store, and taking it out again, through the provider interface only.

A PushSecret maps a Secret key to a remote key, optionally to one property of a structured remote value
(a Vault KV field, a JSON document in the local store or Key Vault). Both operations read the remote
first, so a value that is already there is never written again (no store write when nothing changed),
``IfNotExists`` leaves an existing value alone, and removing a property keeps the other properties.
Errors are the providers' (value-free by their contract) or ``ConfigurationError`` naming the remote key.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping
from typing import Any

from ...errors import ConfigurationError, SecretNotFoundError
from ...providers import SecretProvider
from .. import metrics


class Pushed(enum.Enum):
    WRITTEN = "Written"  # we wrote the value
    UNCHANGED = "Unchanged"  # the remote already held it
    KEPT = "Kept"  # the remote held another value and updatePolicy IfNotExists left it


def _current(provider: SecretProvider, remote_key: str) -> Any:
    try:
        with metrics.provider_call(provider.provider_type, "get"):
            return provider.get(remote_key).value
    except SecretNotFoundError:
        return None


def _document(value: Any, remote_key: str, prop: str) -> dict[str, Any]:
    """The remote value as an object whose property ``prop`` we may set (absent: an empty one)."""
    if value is None:
        return {}
    if isinstance(value, (bytes, bytearray)):
        value = bytes(value).decode(errors="replace")
    if isinstance(value, str) and value[:1] == "{":
        try:
            value = json.loads(value)
        except ValueError:
            pass
    if not isinstance(value, Mapping):
        raise ConfigurationError(f"remote key {remote_key!r} does not hold an object, so property {prop!r} cannot be set in it")
    return dict(value)


def push_value(provider: SecretProvider, remote_key: str, prop: str | None, value: str, *,
               if_not_exists: bool) -> Pushed:
    """Make ``remote_key`` (its ``prop``, when given) hold ``value``; at most one read and one write."""
    current = _current(provider, remote_key)
    new: Any
    if prop is None:
        exists, held, new = current is not None, current, value
    else:
        doc = _document(current, remote_key, prop)
        exists, held, new = prop in doc, doc.get(prop), {**doc, prop: value}
    if exists and held == value:
        return Pushed.UNCHANGED
    if exists and if_not_exists:
        return Pushed.KEPT
    with metrics.provider_call(provider.provider_type, "set"):
        provider.set(remote_key, new)
    return Pushed.WRITTEN


def remove_value(provider: SecretProvider, remote_key: str, prop: str | None) -> bool:
    """Remove ``remote_key`` (only its ``prop``, when given; the key goes with its last property)."""
    if prop is None:
        with metrics.provider_call(provider.provider_type, "delete"):
            return provider.delete(remote_key)
    current = _current(provider, remote_key)
    if current is None:
        return False
    try:
        doc = _document(current, remote_key, prop)
    except ConfigurationError:
        return False  # no longer an object: the property is not there
    if prop not in doc:
        return False
    rest = {k: v for k, v in doc.items() if k != prop}
    if rest:
        with metrics.provider_call(provider.provider_type, "set"):
            provider.set(remote_key, rest)
    else:
        with metrics.provider_call(provider.provider_type, "delete"):
            provider.delete(remote_key)
    return True
