"""The Lease algorithm of k8s/leader.py against an in-memory Lease endpoint with the apiserver's
optimistic concurrency (resourceVersion, 409 on a stale PUT, 409 on a second create) and a fake clock.

The real apiserver is exercised by tests/integration/test_leader_election.py; these tests pin the
decisions (when to take over, when to step down) that are hard to provoke there.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from config_manager.k8s.api.client import ApiError
from config_manager.k8s.api.leader import Attempt, LeaderElector, LeaseSettings
from config_manager.k8s.watch.workqueue import WorkQueue


class FakeLeases:
    """Just enough of the leases API: GET, POST, PUT with resourceVersion checks."""

    def __init__(self) -> None:
        self.lease: dict[str, Any] | None = None
        self.version = 0
        self.fail = False
        self.stale_next_put = False

    def request(self, verb: str, method: str, resource: str, path: str, *, body: Any = None, **_: Any) -> dict[str, Any]:
        assert resource == "leases"
        if self.fail:
            raise ApiError(503, "ServiceUnavailable", "down")
        if method == "GET":
            if self.lease is None:
                raise ApiError(404, "NotFound", "")
            return copy.deepcopy(self.lease)
        if method == "POST":
            if self.lease is not None:
                raise ApiError(409, "AlreadyExists", "")
            return self._store(body)
        if method == "PUT":
            assert self.lease is not None
            if self.stale_next_put or body["metadata"]["resourceVersion"] != self.lease["metadata"]["resourceVersion"]:
                self.stale_next_put = False
                raise ApiError(409, "Conflict", "the object has been modified")
            return self._store(body)
        raise AssertionError(method)

    def _store(self, body: dict[str, Any]) -> dict[str, Any]:
        self.version += 1
        self.lease = copy.deepcopy(body)
        self.lease["metadata"]["resourceVersion"] = str(self.version)
        return copy.deepcopy(self.lease)

    @property
    def holder(self) -> str | None:
        return ((self.lease or {}).get("spec") or {}).get("holderIdentity")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def elector(api: FakeLeases, clock: Clock, identity: str, events: list[str] | None = None) -> LeaderElector:
    log = events if events is not None else []
    return LeaderElector(api, LeaseSettings(namespace="ns", name="cm", identity=identity),  # type: ignore[arg-type]
                         on_started=lambda: log.append(f"{identity}+"), on_stopped=lambda: log.append(f"{identity}-"),
                         clock=clock)


def test_first_candidate_creates_the_lease_and_the_second_stands_by() -> None:
    api, clock, events = FakeLeases(), Clock(), list[str]()
    a, b = elector(api, clock, "a", events), elector(api, clock, "b", events)
    assert a.step(a.try_acquire_or_renew()) == a.settings.renew_period
    assert b.step(b.try_acquire_or_renew()) == b.settings.retry_period
    assert api.holder == "a" and a.is_leader and not b.is_leader
    assert api.lease is not None and api.lease["spec"]["leaseDurationSeconds"] == 15
    assert events == ["a+"]


def test_standby_takes_over_only_after_the_lease_stopped_changing_for_its_duration() -> None:
    api, clock = FakeLeases(), Clock()
    a, b = elector(api, clock, "a"), elector(api, clock, "b")
    a.step(a.try_acquire_or_renew())
    assert b.try_acquire_or_renew() is Attempt.OTHER  # b sees the record for the first time now
    for _ in range(5):  # a keeps renewing: the record changes, b never takes over
        clock.now += 5
        assert a.try_acquire_or_renew() is Attempt.HELD
        assert b.try_acquire_or_renew() is Attempt.OTHER
    # a dies; b measures from the last change *it saw*, on its own clock
    clock.now += 14
    assert b.try_acquire_or_renew() is Attempt.OTHER
    clock.now += 1.5
    assert b.try_acquire_or_renew() is Attempt.HELD
    assert api.holder == "b" and api.lease is not None and api.lease["spec"]["leaseTransitions"] == 1


def test_released_lease_is_taken_at_once() -> None:
    api, clock = FakeLeases(), Clock()
    a, b = elector(api, clock, "a"), elector(api, clock, "b")
    a.step(a.try_acquire_or_renew())
    assert b.try_acquire_or_renew() is Attempt.OTHER
    assert a.release() is True
    assert api.holder is None and api.lease is not None and api.lease["spec"]["leaseDurationSeconds"] == 1
    assert b.try_acquire_or_renew() is Attempt.HELD
    assert b.release() is True and a.release() is False  # only the holder releases


def test_two_standbys_racing_for_an_expired_lease_produce_one_leader() -> None:
    api, clock = FakeLeases(), Clock()
    a, b, c = elector(api, clock, "a"), elector(api, clock, "b"), elector(api, clock, "c")
    a.try_acquire_or_renew()
    b.try_acquire_or_renew()
    c.try_acquire_or_renew()
    clock.now += 16
    api.stale_next_put = True  # b's PUT loses: c wrote between b's GET and b's PUT
    assert b.try_acquire_or_renew() is Attempt.OTHER
    assert c.try_acquire_or_renew() is Attempt.HELD
    assert api.holder == "c"


def test_leader_steps_down_when_it_cannot_renew_before_anyone_may_take_over() -> None:
    api, clock, events = FakeLeases(), Clock(), list[str]()
    a = elector(api, clock, "a", events)
    a.step(a.try_acquire_or_renew())
    api.fail = True
    clock.now += 5
    assert a.step(a.try_acquire_or_renew()) == a.settings.retry_period and a.is_leader  # one failure is tolerated
    clock.now += 5.5  # 10.5 s since the last renewal: past the renew deadline (10 s), before expiry (15 s)
    a.step(a.try_acquire_or_renew())
    assert not a.is_leader and events == ["a+", "a-"]


def test_leader_steps_down_at_once_when_someone_else_holds_the_lease() -> None:
    api, clock = FakeLeases(), Clock()
    a = elector(api, clock, "a")
    a.step(a.try_acquire_or_renew())
    assert api.lease is not None
    api.lease["spec"]["holderIdentity"] = "intruder"
    api.version += 1
    api.lease["metadata"]["resourceVersion"] = str(api.version)
    assert a.step(a.try_acquire_or_renew()) == a.settings.retry_period and not a.is_leader


def test_settings_refuse_a_renew_period_longer_than_the_lease() -> None:
    with pytest.raises(ValueError):
        LeaseSettings(namespace="ns", identity="a", lease_duration=5, renew_period=6, renew_deadline=7)


def test_paused_queue_schedules_but_runs_nothing_until_resumed() -> None:
    import asyncio

    ran: list[str] = []

    async def scenario() -> None:
        def reconcile(key: str, reason: str) -> None:
            ran.append(key)

        queue = WorkQueue(reconcile, workers=2)
        await queue.start(paused=True)
        queue.add("x")
        queue.add("y")
        await asyncio.sleep(0.2)
        assert ran == [] and len(queue) == 2
        queue.resume()
        await asyncio.sleep(0.2)
        assert sorted(ran) == ["x", "y"]
        queue.pause()
        queue.add("z")
        await asyncio.sleep(0.2)
        assert "z" not in ran
        assert await queue.drain(1.0)
        await queue.stop()

    asyncio.run(scenario())
