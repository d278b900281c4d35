"""In-memory state fed by the operator's informers, so a reconcile costs no GETs for what it only reads.

The informers (``watch.informer``, wired in ``watch.handlers``) fill this cache with their first listing
(the work queue starts only once every first listing is complete) and keep it current; reconciles
(worker threads) read it. Secrets/ConfigMaps are only those we manage (our label) and those watched by
name because we read them (``watch.targets``), not every object of the cluster.

Secrets and ConfigMaps are kept as *projections*: name, resourceVersion, type, our labels and
annotations, owner references, key names and a hash of the current data — never the values themselves
(except the blob and credentials the operator reads on purpose, which it fetches by GET when needed).
Our own objects' bodies (ManagedSecrets, ConfigBundles, PushSecrets, VaultDynamicSecrets) are kept packed
(``watch.packed``): a read returns a fresh dict.
"""

from __future__ import annotations

import base64
import sys
import threading
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..api.resources import (
    ANN_DATA_HASH,
    ANN_MANAGED_KEYS,
    ANN_OWNER,
    GROUP,
    MANAGED_SECRET,
    PUSH_SECRET,
    VAULT_DYNAMIC_SECRET,
)
from ..hashing import data_hash
from .packed import PackedBodies

ObjKey = tuple[str, str]  # (namespace, name)


@dataclass(frozen=True, slots=True)
class OwnerRef:
    api_version: str
    kind: str
    name: str
    uid: str
    controller: bool


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    """A Secret or ConfigMap without its values (slots, shared label dicts and key tuples: 10,000 of them
    are the cache's bulk)."""

    kind: str
    namespace: str
    name: str
    uid: str
    resource_version: str
    type: str
    labels: Mapping[str, str]
    annotations: Mapping[str, str]  # only ours (configmanager.io/...), never user annotations
    owner_refs: tuple[OwnerRef, ...]
    keys: tuple[str, ...]
    managed_hash: str  # hash over the keys listed in ANN_MANAGED_KEYS (all keys when absent)

    @property
    def recorded_hash(self) -> str | None:
        return self.annotations.get(ANN_DATA_HASH)

    @property
    def owner(self) -> str | None:
        return self.annotations.get(ANN_OWNER)

    def drifted(self) -> bool:
        """True when the data no longer matches the hash we recorded at our last write."""
        return self.recorded_hash is not None and self.recorded_hash != self.managed_hash


_SHARED: dict[Any, Any] = {}


def _shared(value: Any) -> Any:
    """One object for equal label dicts / key tuples (most of our Secrets have the same ones). Bounded:
    past 10,000 distinct values new ones are simply not shared."""
    key = tuple(sorted(value.items())) if isinstance(value, dict) else value
    found = _SHARED.get(key)
    if found is None:
        if len(_SHARED) >= 10000:
            return value
        found = _SHARED[key] = value
    return found


def project(body: Mapping[str, Any]) -> ObjectInfo:
    """The value-free projection of a Secret or ConfigMap body."""
    meta = body.get("metadata") or {}
    kind = str(body.get("kind") or "Secret")
    annotations = {k: str(v) for k, v in (meta.get("annotations") or {}).items() if k.startswith(f"{GROUP}/")}
    if kind == "Secret":
        data = {k: str(v) for k, v in (body.get("data") or {}).items()}
    else:
        data = {k: base64.b64encode(str(v).encode()).decode() for k, v in (body.get("data") or {}).items()}
        data.update({k: str(v) for k, v in (body.get("binaryData") or {}).items()})
    managed = annotations.get(ANN_MANAGED_KEYS)
    subset = data if managed is None else {k: data[k] for k in managed.split(",") if k and k in data}
    return ObjectInfo(
        kind=sys.intern(kind),
        namespace=sys.intern(str(meta.get("namespace") or "")),
        name=str(meta.get("name") or ""),
        uid=str(meta.get("uid") or ""),
        resource_version=str(meta.get("resourceVersion") or ""),
        type=sys.intern(str(body.get("type") or "")),
        labels=_shared({k: str(v) for k, v in (meta.get("labels") or {}).items()}),
        annotations=annotations,
        owner_refs=tuple(
            OwnerRef(str(r.get("apiVersion")), str(r.get("kind")), str(r.get("name")), str(r.get("uid")),
                     bool(r.get("controller")))
            for r in meta.get("ownerReferences") or []
        ),
        keys=_shared(tuple(sorted(data))),
        managed_hash=data_hash(subset),
    )


def _rv(body: Mapping[str, Any]) -> int:
    try:
        return int((body.get("metadata") or {}).get("resourceVersion") or 0)
    except ValueError:
        return 0


@dataclass
class ClusterCache:
    """Everything the reconciles read without asking the apiserver. Thread-safe."""

    secrets: dict[ObjKey, ObjectInfo] = field(default_factory=dict)
    configmaps: dict[ObjKey, ObjectInfo] = field(default_factory=dict)
    namespaces: dict[str, Mapping[str, str]] = field(default_factory=dict)  # name -> labels
    stores: dict[ObjKey, Mapping[str, Any]] = field(default_factory=dict)
    cluster_stores: dict[str, Mapping[str, Any]] = field(default_factory=dict)
    managed_secrets: PackedBodies[ObjKey] = field(default_factory=PackedBodies)
    bundles: PackedBodies[ObjKey] = field(default_factory=PackedBodies)
    push_secrets: PackedBodies[ObjKey] = field(default_factory=PackedBodies)
    cluster_managed_secrets: dict[str, Mapping[str, Any]] = field(default_factory=dict)
    dynamic_secrets: PackedBodies[ObjKey] = field(default_factory=PackedBodies)  # VaultDynamicSecrets
    # (kind, namespace, name) -> body of a generator object (Password, SSHKey, UUID)
    generators: dict[tuple[str, str, str], Mapping[str, Any]] = field(default_factory=dict)
    # (namespace, secret name) -> {(kind, name)} of workloads whose pod template references it
    usage: dict[ObjKey, set[tuple[str, str]]] = field(default_factory=lambda: defaultdict(set))
    _workload_refs: dict[tuple[str, str, str], set[str]] = field(default_factory=dict)
    # (namespace, kind, name) of a Secret/ConfigMap -> {(kind, namespace, name)} of our objects that care
    watchers: dict[tuple[str, str, str], set[tuple[str, str, str]]] = field(default_factory=lambda: defaultdict(set))
    _watching: dict[tuple[str, str, str], set[tuple[str, str, str]]] = field(default_factory=dict)
    _own_writes: dict[tuple[str, str, str], str] = field(default_factory=dict)
    # objects whose watchers or cached presence/label changed since ``take_changed_refs`` (watch.targets)
    _changed_refs: set[tuple[str, str, str]] = field(default_factory=set)
    lock: threading.RLock = field(default_factory=threading.RLock)

    def update_body(self, plural: str, body: Mapping[str, Any]) -> None:
        """Replace our own object's cached body with a newer one (e.g. the answer to a status PATCH)."""
        meta = body.get("metadata") or {}
        key = (str(meta.get("namespace") or ""), str(meta.get("name") or ""))
        table = {MANAGED_SECRET: self.managed_secrets, PUSH_SECRET: self.push_secrets,
                 VAULT_DYNAMIC_SECRET: self.dynamic_secrets}.get(plural, self.bundles)
        with self.lock:
            current = table.get(key)
            if current is not None and (current.get("metadata") or {}).get("uid") != meta.get("uid"):
                return
            if current is not None and _rv(current) > _rv(body):
                return
            table[key] = {**body, "metadata": {k: v for k, v in meta.items() if k != "managedFields"}}

    # -- Secrets / ConfigMaps ---------------------------------------------------------------------------

    def put_object(self, body: Mapping[str, Any], *, own_write: bool = False, if_absent: bool = False) -> ObjectInfo:
        """Cache the projection of ``body``; ``own_write`` marks it as the answer to our own write;
        ``if_absent`` (an object read by GET) keeps what the cache holds already (a watch's version, never
        replaced by a read's, which may be older)."""
        info = project(body)
        with self.lock:
            table = self.secrets if info.kind == "Secret" else self.configmaps
            old = table.get((info.namespace, info.name))
            if if_absent and old is not None:
                return old
            table[(info.namespace, info.name)] = info
            ref = (info.namespace, info.kind, info.name)
            if ref in self.watchers and (old is None or old.labels != info.labels):
                self._changed_refs.add(ref)
            if own_write:
                self._own_writes[(info.kind, info.namespace, info.name)] = info.resource_version
        return info

    def known_version(self, kind: str, namespace: str, name: str) -> str | None:
        """The resourceVersion of the cached projection, or None (a watch event at it is not news)."""
        with self.lock:
            info = (self.secrets if kind == "Secret" else self.configmaps).get((namespace, name))
            return info.resource_version if info is not None else None

    def is_own_write(self, info: ObjectInfo) -> bool:
        """True when ``info`` is the version our own last write produced (its watch event is an echo)."""
        with self.lock:
            return self._own_writes.get((info.kind, info.namespace, info.name)) == info.resource_version

    def drop_object(self, kind: str, namespace: str, name: str) -> None:
        with self.lock:
            if (namespace, kind, name) in self.watchers:
                self._changed_refs.add((namespace, kind, name))
            (self.secrets if kind == "Secret" else self.configmaps).pop((namespace, name), None)
            self._own_writes.pop((kind, namespace, name), None)

    def get_object(self, kind: str, namespace: str, name: str) -> ObjectInfo | None:
        with self.lock:
            return (self.secrets if kind == "Secret" else self.configmaps).get((namespace, name))

    # -- who cares about which Secret/ConfigMap ---------------------------------------------------------

    def set_watches(self, owner: tuple[str, str, str], objects: Iterable[tuple[str, str, str]]) -> None:
        """Record that ``owner`` (kind, ns, name) must re-sync when any of ``objects`` changes."""
        new = set(objects)
        with self.lock:
            self._changed_refs.update(self._watching.get(owner, set()) ^ new)
            for obj in self._watching.get(owner, set()) - new:
                self.watchers[obj].discard(owner)
                if not self.watchers[obj]:
                    del self.watchers[obj]
            for obj in new:
                self.watchers[obj].add(owner)
            if new:
                self._watching[owner] = new
            else:
                self._watching.pop(owner, None)

    def take_changed_refs(self) -> set[tuple[str, str, str]]:
        """The (namespace, kind, name) whose watchers, presence or labels changed since the last call."""
        with self.lock:
            changed, self._changed_refs = self._changed_refs, set()
            return changed

    def interested(self, namespace: str, kind: str, name: str) -> set[tuple[str, str, str]]:
        with self.lock:
            return set(self.watchers.get((namespace, kind, name), ()))

    # -- workload usage ---------------------------------------------------------------------------------

    def set_workload(self, namespace: str, kind: str, name: str, secret_names: Iterable[str]) -> set[str]:
        """Record which Secrets a workload references; returns the Secret names whose users changed."""
        key = (namespace, kind, name)
        new = set(secret_names)
        with self.lock:
            old = self._workload_refs.get(key, set())
            for secret in old - new:
                users = self.usage.get((namespace, secret))
                if users is not None:
                    users.discard((kind, name))
                    if not users:
                        del self.usage[(namespace, secret)]
            for secret in new - old:
                self.usage[(namespace, secret)].add((kind, name))
            if new:
                self._workload_refs[key] = new
            else:
                self._workload_refs.pop(key, None)
            return old ^ new

    def users_of(self, namespace: str, secret: str) -> list[tuple[str, str]]:
        with self.lock:
            return sorted(self.usage.get((namespace, secret), ()))
