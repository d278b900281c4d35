"""Watches of the two kinds that fan work out: PushSecret and ClusterManagedSecret (kept apart, small).

Like ``handlers``: an ``index`` handler per kind (the cache is complete before the first pass) and an
``event`` handler that keeps the cache current and enqueues. No kopf create/update/delete handlers, so
kopf never PATCHes these objects; the PushSecret finalizer is the reconciler's own.

- PushSecret: a spec change or a deletion in progress (deletionTimestamp) enqueue it now; first sight as
  for a ManagedSecret (``triggers.first_delay``: at once when new, changed or its Secret changed while we
  were away, else at its refresh time), so a restart does not push everything at once; its source
  Secret wakes it through ``cache.set_watches`` (the generic Secret watch of ``handlers``).
  A namespace event wakes the PushSecrets of that namespace (store admission may have changed).
- ClusterManagedSecret: first sight and spec changes enqueue it; so does any namespace event (a new
  namespace, changed labels, a deleted namespace) and a spec change or deletion of a ManagedSecret it
  made (label ``configmanager.io/cluster-managed-secret``), so an edited or deleted one is put back.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import kopf

from ..api.resources import (
    CLUSTER_MANAGED_SECRET,
    GROUP,
    LABEL_CLUSTER_MANAGED_SECRET,
    MANAGED_SECRET,
    NAMESPACES,
    PUSH_SECRET,
    VERSION,
)
from . import triggers
from .handlers import Watched, cached
from .triggers import key_of


def _generation(body: Mapping[str, Any] | None) -> Any:
    return ((body or {}).get("metadata") or {}).get("generation")


def _push_event(w: Watched, event: Mapping[str, Any], body: Mapping[str, Any]) -> None:
    assert w.ctx is not None
    key = key_of("PushSecret", body)
    cache = w.ctx.cache
    if event.get("type") == "DELETED":
        with cache.lock:
            cache.push_secrets.pop(key[1:], None)
        cache.set_watches(key, [])
        w.known.discard(key)
        if w.queue is not None:
            w.queue.forget(key)
        return
    new = cached(body)
    with cache.lock:
        old = cache.push_secrets.get(key[1:])
        cache.push_secrets[key[1:]] = new
    first = key not in w.known
    w.known.add(key)
    if first and not new["metadata"].get("deletionTimestamp"):
        config = w.ctx.config
        w.enqueue(key, triggers.first_delay(new, default_refresh="1h", spread=config.startup_spread,
                                            jitter=config.refresh_jitter, outputs_intact=lambda: _source_unchanged(w, new)))
    elif first or new["metadata"].get("deletionTimestamp") or _generation(old) != _generation(new):
        w.enqueue(key, 0.0)


def _source_unchanged(w: Watched, body: Mapping[str, Any]) -> bool:
    """True when the PushSecret's source Secret is the version its last complete pass pushed (cache only)."""
    assert w.ctx is not None
    name = (((body.get("spec") or {}).get("selector") or {}).get("secret") or {}).get("name")
    info = w.ctx.cache.get_object("Secret", str(body["metadata"].get("namespace")), str(name))
    return info is not None and info.resource_version == (body.get("status") or {}).get("syncedResourceVersion")


def _cms_event(w: Watched, event: Mapping[str, Any], body: Mapping[str, Any]) -> None:
    assert w.ctx is not None
    key = ("ClusterManagedSecret", "", str(body["metadata"]["name"]))
    cache = w.ctx.cache
    if event.get("type") == "DELETED":
        with cache.lock:
            cache.cluster_managed_secrets.pop(key[2], None)
        w.known.discard(key)
        if w.queue is not None:
            w.queue.forget(key)
        return
    new = cached(body)
    with cache.lock:
        old = cache.cluster_managed_secrets.get(key[2])
        cache.cluster_managed_secrets[key[2]] = new
    first = key not in w.known
    w.known.add(key)
    if first or _generation(old) != _generation(new):
        w.enqueue(key, 0.0)


def _all_cms(w: Watched, delay: float) -> None:
    assert w.ctx is not None
    with w.ctx.cache.lock:
        names = list(w.ctx.cache.cluster_managed_secrets)
    for name in names:
        w.enqueue(("ClusterManagedSecret", "", name), delay)


def register(registry: kopf.OperatorRegistry, w: Watched) -> None:
    """Register the watches of PushSecret and ClusterManagedSecret on ``registry``."""

    def push_index(body: kopf.Body, **_: Any) -> None:
        if w.ctx is not None:
            meta = body.get("metadata") or {}
            with w.ctx.cache.lock:
                w.ctx.cache.push_secrets.setdefault((str(meta.get("namespace")), str(meta.get("name"))), cached(body))

    def cms_index(body: kopf.Body, **_: Any) -> None:
        if w.ctx is not None:
            with w.ctx.cache.lock:
                w.ctx.cache.cluster_managed_secrets.setdefault(str((body.get("metadata") or {}).get("name")), cached(body))

    def namespace_event(event: kopf.RawEvent, body: kopf.Body, **_: Any) -> None:
        if w.ctx is None or event.get("type") is None:  # not kopf's initial listing
            return
        _all_cms(w, 0.5)
        name = str((body.get("metadata") or {}).get("name"))
        with w.ctx.cache.lock:  # a ClusterSecretStore's conditions may admit (or refuse) it now
            pushes = [("PushSecret", ns, n) for (ns, n) in w.ctx.cache.push_secrets if ns == name]
        for key in pushes:
            w.enqueue(key, 1.0)

    def managed_secret_event(event: kopf.RawEvent, body: kopf.Body, **_: Any) -> None:
        meta = body.get("metadata") or {}
        owner = (meta.get("labels") or {}).get(LABEL_CLUSTER_MANAGED_SECRET)
        if not owner or event.get("type") is None:
            return
        # deleted, or a spec change its reconciler has not seen yet (an edit, or our own replace); not the
        # status writes of every sync, which would cost a ClusterManagedSecret pass each
        if event.get("type") == "DELETED" or meta.get("generation") != (body.get("status") or {}).get("observedGeneration"):
            w.enqueue(("ClusterManagedSecret", "", str(owner)), 1.0)

    kopf.index(GROUP, VERSION, PUSH_SECRET, id="pushsecrets-index", registry=registry)(push_index)
    kopf.on.event(GROUP, VERSION, PUSH_SECRET, id="pushsecrets-event", registry=registry)(
        lambda event, body, **_: _push_event(w, event, body))
    kopf.index(GROUP, VERSION, CLUSTER_MANAGED_SECRET, id="clustermanagedsecrets-index", registry=registry)(cms_index)
    kopf.on.event(GROUP, VERSION, CLUSTER_MANAGED_SECRET, id="clustermanagedsecrets-event", registry=registry)(
        lambda event, body, **_: _cms_event(w, event, body))
    kopf.on.event("", "v1", NAMESPACES, id="namespaces-cms", registry=registry)(namespace_event)
    kopf.on.event(GROUP, VERSION, MANAGED_SECRET, id="managedsecrets-cms", registry=registry)(managed_secret_event)
