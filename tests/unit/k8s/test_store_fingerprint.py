"""Unit tests of the store fingerprint a provider is kept under: the store's uid and generation (not its
status writes) and the versions of the credential objects it was built from, so a credential that the
cache learns of after the build (its by-name watch lists it a moment later) does not rebuild the
provider, while a changed or deleted credential still does."""

from __future__ import annotations

from config_manager.k8s.stores.resolve import resolve_own
from tests.unit.k8s.kit import NS, Kit


def test_a_credential_cached_after_the_build_keeps_the_provider() -> None:
    kit = Kit()
    kit.cache.drop_object("Secret", NS, "store-key")  # not listed by its by-name watch yet
    store = resolve_own("SecretStore", NS, "local", kit.cache)
    first = kit.ctx.provider(store)
    stored = kit.api.stored("secrets", NS, "store-key")
    assert stored is not None
    info = kit.cache.get_object("Secret", NS, "store-key")
    assert info is not None and info.resource_version == stored["metadata"]["resourceVersion"], \
        "the credential read is cached: its watch starts from that version"
    kit.sync_cache()  # the watch lists the same version
    assert kit.ctx.provider(store) is first, "same credential: no second build"
    kit.api.put("secrets", stored)  # the credential changes (a new resourceVersion)
    kit.sync_cache()
    second = kit.ctx.provider(store)
    assert second is not first
    kit.cache.drop_object("Secret", NS, "store-key")  # deleted
    assert kit.ctx.provider(store) is not second


def test_the_fingerprint_of_a_build_is_the_version_read_not_the_cached_one() -> None:
    kit = Kit()
    store = resolve_own("SecretStore", NS, "local", kit.cache)
    cached = kit.cache.get_object("Secret", NS, "store-key")
    assert cached is not None
    read = {("Secret", NS, "store-key"): {"metadata": {"resourceVersion": "older"}}}
    assert "|older|" in store.fingerprint(kit.cache, read=read) + "|"
    assert cached.resource_version in store.fingerprint(kit.cache).split("|")
    # a GET's answer never replaces what a watch put in the cache
    kit.cache.put_object({"kind": "Secret", "metadata": {"name": "store-key", "namespace": NS, "resourceVersion": "older"}},
                         if_absent=True)
    assert kit.cache.get_object("Secret", NS, "store-key") == cached


def test_a_status_write_on_the_store_keeps_the_provider_and_a_spec_change_does_not() -> None:
    kit = Kit()
    first = kit.ctx.provider(resolve_own("SecretStore", NS, "local", kit.cache))
    body = kit.cache.stores[(NS, "local")]
    meta = body["metadata"]
    # the store's own validation wrote its status: a new resourceVersion, the same generation
    kit.cache.stores[(NS, "local")] = {**body, "metadata": {**meta, "resourceVersion": "9001"}, "status": {"conditions": []}}
    assert kit.ctx.provider(resolve_own("SecretStore", NS, "local", kit.cache)) is first
    kit.cache.stores[(NS, "local")] = {**body, "metadata": {**meta, "resourceVersion": "9002",
                                                            "generation": int(meta.get("generation") or 1) + 1}}
    assert kit.ctx.provider(resolve_own("SecretStore", NS, "local", kit.cache)) is not first
