"""Unit tests of the operator's machinery with in-memory stand-ins: the single-flight provider cache,
the work queue, and the writer's ownership / no-op decisions (a fake API records what would be sent)."""

from __future__ import annotations

import asyncio
import base64
import threading
import time
from collections.abc import Mapping
from typing import Any

import pytest

from config_manager.errors import ProviderUnavailableError, SecretNotFoundError
from config_manager.k8s.api.client import ApiError
from config_manager.k8s.spec.managedsecret import RemoteRef
from config_manager.k8s.stores.backoff import Backoff
from config_manager.k8s.stores.readcache import ProviderCache
from config_manager.k8s.watch.cache import ClusterCache
from config_manager.k8s.watch.workqueue import WorkQueue
from config_manager.k8s.write.writer import Desired, WriteResult, write
from config_manager.providers.base import SecretProvider, SecretValue


class SlowProvider(SecretProvider):
    provider_type = "slow"

    def __init__(self, fail: bool = False) -> None:
        self.calls = 0
        self.fail = fail
        self.lock = threading.Lock()

    def get(self, key: str, version: str | None = None) -> SecretValue:
        with self.lock:
            self.calls += 1
        time.sleep(0.05)
        if self.fail:
            raise ProviderUnavailableError("backend down", "slow")
        if key == "missing":
            raise SecretNotFoundError(key)
        return SecretValue(key=key, value=f"v-{key}")

    def set(self, key: str, value: Any, metadata: Mapping[str, str] | None = None) -> SecretValue:
        raise NotImplementedError

    def delete(self, key: str) -> bool:
        raise NotImplementedError

    def list(self, prefix: str = "") -> list[str]:
        return []

    def validate(self) -> None:
        pass


def test_concurrent_reads_of_one_key_make_one_provider_call() -> None:
    cache, provider = ProviderCache(ttl=30), SlowProvider()
    results: list[tuple[SecretValue, bool]] = []
    threads = [threading.Thread(target=lambda: results.append(cache.read("s", provider, RemoteRef("k")))) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert provider.calls == 1
    assert sum(fetched for _, fetched in results) == 1
    assert all(v.value == "v-k" for v, _ in results)
    cache.read("s", provider, RemoteRef("k"))
    assert provider.calls == 1, "cached within the TTL"
    cache.read("s", provider, RemoteRef("k"), fresh=True)
    assert provider.calls == 2, "a forced sync bypasses the cache"


def test_an_answer_is_shared_for_the_askers_refresh_interval() -> None:
    now = [0.0]
    cache, provider = ProviderCache(ttl=5, clock=lambda: now[0]), SlowProvider()
    cache.read("s", provider, RemoteRef("k"), interval=60)
    now[0] = 59.0
    assert cache.read("s", provider, RemoteRef("k"), interval=60)[1] is False, "younger than the interval: shared"
    assert cache.read("s", provider, RemoteRef("k"), interval=10)[1] is True, "older than this asker's interval"
    now[0] = 63.0
    assert cache.read("s", provider, RemoteRef("k"))[1] is False, "no interval: the ttl floor (5 s)"
    cache.forget_store("s")
    assert cache.read("s", provider, RemoteRef("k"), interval=60)[1] is True, "a store change drops the answers"
    assert provider.calls == 3


def test_failing_store_backs_off_for_every_object() -> None:
    cache = ProviderCache(ttl=30, backoff=Backoff(base=60, cap=60, jitter=0))
    provider = SlowProvider(fail=True)
    with pytest.raises(ProviderUnavailableError):
        cache.read("s", provider, RemoteRef("a"))
    for key in ("a", "b", "c"):
        with pytest.raises(ProviderUnavailableError, match="backing off"):
            cache.read("s", provider, RemoteRef(key))
    assert provider.calls == 1, "other objects of the same store do not call the backend while it backs off"
    ok = SlowProvider()
    cache.read("other", ok, RemoteRef("a"))
    assert ok.calls == 1, "backoff is per store"


def test_missing_key_does_not_back_off_the_store() -> None:
    cache, provider = ProviderCache(ttl=30), SlowProvider()
    with pytest.raises(SecretNotFoundError):
        cache.read("s", provider, RemoteRef("missing"))
    assert cache.backoff.remaining("s") == 0
    assert cache.read("s", provider, RemoteRef("k"))[0].value == "v-k"


def test_provider_is_rebuilt_when_the_fingerprint_changes() -> None:
    cache = ProviderCache()
    built: list[SlowProvider] = []

    def build() -> SlowProvider:
        built.append(SlowProvider())
        return built[-1]

    p1 = cache.provider("s", "rv1", build)
    assert cache.provider("s", "rv1", build) is p1
    assert cache.provider("s", "rv2", build) is not p1 and len(built) == 2


# -- work queue ----------------------------------------------------------------------------------------


def test_work_queue_dedupes_and_never_runs_a_key_twice_at_once() -> None:
    running: set[str] = set()
    overlaps: list[str] = []
    runs: list[tuple[str, str]] = []
    lock = threading.Lock()

    def reconcile(key: str, reason: str) -> float | None:
        with lock:
            if key in running:
                overlaps.append(key)
            running.add(key)
            runs.append((key, reason))
        time.sleep(0.05)
        with lock:
            running.discard(key)
        return None

    async def scenario() -> None:
        queue = WorkQueue(reconcile, workers=4)
        await queue.start()
        for _ in range(5):
            queue.add("a")
        queue.add("b", 0.2)
        queue.add("b", 0.0)  # earlier wins
        await asyncio.sleep(0.02)
        queue.add("a")  # while running: runs once more afterwards
        queue.add("a")
        await asyncio.sleep(0.4)
        await queue.stop()

    asyncio.run(scenario())
    assert overlaps == []
    assert [k for k, _ in runs].count("a") == 2
    assert [k for k, _ in runs].count("b") == 1


def test_work_queue_accepts_keys_from_other_threads() -> None:
    """kopf runs sync handlers in its executor: keys added from several threads at once while the
    workers sit idle are all run, once each. (The queue hands such calls to the loop's thread; this
    test does not reliably catch the old unsynchronised version, whose races are timing-dependent.)"""
    runs: list[str] = []
    lock = threading.Lock()

    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        done: asyncio.Future[bool] = loop.create_future()

        def reconcile(key: str, reason: str) -> float | None:
            with lock:
                runs.append(key)
                if len(runs) == 200:
                    loop.call_soon_threadsafe(done.set_result, True)
            return None

        queue = WorkQueue(reconcile, workers=2)
        await queue.start()
        await asyncio.sleep(0.05)  # workers now wait on an empty heap, with no timeout
        threads = [threading.Thread(target=lambda i=i: [queue.add(f"k{i}-{j}") for j in range(50)]) for i in range(4)]
        for thread in threads:
            thread.start()
        try:
            await asyncio.wait_for(done, timeout=3)  # the loop sleeps here unless something wakes it
        finally:
            for thread in threads:
                thread.join()
            await queue.stop()

    asyncio.run(scenario())
    assert sorted(runs) == sorted(f"k{i}-{j}" for i in range(4) for j in range(50))


def test_work_queue_reschedules_with_the_returned_delay() -> None:
    times: list[float] = []

    def reconcile(key: str, reason: str) -> float | None:
        times.append(time.monotonic())
        return 0.1 if len(times) < 3 else None

    async def scenario() -> None:
        queue = WorkQueue(reconcile, workers=1)
        await queue.start()
        queue.add("k")
        await asyncio.sleep(0.5)
        await queue.stop()

    asyncio.run(scenario())
    assert len(times) == 3
    assert all(b - a >= 0.09 for a, b in zip(times, times[1:], strict=False))


def test_work_queue_serves_immediate_keys_before_due_refreshes() -> None:
    """A new object (an add with no delay) runs before a wave of refreshes that are already due; a due
    refresh that is also added with no delay runs once, in the immediate lane."""
    now = [0.0]
    runs: list[str] = []

    async def scenario() -> None:
        done = asyncio.get_running_loop().create_future()

        def reconcile(key: str, reason: str) -> float | None:
            runs.append(key)
            if len(runs) == 21 and not done.done():
                done.get_loop().call_soon_threadsafe(done.set_result, True)
            return None

        queue = WorkQueue(reconcile, workers=1, clock=lambda: now[0])
        await queue.start(paused=True)
        for i in range(20):
            queue.add(f"refresh-{i}", 1.0 + i)
        now[0] = 100.0  # every refresh is overdue
        queue.add("new", 0.0)
        queue.add("refresh-7", 0.0)  # a force-sync of an overdue one: moves ahead, runs once
        queue.resume()
        await asyncio.wait_for(done, timeout=5)
        await queue.stop()

    asyncio.run(scenario())
    assert sorted(runs[:2]) == ["new", "refresh-7"]
    assert runs[2:] == [f"refresh-{i}" for i in range(20) if i != 7], "the rest in due order, each once"


# -- writer --------------------------------------------------------------------------------------------


class FakeApi:
    """Records requests and answers like the apiserver would for one namespace."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str], dict[str, Any]] = {}
        self.requests: list[tuple[str, str, Any]] = []
        self.rv = 0

    def _bump(self, obj: dict[str, Any]) -> dict[str, Any]:
        self.rv += 1
        obj["metadata"]["resourceVersion"] = str(self.rv)
        return obj

    def create(self, resource: str, namespace: str, body: Mapping[str, Any]) -> dict[str, Any]:
        self.requests.append(("create", resource, body))
        key = (resource, body["metadata"]["name"])
        if key in self.objects:
            raise ApiError(409, "AlreadyExists", "")
        self.objects[key] = self._bump({**body, "metadata": dict(body["metadata"])})
        return self.objects[key]

    def get(self, resource: str, namespace: str, name: str) -> dict[str, Any] | None:
        self.requests.append(("get", resource, name))
        return self.objects.get((resource, name))

    def patch(self, resource: str, namespace: str, name: str, body: Any, **_: Any) -> dict[str, Any]:
        self.requests.append(("patch", resource, body))
        obj = self.objects[(resource, name)]
        meta = body.get("metadata", {})
        if meta.get("resourceVersion") not in (None, obj["metadata"]["resourceVersion"]):
            raise ApiError(409, "Conflict", "")
        for field in ("labels", "annotations"):
            obj["metadata"].setdefault(field, {}).update(meta.get(field, {}))
        if "ownerReferences" in meta:
            obj["metadata"]["ownerReferences"] = meta["ownerReferences"]
        data = obj.setdefault("data", {})
        for k, v in body.get("data", {}).items():
            if v is None:
                data.pop(k, None)
            else:
                data[k] = v
        return self._bump(obj)


def _owner() -> dict[str, Any]:
    return {"apiVersion": "configmanager.io/v1alpha1", "kind": "ManagedSecret", "metadata": {"name": "ms", "uid": "u1"}}


def _desired(data: dict[str, str], **kw: Any) -> Desired:
    return Desired(kind="Secret", namespace="n", name="s", data={k: base64.b64encode(v.encode()).decode() for k, v in data.items()},
                   owner=_owner(), **kw)


def test_writer_creates_then_skips_when_nothing_changed() -> None:
    api, cache = FakeApi(), ClusterCache()
    assert write(api, cache, _desired({"k": "v"})).result is WriteResult.CREATED  # type: ignore[arg-type]
    created = api.objects[("secrets", "s")]
    assert created["metadata"]["ownerReferences"][0]["uid"] == "u1"
    n = len(api.requests)
    assert write(api, cache, _desired({"k": "v"})).result is WriteResult.UNCHANGED  # type: ignore[arg-type]
    assert len(api.requests) == n, "no request at all when nothing changed"
    outcome = write(api, cache, _desired({"k2": "v2"}))  # type: ignore[arg-type]
    assert outcome.result is WriteResult.UPDATED
    assert api.objects[("secrets", "s")]["data"] == {"k2": base64.b64encode(b"v2").decode()}, "dropped keys removed"


def test_writer_leaves_foreign_secret_alone_unless_merge() -> None:
    api, cache = FakeApi(), ClusterCache()
    foreign = api.create("secrets", "n", {"kind": "Secret", "metadata": {"name": "s", "namespace": "n"}, "data": {"theirs": "eA=="}})
    cache.put_object(foreign)
    api.requests.clear()
    assert write(api, cache, _desired({"k": "v"})).result is WriteResult.NOT_OWNED  # type: ignore[arg-type]
    assert api.requests == []
    outcome = write(api, cache, _desired({"k": "v"}, policy="Merge", owner_reference=False))  # type: ignore[arg-type]
    assert outcome.result is WriteResult.UPDATED
    merged = api.objects[("secrets", "s")]
    assert set(merged["data"]) == {"theirs", "k"}
    assert "ownerReferences" not in merged["metadata"]
    outcome = write(api, cache, _desired({"j": "w"}, policy="Merge", owner_reference=False))  # type: ignore[arg-type]
    assert set(api.objects[("secrets", "s")]["data"]) == {"theirs", "j"}, "only keys we managed are removed"


def test_writer_merge_into_missing_secret_creates_nothing() -> None:
    api, cache = FakeApi(), ClusterCache()
    assert write(api, cache, _desired({"k": "v"}, policy="Merge")).result is WriteResult.TARGET_MISSING  # type: ignore[arg-type]
    assert api.requests == [("get", "secrets", "s")]  # an unlabelled target is not in the cache until watched: asked, never written


def test_writer_repairs_drift_and_recovers_from_a_stale_cache() -> None:
    api, cache = FakeApi(), ClusterCache()
    write(api, cache, _desired({"k": "v"}))  # type: ignore[arg-type]
    obj = api.objects[("secrets", "s")]
    obj["data"]["k"] = base64.b64encode(b"edited").decode()
    cache.put_object(obj)
    outcome = write(api, cache, _desired({"k": "v"}))  # type: ignore[arg-type]
    assert outcome.result is WriteResult.UPDATED and outcome.drift_repaired
    # the cache lost the object (e.g. restart race): create answers 409, the writer reads it and carries on
    cache.drop_object("Secret", "n", "s")
    assert write(api, cache, _desired({"k": "v"})).result is WriteResult.UNCHANGED  # type: ignore[arg-type]


def test_retain_policy_sets_no_owner_reference() -> None:
    api, cache = FakeApi(), ClusterCache()
    write(api, cache, _desired({"k": "v"}, owner_reference=False))  # type: ignore[arg-type]
    meta = api.objects[("secrets", "s")]["metadata"]
    assert "ownerReferences" not in meta and meta["annotations"]["configmanager.io/owner"] == "ManagedSecret/ms"
