"""The start-up listings run at once, yet every first-sight decision sees complete caches (app.Operator._sync,
watch.handlers.Watched): a ManagedSecret listed before its Secret is still "intact, at its refresh time",
a store or generator change seen before its users are listed still wakes them, and readiness waits for
every listing. Against a scripted apiserver (the informers' ``Transport``), no cluster."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from config_manager.k8s import app
from config_manager.k8s.api.events import EventRecorder
from config_manager.k8s.api.fake import FakeKubeApi
from config_manager.k8s.api.resources import ANN_DATA_HASH, LABEL_MANAGED_BY, MANAGED_BY_VALUE
from config_manager.k8s.config import OperatorConfig
from config_manager.k8s.context import Context
from config_manager.k8s.hashing import data_hash
from config_manager.k8s.stores.backoff import Backoff
from config_manager.k8s.stores.readcache import ProviderCache
from config_manager.k8s.watch import kinds
from config_manager.k8s.watch.cache import ClusterCache
from config_manager.k8s.watch.handlers import Watched, generator_handler, object_handler, own_handler
from config_manager.k8s.watch.informer import Scope

NS = "team"
MS_KEY = ("ManagedSecret", NS, "app")
AT_REFRESH = 2900.0  # refreshInterval 1h, refreshed 10 min ago: due in 50 min (jitter only adds)
SPREAD = 10.0  # OperatorConfig.startup_spread: "soon"


def synced_status(**extra: Any) -> dict[str, Any]:
    # 10 min before *now*, when the body is made (not at import: a full suite runs longer than 10 min)
    refreshed = (datetime.now(timezone.utc) - timedelta(minutes=10)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"observedGeneration": 1, "refreshTime": refreshed,
            "conditions": [{"type": "Ready", "status": "True", "reason": "Synced"}], **extra}


def managed_secret(name: str = "app", status: dict[str, Any] | None = None, generation: int = 1,
                   **spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": NS, "generation": generation, "uid": f"uid-{name}",
                         "resourceVersion": f"{generation}0"},
            "spec": {"refreshInterval": "1h", "storeRef": {"name": "local"}, **spec},
            "status": synced_status() if status is None else status}


def secret(name: str = "app", value: str = "djE=", rv: str = "7", recorded: str = "djE=") -> dict[str, Any]:
    """Our Secret as written with ``recorded`` as its data (so ``value`` != ``recorded`` is drift)."""
    return {"metadata": {"name": name, "namespace": NS, "resourceVersion": rv,
                         "labels": {LABEL_MANAGED_BY: MANAGED_BY_VALUE},
                         "annotations": {ANN_DATA_HASH: data_hash({"password": recorded})}},
            "type": "Opaque", "data": {"password": value}}


def store(generation: int = 1) -> dict[str, Any]:
    return {"metadata": {"name": "local", "namespace": NS, "generation": generation, "resourceVersion": f"{generation}"},
            "spec": {"provider": {"local": {"keySecretRef": {"name": "store-key", "key": "key"},
                                            "storage": {"name": "store-blob"}}}}}


class Recorder:
    """The work queue as the handlers and the gate see it: what was added (key, delay), and resume()."""

    def __init__(self) -> None:
        self.added: list[tuple[Any, float]] = []
        self.resumed = False

    def add(self, key: Any, delay: float = 0.0, reason: str = "sync") -> None:
        self.added.append((key, delay))

    def forget(self, key: Any) -> None:
        pass

    def resume(self) -> None:
        self.resumed = True

    def delays(self, key: Any) -> list[float]:
        return [d for k, d in self.added if k == key]


def _selected(scope: Scope, item: dict[str, Any]) -> bool:
    meta = item.get("metadata") or {}
    if scope.field_selector:
        return scope.field_selector == f"metadata.name={meta.get('name')}"
    if scope.label_selector:
        key, _, value = scope.label_selector.partition("=")
        labels = meta.get("labels") or {}
        return key in labels and (not value or labels[key] == value)
    return True


class Apiserver:
    """One page per listing of ``items[resource]``; a listing waits (bounded) for ``before[resource]``, a
    condition; the first watch of a resource not selected by name yields ``events[resource]``, then every
    watch stays quiet. Records the order of answers and which events the informers consumed."""

    def __init__(self, items: dict[str, list[dict[str, Any]]], *, before: dict[str, Callable[[], bool]] | None = None,
                 events: dict[str, list[dict[str, Any]]] | None = None) -> None:
        self.items, self.before, self.events = items, before or {}, events or {}
        self.answered: list[str] = []  # resources whose (unselected by name) listing was answered, in order
        self.delivered: list[str] = []  # watch events consumed by the informers: "resource TYPE"

    async def list_page(self, scope: Scope, limit: int, cont: str | None) -> dict[str, Any]:
        condition = self.before.get(scope.resource) if not scope.field_selector else None
        if condition is not None:
            with contextlib.suppress(TimeoutError):
                await until(condition, timeout=2.0)  # bounded: a sequential start-up would wait forever
        if not scope.field_selector:
            self.answered.append(scope.resource)
        items = [dict(i) for i in self.items.get(scope.resource, []) if _selected(scope, i)]
        return {"items": items, "metadata": {"resourceVersion": "100"}}

    async def watch(self, scope: Scope, resource_version: str, timeout: int) -> AsyncIterator[dict[str, Any]]:
        if not scope.field_selector:
            for event in self.events.pop(scope.resource, []):
                yield event
                self.delivered.append(f"{scope.resource} {event['type']}")  # the handler has run
        await asyncio.Event().wait()


async def until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    async def poll() -> None:
        while not condition():
            await asyncio.sleep(0.001)
    await asyncio.wait_for(poll(), timeout)


@pytest.fixture
def operator() -> Iterator[tuple[app.Operator, Recorder, Context]]:
    api = FakeKubeApi()
    ctx = Context(api=api, cache=ClusterCache(), providers=ProviderCache(ttl=0.0, backoff=Backoff(1.0, 4.0)),
                  events=EventRecorder(api), config=OperatorConfig())
    op = app.Operator(OperatorConfig(namespaces=[NS]))
    queue = Recorder()
    op.watched.ctx, op.watched.queue = ctx, queue  # type: ignore[assignment]
    yield op, queue, ctx


def start(op: app.Operator, ctx: Context, server: Apiserver, monkeypatch: pytest.MonkeyPatch) -> asyncio.Task[None]:
    monkeypatch.setattr(app, "AioTransport", lambda api: server)
    return asyncio.create_task(op._sync(ctx))


async def stop(op: app.Operator, task: asyncio.Task[None]) -> None:
    task.cancel()
    for t in op._tasks:
        t.cancel()
    await asyncio.gather(task, *op._tasks, return_exceptions=True)


def test_a_managed_secret_listed_before_its_secret_is_still_intact_and_due_at_its_refresh(
        operator: tuple[app.Operator, Recorder, Context], monkeypatch: pytest.MonkeyPatch) -> None:
    op, queue, ctx = operator
    server = Apiserver({"managedsecrets": [managed_secret()], "secrets": [secret()]},
                       before={"secrets": lambda: "managedsecrets" in server.answered})

    async def main() -> None:
        task = start(op, ctx, server, monkeypatch)
        await until(lambda: op.ready)
        await stop(op, task)

    asyncio.run(main())
    assert server.answered.index("managedsecrets") < server.answered.index("secrets"), "the phases list at once"
    assert queue.delays(MS_KEY) and min(queue.delays(MS_KEY)) > AT_REFRESH, \
        f"intact: at its refresh time, not synced now ({queue.delays(MS_KEY)})"
    assert queue.resumed


def test_readiness_and_the_gate_wait_for_every_listing_while_first_sights_are_decided_at_phase_0(
        operator: tuple[app.Operator, Recorder, Context], monkeypatch: pytest.MonkeyPatch) -> None:
    op, queue, ctx = operator
    release = asyncio.Event()
    new = managed_secret("new", status={})
    server = Apiserver({"managedsecrets": [managed_secret(), new], "secrets": [secret()]},
                       before={"managedsecrets": release.is_set})

    async def main() -> None:
        task = start(op, ctx, server, monkeypatch)
        await until(lambda: op.watched.pending_first_sights is None)  # phase 0 listed: first sights at once
        assert not op.ready and not queue.resumed, "ManagedSecrets are still listing"
        release.set()
        await until(lambda: op.ready)
        await stop(op, task)

    asyncio.run(main())
    assert queue.resumed
    assert min(queue.delays(MS_KEY)) > AT_REFRESH
    assert queue.delays(("ManagedSecret", NS, "new")) == [0.0], "a new object: at once"


def test_a_store_change_seen_before_its_users_are_listed_still_wakes_them(
        operator: tuple[app.Operator, Recorder, Context], monkeypatch: pytest.MonkeyPatch) -> None:
    op, queue, ctx = operator
    changed = {"type": "MODIFIED", "object": store(generation=2)}
    server = Apiserver({"managedsecrets": [managed_secret()], "secrets": [secret()], "secretstores": [store()]},
                       before={"managedsecrets": lambda: "secretstores MODIFIED" in server.delivered},
                       events={"secretstores": [changed]})

    async def main() -> None:
        task = start(op, ctx, server, monkeypatch)
        await until(lambda: op.ready)
        await stop(op, task)

    asyncio.run(main())
    assert "secretstores MODIFIED" in server.delivered
    assert 0.5 in queue.delays(MS_KEY), f"its store changed: re-synced, not only at its refresh ({queue.delays(MS_KEY)})"


def test_a_secret_edited_before_its_owner_is_listed_makes_the_owner_sync_soon(
        operator: tuple[app.Operator, Recorder, Context], monkeypatch: pytest.MonkeyPatch) -> None:
    op, queue, ctx = operator
    edited = {"type": "MODIFIED", "object": {**secret(value="ZWRpdGVk", rv="8"), "kind": "Secret"}}
    server = Apiserver({"managedsecrets": [managed_secret()], "secrets": [secret()]},
                       before={"managedsecrets": lambda: "secrets MODIFIED" in server.delivered},
                       events={"secrets": [edited]})

    async def main() -> None:
        task = start(op, ctx, server, monkeypatch)
        await until(lambda: op.ready)
        await stop(op, task)

    asyncio.run(main())
    assert ctx.cache.known_version("Secret", NS, "app") == "8"
    assert max(queue.delays(MS_KEY)) <= SPREAD, f"drifted while we were away: soon ({queue.delays(MS_KEY)})"


# -- the handlers' held decisions (watch.handlers.Watched), without the operator ------------------------

def _watched() -> tuple[Watched, Recorder, Context]:
    api = FakeKubeApi()
    ctx = Context(api=api, cache=ClusterCache(), providers=ProviderCache(ttl=0.0, backoff=Backoff(1.0, 4.0)),
                  events=EventRecorder(api), config=OperatorConfig())
    queue = Recorder()
    return Watched(ctx=ctx, queue=queue), queue, ctx  # type: ignore[arg-type]


def test_a_held_first_sight_is_made_on_the_latest_body_and_not_at_all_once_deleted() -> None:
    w, queue, _ = _watched()
    ms = own_handler(w, "ManagedSecret", "managedsecrets", "managed_secrets")
    w.hold()
    ms(None, managed_secret())
    ms(None, managed_secret("gone"))
    assert queue.added == [], "held until the Secret cache is complete"
    ms("MODIFIED", managed_secret(generation=2, status=synced_status()))  # edited meanwhile: at once
    ms("DELETED", managed_secret("gone"))
    assert queue.delays(MS_KEY) == [0.0]
    object_handler(w, "Secret")(None, {**secret(), "kind": "Secret"})
    assert w.decide_first_sights() == 1
    assert queue.delays(("ManagedSecret", NS, "gone")) == []
    assert len(queue.delays(MS_KEY)) == 2 and max(queue.delays(MS_KEY)) <= SPREAD, \
        "decided on the edited body (generation 2 not observed): soon"
    ms(None, managed_secret("later"))  # after the release: decided at once
    assert len(queue.delays(("ManagedSecret", NS, "later"))) == 1


@pytest.mark.parametrize("held", [True, False])
def test_a_push_secret_listed_before_its_source_secret(held: bool) -> None:
    w, queue, _ = _watched()
    source = {**secret("source", rv="42"), "kind": "Secret"}
    push = {"metadata": {"name": "p", "namespace": NS, "generation": 1},
            "spec": {"refreshInterval": "1h", "selector": {"secret": {"name": "source"}}},
            "status": synced_status(syncedResourceVersion="42")}
    if held:
        w.hold()
    kinds._push_event(w, None, push)
    object_handler(w, "Secret")(None, source)
    w.decide_first_sights()
    (delay,) = queue.delays(("PushSecret", NS, "p"))
    if held:
        assert delay > AT_REFRESH, "its source is the version it pushed: at its refresh time"
    else:
        assert delay <= SPREAD, "decided at once, before the source was cached: soon (why first sights are held)"


def test_a_generator_listed_before_the_managed_secret_waiting_for_it_wakes_it() -> None:
    w, queue, _ = _watched()
    w.hold()
    waiting = managed_secret("gen", status={"observedGeneration": 1, "conditions": [
        {"type": "Ready", "status": "False", "reason": "GeneratorNotFound"}]},
        dataFrom=[{"sourceRef": {"generatorRef": {"kind": "Password", "name": "pw"}}}])
    generator_handler(w, "Password")(None, {"metadata": {"name": "pw", "namespace": NS}})
    own_handler(w, "ManagedSecret", "managedsecrets", "managed_secrets")(None, waiting)
    own_handler(w, "ManagedSecret", "managedsecrets", "managed_secrets")(None, managed_secret(
        "synced", dataFrom=[{"sourceRef": {"generatorRef": {"kind": "Password", "name": "pw"}}}]))
    w.decide_first_sights()
    assert 0.5 not in queue.delays(("ManagedSecret", NS, "gen")), "fan-outs wait for every listing"
    assert w.replay_fan_outs() == 1
    assert 0.5 in queue.delays(("ManagedSecret", NS, "gen"))
    assert 0.5 not in queue.delays(("ManagedSecret", NS, "synced")), "the initial listing is not a change"
