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


def wanted(cache: ClusterCache, body_of: Callable[[Owner], Mapping[str, Any] | None]) -> set[ObjectRef]:
    """The objects to watch by name now (see the module docstring)."""
    with cache.lock:
        referenced = [(ref, set(owners)) for ref, owners in cache.watchers.items()]
    out: set[ObjectRef] = set()
    for ref, owners in referenced:
        namespace, kind, name = ref
        info = cache.get_object(kind, namespace, name)
        if info is not None and info.labels.get(LABEL_MANAGED_BY) == MANAGED_BY_VALUE:
            continue  # the labelled informer has it
        if info is None and owners and all(o[0] in SYNCED_KINDS and _creates_it(body_of(o), kind, name) for o in owners):
            continue  # an output we create; once created it carries our label
        out.add(ref)
    return out


class NamedWatches:
    """One informer per wanted object, started and stopped as ``wanted`` changes."""

    def __init__(self, transport: Transport, cache: ClusterCache, handler_for: Callable[[str], Handler],
                 body_of: Callable[[Owner], Mapping[str, Any] | None], *, interval: float = 0.5,
                 recheck: float = 30.0) -> None:
        self.transport = transport
        self.cache = cache
        self.handler_for = handler_for
        self.body_of = body_of
        self.interval = interval
        self.recheck = recheck
        self.informers: dict[ObjectRef, tuple[Informer, asyncio.Task[None]]] = {}
        self._generation = -1

    def update(self) -> list[Informer]:
        """Start and stop informers to match ``wanted``; returns the ones started."""
        self._generation = self.cache.watch_generation
        want = wanted(self.cache, self.body_of)
        for ref in [r for r in self.informers if r not in want]:
            _, task = self.informers.pop(ref)
            task.cancel()
            namespace, kind, name = ref
            info = self.cache.get_object(kind, namespace, name)
            if info is not None and info.labels.get(LABEL_MANAGED_BY) != MANAGED_BY_VALUE:
                self.cache.drop_object(kind, namespace, name)  # no longer watched: it would go stale
        started = []
        for ref in sorted(want - set(self.informers)):
            namespace, kind, name = ref
            scope = Scope(data_plural(kind), namespace, field_selector=f"metadata.name={name}")
            informer = Informer(self.transport, scope, self.handler_for(kind), kind=kind)
            self.informers[ref] = (informer, asyncio.create_task(informer.run(), name=f"watch {kind} {namespace}/{name}"))
            started.append(informer)
        return started

    async def sync(self, timeout: float = 30.0) -> None:
        """Update now and wait until the started informers have listed (bounded: readiness must not hang)."""
        started = self.update()
        if started:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.gather(*(i.synced.wait() for i in started)), timeout)

    async def run(self) -> None:
        """Follow ``ClusterCache.watch_generation`` (and re-check every ``recheck`` seconds) until cancelled."""
        loop = asyncio.get_running_loop()
        last = loop.time()
        try:
            while True:
                await asyncio.sleep(self.interval)
                if self.cache.watch_generation != self._generation or loop.time() - last >= self.recheck:
                    last = loop.time()
                    self.update()
        finally:
            for _, task in self.informers.values():
                task.cancel()
