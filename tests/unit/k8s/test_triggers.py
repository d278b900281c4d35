"""What a watch event asks for (``watch.triggers``), decided on plain dicts, and the injected clocks of the
machinery that decides by time (work queue, read cache, Event recorder)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from config_manager.k8s.api.events import EventRecorder
from config_manager.k8s.api.fake import FakeKubeApi
from config_manager.k8s.spec.managedsecret import RemoteRef
from config_manager.k8s.stores.backoff import Backoff
from config_manager.k8s.stores.readcache import ProviderCache
from config_manager.k8s.watch import triggers
from config_manager.k8s.watch.workqueue import WorkQueue
from config_manager.providers import registry

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc)


def _synced(refreshed: datetime, **extra: object) -> dict[str, object]:
    return {"metadata": {"name": "db", "namespace": "team", "generation": 2, "uid": "u", **extra},
            "spec": {"refreshInterval": "1h"},
            "status": {"observedGeneration": 2, "refreshTime": refreshed.strftime("%Y-%m-%dT%H:%M:%SZ"),
                       "conditions": [{"type": "Ready", "status": "True"}]}}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def no_jitter(low: float, high: float) -> float:
    return low


def test_a_new_object_is_looked_at_once_and_at_once() -> None:
    body = {"metadata": {"name": "db", "generation": 1}, "spec": {}}
    assert triggers.first_delay(body, default_refresh="1h", spread=10, jitter=0.1, outputs_intact=lambda: True) == 0.0


def test_a_synced_object_comes_back_at_its_refresh_time() -> None:
    body = _synced(NOW - timedelta(minutes=20))
    delay = triggers.first_delay(body, default_refresh="1h", spread=10, jitter=0.1, outputs_intact=lambda: True,
                                 now=NOW, uniform=no_jitter)
    assert delay == 40 * 60


def test_an_edited_output_is_repaired_soon_after_a_restart() -> None:
    body = _synced(NOW - timedelta(minutes=20))
    delay = triggers.first_delay(body, default_refresh="1h", spread=10, jitter=0.1, outputs_intact=lambda: False,
                                 now=NOW, uniform=lambda low, high: high)
    assert delay == 10  # within the start-up spread, not at the refresh time


def test_a_pending_force_sync_is_not_waited_for() -> None:
    body = _synced(NOW, annotations={"configmanager.io/force-sync": "2"})
    delay = triggers.first_delay(body, default_refresh="1h", spread=10, jitter=0.1, outputs_intact=lambda: True,
                                 now=NOW, uniform=no_jitter)
    assert delay == 0.0


def test_spec_changes_and_force_sync_values_re_sync_but_status_changes_do_not() -> None:
    old = _synced(NOW)
    assert not triggers.spec_changed(old, {**old, "status": {}})
    assert triggers.spec_changed(old, {**old, "metadata": {**old["metadata"], "generation": 3}})  # type: ignore[dict-item]
    assert triggers.spec_changed(old, _synced(NOW, annotations={"configmanager.io/force-sync": "x"}))


def test_dependents_of_a_store_are_the_objects_that_name_it() -> None:
    tables = [("ManagedSecret", {("team", "a"): {"spec": {"storeRef": {"name": "s"}}},
                                 ("team", "b"): {"spec": {"storeRef": {"name": "other"}}},
                                 ("else", "c"): {"spec": {"storeRef": {"name": "s"}}}}),
              ("ConfigBundle", {("team", "d"): {"spec": {"secrets": [{"storeRef": {"name": "s"}}]}},
                                ("team", "e"): {"spec": {"storeRef": {"name": "s", "kind": "ClusterSecretStore"}}}})]
    assert triggers.dependents(tables, "SecretStore", "s", "team") == [("ManagedSecret", "team", "a"),
                                                                       ("ConfigBundle", "team", "d")]
    assert triggers.dependents(tables, "ClusterSecretStore", "s", None) == [("ConfigBundle", "team", "e")]


def test_a_new_rotate_annotation_wakes_a_pass_an_honoured_one_does_not() -> None:
    body = {"metadata": {"annotations": {"configmanager.io/rotate": "now"}}, "spec": {"rotation": {}},
            "status": {"rotation": {"manualTrigger": "earlier"}}}
    assert triggers.rotation_wake("MODIFIED", body, NOW) == 0.0
    honoured = {**body, "status": {"rotation": {"manualTrigger": "now"}}}
    assert triggers.rotation_wake("MODIFIED", honoured, NOW) is None
    assert triggers.rotation_wake("DELETED", body, NOW) is None


def test_a_due_rotation_wakes_a_pass_on_first_sight_only() -> None:
    due = (NOW + timedelta(seconds=90)).strftime("%Y-%m-%dT%H:%M:%SZ")
    body = {"metadata": {}, "spec": {"rotation": {}}, "status": {"rotation": {"nextRotationTime": due}}}
    assert triggers.rotation_wake(None, body, NOW) == 90
    assert triggers.rotation_wake("MODIFIED", body, NOW) is None


# -- injected clocks ------------------------------------------------------------------------------------

def test_read_cache_answers_expire_by_its_clock() -> None:
    clock = Clock()
    cache = ProviderCache(ttl=30.0, backoff=Backoff(clock=clock), clock=clock)
    provider = registry.create("memory")
    provider.set("k", "v1")
    assert cache.read("s", provider, RemoteRef("k"))[1] is True
    provider.set("k", "v2")
    assert cache.read("s", provider, RemoteRef("k"))[0].value == "v1"  # shared within the TTL
    clock.now += 31
    value, fetched = cache.read("s", provider, RemoteRef("k"))
    assert (value.value, fetched) == ("v2", True)


def test_identical_events_are_posted_once_per_window_of_its_clock() -> None:
    clock = Clock()
    api = FakeKubeApi()
    events = EventRecorder(api, window=600.0, clock=clock)
    obj = {"kind": "ManagedSecret", "metadata": {"name": "db", "namespace": "team", "uid": "u"}}
    assert events.record(obj, "Normal", "Created", "Secret 'db' created")
    assert not events.record(obj, "Normal", "Created", "Secret 'db' created")
    clock.now += 601
    assert events.record(obj, "Normal", "Created", "Secret 'db' created")
    assert len(api.listed("events", "team")) == 2


def test_more_than_10000_events_in_one_window_are_not_pruned_on_every_post() -> None:
    """A burst of 20,000 objects posts 20,000 Events within one window: the de-duplication table is
    pruned when it has doubled, not rebuilt on each post past 10,000 (that was O(n) per Event)."""

    class Counting(dict[tuple[str, str, str], float]):
        rebuilt = 0

        def items(self):  # type: ignore[no-untyped-def,override]
            Counting.rebuilt += 1
            return super().items()

    class Quiet:
        def create(self, *_: object, **__: object) -> dict[str, object]:
            return {}

    clock = Clock()
    events = EventRecorder(Quiet(), window=600.0, clock=clock)  # type: ignore[arg-type]
    events._recent = Counting()
    for i in range(20000):
        clock.now += 0.001
        obj = {"kind": "ManagedSecret", "metadata": {"name": f"o{i}", "namespace": "team", "uid": f"u{i}"}}
        assert events.record(obj, "Normal", "Created", "created")
        if not isinstance(events._recent, Counting):  # keep counting across prunes
            events._recent = Counting(events._recent)
    assert Counting.rebuilt <= 2, f"pruned {Counting.rebuilt} times for 20,000 Events"
    obj = {"kind": "ManagedSecret", "metadata": {"name": "o5", "namespace": "team", "uid": "u5"}}
    assert not events.record(obj, "Normal", "Created", "created"), "still de-duplicated within the window"


def test_work_queue_schedules_by_its_clock() -> None:
    clock = Clock()
    queue = WorkQueue(lambda key, reason: None, workers=1, clock=clock)
    queue.add("a", 30.0)
    clock.now += 10
    assert queue.due_in("a") == 20.0
    queue.add("a", 5.0)  # an earlier schedule wins
    assert queue.due_in("a") == 5.0
