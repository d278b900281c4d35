"""The typed PushSecret spec (External Secrets' v1alpha1 field names), with the checks a schema cannot make.

A PushSecret names a Secret in its own namespace (``selector.secret.name``: there is no namespace field,
and the CRD refuses one) and maps some of its keys to remote keys of one or more stores. Errors name the
field (``InvalidSpecError``), never a value.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ...errors import ConfigurationError
from .durations import parse_duration
from .managedsecret import InvalidSpecError, StoreRef, parse_store_ref

UPDATE_POLICIES = ("Replace", "IfNotExists")
DELETION_POLICIES = ("Delete", "None")


@dataclass(frozen=True)
class PushItem:
    secret_key: str
    remote_key: str
    property: str | None = None


@dataclass(frozen=True)
class PushSecretSpec:
    stores: tuple[StoreRef, ...]
    source: str  # name of the Secret in the PushSecret's namespace
    data: tuple[PushItem, ...]
    update_policy: str = "Replace"
    deletion_policy: str = "None"
    refresh_seconds: float = 3600.0


def _text(raw: Mapping[str, Any], key: str, path: str, *, required: bool = False) -> str | None:
    value = raw.get(key)
    if value is None or value == "":
        if required:
            raise InvalidSpecError(f"{path}.{key}", "is required")
        return None
    if not isinstance(value, str):
        raise InvalidSpecError(f"{path}.{key}", f"must be a string, not {type(value).__name__}")
    return value


def parse_push_secret(spec: Mapping[str, Any]) -> PushSecretSpec:
    """Validate and type a PushSecret spec. Raises InvalidSpecError naming the field."""
    refs = spec.get("secretStoreRefs")
    if not isinstance(refs, list) or not refs:
        raise InvalidSpecError("spec.secretStoreRefs", "name at least one store")
    stores = tuple(parse_store_ref(ref, f"spec.secretStoreRefs[{i}]") for i, ref in enumerate(refs))
    if len(set(stores)) != len(stores):
        raise InvalidSpecError("spec.secretStoreRefs", "names the same store twice")
    selector = (spec.get("selector") or {}).get("secret") if isinstance(spec.get("selector"), Mapping) else None
    if not isinstance(selector, Mapping):
        raise InvalidSpecError("spec.selector.secret", "is required")
    if selector.get("namespace"):
        raise InvalidSpecError("spec.selector.secret.namespace", "a PushSecret reads only a Secret of its own namespace")
    source = _text(selector, "name", "spec.selector.secret", required=True) or ""
    items: list[PushItem] = []
    seen: set[tuple[str, str | None]] = set()
    for i, item in enumerate(spec.get("data") or []):
        path = f"spec.data[{i}].match"
        match = item.get("match") if isinstance(item, Mapping) else None
        if not isinstance(match, Mapping):
            raise InvalidSpecError(path, "is required")
        secret_key = _text(match, "secretKey", path, required=True) or ""
        remote = match.get("remoteRef")
        if not isinstance(remote, Mapping):
            raise InvalidSpecError(f"{path}.remoteRef", "is required")
        remote_key = _text(remote, "remoteKey", f"{path}.remoteRef", required=True) or ""
        prop = _text(remote, "property", f"{path}.remoteRef")
        pushed = PushItem(secret_key=secret_key, remote_key=remote_key, property=prop)
        if (remote_key, prop) in seen:
            raise InvalidSpecError(f"{path}.remoteRef", f"remote key {remote_key!r}" + (f" property {prop!r}" if prop else "")
                                   + " is written by another item")
        seen.add((remote_key, prop))
        items.append(pushed)
    if not items:
        raise InvalidSpecError("spec.data", "map at least one key")
    update = str(spec.get("updatePolicy") or "Replace")
    if update not in UPDATE_POLICIES:
        raise InvalidSpecError("spec.updatePolicy", f"must be one of {', '.join(UPDATE_POLICIES)}, not {update!r}")
    deletion = str(spec.get("deletionPolicy") or "None")
    if deletion not in DELETION_POLICIES:
        raise InvalidSpecError("spec.deletionPolicy", f"must be one of {', '.join(DELETION_POLICIES)}, not {deletion!r}")
    try:
        refresh = parse_duration(str(spec.get("refreshInterval", "1h")), "spec.refreshInterval")
    except ConfigurationError as exc:
        raise InvalidSpecError("spec.refreshInterval", str(exc).split(": ", 1)[-1]) from None
    return PushSecretSpec(stores=stores, source=source, data=tuple(items), update_policy=update,
                          deletion_policy=deletion, refresh_seconds=refresh)
