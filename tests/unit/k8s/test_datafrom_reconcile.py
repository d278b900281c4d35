"""ManagedSecret dataFrom find / rewrite / generatorRef through the reconciler on the in-memory API.

The integration tests (tests/integration/test_datafrom.py) prove the same on the real control plane and
the real stores; here each rule is one pass: a find through the read cache, a colliding rewrite refused
with the Secret left as it was, a generated value kept across passes and remade on force-sync only.
"""

from __future__ import annotations

import json
from typing import Any

from config_manager.k8s.api.resources import ANN_FORCE_SYNC
from config_manager.k8s.reconcile import managedsecret
from config_manager.k8s.stores.readcache import ProviderCache

from .kit import NS, Kit


def ready(kit: Kit, name: str) -> dict[str, Any]:
    return next(c for c in kit.status("ManagedSecret", name)["conditions"] if c["type"] == "Ready")


def spec(*entries: dict[str, Any]) -> dict[str, Any]:
    return {"storeRef": {"name": "local"}, "refreshInterval": "1h", "dataFrom": list(entries)}


def test_find_by_path_and_regexp_with_rewrite() -> None:
    kit = Kit({"app/db-user": "u1", "app/db-pass": "p1", "app/other": "x", "else/db-user": "no"})
    kit.add("ManagedSecret", "f", spec({"find": {"path": "app", "name": {"regexp": "db-"}},
                                        "rewrite": [{"regexp": {"source": "^app/db-(.*)$", "target": "$1"}},
                                                    {"transform": {"template": "{{ .value | upper }}"}}]}))
    managedsecret.reconcile(kit.ctx, NS, "f")
    assert kit.secret_data("f") == {"USER": "u1", "PASS": "p1"}
    kit.add("ManagedSecret", "g", spec({"find": {"name": {"regexp": "^app/db"}}}))
    managedsecret.reconcile(kit.ctx, NS, "g")
    assert kit.secret_data("g") == {"app_db-user": "u1", "app_db-pass": "p1"}  # conversionStrategy Default


def test_a_colliding_rewrite_is_refused_and_the_secret_kept() -> None:
    kit = Kit({"a/x": "1", "b/x": "2"})
    body = kit.add("ManagedSecret", "c", spec({"find": {"path": "a"}, "rewrite": [{"regexp": {"source": "^[ab]/", "target": ""}}]}))
    managedsecret.reconcile(kit.ctx, NS, "c")
    assert kit.secret_data("c") == {"x": "1"}
    kit.sync_cache()
    body = kit.add("ManagedSecret", "c", {**body["spec"], "dataFrom": [{"find": {"name": {"regexp": "/x$"}},
                                                                         "rewrite": [{"regexp": {"source": "^[ab]/", "target": ""}}]}]},
                   generation=2)
    managedsecret.reconcile(kit.ctx, NS, "c")
    cond = ready(kit, "c")
    assert (cond["status"], cond["reason"]) == ("False", "InvalidSpec")
    assert "spec.dataFrom[0].rewrite[0]" in cond["message"]
    assert kit.secret_data("c") == {"x": "1"}
    assert any("spec.dataFrom[0].rewrite[0]" in e.get("message", "") for e in kit.api.listed("events"))


def test_find_beyond_the_limit_is_refused_naming_the_field() -> None:
    kit = Kit({f"k{i}": str(i) for i in range(5)}, max_find_results=3)
    kit.add("ManagedSecret", "many", spec({"find": {"name": {"regexp": "^k"}}}))
    managedsecret.reconcile(kit.ctx, NS, "many")
    cond = ready(kit, "many")
    assert cond["status"] == "False" and "spec.dataFrom[0].find" in cond["message"] and "more than 3 keys" in cond["message"]


def add_generator(kit: Kit, kind: str, name: str, gen_spec: dict[str, Any]) -> None:
    body = {"apiVersion": "configmanager.io/v1alpha1", "kind": kind, "metadata": {"name": name, "namespace": NS}, "spec": gen_spec}
    kit.cache.generators[(kind, NS, name)] = body


def test_generated_values_are_kept_and_remade_on_force_sync_only() -> None:
    kit = Kit({})
    add_generator(kit, "Password", "pw", {"length": 20})
    add_generator(kit, "UUID", "id", {})
    kit.add("ManagedSecret", "gen", spec({"sourceRef": {"generatorRef": {"kind": "Password", "name": "pw"}}},
                                         {"sourceRef": {"generatorRef": {"kind": "UUID", "name": "id"}},
                                          "rewrite": [{"regexp": {"source": "uuid", "target": "client-id"}}]}))
    managedsecret.reconcile(kit.ctx, NS, "gen")
    first = kit.secret_data("gen")
    assert set(first) == {"password", "client-id"} and len(first["password"]) == 20
    kit.sync_cache()
    writes = kit.writes()
    managedsecret.reconcile(kit.ctx, NS, "gen")
    assert kit.secret_data("gen") == first and kit.writes() == writes  # a refresh keeps them, writes nothing
    kit.ctx.generated.forget(NS, "gen")  # as after an operator restart: taken back from the Secret
    managedsecret.reconcile(kit.ctx, NS, "gen")
    assert kit.secret_data("gen") == first
    assert first["password"] not in json.dumps(kit.status("ManagedSecret", "gen"))
    body = kit.api.stored("managedsecrets", NS, "gen")
    assert body is not None
    kit.add("ManagedSecret", "gen", body["spec"], annotations={ANN_FORCE_SYNC: "1"})
    kit.sync_cache()
    managedsecret.reconcile(kit.ctx, NS, "gen")
    again = kit.secret_data("gen")
    assert again["password"] != first["password"] and again["client-id"] != first["client-id"]


def test_a_missing_generator_names_the_field() -> None:
    kit = Kit({})
    kit.add("ManagedSecret", "nogen", spec({"sourceRef": {"generatorRef": {"kind": "SSHKey", "name": "absent"}}}))
    managedsecret.reconcile(kit.ctx, NS, "nogen")
    cond = ready(kit, "nogen")
    assert cond["reason"] == "GeneratorNotFound" and "spec.dataFrom[0].sourceRef.generatorRef" in cond["message"]


def test_rotation_takes_its_values_from_a_referenced_generator() -> None:
    from config_manager.k8s.rotation.engine import referenced_generator
    from config_manager.k8s.spec.managedsecret import InvalidSpecError, parse_managed_secret
    from config_manager.k8s.spec.rotation import parse_rotation

    kit = Kit({})
    add_generator(kit, "Password", "long", {"length": 40, "symbols": 0})
    raw = {"interval": "1h", "generatorRef": {"kind": "Password", "name": "long"}, "keys": ["a", "b"],
           "generators": {"b": {"type": "uuid"}}}
    body = {"metadata": {"namespace": NS, "name": "r"}}
    generator = referenced_generator(kit.ctx, body, raw)
    assert generator is not None
    ms = parse_managed_secret("r", {"storeRef": {"name": "local"}, "rotation": raw})
    rotation = parse_rotation(raw, ms, default_generator=generator)
    values = {k.secret_key: k.generator() for k in rotation.keys}
    assert len(values["a"]) == 40 and len(values["b"]) == 36  # per-key generators still win
    for ref, reason in (({"kind": "Password", "name": "absent"}, "not found"), ({"kind": "SSHKey", "name": "k"}, "two keys")):
        try:
            referenced_generator(kit.ctx, body, {**raw, "generatorRef": ref})
        except InvalidSpecError as exc:
            assert exc.field.startswith("spec.rotation.generatorRef") and reason in str(exc)
        else:
            raise AssertionError("refused")


def test_a_rewrite_that_merges_a_generator_s_keys_is_refused() -> None:
    kit = Kit({})
    add_generator(kit, "SSHKey", "k", {"keyType": "ed25519"})
    kit.add("ManagedSecret", "ssh", spec({"sourceRef": {"generatorRef": {"kind": "SSHKey", "name": "k"}},
                                          "rewrite": [{"regexp": {"source": "^.*$", "target": "key"}}]}))
    managedsecret.reconcile(kit.ctx, NS, "ssh")
    cond = ready(kit, "ssh")
    assert cond["reason"] == "InvalidSpec" and "spec.dataFrom[0].rewrite[0]" in cond["message"]
    assert kit.api.stored("secrets", NS, "ssh") is None


def test_a_find_listing_is_shared_for_the_refresh_interval_like_a_read() -> None:
    kit = Kit({"app/a": "1", "app/b": "2"})
    now = [0.0]
    kit.ctx.providers = ProviderCache(ttl=5.0, clock=lambda: now[0])
    kit.add("ManagedSecret", "f", spec({"find": {"path": "app"}}))  # refreshInterval 1h
    managedsecret.reconcile(kit.ctx, NS, "f")
    assert kit.secret_data("f") == {"app_a": "1", "app_b": "2"}
    assert kit.ctx.providers.reads == 3, "one listing, two reads"
    now[0] = 60.0  # past the cache's ttl floor, well inside the object's refresh interval
    kit.sync_cache()
    managedsecret.reconcile(kit.ctx, NS, "f")
    assert kit.ctx.providers.reads == 3, "neither the listing nor the reads repeated within the interval"
    now[0] = 3601.0
    managedsecret.reconcile(kit.ctx, NS, "f")
    assert kit.ctx.providers.reads == 6, "a pass after the interval lists and reads again"
