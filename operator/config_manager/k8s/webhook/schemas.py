"""The bodies the receiver understands, parsed into change signals (pure functions, no I/O).

- **Azure Event Grid** (Event Grid schema: a JSON array; CloudEvents 1.0: an object or array with
  ``specversion``): ``Microsoft.KeyVault.SecretNewVersionCreated``, ``SecretNearExpiry``,
  ``SecretExpired`` and ``CertificateNewVersionCreated`` (a Key Vault certificate is served as the secret
  of the same name) become a ``VaultChange``; other Key Vault event types are counted as ignored. The
  subscription validation handshake (``Microsoft.EventGrid.SubscriptionValidationEvent``) yields its
  ``validationCode``, which the server echoes as ``validationResponse``.
- **Generic**: ``{"store": {"kind": "SecretStore"|"ClusterSecretStore", "name": ..., "namespace": ...},
  "key": "..."}``, or a JSON array of such objects: for Vault (an audit-device forwarder, a CI job), the
  local store, or anything else that knows which key it changed.

Errors are ``SchemaError`` naming the offending field; nothing from the body's values is echoed back.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

VALIDATION_EVENT = "Microsoft.EventGrid.SubscriptionValidationEvent"
#: Key Vault events that mean "read this secret again".
KEYVAULT_CHANGES = frozenset({
    "Microsoft.KeyVault.SecretNewVersionCreated",
    "Microsoft.KeyVault.SecretNearExpiry",
    "Microsoft.KeyVault.SecretExpired",
    "Microsoft.KeyVault.CertificateNewVersionCreated",
})
STORE_KINDS = ("SecretStore", "ClusterSecretStore")
MAX_EVENTS = 100  # per request; Event Grid batches at most this many by default (maxEventsPerBatch caps at 5000)


class SchemaError(ValueError):
    """A body the receiver refuses; ``field`` is the JSON path of what is wrong."""

    def __init__(self, field_path: str, message: str) -> None:
        self.field = field_path
        super().__init__(f"{field_path}: {message}")


@dataclass(frozen=True)
class StoreChange:
    """A key changed in a named store (the generic schema)."""

    store_kind: str
    store_name: str
    namespace: str | None  # None for a ClusterSecretStore
    key: str


@dataclass(frozen=True)
class VaultChange:
    """A Key Vault secret changed (Event Grid): which vault (by URL origin and name) and which secret."""

    vault_origin: str  # scheme://host[:port] of data.Id, lower case ("" if absent)
    vault_name: str  # data.VaultName, lower case
    object_name: str  # data.ObjectName: the Azure secret name
    event_type: str


@dataclass
class Parsed:
    changes: list[StoreChange | VaultChange] = field(default_factory=list)
    validation_code: str | None = None
    ignored: int = 0


def parse(body: bytes) -> Parsed:
    """The change signals in a request body. Raises SchemaError."""
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise SchemaError("body", "is not valid JSON") from exc
    items = doc if isinstance(doc, list) else [doc]
    if not items:
        raise SchemaError("body", "is an empty list")
    if len(items) > MAX_EVENTS:
        raise SchemaError("body", f"carries {len(items)} events; at most {MAX_EVENTS} per request")
    parsed = Parsed()
    for index, item in enumerate(items):
        where = f"[{index}]" if isinstance(doc, list) else "body"
        if not isinstance(item, Mapping):
            raise SchemaError(where, "must be a JSON object")
        if "eventType" in item or "specversion" in item:
            _event_grid(item, where, parsed)
        elif "store" in item:
            parsed.changes.append(_generic(item, where))
        else:
            raise SchemaError(where, "is neither an Event Grid event (eventType / specversion) nor {store, key}")
    return parsed


def _text(item: Mapping[str, Any], name: str, where: str, *, required: bool = True, limit: int = 512) -> str:
    value = item.get(name)
    if value is None or value == "":
        if required:
            raise SchemaError(f"{where}.{name}", "is required")
        return ""
    if not isinstance(value, str):
        raise SchemaError(f"{where}.{name}", "must be a string")
    if len(value) > limit:
        raise SchemaError(f"{where}.{name}", f"is longer than {limit} characters")
    return value


def _generic(item: Mapping[str, Any], where: str) -> StoreChange:
    store = item.get("store")
    if not isinstance(store, Mapping):
        raise SchemaError(f"{where}.store", "must be an object {kind, name, namespace}")
    kind = _text(store, "kind", f"{where}.store", required=False) or "SecretStore"
    if kind not in STORE_KINDS:
        raise SchemaError(f"{where}.store.kind", f"must be one of {', '.join(STORE_KINDS)}")
    name = _text(store, "name", f"{where}.store", limit=253)
    namespace = _text(store, "namespace", f"{where}.store", required=False, limit=63)
    if kind == "SecretStore" and not namespace:
        raise SchemaError(f"{where}.store.namespace", "is required for a SecretStore")
    return StoreChange(kind, name, namespace or None if kind == "SecretStore" else None, _text(item, "key", where, limit=1024))


def _event_grid(item: Mapping[str, Any], where: str, parsed: Parsed) -> None:
    event_type = _text(item, "eventType" if "eventType" in item else "type", where)
    data = item.get("data")
    if not isinstance(data, Mapping):
        raise SchemaError(f"{where}.data", "must be an object")
    if event_type == VALIDATION_EVENT:
        parsed.validation_code = _text(data, "validationCode", f"{where}.data")
        return
    if event_type not in KEYVAULT_CHANGES:
        parsed.ignored += 1
        return
    object_name = _text(data, "ObjectName", f"{where}.data", limit=127)
    vault_id = _text(data, "Id", f"{where}.data", required=False, limit=2048)
    origin = ""
    if vault_id:
        parts = urlsplit(vault_id)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise SchemaError(f"{where}.data.Id", "must be the secret's https URL")
        origin = f"{parts.scheme}://{parts.netloc}".lower()
    vault_name = _text(data, "VaultName", f"{where}.data", required=not origin, limit=127).lower()
    parsed.changes.append(VaultChange(origin, vault_name, object_name, event_type))
