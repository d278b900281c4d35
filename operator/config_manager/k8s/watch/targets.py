"""Watches by name for the Secrets/ConfigMaps we read but do not label: credentials, sources, Merge targets.

The object informers select only what carries our label, so a cluster's unrelated Secrets (Helm release
Secrets of 100 KB each, service-account tokens) cost nothing. What we read without owning it — a store's
credential Secret, a ConfigBundle's source ConfigMap, a Merge target before our first write — is watched
one object at a time (``fieldSelector=metadata.name=...`` in its namespace), for as long as something of
ours refers to it (``ClusterCache.watchers``).

``wanted`` is the pure rule: every referenced object that is not already covered by the labelled
informers, except an absent output of ours that we will create ourselves (a ManagedSecret's or a
ConfigBundle's Secret/ConfigMap with creationPolicy Owner/Orphan: watching each would cost a connection
per object during a burst). ``NamedWatches`` starts and stops informers to follow it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping
from typing import Any

from ..api.resources import LABEL_MANAGED_BY, MANAGED_BY_VALUE, SYNCED_KINDS, data_plural
from ..spec.outputs import output_objects
from .cache import ClusterCache
from .informer import Handler, Informer, Scope, Transport

log = logging.getLogger(__name__)

ObjectRef = tuple[str, str, str]  # (namespace, kind, name)
Owner = tuple[str, str, str]  # (kind, namespace, name)


def _creates_it(owner_body: Mapping[str, Any] | None, kind: str, name: str) -> bool:
    """True when the owner writes (kind, name) and creates it when absent (not a Merge target)."""
    if owner_body is None or (kind, name) not in output_objects(owner_body):
        return False
    target = (owner_body.get("spec") or {}).get("target") or {}
    return not (isinstance(target, Mapping) and target.get("creationPolicy") == "Merge")


def wanted_one(cache: ClusterCache, ref: ObjectRef, body_of: Callable[[Owner], Mapping[str, Any] | None]) -> bool:
    """Whether ``ref`` (namespace, kind, name) is to be watched by name now (see the module docstring)."""
    namespace, kind, name = ref
    owners = cache.interested(namespace, kind, name)
    if not owners:
        return False
    info = cache.get_object(kind, namespace, name)
    if info is not None and info.labels.get(LABEL_MANAGED_BY) == MANAGED_BY_VALUE:
        return False  # the labelled informer has it
    if info is None and all(o[0] in SYNCED_KINDS and _creates_it(body_of(o), kind, name) for o in owners):
        return False  # an output we create; once created it carries our label
    return True


def wanted(cache: ClusterCache, body_of: Callable[[Owner], Mapping[str, Any] | None]) -> set[ObjectRef]:
    """Every object to watch by name now (a full pass; ``NamedWatches`` follows changes incrementally)."""
    with cache.lock:
        referenced = list(cache.watchers)
    return {ref for ref in referenced if wanted_one(cache, ref, body_of)}


class NamedWatches:
    """One informer per wanted object, started and stopped as ``wanted`` changes.

    Incremental: each round looks only at the objects whose watchers, presence or labels changed
    (``ClusterCache.take_changed_refs``), so a burst of 10,000 new objects costs O(1) per object here;
    a full pass runs every ``recheck`` seconds for what no change marks (an owner's policy edited)."""

    def __init__(self, transport: Transport, cache: ClusterCache, handler_for: Callable[[str], Handler],
                 body_of: Callable[[Owner], Mapping[str, Any] | None], *, interval: float = 0.5,
                 recheck: float = 300.0) -> None:
        self.transport = transport
        self.cache = cache
        self.handler_for = handler_for
        self.body_of = body_of
        self.interval = interval
        self.recheck = recheck
        self.informers: dict[ObjectRef, tuple[Informer, asyncio.Task[None]]] = {}

    def _stop(self, ref: ObjectRef) -> None:
        _, task = self.informers.pop(ref)
        task.cancel()
        namespace, kind, name = ref
        log.debug("no longer watching %s %s/%s by name", kind, namespace, name)
        info = self.cache.get_object(kind, namespace, name)
        if info is not None and info.labels.get(LABEL_MANAGED_BY) != MANAGED_BY_VALUE:
            self.cache.drop_object(kind, namespace, name)  # no longer watched: it would go stale

    def _start(self, ref: ObjectRef) -> Informer:
        namespace, kind, name = ref
        scope = Scope(data_plural(kind), namespace, field_selector=f"metadata.name={name}")
        # Seeded with the cached version (a store's credential read by GET before the watch existed is
        # cached by ``stores.resolve.provider_for``): a change or a deletion in between is reported as one.
        # Not cached yet: its first listing is a first sight (a credential read later is compared by
        # version with the cache, so the store picks up a change anyway).
        info = self.cache.get_object(kind, namespace, name)
        informer = Informer(self.transport, scope, self.handler_for(kind), kind=kind, first_sight=info is None,
                            known={(namespace, name): info.resource_version} if info is not None else None)
        self.informers[ref] = (informer, asyncio.create_task(informer.run(), name=f"watch {kind} {namespace}/{name}"))
        log.debug("watching %s %s/%s by name", kind, namespace, name)
        return informer

    def update(self, full: bool = False) -> list[Informer]:
        """Start and stop informers for the changed objects (every object when ``full``); returns those started."""
        changed = self.cache.take_changed_refs()
        if full:
            with self.cache.lock:
                changed |= set(self.cache.watchers)
            changed |= set(self.informers)
        started = []
        for ref in sorted(changed):
            want = wanted_one(self.cache, ref, self.body_of)
            if want and ref not in self.informers:
                started.append(self._start(ref))
            elif not want and ref in self.informers:
                self._stop(ref)
        return started

    async def sync(self, timeout: float = 30.0) -> None:
        """Update now and wait until the started informers have listed (bounded: readiness must not hang)."""
        started = self.update()
        if started:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.gather(*(i.synced.wait() for i in started)), timeout)

    async def run(self) -> None:
        """Follow the cache's changes every ``interval`` (a full pass every ``recheck``) until cancelled."""
        loop = asyncio.get_running_loop()
        last = loop.time()
        try:
            while True:
                await asyncio.sleep(self.interval)
                full = loop.time() - last >= self.recheck
                if full:
                    last = loop.time()
                self.update(full)
        finally:
            for _, task in self.informers.values():
                task.cancel()
