"""The three reconcilers on the in-memory API (``api.fake``): what each pass writes, and what it must not.

The integration suite proves the same on a real apiserver; here each rule is one short pass: a first
sync writes the Secret once, an idle pass writes nothing, a provider failure keeps the last good value,
an invalid spec is reported and never retried, a value never reaches status, Events or a ConfigMap.
"""

from __future__ import annotations

import json

from config_manager.k8s.reconcile import configbundle, managedsecret, secretstore

from .kit import NS, Kit

SECRET_VALUE = "s3cret-value-17"
MS = {"storeRef": {"name": "local"}, "refreshInterval": "1h",
      "data": [{"secretKey": "password", "remoteRef": {"key": "db/password"}}]}


def _everything_visible(kit: Kit) -> str:
    """Status of our objects, Events, ConfigMaps and annotations: where no value may appear."""
    seen = [o.get("status") for o in kit.api.listed("managedsecrets") + kit.api.listed("configbundles")]
    seen += kit.api.listed("events") + kit.api.listed("configmaps")
    seen += [(o.get("metadata") or {}).get("annotations") for o in kit.api.listed("secrets")]
    return json.dumps(seen)


# -- ManagedSecret --------------------------------------------------------------------------------------

def test_first_pass_creates_the_secret_and_reports_ready() -> None:
    kit = Kit({"db/password": SECRET_VALUE})
    kit.add("ManagedSecret", "db", MS)
    delay = managedsecret.reconcile(kit.ctx, NS, "db")
    assert kit.secret_data("db") == {"password": SECRET_VALUE}
    ready = next(c for c in kit.status("ManagedSecret", "db")["conditions"] if c["type"] == "Ready")
    assert (ready["status"], ready["reason"]) == ("True", "SecretSynced")
    assert delay is not None and 3600 <= delay <= 3600 * 1.1
    assert kit.writes() == {("create", "secrets"): 1, ("patch/status", "managedsecrets"): 1, ("create", "events"): 1}
    assert SECRET_VALUE not in _everything_visible(kit)


def test_an_idle_pass_writes_nothing() -> None:
    kit = Kit({"db/password": SECRET_VALUE})
    kit.add("ManagedSecret", "db", MS)
    managedsecret.reconcile(kit.ctx, NS, "db")
    kit.sync_cache()
    before = kit.writes()
    managedsecret.reconcile(kit.ctx, NS, "db")
    assert kit.writes() == before


def test_a_provider_failure_keeps_the_last_good_secret() -> None:
    kit = Kit({"db/password": SECRET_VALUE})
    kit.add("ManagedSecret", "db", MS)
    managedsecret.reconcile(kit.ctx, NS, "db")
    kit.sync_cache()
    kit.api.delete("secrets", NS, "store-blob")  # the store's data is gone: every read fails
    kit.cache.drop_object("Secret", NS, "store-blob")
    delay = managedsecret.reconcile(kit.ctx, NS, "db")
    assert kit.secret_data("db") == {"password": SECRET_VALUE}
    status = kit.status("ManagedSecret", "db")
    ready = next(c for c in status["conditions"] if c["type"] == "Ready")
    assert ready["status"] == "False" and ready["reason"] in ("ProviderError", "StoreNotReady")
    assert delay is not None and delay > 0
    assert status["access"]["consecutiveFailures"] == 1
    assert SECRET_VALUE not in _everything_visible(kit)


def test_an_invalid_spec_is_reported_and_not_retried() -> None:
    kit = Kit({"db/password": SECRET_VALUE})
    kit.add("ManagedSecret", "bad", {"storeRef": {"name": "local"}, "target": {"type": "kubernetes.io/service-account-token"},
                                     "data": [{"secretKey": "k", "remoteRef": {"key": "db/password"}}]})
    assert managedsecret.reconcile(kit.ctx, NS, "bad") is None
    ready = next(c for c in kit.status("ManagedSecret", "bad")["conditions"] if c["type"] == "Ready")
    assert (ready["status"], ready["reason"]) == ("False", "InvalidSpec")
    assert "spec.target.type" in ready["message"]
    assert kit.api.stored("secrets", NS, "bad") is None
    assert [e["reason"] for e in kit.api.listed("events")] == ["InvalidSpec"]


def test_a_missing_store_is_store_not_ready() -> None:
    kit = Kit({"db/password": SECRET_VALUE})
    kit.add("ManagedSecret", "db", {**MS, "storeRef": {"name": "nowhere"}})
    managedsecret.reconcile(kit.ctx, NS, "db")
    ready = next(c for c in kit.status("ManagedSecret", "db")["conditions"] if c["type"] == "Ready")
    assert (ready["status"], ready["reason"]) == ("False", "StoreNotReady")
    assert "'nowhere' not found" in ready["message"]


def test_a_deleted_object_is_forgotten() -> None:
    kit = Kit()
    assert managedsecret.reconcile(kit.ctx, NS, "gone") is None
    assert kit.writes() == {}


# -- ConfigBundle ---------------------------------------------------------------------------------------

BUNDLE = {"storeRef": {"name": "local"}, "output": {"format": "json"},
          "sources": [{"inline": {"app": {"name": "demo"}, "db": {"host": "db.local"}}}],
          "secrets": [{"path": "db.password", "remoteRef": {"key": "db/password"}}]}


def test_bundle_writes_a_masked_configmap_and_a_secret_with_the_values() -> None:
    kit = Kit({"db/password": SECRET_VALUE})
    kit.add("ConfigBundle", "app", BUNDLE)
    configbundle.reconcile(kit.ctx, NS, "app")
    configmap = json.loads((kit.api.stored("configmaps", NS, "app") or {})["data"]["config.json"])
    assert configmap == {"app": {"name": "demo"}, "db": {"host": "db.local", "password": "[MASKED]"}}
    secret = json.loads(kit.secret_data("app-secret")["config.json"])
    assert secret["db"]["password"] == SECRET_VALUE
    stats = kit.status("ConfigBundle", "app")["stats"]
    assert (stats["sources"], stats["keys"], stats["secretKeys"], stats["providerReads"]) == (1, 3, 1, 1)
    assert SECRET_VALUE not in _everything_visible(kit)


def test_bundle_leaves_an_output_someone_else_owns() -> None:
    kit = Kit({"db/password": SECRET_VALUE})
    kit.api.put("configmaps", {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "app", "namespace": NS},
                               "data": {"theirs": "yes"}})
    kit.sync_cache()
    kit.add("ConfigBundle", "app", BUNDLE)
    configbundle.reconcile(kit.ctx, NS, "app")
    assert (kit.api.stored("configmaps", NS, "app") or {})["data"] == {"theirs": "yes"}
    ready = next(c for c in kit.status("ConfigBundle", "app")["conditions"] if c["type"] == "Ready")
    assert (ready["status"], ready["reason"]) == ("False", "NotOwned")


def test_bundle_with_a_missing_source_names_the_field() -> None:
    kit = Kit({"db/password": SECRET_VALUE})
    kit.add("ConfigBundle", "app", {**BUNDLE, "sources": [{"configMap": {"name": "absent", "key": "x.yaml"}}]})
    delay = configbundle.reconcile(kit.ctx, NS, "app")
    ready = next(c for c in kit.status("ConfigBundle", "app")["conditions"] if c["type"] == "Ready")
    assert (ready["status"], ready["reason"]) == ("False", "SourceError")
    assert ready["message"].startswith("spec.sources[0].configMap")
    assert delay == 30.0
    assert kit.api.stored("secrets", NS, "app-secret") is None


# -- SecretStore ----------------------------------------------------------------------------------------

def test_store_is_validated_and_its_status_written_once() -> None:
    kit = Kit({"db/password": SECRET_VALUE})
    assert secretstore.reconcile(kit.ctx, "SecretStore", NS, "local") == 600.0
    status = kit.status("SecretStore", "local")
    ready = next(c for c in status["conditions"] if c["type"] == "Ready")
    assert (ready["status"], ready["reason"], status["provider"]) == ("True", "Valid", "local")
    kit.cache.stores[(NS, "local")] = kit.api.stored("secretstores", NS, "local") or {}
    before = kit.writes()
    secretstore.reconcile(kit.ctx, "SecretStore", NS, "local")
    assert kit.writes() == before  # same verdict: no status write, no Event


def test_store_without_its_key_is_invalid_config() -> None:
    kit = Kit()
    kit.add("SecretStore", "broken", {"provider": {"local": {"keySecretRef": {"name": "no-such-key", "key": "key"},
                                                             "storage": {"name": "store-blob"}}}})
    delay = secretstore.reconcile(kit.ctx, "SecretStore", NS, "broken")
    ready = next(c for c in kit.status("SecretStore", "broken")["conditions"] if c["type"] == "Ready")
    assert (ready["status"], ready["reason"]) == ("False", "InvalidConfig")
    assert "no-such-key" in ready["message"] and delay == 120.0


def test_store_naming_two_providers_is_invalid_config() -> None:
    kit = Kit()
    kit.add("SecretStore", "two", {"provider": {"local": {}, "vault": {}}})
    secretstore.reconcile(kit.ctx, "SecretStore", NS, "two")
    ready = next(c for c in kit.status("SecretStore", "two")["conditions"] if c["type"] == "Ready")
    assert ready["message"].endswith("exactly one of local, vault, azure")


def test_a_rotation_pass_records_its_intent_and_clears_it_with_the_result() -> None:
    kit = Kit()
    kit.add("ManagedSecret", "sched", {"storeRef": {"name": "local"}, "refreshInterval": "1h", "rotation": {
        "interval": "1m", "keys": ["api-key"], "generators": {"api-key": {"type": "token", "length": 40}}}})
    managedsecret.reconcile(kit.ctx, NS, "sched")
    rotation = kit.status("ManagedSecret", "sched")["rotation"]
    assert rotation["count"] == 1 and rotation["history"][-1]["trigger"] == "initial"
    assert "pending" not in rotation, "the intent is removed by the same status write that records the rotation"
    value = kit.secret_data("sched")["api-key"]
    assert len(value) == 40
    assert value not in _everything_visible(kit)
