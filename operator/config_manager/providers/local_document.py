"""The plaintext inside a local encrypted store: a JSON document of entries with versions.

Pure functions over plain dicts, apart from the provider that encrypts, locks and caches them. Shape::

    {"format": "config-manager-local-store", "version": 1,
     "entries": {"<key>": {"value": ..., "kind": "json" | "bytes", "version": 3,
                           "created_at": "<iso>", "updated_at": "<iso>", "metadata": {...},
                           "history": [{"value", "kind", "version", "updated_at", "metadata"}, ...]}}}

``history`` holds earlier versions, oldest first, bounded so that at most ``max_versions`` versions
(current included) are kept. Values are any JSON value, or bytes (stored base64 with kind "bytes").
"""

from __future__ import annotations

import base64
import copy
import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final

from ..errors import ConfigurationError, ProviderError
from .base import SecretValue

STORE_FORMAT: Final = "config-manager-local-store"
STORE_VERSION: Final = 1

Document = dict[str, Any]
Entry = dict[str, Any]


def empty_document() -> Document:
    return {"format": STORE_FORMAT, "version": STORE_VERSION, "entries": {}}


def encode_document(document: Document) -> bytes:
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def decode_document(plaintext: bytes, where: str) -> Document:
    """Parse and check a decrypted store; a ``ProviderError`` naming ``where`` if it is not one."""
    document: Any = None
    try:
        document = json.loads(plaintext.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        pass  # these errors hold the decrypted text: never chain them
    if (
        not isinstance(document, dict)
        or document.get("format") != STORE_FORMAT
        or not isinstance(document.get("entries"), dict)
    ):
        raise ProviderError(f"'{where}' decrypted, but does not hold a local secrets store", "local")
    if document.get("version") != STORE_VERSION:
        raise ProviderError(
            f"'{where}' holds store version {document.get('version')!r}; this library reads {STORE_VERSION}", "local"
        )
    return document


def encode_value(key: str, value: Any) -> tuple[str, Any]:
    """(kind, stored form) for a value; a ``ConfigurationError`` (naming the key and type only) if unstorable."""
    if isinstance(value, (bytes, bytearray)):
        return "bytes", base64.b64encode(bytes(value)).decode("ascii")
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        raise ConfigurationError(
            f"value for secret '{key}' cannot be stored: {type(value).__name__} is not a JSON value or bytes"
        ) from None
    return "json", copy.deepcopy(value)


def decode_value(kind: str, stored: Any) -> Any:
    if kind == "bytes":
        return base64.b64decode(stored)
    return copy.deepcopy(stored)


def clean_metadata(key: str, metadata: Mapping[str, Any]) -> dict[str, str]:
    """Metadata as str → str (numbers and booleans are written as text)."""
    if not isinstance(metadata, Mapping):
        raise ConfigurationError(f"metadata for secret '{key}' must be a mapping")
    return {str(name): value if isinstance(value, str) else json.dumps(value) for name, value in metadata.items()}


def new_version(
    key: str,
    previous: Entry | None,
    value: Any,
    metadata: Mapping[str, Any] | None,
    now: datetime,
    max_versions: int,
) -> Entry:
    """The entry after storing ``value``. Metadata is kept from the previous version unless given."""
    kind, stored = encode_value(key, value)
    stamp = now.isoformat()
    if previous is None:
        meta = clean_metadata(key, metadata or {})
        return {"value": stored, "kind": kind, "version": 1, "created_at": stamp, "updated_at": stamp,
                "metadata": meta, "history": []}
    meta = clean_metadata(key, metadata) if metadata is not None else dict(previous["metadata"])
    history = [*previous["history"], {name: previous[name] for name in ("value", "kind", "version", "updated_at", "metadata")}]
    keep = max(max_versions - 1, 0)
    return {"value": stored, "kind": kind, "version": previous["version"] + 1, "created_at": previous["created_at"],
            "updated_at": stamp, "metadata": meta, "history": history[-keep:] if keep else []}


def find_version(entry: Entry, version: str | None) -> Entry | None:
    """The record for ``version`` (the current one when None), or None when not kept."""
    if version is None or str(entry["version"]) == str(version):
        return entry
    history: list[Entry] = entry["history"]
    for record in history:
        if str(record["version"]) == str(version):
            return record
    return None


def versions_of(entry: Entry) -> list[str]:
    return [str(record["version"]) for record in entry["history"]] + [str(entry["version"])]


def to_secret_value(key: str, record: Entry) -> SecretValue:
    return SecretValue(
        key=key,
        value=decode_value(record["kind"], record["value"]),
        version=str(record["version"]),
        metadata=dict(record["metadata"]),
        created_at=datetime.fromisoformat(record["updated_at"]),
    )
