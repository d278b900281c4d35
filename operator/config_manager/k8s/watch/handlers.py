"""The watch handlers: informer events feed the cache and the work queue; nothing here calls the API.

``feeds`` lists every informer of the operator (``watch.informer``) with the handler its events go to, in
two phases: phase 0 (namespaces, stores, generators, and the Secrets/ConfigMaps we manage, selected
server-side by our label) and phase 1 (ManagedSecrets, ConfigBundles, VaultDynamicSecrets, workloads,
and ``kinds``). Both list at once (``app.Operator._sync``: our decoding of one listing's pages overlaps the
apiserver serving another's), so a decision that reads a cache another listing fills waits in ``Watched``
until that cache is complete: a first sight (``first_delay`` reads whether the outputs are intact in the
Secret/ConfigMap cache) until phase 0 and its by-name watches have listed, a fan-out over our objects (a
store, generator or namespace change → its users) until every listing is done. The work queue runs
once every listing is done. Secrets/ConfigMaps we only read (store credentials, bundle sources, Merge
targets) are watched one by one by name (``watch.targets``), never every Secret of the cluster. The
decisions are the pure functions of ``triggers``.

To add a kind of our own: a row in ``OWN_KINDS`` (plural, kind, cache table) and a reconciler in
``app.Operator.dispatch``. kopf still runs the operator (start-up, shutdown, login) and
nothing else: no kopf handler lists or watches a resource.

The handlers are closures over the ``Watched`` state of one ``app.Operator``: there is no module-level
state, so two operators in one process do not share a cache.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .. import expiry
from ..api.conditions import get_condition
from ..api.resources import (
    CLUSTER_SECRET_STORE,
    CONFIG_BUNDLE,
    CONFIGMAPS,
    GENERATOR_PLURALS,
    LABEL_MANAGED_BY,
    MANAGED_BY_VALUE,
    MANAGED_SECRET,
    NAMESPACES,
    PODS,
    SECRET_STORE,
    SECRETS,
    STORE_KINDS,
    SYNCED_KINDS,
    VAULT_DYNAMIC_SECRET,
    WORKLOAD_PLURALS,
)
from ..context import Context
from ..spec.outputs import output_objects
from ..stores.resolve import store_from_body, store_key
from . import triggers
from .informer import Handler, Scope
from .triggers import Key, key_of
from .usage import referenced_secrets
from .workqueue import WorkQueue

log = logging.getLogger(__name__)


@dataclass
class Watched:
    """What the watch handlers feed: the reconcile context (its cache), the work queue, the keys seen.

    While the first listings run concurrently (``hold``), two kinds of decision wait for the caches they
    read: a first sight, for the Secret/ConfigMap caches (``first_sight``, made by ``decide_first_sights``
    once phase 0 and its by-name watches have listed), and a fan-out over our objects' tables (a store,
    generator or namespace change → its users: ``fan_out``, run by ``replay_fan_outs`` once every
    first listing is done). Not held (the default, as in a unit test): both are made at once."""

    ctx: Context | None = None
    queue: WorkQueue | None = None
    known: set[Key] = field(default_factory=set)
    # key -> its first-sight decision, waiting for complete Secret/ConfigMap caches; None: decide at once
    pending_first_sights: dict[Key, Callable[[], None]] | None = None
    # fan-outs waiting for complete tables of our objects; None: run at once
    pending_fan_outs: list[Callable[[], None]] | None = None

    def enqueue(self, key: Key, delay: float = 0.0, reason: str = "sync") -> None:
        if self.queue is not None:
            self.queue.add(key, delay, reason)

    def hold(self) -> None:
        """From now on first sights and fan-outs wait (the first listings are starting)."""
        self.pending_first_sights, self.pending_fan_outs = {}, []

    def first_sight(self, key: Key, decide: Callable[[], None]) -> None:
        """Make ``key``'s first-sight decision now, or once the Secret/ConfigMap caches are complete
        (the latest registered for a key is the one made)."""
        if self.pending_first_sights is None:
            decide()
        else:
            self.pending_first_sights[key] = decide

    def drop_first_sight(self, key: Key) -> None:
        if self.pending_first_sights is not None:
            self.pending_first_sights.pop(key, None)

    def decide_first_sights(self) -> int:
        """The Secret/ConfigMap caches are complete: make the waiting first sights, then decide at once."""
        pending, self.pending_first_sights = self.pending_first_sights or {}, None
        for decide in pending.values():
            decide()
        return len(pending)

    def fan_out(self, run: Callable[[], None]) -> None:
        """Run ``run`` (it reads our objects' tables to enqueue their users) now, or once they are complete."""
        if self.pending_fan_outs is None:
            run()
        else:
            self.pending_fan_outs.append(run)

    def replay_fan_outs(self) -> int:
        """Every first listing is complete: run the fan-outs that waited, then run them at once."""
        pending, self.pending_fan_outs = self.pending_fan_outs or [], None
        for run in pending:
            run()
        return len(pending)

    def dependents(self, store_kind: str, store_name: str, namespace: str | None) -> list[Key]:
        assert self.ctx is not None
        cache = self.ctx.cache
        with cache.lock:
            return triggers.dependents((("ManagedSecret", cache.managed_secrets), ("ConfigBundle", cache.bundles)),
                                       store_kind, store_name, namespace)


def cached(body: Mapping[str, Any]) -> dict[str, Any]:
    """The body as the cache keeps it: without ``metadata.managedFields`` (never read here; about 10 KB of
    Python objects per ManagedSecret, most of the cache's memory). The informers hand over freshly
    decoded dicts that nothing else holds, so this edits in place instead of copying."""
    out = body if isinstance(body, dict) else dict(body)
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


#: Kinds whose status reports an earliest expiry (``status.expiresAt``): ManagedSecret (store expiry,
#: certificates), VaultDynamicSecret (the lease's end).
EXPIRING_KINDS = frozenset({"ManagedSecret", "VaultDynamicSecret"})


def _own_object_event(w: Watched, kind: str, plural: str, table_name: str, etype: str | None,
                      body: Mapping[str, Any]) -> None:
    _own_object_cache(w, kind, table_name, etype, body)
    _rotation_event(w, kind, plural, etype, body)


def _own_object_cache(w: Watched, kind: str, table_name: str, etype: str | None, body: Mapping[str, Any]) -> None:
    assert w.ctx is not None
    key = key_of(kind, body)
    cache = w.ctx.cache
    table = getattr(cache, table_name)
    if kind in EXPIRING_KINDS:  # the expiry gauge follows status, so it is complete right after a restart
        if etype == "DELETED":
            expiry.forget(key[1], kind, key[2])
        else:
            expiry.gauge_from_status(key[1], kind, key[2], body.get("status"))
    if etype == "DELETED":
        with cache.lock:
            table.pop(key[1:], None)
        cache.set_watches(key, [])
        w.known.discard(key)
        w.drop_first_sight(key)
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
        w.first_sight(key, lambda: _first_sight(w, key, table))
        return
    if (new.get("metadata") or {}).get("deletionTimestamp"):
        return
    if triggers.spec_changed(old, new):
        w.enqueue(key, 0.0)


def _first_sight(w: Watched, key: Key, table: Mapping[tuple[str, str], Mapping[str, Any]]) -> None:
    """Enqueue an object of ours first seen by this process: at once, or at its refresh time when it is
    synced and what it writes is intact in the cache. Made on its latest cached body (``Watched.first_sight``
    may have held it until the Secret/ConfigMap caches were complete)."""
    assert w.ctx is not None
    with w.ctx.cache.lock:
        body = table.get(key[1:])
    if body is None:
        return  # deleted meanwhile
    config = w.ctx.config
    w.enqueue(key, triggers.first_delay(body, default_refresh="1h", spread=config.startup_spread,
                                        jitter=config.refresh_jitter, outputs_intact=lambda: _outputs_intact(w, body)))


def _dynamic_secret_event(w: Watched, etype: str | None, body: Mapping[str, Any]) -> None:
    """A VaultDynamicSecret: as our other objects, plus a pass when its deletion starts (its finalizer
    revokes the leases)."""
    _own_object_cache(w, "VaultDynamicSecret", "dynamic_secrets", etype, body)
    if etype != "DELETED" and (body.get("metadata") or {}).get("deletionTimestamp"):
        w.enqueue(key_of("VaultDynamicSecret", body), 0.0, "delete")


def _rotation_event(w: Watched, kind: str, plural: str, etype: str | None, body: Mapping[str, Any]) -> None:
    """An immediate pass for a new rotate annotation; on first sight, a pass when a rotation is due."""
    if w.queue is None or etype == "DELETED":
        return
    delay = triggers.rotation_wake(etype, body)
    if delay is not None:
        w.enqueue(key_of(kind, body), delay, "rotate")


# -- stores -------------------------------------------------------------------------------------------

def _store_event(w: Watched, kind: str, etype: str | None, body: Mapping[str, Any]) -> None:
    assert w.ctx is not None
    key = key_of(kind, body)
    _, namespace, name = key
    cache = w.ctx.cache
    table: Any = cache.stores if kind == "SecretStore" else cache.cluster_stores
    table_key: Any = (namespace, name) if kind == "SecretStore" else name
    if etype == "DELETED":
        with cache.lock:
            table.pop(table_key, None)
        w.known.discard(key)
        cache.set_watches(key, [])
        w.ctx.providers.forget_store(store_key(kind, namespace, name))
        _users_of_store(w, kind, name, namespace, 0.0)
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
        # at once: a credential not cached yet is read (and cached) by the provider's build, so its by-name
        # watch listing it a moment later does not rebuild the provider (stores/resolve.py)
        w.enqueue(key, 0.0)
        if not first:
            w.ctx.providers.forget_store(store_key(kind, namespace, name))
            _users_of_store(w, kind, name, namespace, 0.5)
    elif triggers.ready_turned_true(old, new):
        _users_of_store(w, kind, name, namespace, 0.5)


def _users_of_store(w: Watched, kind: str, name: str, namespace: str, delay: float) -> None:
    """Enqueue the ManagedSecrets and ConfigBundles that use a store (once their tables are complete)."""
    def run() -> None:
        for dep in w.dependents(kind, name, namespace or None):
            w.enqueue(dep, delay)
    w.fan_out(run)


def _watch_store_objects(w: Watched, key: Key, body: Mapping[str, Any]) -> None:
    """A store re-validates (and its users re-sync) when its blob or credential objects change."""
    assert w.ctx is not None
    kind, namespace, name = key
    store = store_from_body(kind, name, namespace or None, body)
    try:
        refs = store.credential_refs() if store is not None else []
    except Exception:  # noqa: BLE001 - an invalid reference is reported by the store's reconcile
        refs = []
    objects = [(ns, k, n) for _p, k, ns, n in refs]
    w.ctx.cache.set_watches(key, objects)


# -- generators (Password, SSHKey, UUID) ----------------------------------------------------------------

def _generator_key(kind: str, body: Mapping[str, Any]) -> tuple[str, str, str]:
    meta = body.get("metadata") or {}
    return (kind, str(meta.get("namespace") or ""), str(meta.get("name") or ""))


def _generator_event(w: Watched, kind: str, etype: str | None, body: Mapping[str, Any]) -> None:
    """Keep the generator's body; a ManagedSecret (or a bundle's rotation) of its namespace that names it syncs again when it
    appears, changes or goes (a kept value stays kept: only a missing one is generated). Its users are
    looked up once their tables are complete (``Watched.fan_out``)."""
    assert w.ctx is not None
    cache = w.ctx.cache
    key = _generator_key(kind, body)
    with cache.lock:
        if etype == "DELETED":
            cache.generators.pop(key, None)
        else:
            cache.generators[key] = cached(body)
    w.fan_out(lambda: _users_of_generator(w, key, initial=etype is None))


def _users_of_generator(w: Watched, key: tuple[str, str, str], *, initial: bool) -> None:
    assert w.ctx is not None
    cache = w.ctx.cache
    kind, namespace, name = key
    tables = {"ManagedSecret": cache.managed_secrets, "ConfigBundle": cache.bundles}
    with cache.lock:
        users = [(user_kind, ns, obj_name, obj)
                 for user_kind, table in tables.items()
                 for (ns, obj_name), obj in table.items()
                 if ns == namespace and triggers.names_generator(obj.get("spec") or {}, kind, name)]
    for user_kind, ns, obj_name, obj in users:
        # the initial listing is not a change: only users that were waiting for this generator
        if not initial or (get_condition(obj.get("status") or {}, "Ready") or {}).get("reason") == "GeneratorNotFound":
            w.enqueue((user_kind, ns, obj_name), 0.5)


# -- namespaces -----------------------------------------------------------------------------------------

def _namespace_event(w: Watched, etype: str | None, body: Mapping[str, Any]) -> None:
    assert w.ctx is not None
    meta = body.get("metadata") or {}
    name = str(meta.get("name"))
    cache = w.ctx.cache
    with cache.lock:
        old = cache.namespaces.get(name)
        if etype == "DELETED":
            cache.namespaces.pop(name, None)
            return
        cache.namespaces[name] = dict(meta.get("labels") or {})
    if old is not None and old != cache.namespaces[name]:
        w.fan_out(lambda: _users_in_namespace(w, name))  # admission by ClusterSecretStore conditions may have changed


def _users_in_namespace(w: Watched, namespace: str) -> None:
    assert w.ctx is not None
    cache = w.ctx.cache
    with cache.lock:
        users = [("ManagedSecret", ns, n) for (ns, n) in cache.managed_secrets if ns == namespace]
        users += [("ConfigBundle", ns, n) for (ns, n) in cache.bundles if ns == namespace]
    for key in users:
        w.enqueue(key, 1.0)


# -- Secrets and ConfigMaps -----------------------------------------------------------------------------

def _object_event(w: Watched, kind: str, etype: str | None, body: Mapping[str, Any]) -> None:
    assert w.ctx is not None
    cache = w.ctx.cache
    meta = body.get("metadata") or {}
    namespace, name = str(meta.get("namespace")), str(meta.get("name"))
    if etype != "DELETED" and cache.known_version(kind, namespace, name) == meta.get("resourceVersion"):
        return  # the echo of our own write (cached from its answer), or the same version seen by another watch
    interested = cache.interested(namespace, kind, name)
    if etype == "DELETED":
        cache.drop_object(kind, namespace, name)
        w.ctx.sources.forget(namespace, kind, name)
        for owner in interested:
            w.enqueue(owner, 0.0)
        return
    info = cache.put_object(body)
    if not interested or cache.is_own_write(info):
        return  # nobody cares, or the echo of our own write
    initial = etype is None  # the informer's first listing: first sight of this object by this process
    for owner in interested:
        if owner[0] in STORE_KINDS:
            if initial:
                continue  # not a change; the store is validated on its own first sight anyway
            w.enqueue(owner, 0.5)
            w.ctx.providers.forget_store(store_key(*owner))
            _users_of_store(w, owner[0], owner[2], owner[1], 1.0)
        elif info.recorded_hash is None or info.drifted() or info.owner is None:
            w.enqueue(owner, 0.0)  # a source changed, a foreign object changed, or our data was edited


# -- workloads (registered only when tracking is on) -----------------------------------------------------

def _workload_event(w: Watched, etype: str | None, body: Mapping[str, Any]) -> None:
    assert w.ctx is not None
    meta = body.get("metadata") or {}
    namespace, name, kind = str(meta.get("namespace")), str(meta.get("name")), str(body.get("kind"))
    names = set() if etype == "DELETED" else referenced_secrets(body)
    changed = w.ctx.cache.set_workload(namespace, kind, name, names)
    for secret in changed:
        for owner in w.ctx.cache.interested(namespace, "Secret", secret):
            if owner[0] in SYNCED_KINDS:
                w.enqueue(owner, 2.0, "usage")


# -- registration -----------------------------------------------------------------------------------------

#: Our own kinds reconciled from the cache: (plural, kind, ClusterCache table). Add a row for a new kind.
OWN_KINDS: tuple[tuple[str, str, str], ...] = (
    (MANAGED_SECRET, "ManagedSecret", "managed_secrets"),
    (CONFIG_BUNDLE, "ConfigBundle", "bundles"),
)

#: The label every Secret/ConfigMap we write carries: the server-side selector of the object informers.
MANAGED_SELECTOR = f"{LABEL_MANAGED_BY}={MANAGED_BY_VALUE}"


@dataclass(frozen=True)
class Feed:
    """One informer: its phase (0: what first sights read; listed at the same time as 1), scope, kind and handler."""

    phase: int
    scope: Scope
    kind: str
    handler: Handler


def object_handler(w: Watched, kind: str) -> Handler:
    """The handler of a Secret or ConfigMap informer (labelled or by name)."""
    return lambda etype, body: _object_event(w, kind, etype, body)


def generator_handler(w: Watched, kind: str) -> Handler:
    """The handler of a generator kind (Password, SSHKey, UUID): kept in the cache, its users re-synced."""
    return lambda etype, body: _generator_event(w, kind, etype, body)


def own_handler(w: Watched, kind: str, plural: str, table: str) -> Handler:
    """The handler of one of our own kinds (``OWN_KINDS``): cache, first-sight and spec-change decisions."""
    return lambda etype, body: _own_object_event(w, kind, plural, table, etype, body)


def feeds(w: Watched, namespaces: list[str], *, track_workloads: bool) -> list[Feed]:
    """Every informer of the operator; ``namespaces`` empty: cluster-wide, else one per namespace."""
    scopes: list[str | None] = list(namespaces) or [None]
    out = [Feed(0, Scope(NAMESPACES), "Namespace", lambda etype, body: _namespace_event(w, etype, body)),
           Feed(0, Scope(CLUSTER_SECRET_STORE), "ClusterSecretStore",
                lambda etype, body: _store_event(w, "ClusterSecretStore", etype, body))]
    for ns in scopes:
        out.append(Feed(0, Scope(SECRET_STORE, ns), "SecretStore", lambda etype, body: _store_event(w, "SecretStore", etype, body)))
        for kind, plural in GENERATOR_PLURALS.items():
            out.append(Feed(0, Scope(plural, ns), kind, generator_handler(w, kind)))
        out.append(Feed(1, Scope(VAULT_DYNAMIC_SECRET, ns), "VaultDynamicSecret",
                        lambda etype, body: _dynamic_secret_event(w, etype, body)))
        for plural, kind in ((SECRETS, "Secret"), (CONFIGMAPS, "ConfigMap")):
            out.append(Feed(0, Scope(plural, ns, label_selector=MANAGED_SELECTOR), kind, object_handler(w, kind)))
        for plural, kind, table in OWN_KINDS:
            out.append(Feed(1, Scope(plural, ns), kind, own_handler(w, kind, plural, table)))
        if track_workloads:
            for kind, plural in (("Pod", PODS), *WORKLOAD_PLURALS.items()):
                out.append(Feed(1, Scope(plural, ns), kind, lambda etype, body: _workload_event(w, etype, body)))
    return out
