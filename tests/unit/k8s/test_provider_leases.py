"""Unit tests of when the provider cache closes a provider it no longer hands out: not under a read in
flight of a reconcile pass that still holds it (``ProviderCache.held``), but when the last such pass ends.

The stand-in fails like the Azure SDK's requests transport once closed (``ValueError``), which is what a
ManagedSecret pass met when its store's provider was rebuilt during the SDK's retry of a 429."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from config_manager.k8s.spec.managedsecret import RemoteRef
from config_manager.k8s.stores.readcache import ProviderCache
from config_manager.providers.base import SecretProvider, SecretValue


class ClosableProvider(SecretProvider):
    """``get`` can be held in flight (``started``/``proceed``); after ``close`` it raises as a closed transport does."""

    provider_type = "closable"

    def __init__(self, *, block: bool = False) -> None:
        self.closed = 0
        self.block = block
        self.started = threading.Event()
        self.proceed = threading.Event()

    def get(self, key: str, version: str | None = None) -> SecretValue:
        if self.block:
            self.started.set()
            assert self.proceed.wait(5)
        if self.closed:
            raise ValueError("transport has already been closed")
        return SecretValue(key=key, value=f"v-{key}")

    def close(self) -> None:
        self.closed += 1

    def set(self, key: str, value: Any, metadata: Mapping[str, str] | None = None) -> SecretValue:
        raise NotImplementedError

    def delete(self, key: str) -> bool:
        raise NotImplementedError

    def list(self, prefix: str = "") -> list[str]:
        return []

    def validate(self) -> None:
        pass


def test_a_read_in_flight_survives_its_provider_being_replaced() -> None:
    cache = ProviderCache(ttl=0)
    old, new = ClosableProvider(block=True), ClosableProvider()
    outcome: list[object] = []

    def reconcile() -> None:
        with cache.held():
            provider = cache.provider("s", "rv|-", lambda: old)  # built before the credential was cached
            try:
                outcome.append(cache.read("s", provider, RemoteRef("k"))[0].value)
            except Exception as exc:  # noqa: BLE001 - the outcome is the assertion
                outcome.append(exc)

    worker = threading.Thread(target=reconcile)
    worker.start()
    assert old.started.wait(5)
    with cache.held():  # the store's validation, once the credential is cached: a new fingerprint
        assert cache.provider("s", "rv|7", lambda: new) is new
    assert old.closed == 0, "the pass reading through it still holds it"
    old.proceed.set()
    worker.join(5)
    assert outcome == ["v-k"], outcome
    assert old.closed == 1, "closed once the last pass holding it ended"
    assert new.closed == 0
    assert cache.provider("s", "rv|7", lambda: ClosableProvider()) is new


def test_a_forgotten_provider_is_closed_by_the_last_pass_holding_it() -> None:
    cache = ProviderCache()
    provider = ClosableProvider()
    first, second = threading.Event(), threading.Event()
    release = threading.Event()

    def reconcile(entered: threading.Event) -> None:
        with cache.held():
            cache.provider("s", "rv", lambda: provider)
            entered.set()
            assert release.wait(5)

    threads = [threading.Thread(target=reconcile, args=(e,)) for e in (first, second)]
    threads[0].start()
    assert first.wait(5)
    threads[1].start()
    assert second.wait(5)
    cache.forget_store("s")  # the store was edited or deleted
    assert provider.closed == 0
    release.set()
    for t in threads:
        t.join(5)
    assert provider.closed == 1, "closed once, after both passes"


def test_outside_a_pass_a_replaced_provider_is_closed_at_once() -> None:
    cache = ProviderCache()
    old, new = ClosableProvider(), ClosableProvider()
    with cache.held():
        with cache.held():  # nested: released by the outer pass only
            cache.provider("s", "a", lambda: old)
    cache.provider("s", "b", lambda: new)
    assert old.closed == 1
    cache.forget_store("s")
    assert new.closed == 1
