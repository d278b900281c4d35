"""PushSecret, ClusterManagedSecret and the ManagedSecret policies None / Merge, on the in-memory API:
what each pass writes (and does not), the fields errors name, and that no value leaks."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from config_manager.k8s.reconcile import clustermanagedsecret, managedsecret, pushsecret
from config_manager.k8s.spec.clustermanagedsecret import parse_cluster_managed_secret
from config_manager.k8s.spec.managedsecret import InvalidSpecError, parse_managed_secret
from config_manager.k8s.spec.pushsecret import parse_push_secret
from config_manager.k8s.stores.kubestorage import KubeBlobStorage
from config_manager.k8s.stores.push import Pushed, push_value, remove_value
from config_manager.providers import registry
from tests.unit.k8s.kit import KEY, NS, Kit

VALUE = "pushed-value-7f3a"


def _ps(**spec: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"secretStoreRefs": [{"name": "local", "kind": "SecretStore"}],
                            "selector": {"secret": {"name": "src"}},
                            "data": [{"match": {"secretKey": "a", "remoteRef": {"remoteKey": "remote/a"}}}]}
    return {**base, **spec}


def _source(kit: Kit, values: dict[str, str]) -> None:
    kit.api.put("secrets", {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "src", "namespace": NS},
                            "data": {k: base64.b64encode(v.encode()).decode() for k, v in values.items()}})
    kit.sync_cache()


def _store(kit: Kit) -> Any:
    return registry.create("local", storage=KubeBlobStorage(kit.api, NS, "store-blob"), key=KEY)


# -- specs ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("spec", "field"), [
    ({"secretStoreRefs": []}, "spec.secretStoreRefs"),
    ({"selector": {"secret": {"name": "s", "namespace": "other"}}}, "spec.selector.secret.namespace"),
    ({"selector": {}}, "spec.selector.secret"),
    ({"data": []}, "spec.data"),
    ({"data": [{"match": {"secretKey": "a", "remoteRef": {"remoteKey": "x"}}},
               {"match": {"secretKey": "b", "remoteRef": {"remoteKey": "x"}}}]}, "spec.data[1].match.remoteRef"),
    ({"updatePolicy": "Sometimes"}, "spec.updatePolicy"),
    ({"deletionPolicy": "Orphan"}, "spec.deletionPolicy"),
    ({"secretStoreRefs": [{"name": "x", "kind": "Vault"}]}, "spec.secretStoreRefs[0].kind"),
])
def test_push_secret_spec_errors_name_the_field(spec: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidSpecError) as err:
        parse_push_secret(_ps(**spec))
    assert err.value.field == field


def test_cluster_managed_secret_spec_names_the_inner_field() -> None:
    with pytest.raises(InvalidSpecError) as err:
        parse_cluster_managed_secret("c", {"namespaces": ["a"], "managedSecretSpec": {"storeRef": {"name": "s"}, "refreshPolicy": "Never",
                                                                                      "data": [{"secretKey": "k", "remoteRef": {"key": "k"}}]}})
    assert err.value.field == "spec.managedSecretSpec.refreshPolicy"
    with pytest.raises(InvalidSpecError) as err:
        parse_cluster_managed_secret("c", {"managedSecretSpec": {"storeRef": {"name": "s"}, "data": [{"secretKey": "k", "remoteRef": {"key": "k"}}]}})
    assert err.value.field == "spec.namespaceSelector"


@pytest.mark.parametrize(("creation", "deletion", "ok"), [
    ("None", "Retain", True), ("Merge", "Merge", True), ("Owner", "Merge", True),
    ("None", "Merge", False), ("None", "Delete", False), ("Merge", "Delete", False),
])
def test_policy_combinations_as_external_secrets(creation: str, deletion: str, ok: bool) -> None:
    spec = {"storeRef": {"name": "s"}, "target": {"creationPolicy": creation, "deletionPolicy": deletion},
            "data": [{"secretKey": "k", "remoteRef": {"key": "k"}}]}
    if ok:
        assert parse_managed_secret("m", spec).target.creation_policy == creation
    else:
        with pytest.raises(InvalidSpecError) as err:
            parse_managed_secret("m", spec)
        assert err.value.field == "spec.target.deletionPolicy"


# -- stores.push ------------------------------------------------------------------------------------------

def test_push_reads_first_and_writes_only_a_difference() -> None:
    provider = registry.create("memory")
    writes: list[str] = []
    original = provider.set
    provider.set = lambda key, value, metadata=None: (writes.append(key), original(key, value, metadata))[1]  # type: ignore[method-assign]
    assert push_value(provider, "k", None, "v", if_not_exists=False) is Pushed.WRITTEN
    assert push_value(provider, "k", None, "v", if_not_exists=False) is Pushed.UNCHANGED
    assert push_value(provider, "k", None, "w", if_not_exists=True) is Pushed.KEPT
    assert provider.get("k").value == "v" and writes == ["k"]
    original("doc", {"user": "svc"})
    assert push_value(provider, "doc", "password", "p", if_not_exists=True) is Pushed.WRITTEN  # the property did not exist
    assert provider.get("doc").value == {"user": "svc", "password": "p"}
    assert remove_value(provider, "doc", "password") and provider.get("doc").value == {"user": "svc"}
    assert remove_value(provider, "doc", "user") and not provider.exists("doc")  # the last property takes the key
    assert remove_value(provider, "k", None) and not remove_value(provider, "k", None)


# -- PushSecret reconcile -----------------------------------------------------------------------------------

def test_push_secret_pushes_then_an_unchanged_pass_writes_nothing_to_the_store() -> None:
    kit = Kit()
    _source(kit, {"a": VALUE})
    kit.add("PushSecret", "p", _ps(deletionPolicy="Delete"))
    pushsecret.reconcile(kit.ctx, NS, "p")
    kit.sync_cache()
    assert _store(kit).get("remote/a").value == VALUE
    status = kit.status("PushSecret", "p")
    assert status["keys"] == [{"store": "SecretStore/local", "secretKey": "a", "remoteKey": "remote/a", "synced": True, "pushed": True}]
    stored = kit.api.stored("pushsecrets", NS, "p") or {}
    assert stored["metadata"]["finalizers"] == ["configmanager.io/pushsecret"]
    before = kit.writes()
    pushsecret.reconcile(kit.ctx, NS, "p")
    assert kit.writes() == before  # no store write (the blob Secret), no status write
    assert VALUE not in json.dumps(kit.api.listed("pushsecrets")) + json.dumps(kit.api.listed("events"))


def test_push_secret_deletion_removes_only_what_it_pushed() -> None:
    kit = Kit({"theirs": "kept"})
    _source(kit, {"a": VALUE, "b": "x"})
    kit.add("PushSecret", "p", _ps(deletionPolicy="Delete", updatePolicy="IfNotExists", data=[
        {"match": {"secretKey": "a", "remoteRef": {"remoteKey": "remote/a"}}},
        {"match": {"secretKey": "b", "remoteRef": {"remoteKey": "theirs"}}}]))
    pushsecret.reconcile(kit.ctx, NS, "p")
    kit.sync_cache()
    assert _store(kit).get("theirs").value == "kept"
    body = kit.api.stored("pushsecrets", NS, "p") or {}
    kit.cache.push_secrets[(NS, "p")] = {**body, "metadata": {**body["metadata"], "deletionTimestamp": "2026-12-02T00:00:00Z"}}
    pushsecret.reconcile(kit.ctx, NS, "p")
    assert not _store(kit).exists("remote/a") and _store(kit).get("theirs").value == "kept"
    assert (kit.api.stored("pushsecrets", NS, "p") or {})["metadata"].get("finalizers") == []


def test_push_secret_refuses_a_cluster_store_that_does_not_admit_the_namespace() -> None:
    kit = Kit()
    _source(kit, {"a": VALUE})
    kit.cache.cluster_stores["shared"] = {"metadata": {"name": "shared", "resourceVersion": "1"}, "spec": {
        "conditions": [{"namespaces": ["elsewhere"]}],
        "provider": {"local": {"keySecretRef": {"name": "store-key", "key": "key", "namespace": NS},
                               "storage": {"name": "store-blob", "namespace": NS}}}}}
    kit.add("PushSecret", "p", _ps(secretStoreRefs=[{"name": "shared", "kind": "ClusterSecretStore"}]))
    pushsecret.reconcile(kit.ctx, NS, "p")
    ready = next(c for c in kit.status("PushSecret", "p")["conditions"] if c["type"] == "Ready")
    assert ready["reason"] == "StoreRefused" and ready["message"].startswith("spec.secretStoreRefs[0]: ")
    assert not _store(kit).exists("remote/a")


# -- ClusterManagedSecret ---------------------------------------------------------------------------------

def test_selected_namespaces_and_contains() -> None:
    spec = parse_cluster_managed_secret("c", {"namespaces": ["named"], "namespaceSelector": {"matchLabels": {"t": "a"}},
                                              "managedSecretSpec": {"storeRef": {"name": "s"}, "data": [{"secretKey": "k", "remoteRef": {"key": "k"}}]}})
    assert clustermanagedsecret.selected_namespaces(spec, {"named": {}, "lab": {"t": "a"}, "no": {"t": "b"}}) == ["lab", "named"]
    assert clustermanagedsecret.contains({"a": 1, "defaulted": 2, "l": [{"x": 1, "d": 0}]}, {"a": 1, "l": [{"x": 1}]})
    assert not clustermanagedsecret.contains({"a": 1, "l": [{"x": 2}]}, {"a": 1, "l": [{"x": 1}]})


def test_cluster_managed_secret_creates_ours_and_leaves_theirs() -> None:
    kit = Kit()
    kit.cache.namespaces["other"] = {"t": "a"}
    kit.cache.namespaces[NS] = {"t": "a"}
    theirs = kit.api.put("managedsecrets", {"apiVersion": "configmanager.io/v1alpha1", "kind": "ManagedSecret",
                                            "metadata": {"name": "app", "namespace": "other"}, "spec": {"x": 1}})
    kit.cache.managed_secrets[("other", "app")] = theirs
    body = kit.api.put("clustermanagedsecrets", {"apiVersion": "configmanager.io/v1alpha1", "kind": "ClusterManagedSecret",
                                                 "metadata": {"name": "app", "uid": "u-1"}, "spec": {
        "namespaceSelector": {"matchLabels": {"t": "a"}},
        "managedSecretSpec": {"storeRef": {"name": "local"}, "data": [{"secretKey": "k", "remoteRef": {"key": "k"}}]}}})
    kit.cache.cluster_managed_secrets["app"] = body
    assert clustermanagedsecret.reconcile(kit.ctx, "app") == clustermanagedsecret.RETRY
    ours = kit.api.stored("managedsecrets", NS, "app") or {}
    assert ours["metadata"]["labels"]["configmanager.io/cluster-managed-secret"] == "app"
    assert ours["metadata"]["ownerReferences"][0]["uid"] == "u-1"
    assert (kit.api.stored("managedsecrets", "other", "app") or {})["spec"] == {"x": 1}
    status = (kit.api.stored("clustermanagedsecrets", None, "app") or {})["status"]
    assert status["provisionedNamespaces"] == [NS]
    assert [f["namespace"] for f in status["failedNamespaces"]] == ["other"]
    # the namespace stops matching: ours is deleted
    kit.cache.managed_secrets[(NS, "app")] = ours
    kit.cache.namespaces[NS] = {}
    kit.cache.cluster_managed_secrets["app"] = kit.api.stored("clustermanagedsecrets", None, "app") or {}
    clustermanagedsecret.reconcile(kit.ctx, "app")
    assert kit.api.stored("managedsecrets", NS, "app") is None


# -- ManagedSecret policies -------------------------------------------------------------------------------

def test_creation_policy_none_reads_and_reports_but_writes_no_secret() -> None:
    kit = Kit({"k": VALUE})
    kit.add("ManagedSecret", "m", {"storeRef": {"name": "local"}, "target": {"creationPolicy": "None", "deletionPolicy": "Retain"},
                                   "data": [{"secretKey": "k", "remoteRef": {"key": "k"}}]})
    managedsecret.reconcile(kit.ctx, NS, "m")
    assert kit.api.stored("secrets", NS, "m") is None
    assert ("create", "secrets") not in kit.writes()
    ready = next(c for c in kit.status("ManagedSecret", "m")["conditions"] if c["type"] == "Ready")
    assert ready["status"] == "True" and "creationPolicy None" in ready["message"]


def test_deletion_policy_merge_drops_only_the_keys_of_a_vanished_remote() -> None:
    kit = Kit({"a": "va", "b": "vb"})
    kit.api.put("secrets", {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "shared", "namespace": NS},
                            "data": {"other": base64.b64encode(b"theirs").decode()}})
    kit.sync_cache()
    kit.add("ManagedSecret", "m", {"storeRef": {"name": "local"}, "target": {"name": "shared", "creationPolicy": "Merge", "deletionPolicy": "Merge"},
                                   "data": [{"secretKey": "a", "remoteRef": {"key": "a"}}, {"secretKey": "b", "remoteRef": {"key": "b"}}]})
    managedsecret.reconcile(kit.ctx, NS, "m")
    kit.sync_cache()
    assert kit.secret_data("shared") == {"other": "theirs", "a": "va", "b": "vb"}
    _store(kit).delete("a")
    kit.sync_cache()
    managedsecret.reconcile(kit.ctx, NS, "m")
    assert kit.secret_data("shared") == {"other": "theirs", "b": "vb"}
    ready = next(c for c in kit.status("ManagedSecret", "m")["conditions"] if c["type"] == "Ready")
    assert ready["status"] == "True"


# -- watches (watch/kinds.py) -----------------------------------------------------------------------------

class _Queue:
    def __init__(self) -> None:
        self.added: list[tuple[Any, float]] = []

    def add(self, key: Any, delay: float = 0.0, reason: str = "sync") -> None:
        self.added.append((key, delay))

    def forget(self, key: Any) -> None:
        pass


def test_push_secret_events_enqueue_first_sight_spec_changes_and_deletion_only() -> None:
    from config_manager.k8s.watch import kinds
    from config_manager.k8s.watch.handlers import Watched

    kit = Kit()
    queue = _Queue()
    w = Watched(ctx=kit.ctx, queue=queue)  # type: ignore[arg-type]
    body = {"metadata": {"name": "p", "namespace": NS, "generation": 1}, "spec": {}}
    kinds._push_event(w, "ADDED", body)
    kinds._push_event(w, "MODIFIED", {**body, "status": {"keys": []}})  # our status write: nothing
    kinds._push_event(w, "MODIFIED", {**body, "metadata": {**body["metadata"], "generation": 2}})
    kinds._push_event(w, "MODIFIED", {**body, "metadata": {**body["metadata"], "generation": 2,
                                                    "deletionTimestamp": "2026-12-02T00:00:00Z"}})
    assert [k for k, _ in queue.added] == [("PushSecret", NS, "p")] * 3
    kinds._push_event(w, "DELETED", body)
    assert (NS, "p") not in kit.cache.push_secrets


def test_fanout_informers_select_only_what_wakes_them_and_skip_the_first_listing() -> None:
    from config_manager.k8s.api.resources import LABEL_CLUSTER_MANAGED_SECRET
    from config_manager.k8s.watch import kinds
    from config_manager.k8s.watch.handlers import Watched

    kit = Kit()
    queue = _Queue()
    w = Watched(ctx=kit.ctx, queue=queue)  # type: ignore[arg-type]
    feeds = {(f.kind, f.scope.namespace, f.scope.label_selector): f for f in kinds.feeds(w, [NS])}
    assert set(feeds) == {("ClusterManagedSecret", None, None), ("Namespace", None, None), ("PushSecret", NS, None),
                          ("ManagedSecret", NS, LABEL_CLUSTER_MANAGED_SECRET)}
    made = feeds[("ManagedSecret", NS, LABEL_CLUSTER_MANAGED_SECRET)].handler
    ms = {"metadata": {"name": "m", "namespace": NS, "generation": 2, "labels": {LABEL_CLUSTER_MANAGED_SECRET: "cms"}},
          "status": {"observedGeneration": 2}}
    made(None, dict(ms))  # first listing: nothing
    made("MODIFIED", dict(ms))  # a status write of a sync: nothing
    assert queue.added == []
    made("MODIFIED", {**ms, "status": {"observedGeneration": 1}})  # an edit its reconciler has not seen
    made("DELETED", dict(ms))
    assert [k for k, _ in queue.added] == [("ClusterManagedSecret", "", "cms")] * 2
    queue.added.clear()
    kinds._cms_event(w, None, {"metadata": {"name": "cms", "generation": 1}, "spec": {}})
    kinds._push_event(w, None, {"metadata": {"name": "p", "namespace": NS, "generation": 1}, "spec": {}})
    queue.added.clear()
    namespace = feeds[("Namespace", None, None)].handler
    namespace(None, {"metadata": {"name": NS}})  # first listing: nothing
    assert queue.added == []
    namespace("MODIFIED", {"metadata": {"name": NS, "labels": {"team": "a"}}})
    assert {k for k, _ in queue.added} == {("ClusterManagedSecret", "", "cms"), ("PushSecret", NS, "p")}
