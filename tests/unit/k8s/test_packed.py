"""The packed body tables of the cache (watch.packed): same bodies back, never shared, a fraction of the memory."""

from __future__ import annotations

import json
import tracemalloc
from types import MappingProxyType
from typing import Any

from config_manager.k8s.watch.cache import ClusterCache
from config_manager.k8s.watch.packed import PackedBodies


def body(i: int) -> dict[str, Any]:
    """A ManagedSecret as the apiserver returns it after a sync (the bench's shape)."""
    name = f"app-{i}"
    return {
        "apiVersion": "configmanager.io/v1alpha1", "kind": "ManagedSecret",
        "metadata": {"name": name, "namespace": "team", "uid": f"uid-{i}", "resourceVersion": str(1000 + i),
                     "generation": 1, "creationTimestamp": "2026-12-02T21:53:09Z"},
        "spec": {"data": [{"secretKey": k, "remoteRef": {"key": f"{name}-{k}"}} for k in "abc"],
                 "refreshInterval": "1h", "refreshPolicy": "Periodic",
                 "storeRef": {"kind": "SecretStore", "name": "vault"},
                 "target": {"creationPolicy": "Owner", "deletionPolicy": "Delete", "immutable": False, "type": "Opaque"}},
        "status": {"access": {"consecutiveFailures": 0, "lastRead": "2026-12-02T21:53:09Z", "providerReads": 3,
                              "usedBy": [], "usedByCount": 0},
                   "binding": {"name": name},
                   "conditions": [{"type": "Ready", "status": "True", "reason": "SecretSynced",
                                   "message": f"Secret '{name}' is in sync", "observedGeneration": 1,
                                   "lastTransitionTime": "2026-12-02T21:53:09Z"}],
                   "keys": ["a", "b", "c"], "observedGeneration": 1, "refreshTime": "2026-12-02T21:53:09Z",
                   "syncedResourceVersion": str(900 + i)},
    }


def test_a_body_comes_back_equal_and_in_order() -> None:
    table: PackedBodies[tuple[str, str]] = PackedBodies()
    table[("team", "app-1")] = body(1)
    got = table.get(("team", "app-1"))
    assert got == body(1)
    assert json.dumps(got) == json.dumps(body(1))  # key order kept (status patches and diffs rely on it)
    assert table.get(("team", "nope")) is None
    assert ("team", "app-1") in table and len(table) == 1 and list(table) == [("team", "app-1")]
    assert table.pop(("team", "app-1"))["metadata"]["name"] == "app-1"
    assert table.pop(("team", "app-1"), None) is None and len(table) == 0


def test_a_caller_that_edits_what_it_read_does_not_change_the_cache() -> None:
    table: PackedBodies[tuple[str, str]] = PackedBodies()
    table[("team", "app-1")] = body(1)
    first = table[("team", "app-1")]
    first["status"]["conditions"][0]["status"] = "False"
    first["spec"]["data"].clear()
    again = table[("team", "app-1")]
    assert again is not first
    assert again == body(1)


def test_mappings_that_are_not_dicts_are_packed_as_dicts() -> None:
    table: PackedBodies[tuple[str, str]] = PackedBodies()
    original = body(2)
    frozen = MappingProxyType({**original, "metadata": MappingProxyType(original["metadata"]),
                               "status": {**original["status"], "keys": ("a", "b", "c")}})
    table[("team", "app-2")] = frozen
    assert table[("team", "app-2")] == original


def test_the_cache_keeps_our_objects_packed_and_a_status_answer_replaces_an_older_body() -> None:
    cache = ClusterCache()
    cache.managed_secrets[("team", "app-1")] = body(1)
    newer = body(1)
    newer["metadata"]["resourceVersion"] = "5000"
    newer["metadata"]["managedFields"] = [{"manager": "config-manager"}]
    newer["status"]["refreshTime"] = "2026-12-02T22:53:09Z"
    cache.update_body("managedsecrets", newer)
    kept = cache.managed_secrets[("team", "app-1")]
    assert kept["status"]["refreshTime"] == "2026-12-02T22:53:09Z"
    assert "managedFields" not in kept["metadata"]
    older = body(1)
    older["status"]["refreshTime"] = "2026-12-01T00:00:00Z"
    cache.update_body("managedsecrets", older)  # resourceVersion 1001 < 5000: not taken
    assert cache.managed_secrets[("team", "app-1")]["status"]["refreshTime"] == "2026-12-02T22:53:09Z"


def _traced_bytes(fill: Any) -> int:
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        kept = fill()
        used = tracemalloc.get_traced_memory()[0] - before
        del kept
        return used
    finally:
        tracemalloc.stop()


def test_packed_bodies_take_a_fraction_of_the_memory_of_decoded_ones() -> None:
    count = 2000
    texts = [json.dumps(body(i)) for i in range(count)]  # decoded one by one, as watch events are

    def as_dicts() -> dict[tuple[str, str], Any]:
        return {("team", f"app-{i}"): json.loads(text) for i, text in enumerate(texts)}

    def packed() -> PackedBodies[tuple[str, str]]:
        table: PackedBodies[tuple[str, str]] = PackedBodies()
        for i, text in enumerate(texts):
            table[("team", f"app-{i}")] = json.loads(text)
        return table

    dicts, packs = _traced_bytes(as_dicts), _traced_bytes(packed)
    assert packs * 3 < dicts, (packs, dicts)
