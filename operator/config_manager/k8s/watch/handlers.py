"""kopf registrations: watch streams feed the cache and the work queue; nothing here calls the API.

Every resource has an ``index`` handler (so kopf lists them all before any ``event`` handler runs — the
cache is complete before the first reconcile is scheduled) and an ``event`` handler that decides what to
enqueue (the decisions are the pure functions of ``triggers``). No create/update/delete/timer/daemon
handlers: kopf therefore never PATCHes our objects and adds no finalizer.

The handlers are registered on the registry of one ``app.Operator`` by ``register``, as closures over its
``Watched`` state: there is no module-level state, so two operators in one process do not share a cache.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import kopf

from ..api.conditions import get_condition
from ..api.resources import (
    CLUSTER_SECRET_STORE,
    CONFIG_BUNDLE,
    CONFIGMAPS,
    GENERATOR_PLURALS,
    GROUP,
    MANAGED_SECRET,
    NAMESPACES,
    PODS,
    SECRET_STORE,
    SECRETS,
    STORE_KINDS,
    SYNCED_KINDS,
    VAULT_DYNAMIC_SECRET,
    VERSION,
    WORKLOAD_PLURALS,
)
from ..context import Context
from ..spec.outputs import output_objects
from ..stores.resolve import store_from_body, store_key
from . import triggers
from .triggers import Key, key_of
from .usage import referenced_secrets
from .workqueue import WorkQueue

log = logging.getLogger(__name__)


@dataclass
class Watched:
    """What the watch handlers feed: the reconcile context (its cache), the work queue, the keys seen."""

    ctx: Context | None = None
    queue: WorkQueue | None = None
    known: set[Key] = field(default_factory=set)

    def enqueue(self, key: Key, delay: float = 0.0, reason: str = "sync") -> None:
        if self.queue is not None:
            self.queue.add(key, delay, reason)

    def dependents(self, store_kind: str, store_name: str, namespace: str | None) -> list[Key]:
        assert self.ctx is not None
        cache = self.ctx.cache
        with cache.lock:
            return triggers.dependents((("ManagedSecret", cache.managed_secrets), ("ConfigBundle", cache.bundles)),
                                       store_kind, store_name, namespace)


def to_dict(obj: Any) -> Any:
    """A kopf body (mappings and lists of its own types) as plain dicts and lists."""
    if isinstance(obj, Mapping):
        return {k: to_dict(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [to_dict(v) for v in obj]
    return obj


def cached(body: Mapping[str, Any]) -> dict[str, Any]:
    """The body as the cache keeps it: a plain dict without ``metadata.managedFields`` (never read here;
    about 10 KB of Python objects per ManagedSecret, most of the cache's memory)."""
    out: dict[str, Any] = to_dict(body)
    (out.get("metadata") or {}).pop("managedFields", None)
    return out


# -- our objects --------------------------------------------------------------------------------------

def _outputs_intact(w: Watched, body: Mapping[str, Any]) -> bool:
    """True when the objects this ManagedSecret/ConfigBundle writes exist and hold what we wrote (cache only)."""
    assert w.ctx is not None
    ns = str((body.get("metadata") or {}).get("namespace"))
    for kind, name in output_objects(body):
        info = w.ctx.cache.get_object(kind, ns, name)
        if info is None or info.drifted():
            return False
    return True


def _own_object_event(w: Watched, kind: str, table_name: str, event: Mapping[str, Any], body: Mapping[str, Any]) -> None:
    assert w.ctx is not None
    key = key_of(kind, body)
    cache = w.ctx.cache
    table = getattr(cache, table_name)
    if event.get("type") == "DELETED":
        with cache.lock:
            table.pop(key[1:], None)
        cache.set_watches(key, [])
        w.known.discard(key)
        w.ctx.forget(*key)
        if w.queue is not None:
            w.queue.forget(key)
        return
    new = cached(body)
    with cache.lock:
        old = table.get(key[1:])
        table[key[1:]] = new
    if key not in w.known:
        w.known.add(key)
        config = w.ctx.config
        w.enqueue(key, triggers.first_delay(new, default_refresh="1h", spread=config.startup_spread,
                                            jitter=config.refresh_jitter, outputs_intact=lambda: _outputs_intact(w, new)))
        return
    if (new.get("metadata") or {}).get("deletionTimestamp"):
        return
    if triggers.spec_changed(old, new):
        w.enqueue(key, 0.0)


def _dynamic_secret_event(w: Watched, event: Mapping[str, Any], body: Mapping[str, Any]) -> None:
    """A VaultDynamicSecret: as our other objects, plus a pass when its deletion starts (its finalizer
    revokes the leases)."""
    _own_object_event(w, "VaultDynamicSecret", "dynamic_secrets", event, body)
    if event.get("type") != "DELETED" and (body.get("metadata") or {}).get("deletionTimestamp"):
        w.enqueue(key_of("VaultDynamicSecret", body), 0.0, "delete")


def _rotation_event(w: Watched, kind: str, plural: str, event: Mapping[str, Any], body: Mapping[str, Any]) -> None:
    """An immediate pass for a new rotate annotation; on first sight, a pass when a rotation is due."""
    if w.queue is None or event.get("type") == "DELETED":
        return
    data: dict[str, Any] = to_dict(body)
    if w.ctx is not None:
        w.ctx.cache.update_body(plural, data)  # so the pass sees this event's annotation
    delay = triggers.rotation_wake(event.get("type"), data)
    if delay is not None:
        w.enqueue(key_of(kind, data), delay, "rotate")


# -- stores -------------------------------------------------------------------------------------------

def _store_event(w: Watched, kind: str, event: Mapping[str, Any], body: Mapping[str, Any]) -> None:
    assert w.ctx is not None
    key = key_of(kind, body)
    _, namespace, name = key
    cache = w.ctx.cache
    table: Any = cache.stores if kind == "SecretStore" else cache.cluster_stores
    table_key: Any = (namespace, name) if kind == "SecretStore" else name
    if event.get("type") == "DELETED":
        with cache.lock:
            table.pop(table_key, None)
        w.known.discard(key)
        cache.set_watches(key, [])
        w.ctx.providers.forget_store(store_key(kind, namespace, name))
        for dep in w.dependents(kind, name, namespace or None):
            w.enqueue(dep, 0.0)
        return
    new = cached(body)
    with cache.lock:
        old = table.get(table_key)
        table[table_key] = new
    _watch_store_objects(w, key, new)
    first = key not in w.known
    w.known.add(key)
    old_gen = ((old or {}).get("metadata") or {}).get("generation")
    if first or old_gen != (new.get("metadata") or {}).get("generation"):
        w.enqueue(key, 0.0)
        if not first:
            w.ctx.providers.forget_store(store_key(kind, namespace, name))
            for dep in w.dependents(kind, name, namespace or None):
                w.enqueue(dep, 0.5)
    elif triggers.ready_turned_true(old, new):
        for dep in w.dependents(kind, name, namespace or None):
            w.enqueue(dep, 0.5)


def _watch_store_objects(w: Watched, key: Key, body: Mapping[str, Any]) -> None:
    """A store re-validates (and its users re-sync) when its blob or credential objects change."""
    assert w.ctx is not None
    kind, namespace, name = key
    store = store_from_body(kind, name, namespace or None, body)
    try:
        refs = store.credential_refs() if store is not None else []
    except Exception:  # noqa: BLE001 - an invalid reference is reported by the store's reconcile
        refs = []
    w.ctx.cache.set_watches(key, [(ns, k, n) for _p, k, ns, n in refs])


# -- generators (Password, SSHKey, UUID) ----------------------------------------------------------------

def _generator_key(kind: str, body: Mapping[str, Any]) -> tuple[str, str, str]:
    meta = body.get("metadata") or {}
    return (kind, str(meta.get("namespace") or ""), str(meta.get("name") or ""))


def _generator_event(w: Watched, kind: str, event: Mapping[str, Any], body: Mapping[str, Any]) -> None:
    """Keep the generator's body; a ManagedSecret (or a bundle's rotation) of its namespace that names it syncs again when it
    appears, changes or goes (a kept value stays kept: only a missing one is generated)."""
    assert w.ctx is not None
    cache = w.ctx.cache
    key = _generator_key(kind, body)
    with cache.lock:
        if event.get("type") == "DELETED":
            cache.generators.pop(key, None)
        else:
            cache.generators[key] = cached(body)
        users = [(user_kind, ns, name)
                 for user_kind, table in (("ManagedSecret", cache.managed_secrets), ("ConfigBundle", cache.bundles))
                 for (ns, name), obj in table.items()
                 if ns == key[1] and triggers.names_generator(obj.get("spec") or {}, kind, key[2])]
    if event.get("type") is None:
        # the initial listing is not a change: only users that were waiting for this generator
        tables = {"ManagedSecret": cache.managed_secrets, "ConfigBundle": cache.bundles}
        users = [u for u in users
                 if (get_condition((tables[u[0]].get(u[1:]) or {}).get("status") or {}, "Ready") or {}).get("reason")
                 == "GeneratorNotFound"]
    for user in users:
        w.enqueue(user, 0.5)


# -- namespaces -----------------------------------------------------------------------------------------

def _namespace_event(w: Watched, event: Mapping[str, Any], body: Mapping[str, Any]) -> None:
    assert w.ctx is not None
    meta = body.get("metadata") or {}
    name = str(meta.get("name"))
    cache = w.ctx.cache
    with cache.lock:
        old = cache.namespaces.get(name)
        if event.get("type") == "DELETED":
            cache.namespaces.pop(name, None)
            return
        cache.namespaces[name] = dict(meta.get("labels") or {})
    if old is not None and old != cache.namespaces[name]:
        # admission by ClusterSecretStore conditions may have changed
        with cache.lock:
            users = [("ManagedSecret", ns, n) for (ns, n) in cache.managed_secrets if ns == name]
            users += [("ConfigBundle", ns, n) for (ns, n) in cache.bundles if ns == name]
        for key in users:
            w.enqueue(key, 1.0)


# -- Secrets and ConfigMaps -----------------------------------------------------------------------------

def _object_event(w: Watched, kind: str, event: Mapping[str, Any], body: Mapping[str, Any]) -> None:
    assert w.ctx is not None
    cache = w.ctx.cache
    meta = body.get("metadata") or {}
    namespace, name = str(meta.get("namespace")), str(meta.get("name"))
    interested = cache.interested(namespace, kind, name)
    if event.get("type") == "DELETED":
        cache.drop_object(kind, namespace, name)
        w.ctx.sources.forget(namespace, kind, name)
        for owner in interested:
            w.enqueue(owner, 0.0)
        return
    info = cache.put_object(body)
    if not interested or cache.is_own_write(info):
        return  # nobody cares, or the echo of our own write
    initial = event.get("type") is None  # kopf's initial listing: first sight of this object by this process
    for owner in interested:
        if owner[0] in STORE_KINDS:
            if initial:
                continue  # not a change; the store is validated on its own first sight anyway
            w.enqueue(owner, 0.5)
            w.ctx.providers.forget_store(store_key(*owner))
            for dep in w.dependents(owner[0], owner[2], owner[1] or None):
                w.enqueue(dep, 1.0)
        elif info.recorded_hash is None or info.drifted() or info.owner is None:
            w.enqueue(owner, 0.0)  # a source changed, a foreign object changed, or our data was edited


# -- workloads (registered only when tracking is on) -----------------------------------------------------

def _workload_event(w: Watched, event: Mapping[str, Any], body: Mapping[str, Any]) -> None:
    assert w.ctx is not None
    meta = body.get("metadata") or {}
    namespace, name, kind = str(meta.get("namespace")), str(meta.get("name")), str(body.get("kind"))
    names = set() if event.get("type") == "DELETED" else referenced_secrets(body)
    changed = w.ctx.cache.set_workload(namespace, kind, name, names)
    for secret in changed:
        for owner in w.ctx.cache.interested(namespace, "Secret", secret):
            if owner[0] in SYNCED_KINDS:
                w.enqueue(owner, 2.0, "usage")


# -- registration -----------------------------------------------------------------------------------------

Handler = Callable[..., Any]


def _index_into(w: Watched, table_name: str, table_key: Callable[[Mapping[str, Any]], Any]) -> Handler:
    def index(body: kopf.Body, **_: Any) -> None:
        if w.ctx is not None:
            with w.ctx.cache.lock:
                getattr(w.ctx.cache, table_name).setdefault(table_key(body), cached(body))
    return index


def _namespaced(body: Mapping[str, Any]) -> tuple[str, str]:
    meta = body.get("metadata") or {}
    return (str(meta.get("namespace") or ""), str(meta.get("name") or ""))


def _cluster_scoped(body: Mapping[str, Any]) -> str:
    return str((body.get("metadata") or {}).get("name"))


def register(registry: kopf.OperatorRegistry, w: Watched, *, track_workloads: bool) -> None:
    """Register every watch of the operator on ``registry`` (order matters: kopf calls them in order)."""

    def on_index(group: str, version: str, plural: str, handler: Handler, id_: str) -> None:
        kopf.index(group, version, plural, id=id_, registry=registry)(handler)

    def on_event(group: str, version: str, plural: str, handler: Handler, id_: str) -> None:
        kopf.on.event(group, version, plural, id=id_, registry=registry)(handler)

    def object_indexer(body: kopf.Body, **_: Any) -> None:
        if w.ctx is not None:
            w.ctx.cache.put_object(body)

    def namespace_indexer(body: kopf.Body, **_: Any) -> None:
        if w.ctx is not None:
            meta = body.get("metadata") or {}
            with w.ctx.cache.lock:
                w.ctx.cache.namespaces.setdefault(str(meta.get("name")), dict(meta.get("labels") or {}))

    for plural, kind, table in ((MANAGED_SECRET, "ManagedSecret", "managed_secrets"),
                                (CONFIG_BUNDLE, "ConfigBundle", "bundles")):
        on_index(GROUP, VERSION, plural, _index_into(w, table, _namespaced), f"{plural}-index")
        on_event(GROUP, VERSION, plural,
                 lambda event, body, _k=kind, _t=table, **_: _own_object_event(w, _k, _t, event, body), f"{plural}-event")
    on_index(GROUP, VERSION, VAULT_DYNAMIC_SECRET, _index_into(w, "dynamic_secrets", _namespaced), f"{VAULT_DYNAMIC_SECRET}-index")
    on_event(GROUP, VERSION, VAULT_DYNAMIC_SECRET, lambda event, body, **_: _dynamic_secret_event(w, event, body),
             f"{VAULT_DYNAMIC_SECRET}-event")
    for plural, kind, table, table_key in ((SECRET_STORE, "SecretStore", "stores", _namespaced),
                                           (CLUSTER_SECRET_STORE, "ClusterSecretStore", "cluster_stores", _cluster_scoped)):
        on_index(GROUP, VERSION, plural, _index_into(w, table, table_key), f"{plural}-index")
        on_event(GROUP, VERSION, plural, lambda event, body, _k=kind, **_: _store_event(w, _k, event, body), f"{plural}-event")
    for kind, plural in GENERATOR_PLURALS.items():
        on_index(GROUP, VERSION, plural, _index_into(w, "generators", partial(_generator_key, kind)), f"{plural}-index")
        on_event(GROUP, VERSION, plural, lambda event, body, _k=kind, **_: _generator_event(w, _k, event, body),
                 f"{plural}-event")
    on_index("", "v1", NAMESPACES, namespace_indexer, "namespaces-index")
    on_event("", "v1", NAMESPACES, lambda event, body, **_: _namespace_event(w, event, body), "namespaces-event")
    for plural, kind in ((SECRETS, "Secret"), (CONFIGMAPS, "ConfigMap")):
        on_index("", "v1", plural, object_indexer, f"{plural}-index")
        on_event("", "v1", plural, lambda event, body, _k=kind, **_: _object_event(w, _k, event, body), f"{plural}-event")
    if track_workloads:
        for group, plural in (("", PODS), *(("apps", p) for p in WORKLOAD_PLURALS.values())):
            on_event(group, "v1", plural, lambda event, body, **_: _workload_event(w, event, body), f"usage-{plural}")
    # Rotation triggers: async, so they run on the event loop where the work queue lives; after the sync
    # handlers of the same object, so the cache already holds the body they look at.
    for plural, kind in ((MANAGED_SECRET, "ManagedSecret"), (CONFIG_BUNDLE, "ConfigBundle")):
        async def rotation(event: kopf.RawEvent, body: kopf.Body, _k: str = kind, _p: str = plural, **_: Any) -> None:
            _rotation_event(w, _k, _p, event, body)
        on_event(GROUP, VERSION, plural, rotation, f"{plural}-rotation")
