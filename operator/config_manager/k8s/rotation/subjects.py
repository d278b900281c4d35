"""What the rotation engine needs to know about the object it rotates: one small adapter per kind.

The engine (``engine``) is the same for a ManagedSecret and a ConfigBundle; only these facts differ:
which names rotate and where their values live in the store (a ManagedSecret's ``spec.data`` secret
keys; a ConfigBundle's ``spec.secrets`` config paths), which store holds them, which Secret the sync
writes, and which keys of that Secret a rotation changes (the rotated keys and their ``_previous``
companions for a ManagedSecret; the one document key for a ConfigBundle). Building a ``Subject`` is
pure, so the rules (e.g. a bundle's rotated paths share one store) are unit-tested without a cluster.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ..api.resources import CONFIG_BUNDLE, MANAGED_SECRET
from ..spec.managedsecret import (
    InvalidSpecError,
    ManagedSecretSpec,
    RemoteRef,
    StoreRef,
    parse_remote_ref,
    parse_store_ref,
)
from ..spec.rotation import RotationSpec, parse_rotation, parse_rotation_refs


@dataclass(frozen=True)
class Subject:
    kind: str  # ManagedSecret | ConfigBundle
    plural: str  # the API resource of the kind (status PATCHes, cache updates)
    store: StoreRef  # the store the rotated values live in (and are written back to)
    secret_name: str  # the Secret the sync writes
    rotation: RotationSpec
    changed_keys: tuple[str, ...]  # the Secret's keys a rotation changes (restarts compare these per workload)


def rotation_raw(body: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """``spec.rotation`` when present (an object), else None."""
    raw = (body.get("spec") or {}).get("rotation")
    return raw if isinstance(raw, Mapping) else None


def managed_secret_subject(raw: Mapping[str, Any], spec: ManagedSecretSpec, *, interval_scale: float = 1.0,
                           default_generator: Callable[[], Any] | None = None) -> Subject:
    rotation = parse_rotation(raw, spec, interval_scale=interval_scale, default_generator=default_generator)
    changed = tuple(rotation.key_names) + tuple(k.previous_secret_key for k in rotation.keys if k.previous_secret_key)
    return Subject("ManagedSecret", MANAGED_SECRET, spec.store, spec.target.name, rotation, changed)


def config_bundle_subject(raw: Mapping[str, Any], bundle_spec: Mapping[str, Any], *, secret_name: str, secret_key: str,
                          interval_scale: float = 1.0, default_generator: Callable[[], Any] | None = None) -> Subject:
    """The adapter for a ConfigBundle: ``keys`` name config paths of ``spec.secrets`` (all when absent).

    Every rotated path must use the same store (one intent, one provider). Raises InvalidSpecError."""
    default = parse_store_ref(bundle_spec["storeRef"], "spec.storeRef") if bundle_spec.get("storeRef") else None
    refs: dict[str, RemoteRef] = {}
    stores: dict[str, StoreRef] = {}
    for i, item in enumerate(bundle_spec.get("secrets") or []):
        field = f"spec.secrets[{i}]"
        store = parse_store_ref(item["storeRef"], f"{field}.storeRef") if item.get("storeRef") else default
        if store is None:
            raise InvalidSpecError(f"{field}.storeRef", "is required when spec.storeRef is not set")
        path = str(item.get("path") or "")
        refs[path] = parse_remote_ref(item.get("remoteRef"), f"{field}.remoteRef")
        stores[path] = store
    rotation = parse_rotation_refs(raw, refs, unmapped=False, what="the paths of spec.secrets", interval_scale=interval_scale,
                                   default_generator=default_generator)
    used = {stores[name] for name in rotation.key_names}
    if len(used) != 1:
        raise InvalidSpecError("spec.rotation.keys", "the rotated paths must all use one store (rotate the others from a second bundle)")
    return Subject("ConfigBundle", CONFIG_BUNDLE, used.pop(), secret_name, rotation, (secret_key,))
