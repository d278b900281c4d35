"""kopf registrations: watch streams feed the cache and the work queue; nothing here calls the API.

Every resource has an ``index`` handler (so kopf lists them all before any ``event`` handler runs — the
cache is complete before the first reconcile is scheduled) and an ``event`` handler that decides what to
enqueue. No create/update/delete/timer/daemon handlers: kopf therefore never PATCHes our objects and adds
no finalizer.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

import kopf

from ..reconcile import configbundle, managedsecret, secretstore
from ..context import Context
from ..spec.durations import parse_duration
from ..api.resources import ANN_FORCE_SYNC, GROUP, VERSION
from ..reconcile.status import get_condition
from .usage import referenced_secrets
from .workqueue import WorkQueue

log = logging.getLogger(__name__)

Key = tuple[str, str, str]  # (kind, namespace, name)


class Runtime:
    """The running operator's state, created by the startup handler."""

    ctx: Context | None = None
    queue: WorkQueue | None = None
    known: set[Key] = set()


RT = Runtime()


def dispatch(key: Key, reason: str) -> float | None:
    """Run the reconcile for ``key`` (called on a worker thread)."""
    assert RT.ctx is not None
    kind, namespace, name = key
    if kind == "ManagedSecret":
        return managedsecret.reconcile(RT.ctx, namespace, name, reason=reason)
    if kind == "ConfigBundle":
        return configbundle.reconcile(RT.ctx, namespace, name, reason=reason)
    if kind in ("SecretStore", "ClusterSecretStore"):
        return secretstore.reconcile(RT.ctx, kind, namespace, name)
    return None


def _enqueue(key: Key, delay: float = 0.0, reason: str = "sync") -> None:
    if RT.queue is not None:
        RT.queue.add(key, delay, reason)


def _key(kind: str, body: Mapping[str, Any]) -> Key:
    meta = body.get("metadata") or {}
    return (kind, str(meta.get("namespace") or ""), str(meta.get("name") or ""))


def _to_dict(obj: Any) -> Any:
    if isinstance(obj, Mapping):
        return {k: _to_dict(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_to_dict(v) for v in obj]
    return obj


def _cached(body: Mapping[str, Any]) -> dict[str, Any]:
    """The body as the cache keeps it: a plain dict without ``metadata.managedFields`` (never read here;
    about 10 KB of Python objects per ManagedSecret, most of the cache's memory)."""
    out: dict[str, Any] = _to_dict(body)
    (out.get("metadata") or {}).pop("managedFields", None)
    return out


# -- our objects --------------------------------------------------------------------------------------

def _first_delay(body: Mapping[str, Any], default_refresh: str) -> float:
    """When to look at an object first seen by this process (start-up or creation)."""
    assert RT.ctx is not None
    spread = random.uniform(0.0, RT.ctx.config.startup_spread)
    meta = body.get("metadata") or {}
    status = body.get("status") or {}
    ready = get_condition(status, "Ready")
    force = (meta.get("annotations") or {}).get(ANN_FORCE_SYNC)
    if (meta.get("generation") != status.get("observedGeneration") or ready is None or ready.get("status") != "True"
            or (force is not None and force != status.get("forceSync"))):
        return 0.0 if status == {} else spread
    try:
        interval = parse_duration(str((body.get("spec") or {}).get("refreshInterval", default_refresh)))
        refreshed = datetime.strptime(str(status.get("refreshTime")), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    except (ValueError, TypeError):
        return spread
    if not _outputs_intact(body):
        return spread  # deleted or edited while we were away
    if interval <= 0:
        return spread  # check the target once after start (drift while we were away)
    age = (datetime.now(timezone.utc) - refreshed).total_seconds()
    if age >= interval:
        return spread
    return (interval - age) * (1.0 + random.uniform(0.0, RT.ctx.config.refresh_jitter))


def _outputs_intact(body: Mapping[str, Any]) -> bool:
    """True when the objects this ManagedSecret/ConfigBundle writes exist and hold what we wrote (cache only)."""
    assert RT.ctx is not None
    meta = body.get("metadata") or {}
    spec = body.get("spec") or {}
    ns, name = str(meta.get("namespace")), str(meta.get("name"))
    if body.get("kind") == "ConfigBundle":
        output = spec.get("output") or {}
        outputs = []
        if (output.get("configMap") or {}).get("enabled", True):
            outputs.append(("ConfigMap", (output.get("configMap") or {}).get("name") or name))
        if (output.get("secret") or {}).get("enabled", True):
            outputs.append(("Secret", (output.get("secret") or {}).get("name") or f"{name}-secret"))
    else:
        outputs = [("Secret", (spec.get("target") or {}).get("name") or name)]
    for kind, obj_name in outputs:
        info = RT.ctx.cache.get_object(kind, ns, str(obj_name))
        if info is None or info.drifted():
            return False
    return True


def _own_object_event(kind: str, table: str, event: Mapping[str, Any], body: Mapping[str, Any]) -> None:
    assert RT.ctx is not None
    key = _key(kind, body)
    cache = RT.ctx.cache
    store = getattr(cache, table)
    if event.get("type") == "DELETED":
        with cache.lock:
            store.pop(key[1:], None)
        cache.set_watches(key, [])
        RT.known.discard(key)
        RT.ctx.forget(*key)
        if RT.queue is not None:
            RT.queue.forget(key)
        return
    new = _cached(body)
    with cache.lock:
        old = store.get(key[1:])
        store[key[1:]] = new
    if key not in RT.known:
        RT.known.add(key)
        _enqueue(key, _first_delay(new, "1h"))
        return
    if (new.get("metadata") or {}).get("deletionTimestamp"):
        return
    old_meta = (old or {}).get("metadata") or {}
    new_meta = new.get("metadata") or {}
    if old_meta.get("generation") != new_meta.get("generation") or old_meta.get("uid") != new_meta.get("uid"):
        _enqueue(key, 0.0)
    elif (old_meta.get("annotations") or {}).get(ANN_FORCE_SYNC) != (new_meta.get("annotations") or {}).get(ANN_FORCE_SYNC):
        _enqueue(key, 0.0)


@kopf.index(GROUP, VERSION, "managedsecrets")
def ms_index(body: kopf.Body, **_: Any) -> None:
    if RT.ctx is not None:
        key = _key("ManagedSecret", body)
        with RT.ctx.cache.lock:
            RT.ctx.cache.managed_secrets.setdefault(key[1:], _cached(body))


@kopf.on.event(GROUP, VERSION, "managedsecrets")
def ms_event(event: kopf.RawEvent, body: kopf.Body, **_: Any) -> None:
    _own_object_event("ManagedSecret", "managed_secrets", event, body)


@kopf.index(GROUP, VERSION, "configbundles")
def cb_index(body: kopf.Body, **_: Any) -> None:
    if RT.ctx is not None:
        key = _key("ConfigBundle", body)
        with RT.ctx.cache.lock:
            RT.ctx.cache.bundles.setdefault(key[1:], _cached(body))


@kopf.on.event(GROUP, VERSION, "configbundles")
def cb_event(event: kopf.RawEvent, body: kopf.Body, **_: Any) -> None:
    _own_object_event("ConfigBundle", "bundles", event, body)


# -- stores -------------------------------------------------------------------------------------------

def _dependents(store_kind: str, store_name: str, namespace: str | None) -> list[Key]:
    assert RT.ctx is not None
    cache = RT.ctx.cache
    found: list[Key] = []
    with cache.lock:
        tables = (("ManagedSecret", cache.managed_secrets), ("ConfigBundle", cache.bundles))
        for kind, table in tables:
            for (ns, name), body in table.items():
                if namespace is not None and ns != namespace:
                    continue
                spec = body.get("spec") or {}
                refs = [spec.get("storeRef") or {}] + [s.get("storeRef") or {} for s in spec.get("secrets") or []]
                if any(r.get("name") == store_name and (r.get("kind") or "SecretStore") == store_kind for r in refs):
                    found.append((kind, ns, name))
    return found


def _store_event(kind: str, event: Mapping[str, Any], body: Mapping[str, Any]) -> None:
    assert RT.ctx is not None
    meta = body.get("metadata") or {}
    namespace = str(meta.get("namespace") or "")
    name = str(meta.get("name") or "")
    key: Key = (kind, namespace, name)
    cache = RT.ctx.cache
    table: Any = cache.stores if kind == "SecretStore" else cache.cluster_stores
    table_key: Any = (namespace, name) if kind == "SecretStore" else name
    store_key = f"{kind}/{namespace}/{name}"
    if event.get("type") == "DELETED":
        with cache.lock:
            table.pop(table_key, None)
        RT.known.discard(key)
        cache.set_watches(key, [])
        RT.ctx.providers.forget_store(store_key)
        for dep in _dependents(kind, name, namespace or None):
            _enqueue(dep, 0.0)
        return
    new = _cached(body)
    with cache.lock:
        old = table.get(table_key)
        table[table_key] = new
    _watch_store_objects(kind, namespace, name, new)
    first = key not in RT.known
    RT.known.add(key)
    old_gen = ((old or {}).get("metadata") or {}).get("generation")
    old_ready = get_condition((old or {}).get("status"), "Ready")
    new_ready = get_condition(new.get("status"), "Ready")
    if first or old_gen != meta.get("generation"):
        _enqueue(key, 0.0)
        if not first:
            RT.ctx.providers.forget_store(store_key)
            for dep in _dependents(kind, name, namespace or None):
                _enqueue(dep, 0.5)
    elif (old_ready or {}).get("status") != (new_ready or {}).get("status") and (new_ready or {}).get("status") == "True":
        for dep in _dependents(kind, name, namespace or None):
            _enqueue(dep, 0.5)


def _watch_store_objects(kind: str, namespace: str, name: str, body: Mapping[str, Any]) -> None:
    """A store re-validates (and its users re-sync) when its blob or credential objects change."""
    from ..stores.resolve import ResolvedStore  # noqa: PLC0415

    assert RT.ctx is not None
    provider = (body.get("spec") or {}).get("provider") or {}
    kinds = [k for k in ("local", "vault", "azure") if k in provider]
    if len(kinds) != 1:
        return
    store = ResolvedStore(kind, name, namespace or None, kinds[0], provider[kinds[0]] or {}, "")
    try:
        refs = store.credential_refs()
    except Exception:  # noqa: BLE001 - an invalid reference is reported by the store's reconcile
        refs = []
    RT.ctx.cache.set_watches((kind, namespace, name), [(ns, k, n) for _p, k, ns, n in refs])


@kopf.index(GROUP, VERSION, "secretstores")
def ss_index(body: kopf.Body, **_: Any) -> None:
    if RT.ctx is not None:
        meta = body.get("metadata") or {}
        with RT.ctx.cache.lock:
            RT.ctx.cache.stores.setdefault((str(meta.get("namespace")), str(meta.get("name"))), _cached(body))


@kopf.on.event(GROUP, VERSION, "secretstores")
def ss_event(event: kopf.RawEvent, body: kopf.Body, **_: Any) -> None:
    _store_event("SecretStore", event, body)


@kopf.index(GROUP, VERSION, "clustersecretstores")
def css_index(body: kopf.Body, **_: Any) -> None:
    if RT.ctx is not None:
        with RT.ctx.cache.lock:
            RT.ctx.cache.cluster_stores.setdefault(body.get("metadata", {}).get("name"), _cached(body))


@kopf.on.event(GROUP, VERSION, "clustersecretstores")
def css_event(event: kopf.RawEvent, body: kopf.Body, **_: Any) -> None:
    _store_event("ClusterSecretStore", event, body)


# -- namespaces -----------------------------------------------------------------------------------------

@kopf.index("", "v1", "namespaces")
def ns_index(body: kopf.Body, **_: Any) -> None:
    if RT.ctx is not None:
        meta = body.get("metadata") or {}
        with RT.ctx.cache.lock:
            RT.ctx.cache.namespaces.setdefault(str(meta.get("name")), dict(meta.get("labels") or {}))


@kopf.on.event("", "v1", "namespaces")
def ns_event(event: kopf.RawEvent, body: kopf.Body, **_: Any) -> None:
    assert RT.ctx is not None
    meta = body.get("metadata") or {}
    name = str(meta.get("name"))
    cache = RT.ctx.cache
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
            _enqueue(key, 1.0)


# -- Secrets and ConfigMaps -----------------------------------------------------------------------------

def _object_index(body: kopf.Body) -> None:
    if RT.ctx is not None:
        RT.ctx.cache.put_object(body)


def _object_event(kind: str, event: Mapping[str, Any], body: Mapping[str, Any]) -> None:
    assert RT.ctx is not None
    cache = RT.ctx.cache
    meta = body.get("metadata") or {}
    namespace, name = str(meta.get("namespace")), str(meta.get("name"))
    interested = cache.interested(namespace, kind, name)
    if event.get("type") == "DELETED":
        cache.drop_object(kind, namespace, name)
        configbundle.forget_source(namespace, kind, name)
        for owner in interested:
            _enqueue(owner, 0.0)
        return
    info = cache.put_object(body)
    if not interested or cache.is_own_write(info):
        return  # nobody cares, or the echo of our own write
    initial = event.get("type") is None  # kopf's initial listing: first sight of this object by this process
    for owner in interested:
        if owner[0] in ("SecretStore", "ClusterSecretStore"):
            if initial:
                continue  # not a change; the store is validated on its own first sight anyway
            _enqueue(owner, 0.5)
            RT.ctx.providers.forget_store(f"{owner[0]}/{owner[1]}/{owner[2]}")
            for dep in _dependents(owner[0], owner[2], owner[1] or None):
                _enqueue(dep, 1.0)
        elif info.recorded_hash is None or info.drifted() or info.owner is None:
            _enqueue(owner, 0.0)  # a source changed, a foreign object changed, or our data was edited


@kopf.index("", "v1", "secrets")
def secret_index(body: kopf.Body, **_: Any) -> None:
    _object_index(body)


@kopf.on.event("", "v1", "secrets")
def secret_event(event: kopf.RawEvent, body: kopf.Body, **_: Any) -> None:
    _object_event("Secret", event, body)


@kopf.index("", "v1", "configmaps")
def configmap_index(body: kopf.Body, **_: Any) -> None:
    _object_index(body)


@kopf.on.event("", "v1", "configmaps")
def configmap_event(event: kopf.RawEvent, body: kopf.Body, **_: Any) -> None:
    _object_event("ConfigMap", event, body)


# -- workloads (registered only when tracking is on) -----------------------------------------------------

def _workload_event(event: Mapping[str, Any], body: Mapping[str, Any]) -> None:
    assert RT.ctx is not None
    meta = body.get("metadata") or {}
    namespace, name, kind = str(meta.get("namespace")), str(meta.get("name")), str(body.get("kind"))
    names = set() if event.get("type") == "DELETED" else referenced_secrets(body)
    changed = RT.ctx.cache.set_workload(namespace, kind, name, names)
    for secret in changed:
        for owner in RT.ctx.cache.interested(namespace, "Secret", secret):
            if owner[0] in ("ManagedSecret", "ConfigBundle"):
                _enqueue(owner, 2.0, "usage")


def register_workload_tracking() -> None:
    """Watch Pods and workload controllers (only with ``track_workloads``)."""
    for group, version, plural in (("", "v1", "pods"), ("apps", "v1", "deployments"),
                                   ("apps", "v1", "statefulsets"), ("apps", "v1", "daemonsets")):
        kopf.on.event(group, version, plural, id=f"usage-{plural}")(
            lambda event, body, **_: _workload_event(event, body)
        )
