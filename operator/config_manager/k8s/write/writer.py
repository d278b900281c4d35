"""Writing Secrets and ConfigMaps: ownership rules, owner references, labels, hash annotations, no-op skips.

Rules:
- Owner / Orphan: create when missing; update only what we own (annotation ``configmanager.io/owner``
  names us). A same-named object someone else owns is left untouched: ``NOT_OWNED``.
- Merge: write only our keys into an existing object owned by someone else (``TARGET_MISSING`` when it
  does not exist); keys we stop managing are removed, keys of others are never touched.
- None: nothing is created or updated (``NOT_WRITTEN``); the ManagedSecret still reads and reports.
- Owner references only for creationPolicy Owner with deletionPolicy Delete, so the garbage collector
  deletes the Secret with its owner: deletion never waits for (or needs) the operator.
- Before writing, the desired data hash and metadata hash are compared with the annotations of the cached
  object and with the hash of its actual data: when all agree nothing is written (drift — someone
  edited the data — makes them disagree, so it is repaired).
- Updates carry the cached resourceVersion as a precondition; a conflict means our cache was behind
  and the reconcile is retried.
"""

from __future__ import annotations

import base64
import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..api.client import ApiError, KubeApi
from ..api.resources import (
    ANN_DATA_HASH,
    ANN_MANAGED_KEYS,
    ANN_OWNER,
    GROUP,
    LABEL_MANAGED_BY,
    LABEL_OWNER_KIND,
    MANAGED_BY_VALUE,
    data_plural,
)
from ..hashing import data_hash, stable_json_hash
from ..watch.cache import ClusterCache, ObjectInfo, project

ANN_META_HASH = f"{GROUP}/meta-hash"


class WriteResult(enum.Enum):
    CREATED = "Created"
    UPDATED = "Updated"
    UNCHANGED = "Unchanged"
    NOT_OWNED = "NotOwned"
    TARGET_MISSING = "TargetMissing"
    NOT_WRITTEN = "NotWritten"  # creationPolicy None


class WriteError(Exception):
    """The write was refused (type mismatch, immutable object, API error). Safe to show."""


@dataclass(frozen=True)
class Desired:
    """What one of our objects wants a Secret or ConfigMap to look like."""

    kind: str  # "Secret" or "ConfigMap"
    namespace: str
    name: str
    data: Mapping[str, str]  # Secret: base64 values; ConfigMap: text values
    owner: Mapping[str, Any]  # the owning object's body (apiVersion, kind, metadata.name/uid)
    policy: str = "Owner"  # Owner | Merge | Orphan | None
    owner_reference: bool = True
    type: str = "Opaque"
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)
    immutable: bool = False

    @property
    def owner_id(self) -> str:
        return f"{self.owner.get('kind')}/{(self.owner.get('metadata') or {}).get('name')}"

    def hash_input(self) -> dict[str, str]:
        if self.kind == "Secret":
            return dict(self.data)
        return {k: base64.b64encode(v.encode()).decode() for k, v in self.data.items()}

    def data_hash(self) -> str:
        return data_hash(self.hash_input())

    def owner_ref(self) -> dict[str, Any]:
        meta = self.owner.get("metadata") or {}
        return {
            "apiVersion": self.owner.get("apiVersion"),
            "kind": self.owner.get("kind"),
            "name": meta.get("name"),
            "uid": meta.get("uid"),
            "controller": True,
            "blockOwnerDeletion": False,
        }

    def meta_hash(self) -> str:
        return stable_json_hash({
            "type": self.type if self.kind == "Secret" else "",
            "labels": dict(self.labels),
            "annotations": dict(self.annotations),
            "owner": (self.owner.get("metadata") or {}).get("uid") if self.owner_reference else None,
            "immutable": self.immutable,
        })

    def our_labels(self) -> dict[str, str]:
        return {**self.labels, LABEL_MANAGED_BY: MANAGED_BY_VALUE, LABEL_OWNER_KIND: str(self.owner.get("kind"))}

    def our_annotations(self) -> dict[str, str]:
        ann = {
            **self.annotations,
            ANN_DATA_HASH: self.data_hash(),
            ANN_META_HASH: self.meta_hash(),
            ANN_MANAGED_KEYS: ",".join(sorted(self.data)),
        }
        if self.policy != "Merge":
            ann[ANN_OWNER] = self.owner_id
        return ann


@dataclass(frozen=True)
class WriteOutcome:
    result: WriteResult
    resource_version: str | None = None
    drift_repaired: bool = False
    detail: str = ""


def _resource(kind: str) -> str:
    return data_plural(kind)


def is_ours(info: ObjectInfo, desired: Desired) -> bool:
    return info.owner == desired.owner_id


def up_to_date(info: ObjectInfo, desired: Desired) -> bool:
    """True when the object already holds what we would write (no write needed)."""
    return (
        info.recorded_hash == desired.data_hash()
        and info.managed_hash == desired.data_hash()
        and info.annotations.get(ANN_META_HASH) == desired.meta_hash()
        and info.annotations.get(ANN_MANAGED_KEYS, "") == ",".join(sorted(desired.data))
    )


def write(api: KubeApi, cache: ClusterCache, desired: Desired) -> WriteOutcome:
    """Bring the object in line with ``desired`` following the policy; at most one write request."""
    info = cache.get_object(desired.kind, desired.namespace, desired.name)
    if desired.policy == "None":
        return WriteOutcome(WriteResult.NOT_WRITTEN, info.resource_version if info is not None else None,
                            detail=f"creationPolicy None: {desired.kind} {desired.name!r} is neither created nor updated")
    if info is None and desired.policy == "Merge":
        # an object without our label is cached only once its watch by name has listed it: ask
        existing = api.get(_resource(desired.kind), desired.namespace, desired.name)
        info = cache.put_object(existing) if existing is not None else None
    if info is None:
        if desired.policy == "Merge":
            return WriteOutcome(WriteResult.TARGET_MISSING, detail=f"{desired.kind} {desired.name!r} does not exist (creationPolicy Merge never creates it)")
        try:
            return _create(api, cache, desired)
        except ApiError as exc:
            if exc.status != 409:
                raise WriteError(f"cannot create {desired.kind} {desired.name!r}: {exc.status} {exc.reason}") from exc
            body = api.get(_resource(desired.kind), desired.namespace, desired.name)  # our cache was behind
            if body is None:
                raise WriteError(f"{desired.kind} {desired.name!r} vanished while creating; will retry") from exc
            info = cache.put_object(body)
    if desired.policy != "Merge" and not is_ours(info, desired):
        return WriteOutcome(WriteResult.NOT_OWNED, info.resource_version,
                            detail=f"{desired.kind} {desired.name!r} exists and is not managed by this {desired.owner.get('kind')}")
    if desired.kind == "Secret" and info.type and info.type != desired.type:
        raise WriteError(f"Secret {desired.name!r} has type {info.type}, spec asks for {desired.type}; delete it to change the type")
    if up_to_date(info, desired):
        return WriteOutcome(WriteResult.UNCHANGED, info.resource_version)
    drift = info.recorded_hash is not None and info.drifted()
    return _update(api, cache, desired, info, drift)


def _create(api: KubeApi, cache: ClusterCache, desired: Desired) -> WriteOutcome:
    body: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": desired.kind,
        "metadata": {
            "name": desired.name,
            "namespace": desired.namespace,
            "labels": desired.our_labels(),
            "annotations": desired.our_annotations(),
        },
        "data": dict(desired.data),
    }
    if desired.kind == "Secret":
        body["type"] = desired.type
    if desired.immutable:
        body["immutable"] = True
    if desired.owner_reference and desired.policy == "Owner":
        body["metadata"]["ownerReferences"] = [desired.owner_ref()]
    created = api.create(_resource(desired.kind), desired.namespace, body)
    cache.put_object(created, own_write=True)
    return WriteOutcome(WriteResult.CREATED, created["metadata"].get("resourceVersion"))


def _update(api: KubeApi, cache: ClusterCache, desired: Desired, info: ObjectInfo, drift: bool) -> WriteOutcome:
    previously_managed = set(filter(None, info.annotations.get(ANN_MANAGED_KEYS, "").split(",")))
    if desired.policy != "Merge":
        previously_managed |= set(info.keys)
    data: dict[str, Any] = dict(desired.data)
    for key in previously_managed - set(desired.data):
        data[key] = None  # merge patch: remove the key
    meta: dict[str, Any] = {
        "resourceVersion": info.resource_version,
        "labels": desired.our_labels() if desired.policy != "Merge" else {LABEL_MANAGED_BY: MANAGED_BY_VALUE},
        "annotations": desired.our_annotations(),
    }
    if desired.policy != "Merge":
        others = [
            {"apiVersion": r.api_version, "kind": r.kind, "name": r.name, "uid": r.uid, "controller": r.controller}
            for r in info.owner_refs
            if r.uid != (desired.owner.get("metadata") or {}).get("uid")
        ]
        mine = [desired.owner_ref()] if desired.owner_reference and desired.policy == "Owner" else []
        if mine or len(others) != len(info.owner_refs):
            meta["ownerReferences"] = others + mine
    patch = {"metadata": meta, "data": data}
    try:
        updated = api.patch(_resource(desired.kind), desired.namespace, desired.name, patch)
    except ApiError as exc:
        if exc.status == 409:
            raise WriteError(f"{desired.kind} {desired.name!r} changed while we wrote it; will retry") from exc
        if exc.status == 422:
            raise WriteError(f"{desired.kind} {desired.name!r} refused the update ({exc.status} {exc.reason}; an immutable object must be deleted to change)") from exc
        raise WriteError(f"cannot update {desired.kind} {desired.name!r}: {exc.status} {exc.reason}") from exc
    cache.put_object(updated, own_write=True)
    return WriteOutcome(WriteResult.UPDATED, updated["metadata"].get("resourceVersion"), drift_repaired=drift)


def delete_if_ours(api: KubeApi, cache: ClusterCache, kind: str, namespace: str, name: str, owner_id: str) -> bool:
    """Delete an object we own (used when an optional output is switched off)."""
    info = cache.get_object(kind, namespace, name)
    if info is None or info.owner != owner_id:
        return False
    deleted = api.delete(_resource(kind), namespace, name)
    cache.drop_object(kind, namespace, name)
    return deleted


__all__ = ["Desired", "WriteError", "WriteOutcome", "WriteResult", "delete_if_ours", "is_ours", "project", "up_to_date", "write"]
