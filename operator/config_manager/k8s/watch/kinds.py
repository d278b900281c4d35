"""Watches of the two kinds that fan work out: PushSecret and ClusterManagedSecret (kept apart, small).

Like ``handlers``: one informer per kind (``feeds``, phase 1: listed before the queue runs) whose handler
keeps the cache current and enqueues; a first sight waits for the Secret cache, a namespace's fan-out for
the tables it reads (``handlers.Watched``). No kopf handlers, so kopf never PATCHes these objects; the
PushSecret finalizer is the reconciler's own.

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

from ..api.resources import (
    CLUSTER_MANAGED_SECRET,
    LABEL_CLUSTER_MANAGED_SECRET,
    MANAGED_SECRET,
    NAMESPACES,
    PUSH_SECRET,
)
from . import triggers
from .handlers import Feed, Watched, cached
from .informer import Scope
from .triggers import Key, key_of


def _generation(body: Mapping[str, Any] | None) -> Any:
    return ((body or {}).get("metadata") or {}).get("generation")


def _push_event(w: Watched, etype: str | None, body: Mapping[str, Any]) -> None:
    assert w.ctx is not None
    key = key_of("PushSecret", body)
    cache = w.ctx.cache
    if etype == "DELETED":
        with cache.lock:
            cache.push_secrets.pop(key[1:], None)
        cache.set_watches(key, [])
        w.known.discard(key)
        w.drop_first_sight(key)
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
        w.first_sight(key, lambda: _push_first_sight(w, key))  # it reads the Secret cache
    elif first or new["metadata"].get("deletionTimestamp") or _generation(old) != _generation(new):
        w.enqueue(key, 0.0)


def _push_first_sight(w: Watched, key: Key) -> None:
    """First sight of a PushSecret, on its latest cached body: at its refresh time when its last pass
    pushed the version of its source Secret the cache holds, else soon (a deletion in progress: at once)."""
    assert w.ctx is not None
    with w.ctx.cache.lock:
        body = w.ctx.cache.push_secrets.get(key[1:])
    if body is None:
        return  # deleted meanwhile
    if body["metadata"].get("deletionTimestamp"):
        w.enqueue(key, 0.0)
        return
    config = w.ctx.config
    w.enqueue(key, triggers.first_delay(body, default_refresh="1h", spread=config.startup_spread,
                                        jitter=config.refresh_jitter, outputs_intact=lambda: _source_unchanged(w, body)))


def _source_unchanged(w: Watched, body: Mapping[str, Any]) -> bool:
    """True when the PushSecret's source Secret is the version its last complete pass pushed (cache only)."""
    assert w.ctx is not None
    name = (((body.get("spec") or {}).get("selector") or {}).get("secret") or {}).get("name")
    info = w.ctx.cache.get_object("Secret", str(body["metadata"].get("namespace")), str(name))
    return info is not None and info.resource_version == (body.get("status") or {}).get("syncedResourceVersion")


def _cms_event(w: Watched, etype: str | None, body: Mapping[str, Any]) -> None:
    assert w.ctx is not None
    key = ("ClusterManagedSecret", "", str(body["metadata"]["name"]))
    cache = w.ctx.cache
    if etype == "DELETED":
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


def _namespace_event(w: Watched, etype: str | None, body: Mapping[str, Any]) -> None:
    if w.ctx is None or etype is None:  # not the informer's first listing
        return
    name = str((body.get("metadata") or {}).get("name"))
    w.fan_out(lambda: _wake_for_namespace(w, name))  # once the PushSecret/ClusterManagedSecret tables are complete


def _wake_for_namespace(w: Watched, name: str) -> None:
    assert w.ctx is not None
    _all_cms(w, 0.5)
    with w.ctx.cache.lock:  # a ClusterSecretStore's conditions may admit (or refuse) it now
        pushes = [("PushSecret", ns, n) for (ns, n) in w.ctx.cache.push_secrets if ns == name]
    for key in pushes:
        w.enqueue(key, 1.0)


def _made_managed_secret_event(w: Watched, etype: str | None, body: Mapping[str, Any]) -> None:
    meta = body.get("metadata") or {}
    owner = (meta.get("labels") or {}).get(LABEL_CLUSTER_MANAGED_SECRET)
    if not owner or etype is None:
        return
    # deleted, or a spec change its reconciler has not seen yet (an edit, or our own replace); not the
    # status writes of every sync, which would cost a ClusterManagedSecret pass each
    if etype == "DELETED" or meta.get("generation") != (body.get("status") or {}).get("observedGeneration"):
        w.enqueue(("ClusterManagedSecret", "", str(owner)), 1.0)


def feeds(w: Watched, namespaces: list[str]) -> list[Feed]:
    """The informers of PushSecret and ClusterManagedSecret, and of what wakes them: namespaces (a second,
    value-free namespace informer: namespaces are few) and only the ManagedSecrets a ClusterManagedSecret
    made (selected server-side by their label, so no second copy of every ManagedSecret)."""
    scopes: list[str | None] = list(namespaces) or [None]
    out = [Feed(1, Scope(CLUSTER_MANAGED_SECRET), "ClusterManagedSecret", lambda etype, body: _cms_event(w, etype, body)),
           Feed(1, Scope(NAMESPACES), "Namespace", lambda etype, body: _namespace_event(w, etype, body))]
    for ns in scopes:
        out.append(Feed(1, Scope(PUSH_SECRET, ns), "PushSecret", lambda etype, body: _push_event(w, etype, body)))
        out.append(Feed(1, Scope(MANAGED_SECRET, ns, label_selector=LABEL_CLUSTER_MANAGED_SECRET), "ManagedSecret",
                        lambda etype, body: _made_managed_secret_event(w, etype, body)))
    return out
