"""ManagedSecret on the real control plane with the operator running as a subprocess (local store)."""

from __future__ import annotations

import base64
import time
import uuid
from typing import Any

import pytest

from config_manager.k8s.api.client import ApiError, KubeApi
from tests.helpers.operator_process import OperatorProcess, make_local_store, wait_for
from tests.integration.opkit import condition, events_for, managed_secret, secret_data, wait_ready

pytestmark = pytest.mark.cluster


def test_create_writes_owned_secret_with_labels_hash_and_status(kube: KubeApi, namespace: str, running_operator: OperatorProcess) -> None:
    password = f"pw-{uuid.uuid4().hex}"
    make_local_store(kube, namespace, values={"db/password": password, "app/config": {"user": "admin", "token": "t0k-" + password}})
    kube.create("managedsecrets", namespace, managed_secret(
        "db", data={"password": "db/password"}, dataFrom=[{"extract": {"key": "app/config"}}]))
    ms = wait_ready(kube, namespace, "db", reason="SecretSynced")

    assert secret_data(kube, namespace, "db") == {"password": password, "user": "admin", "token": "t0k-" + password}
    secret = kube.get("secrets", namespace, "db")
    assert secret is not None
    meta = secret["metadata"]
    assert meta["labels"]["app.kubernetes.io/managed-by"] == "config-manager"
    assert meta["annotations"]["configmanager.io/owner"] == "ManagedSecret/db"
    assert len(meta["annotations"]["configmanager.io/data-hash"]) == 32
    assert [r["uid"] for r in meta["ownerReferences"]] == [ms["metadata"]["uid"]]
    assert "finalizers" not in ms["metadata"], "no finalizer: deletion must never wait for the operator"
    assert not any(k.startswith("kopf.") or "last-handled" in k for k in (ms["metadata"].get("annotations") or {}))
    status = ms["status"]
    assert status["observedGeneration"] == 1
    assert status["syncedResourceVersion"] == meta["resourceVersion"]
    assert status["keys"] == ["password", "token", "user"]
    assert status["access"]["providerReads"] >= 2 and status["access"]["lastRead"]
    assert condition(ms, "InUse")["reason"] == "NotReferenced"
    reasons = {e["reason"] for e in events_for(kube, namespace, "db")}
    assert "Created" in reasons and "Unused" not in reasons, "on creation InUse=False says it, no Event"

    text = repr(ms) + repr(events_for(kube, namespace, "db"))
    assert password not in text


def test_spec_update_and_store_change_are_synced(kube: KubeApi, namespace: str, running_operator: OperatorProcess) -> None:
    store = make_local_store(kube, namespace, values={"a": "one", "b": "two"})
    kube.create("managedsecrets", namespace, managed_secret("s", data={"a": "a"}, refresh="5s"))
    wait_ready(kube, namespace, "s")
    kube.patch("managedsecrets", namespace, "s", {"spec": {"data": [
        {"secretKey": "a", "remoteRef": {"key": "a"}}, {"secretKey": "b", "remoteRef": {"key": "b"}}]}})
    wait_for(lambda: secret_data(kube, namespace, "s") == {"a": "one", "b": "two"}, what="key b added")
    wait_ready(kube, namespace, "s", generation=2)
    store.provider.set("a", "uno")  # the store's blob changes: seen by the watch or at the next refresh
    wait_for(lambda: (secret_data(kube, namespace, "s") or {}).get("a") == "uno", timeout=20, what="store change synced")
    kube.patch("managedsecrets", namespace, "s", {"spec": {"data": [{"secretKey": "b", "remoteRef": {"key": "b"}}]}})
    wait_for(lambda: secret_data(kube, namespace, "s") == {"b": "two"}, what="key a removed")


def test_force_sync_annotation_rereads_immediately(kube: KubeApi, namespace: str, running_operator: OperatorProcess) -> None:
    make_local_store(kube, namespace, values={"k": "v1"})
    kube.create("managedsecrets", namespace, managed_secret("f", data={"k": "k"}, refresh="0"))
    ms = wait_ready(kube, namespace, "f")
    reads = ms["status"]["access"]["providerReads"]
    kube.patch("managedsecrets", namespace, "f", {"metadata": {"annotations": {"configmanager.io/force-sync": "1"}}})
    ms = wait_for(lambda: (o := kube.get("managedsecrets", namespace, "f")) and o["status"].get("forceSync") == "1" and o,
                  what="force-sync honoured")
    assert ms["status"]["access"]["providerReads"] > reads, "a forced sync bypasses the read cache"


def test_drift_is_repaired_after_edit_and_delete(kube: KubeApi, namespace: str, running_operator: OperatorProcess) -> None:
    make_local_store(kube, namespace, values={"k": "good"})
    kube.create("managedsecrets", namespace, managed_secret("d", data={"k": "k"}))
    wait_ready(kube, namespace, "d")
    kube.patch("secrets", namespace, "d", {"data": {"k": base64.b64encode(b"tampered").decode(), "extra": "eA=="}})
    wait_for(lambda: secret_data(kube, namespace, "d") == {"k": "good"}, what="edit repaired")
    kube.delete("secrets", namespace, "d")
    wait_for(lambda: secret_data(kube, namespace, "d") == {"k": "good"}, what="deleted Secret re-created")
    # the pass posts its Event after the Secret write: wait for it rather than racing it
    def reasons() -> list[str] | None:
        found = [e["reason"] for e in events_for(kube, namespace, "d")]
        return found if "Updated" in found and found.count("Created") >= 2 else None
    wait_for(reasons, timeout=30, what="Updated and a second Created Event")


def test_foreign_secret_is_not_owned_unless_merge(kube: KubeApi, namespace: str, running_operator: OperatorProcess) -> None:
    make_local_store(kube, namespace, values={"k": "ours"})
    kube.create("secrets", namespace, {"metadata": {"name": "theirs"}, "data": {"own": base64.b64encode(b"keep").decode()}})
    before = kube.get("secrets", namespace, "theirs")
    kube.create("managedsecrets", namespace, managed_secret("n", data={"k": "k"}, target={"name": "theirs"}))
    wait_ready(kube, namespace, "n", status="False", reason="NotOwned")
    after = kube.get("secrets", namespace, "theirs")
    assert after is not None and before is not None
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"], "left untouched"
    assert "NotOwned" in {e["reason"] for e in events_for(kube, namespace, "n")}

    kube.create("managedsecrets", namespace, managed_secret(
        "m", data={"k": "k"}, target={"name": "theirs", "creationPolicy": "Merge", "deletionPolicy": "Retain"}))
    wait_ready(kube, namespace, "m")
    assert secret_data(kube, namespace, "theirs") == {"own": "keep", "k": "ours"}
    merged = kube.get("secrets", namespace, "theirs")
    assert merged is not None and not merged["metadata"].get("ownerReferences")


def test_merge_into_missing_secret_waits(kube: KubeApi, namespace: str, running_operator: OperatorProcess) -> None:
    make_local_store(kube, namespace, values={"k": "v"})
    kube.create("managedsecrets", namespace, managed_secret(
        "mm", data={"k": "k"}, target={"name": "later", "creationPolicy": "Merge", "deletionPolicy": "Retain"}))
    wait_ready(kube, namespace, "mm", status="False", reason="TargetMissing")
    assert kube.get("secrets", namespace, "later") is None
    kube.create("secrets", namespace, {"metadata": {"name": "later"}, "data": {"x": "eA=="}})
    wait_for(lambda: secret_data(kube, namespace, "later") == {"x": "x", "k": "v"}, what="merged once it exists")


def test_deletion_policies_with_operator_down(kube: KubeApi, namespace: str, operator: OperatorProcess) -> None:
    if operator.proc is None:
        operator.start()
    make_local_store(kube, namespace, values={"k": "v"})
    kube.create("managedsecrets", namespace, managed_secret("del", data={"k": "k"}))
    kube.create("managedsecrets", namespace, managed_secret("ret", data={"k": "k"}, target={"deletionPolicy": "Retain"}))
    kube.create("managedsecrets", namespace, managed_secret(
        "orph", data={"k": "k"}, target={"creationPolicy": "Orphan", "deletionPolicy": "Retain"}))
    for name in ("del", "ret", "orph"):
        wait_ready(kube, namespace, name)
    operator.stop()
    try:
        for name in ("del", "ret", "orph"):
            kube.delete("managedsecrets", namespace, name)
        wait_for(lambda: all(kube.get("managedsecrets", namespace, n) is None for n in ("del", "ret", "orph")),
                 timeout=15, what="ManagedSecrets deleted while the operator is down")
        wait_for(lambda: kube.get("secrets", namespace, "del") is None, timeout=60, what="owned Secret garbage-collected")
        assert secret_data(kube, namespace, "ret") == {"k": "v"}
        assert secret_data(kube, namespace, "orph") == {"k": "v"}
    finally:
        operator.start()


def test_provider_failure_keeps_last_good_secret_backs_off_and_recovers(kube: KubeApi, namespace: str, running_operator: OperatorProcess) -> None:
    make_local_store(kube, namespace, values={"k": "good"})
    kube.create("managedsecrets", namespace, managed_secret("p", data={"k": "k"}, refresh="5s"))
    wait_ready(kube, namespace, "p")
    blob = kube.get("secrets", namespace, "local-blob")
    assert blob is not None
    kube.patch("secrets", namespace, "local-blob", {"data": {"secrets.enc": base64.b64encode(b"garbage").decode()}})
    failed = wait_ready(kube, namespace, "p", status="False", reason="ProviderError", timeout=30)
    assert "good" not in failed["status"]["conditions"][0]["message"] + failed["status"]["conditions"][1]["message"]
    running_operator.wait_passes("ManagedSecret", namespace, "p", running_operator.passes("ManagedSecret", namespace, "p"),
                                 count=2, timeout=30)  # retries with backoff, each failing again
    assert secret_data(kube, namespace, "p") == {"k": "good"}, "last good value kept"
    assert "SyncFailed" in {e["reason"] for e in events_for(kube, namespace, "p")}
    kube.patch("secrets", namespace, "local-blob", {"data": blob["data"]})
    wait_ready(kube, namespace, "p", reason="SecretSynced", timeout=30)
    assert secret_data(kube, namespace, "p") == {"k": "good"}


def test_missing_store_and_missing_key_are_reported(kube: KubeApi, namespace: str, running_operator: OperatorProcess) -> None:
    kube.create("managedsecrets", namespace, managed_secret("ns", store="nope", data={"k": "k"}))
    ms = wait_ready(kube, namespace, "ns", status="False", reason="StoreNotReady")
    assert "nope" in condition(ms)["message"]
    make_local_store(kube, namespace, values={"k": "v"})
    kube.create("managedsecrets", namespace, managed_secret("nk", data={"k": "does/not/exist"}))
    ms = wait_ready(kube, namespace, "nk", status="False", reason="ProviderError")
    assert "does/not/exist" in condition(ms)["message"]


def test_template_error_keeps_existing_secret(kube: KubeApi, namespace: str, running_operator: OperatorProcess) -> None:
    make_local_store(kube, namespace, values={"user": "u", "pw": "p4ss"})
    kube.create("managedsecrets", namespace, managed_secret(
        "t", data={"user": "user", "pw": "pw"},
        target={"template": {"data": {"url": "postgres://{{ .user }}:{{ .pw }}@db/app"}}}))
    wait_ready(kube, namespace, "t")
    assert secret_data(kube, namespace, "t") == {"url": "postgres://u:p4ss@db/app"}
    kube.patch("managedsecrets", namespace, "t", {"spec": {"target": {"template": {"data": {"url": "{{ .missing }}"}}}}})
    ms = wait_ready(kube, namespace, "t", status="False", reason="InvalidSpec")
    assert "spec.target.template.data[url]" in condition(ms)["message"]
    assert "InvalidSpec" in {e["reason"] for e in events_for(kube, namespace, "t")}
    assert secret_data(kube, namespace, "t") == {"url": "postgres://u:p4ss@db/app"}, "nothing already stored is lost"


def test_workloads_using_the_secret_are_reported(kube: KubeApi, namespace: str, running_operator: OperatorProcess) -> None:
    make_local_store(kube, namespace, values={"k": "v"})
    kube.create("managedsecrets", namespace, managed_secret("w", data={"k": "k"}))
    wait_ready(kube, namespace, "w")
    deployment = {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "app"},
        "spec": {"replicas": 0, "selector": {"matchLabels": {"app": "a"}},
                 "template": {"metadata": {"labels": {"app": "a"}}, "spec": {"containers": [{
                     "name": "c", "image": "busybox", "envFrom": [{"secretRef": {"name": "w"}}]}]}}},
    }
    kube.request("create", "POST", "deployments", f"/apis/apps/v1/namespaces/{namespace}/deployments", body=deployment)
    ms = wait_for(lambda: (o := kube.get("managedsecrets", namespace, "w")) and condition(o, "InUse").get("status") == "True" and o,
                  what="InUse=True")
    assert ms["status"]["access"]["usedBy"] == [{"kind": "Deployment", "name": "app"}]
    kube.request("delete", "DELETE", "deployments", f"/apis/apps/v1/namespaces/{namespace}/deployments/app")
    wait_for(lambda: condition(kube.get("managedsecrets", namespace, "w"), "InUse").get("status") == "False", what="InUse=False")
    wait_for(lambda: "Unused" in {e["reason"] for e in events_for(kube, namespace, "w")}, what="Unused Event")


def test_isolation_between_namespaces_and_cluster_store_conditions(
    kube: KubeApi, namespace: str, running_operator: OperatorProcess, cluster: Any
) -> None:
    other = f"t-{uuid.uuid4().hex[:10]}"
    kube.create("namespaces", None, {"metadata": {"name": other, "labels": {"team": "b"}}})
    try:
        make_local_store(kube, other, name="theirs", values={"k": "their-secret"})
        # a SecretStore of another namespace is simply not reachable
        kube.create("managedsecrets", namespace, managed_secret("x", store="theirs", data={"k": "k"}))
        wait_ready(kube, namespace, "x", status="False", reason="StoreNotReady")
        assert kube.get("secrets", namespace, "x") is None
        # a ClusterSecretStore whose conditions do not admit the namespace is refused
        css = f"css-{uuid.uuid4().hex[:6]}"
        kube.create("clustersecretstores", None, {
            "apiVersion": "configmanager.io/v1alpha1", "kind": "ClusterSecretStore", "metadata": {"name": css},
            "spec": {"conditions": [{"namespaceSelector": {"matchLabels": {"team": "a"}}}],
                     "provider": {"local": {"storage": {"name": "theirs-blob", "namespace": other},
                                            "keySecretRef": {"name": "theirs-key", "key": "key", "namespace": other}}}},
        })
        try:
            kube.create("managedsecrets", namespace, managed_secret(
                "c", data={"k": "k"}, storeRef={"name": css, "kind": "ClusterSecretStore"}))
            ms = wait_ready(kube, namespace, "c", status="False", reason="StoreNotReady")
            assert "does not admit" in condition(ms)["message"]
            kube.patch("namespaces", None, namespace, {"metadata": {"labels": {"team": "a"}}})
            wait_ready(kube, namespace, "c", reason="SecretSynced", timeout=30)
            assert secret_data(kube, namespace, "c") == {"k": "their-secret"}
        finally:
            kube.delete("clustersecretstores", None, css)
    finally:
        kube.delete("namespaces", None, other)


def test_idle_refresh_writes_nothing(kube: KubeApi, namespace: str, running_operator: OperatorProcess) -> None:
    make_local_store(kube, namespace, values={"k": "v"})
    kube.create("managedsecrets", namespace, managed_secret("idle", data={"k": "k"}, refresh="5s"))
    ms = wait_ready(kube, namespace, "idle")
    wait_for(lambda: events_for(kube, namespace, "idle"), what="the create pass's Event (its last write)")
    ms = kube.get("managedsecrets", namespace, "idle")
    secret = kube.get("secrets", namespace, "idle")
    assert ms is not None and secret is not None
    reads = ms["status"]["access"]["providerReads"]
    passes = running_operator.passes("ManagedSecret", namespace, "idle")
    running_operator.wait_passes("ManagedSecret", namespace, "idle", passes, count=2, timeout=30)  # two refreshes (5s + jitter)
    ms2 = kube.get("managedsecrets", namespace, "idle")
    secret2 = kube.get("secrets", namespace, "idle")
    assert ms2 is not None and secret2 is not None
    assert secret2["metadata"]["resourceVersion"] == secret["metadata"]["resourceVersion"]
    assert ms2["metadata"]["resourceVersion"] == ms["metadata"]["resourceVersion"], "no status write on idle refresh"
    # the refreshes did happen (they read the store); their statistics wait for the next real write
    running_operator.stop()
    running_operator.start("--stats-flush=0")
    flushed = wait_for(lambda: (o := kube.get("managedsecrets", namespace, "idle")) and
                       o["status"]["access"]["providerReads"] > reads and o, timeout=20, what="statistics flushed")
    assert flushed["status"]["access"]["providerReads"] > reads
    running_operator.restart()


def test_no_secret_value_in_operator_log(kube: KubeApi, namespace: str, running_operator: OperatorProcess) -> None:
    value = f"canary-{uuid.uuid4().hex}"
    make_local_store(kube, namespace, values={"k": value, "j": {"nested": value + "-n"}})
    kube.create("managedsecrets", namespace, managed_secret("log", data={"k": "k"}, dataFrom=[{"extract": {"key": "j"}}]))
    wait_ready(kube, namespace, "log")
    kube.patch("secrets", namespace, "log", {"data": {"k": base64.b64encode(b"x").decode()}})  # drift: more logging
    wait_for(lambda: (secret_data(kube, namespace, "log") or {}).get("k") == value, what="repaired")
    log = running_operator.log_text()
    encoded = base64.b64encode(value.encode()).decode()
    assert value not in log and encoded not in log
    assert "DEBUG" in log, "the operator ran at DEBUG level"


def test_admission_refuses_malformed_specs_naming_the_field(kube: KubeApi, namespace: str, crds: None) -> None:
    cases: list[tuple[dict[str, Any], str]] = [
        (managed_secret("a1", data={"k": "k"}, refresh="often"), "spec.refreshInterval"),
        (managed_secret("a2", data={"k": "k"}, target={"type": "kubernetes.io/service-account-token"}), "spec.target.type"),
        (managed_secret("a3", data={"bad key!": "k"}), "spec.data[0].secretKey"),
        (managed_secret("a4", data={"k": "k"}, target={"creationPolicy": "Merge", "deletionPolicy": "Delete"}), "spec.target"),
        (managed_secret("a5", data={}), "spec"),
        ({**managed_secret("a6", data={"k": "k"}), "spec": {"storeRef": {"name": "x", "kind": "Vault"}, "data": [{"secretKey": "k", "remoteRef": {"key": "k"}}]}}, "spec.storeRef.kind"),
    ]
    for body, field in cases:
        with pytest.raises(ApiError) as err:
            kube.create("managedsecrets", namespace, body)
        assert err.value.status == 422, body
        assert field in str(err.value), (field, str(err.value))
    with pytest.raises(ApiError) as err:
        kube.create("secretstores", namespace, {
            "apiVersion": "configmanager.io/v1alpha1", "kind": "SecretStore", "metadata": {"name": "two"},
            "spec": {"provider": {"local": {"storage": {"name": "b"}, "keySecretRef": {"name": "k", "key": "k"}},
                                  "vault": {"server": "https://v", "auth": {"tokenSecretRef": {"name": "t", "key": "t"}}}}}})
    assert "spec.provider" in str(err.value) and "exactly one" in str(err.value)
    with pytest.raises(ApiError) as err:
        kube.create("clustersecretstores", None, {
            "apiVersion": "configmanager.io/v1alpha1", "kind": "ClusterSecretStore", "metadata": {"name": f"n-{uuid.uuid4().hex[:6]}"},
            "spec": {"provider": {"local": {"storage": {"name": "b", "namespace": "x"}, "keySecretRef": {"name": "k", "key": "k", "namespace": "x"}}}}})
    assert "spec.conditions" in str(err.value)


def test_restart_converges_on_what_changed_while_down(kube: KubeApi, namespace: str, operator: OperatorProcess) -> None:
    if operator.proc is None:
        operator.start()
    make_local_store(kube, namespace, values={"a": "1", "b": "2"})
    kube.create("managedsecrets", namespace, managed_secret("gone", data={"a": "a"}))
    kube.create("managedsecrets", namespace, managed_secret("edited", data={"a": "a"}))
    kube.create("managedsecrets", namespace, managed_secret("calm", data={"a": "a"}))
    for name in ("gone", "edited", "calm"):
        wait_ready(kube, namespace, name)
    calm = kube.get("managedsecrets", namespace, "calm")
    operator.stop()
    try:
        kube.delete("secrets", namespace, "gone")
        kube.patch("managedsecrets", namespace, "edited", {"spec": {"data": [{"secretKey": "b", "remoteRef": {"key": "b"}}]}})
    finally:
        operator.start()
    wait_for(lambda: secret_data(kube, namespace, "gone") == {"a": "1"}, what="Secret deleted while down re-created")
    wait_for(lambda: secret_data(kube, namespace, "edited") == {"b": "2"}, what="spec edited while down applied")
    time.sleep(3)
    calm2 = kube.get("managedsecrets", namespace, "calm")
    assert calm is not None and calm2 is not None
    assert calm2["metadata"]["resourceVersion"] == calm["metadata"]["resourceVersion"], "an unchanged object is not rewritten on restart"


def test_restart_over_many_objects_completes_indexing(kube: KubeApi, namespace: str, operator: OperatorProcess) -> None:
    """More objects than any kopf worker limit: start-up must still get past the initial indexing."""
    if operator.proc is None:
        operator.start()
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda i: kube.create("configmaps", namespace, {"metadata": {"name": f"cm-{i}"}, "data": {"a": "b"}}), range(300)))
    operator.restart()
    make_local_store(kube, namespace, values={"k": "v"})
    kube.create("managedsecrets", namespace, managed_secret("after", data={"k": "k"}))
    wait_ready(kube, namespace, "after", timeout=60)


def test_masked_configmap_view_shows_keys_and_metadata_only(kube: KubeApi, namespace: str, running_operator: OperatorProcess) -> None:
    make_local_store(kube, namespace, values={"pw": "masked-canary"})
    kube.create("managedsecrets", namespace, managed_secret(
        "mv", data={"pw": "pw"}, target={"configMap": {"enabled": True}},
        metadata={"tier": "restricted", "owner": "team-a"}))
    wait_ready(kube, namespace, "mv")
    cm = wait_for(lambda: kube.get("configmaps", namespace, "mv-masked"), what="masked ConfigMap")
    assert cm["data"] == {"pw": "[MASKED]", "_meta.tier": "restricted", "_meta.owner": "team-a", "_meta.secret": "mv"}
    assert "masked-canary" not in repr(cm)
    assert (kube.get("secrets", namespace, "mv") or {})["metadata"]["labels"]["configmanager.io/tier"] == "restricted"
    kube.patch("managedsecrets", namespace, "mv", {"spec": {"target": {"configMap": {"enabled": False}}}})
    wait_for(lambda: kube.get("configmaps", namespace, "mv-masked") is None, what="masked ConfigMap removed when switched off")
