"""ConfigBundle on the real control plane: ordered sources, secrets from a store, masked ConfigMap, Secret."""

from __future__ import annotations

import base64
import json
import uuid

import pytest
import yaml

from config_manager.k8s.api.client import KubeApi
from tests.helpers.operator_process import OperatorProcess, make_local_store, wait_for
from tests.integration.opkit import API, condition, wait_ready

pytestmark = pytest.mark.cluster


def test_bundle_merges_sources_masks_secrets_and_follows_source_changes(
    kube: KubeApi, namespace: str, running_operator: OperatorProcess
) -> None:
    password = f"pw-{uuid.uuid4().hex}"
    make_local_store(kube, namespace, values={"db/password": password})
    kube.create("configmaps", namespace, {"metadata": {"name": "base"}, "data": {
        "app.yaml": yaml.safe_dump({"database": {"host": "db", "port": 5432}, "feature": {"x": False}})}})
    kube.create("secrets", namespace, {"metadata": {"name": "extra"}, "data": {
        "app.json": base64.b64encode(json.dumps({"api": {"key": "k-" + password}}).encode()).decode()}})
    kube.create("configmaps", namespace, {"metadata": {"name": "env"}, "data": {"APP_FEATURE__X": "on", "OTHER": "no"}})
    kube.create("configbundles", namespace, {
        "apiVersion": API, "kind": "ConfigBundle", "metadata": {"name": "app"},
        "spec": {
            "storeRef": {"name": "local"},
            "sources": [
                {"inline": {"log": {"level": "info"}, "database": {"port": 1}}},
                {"configMap": {"name": "base", "key": "app.yaml"}},
                {"secret": {"name": "extra", "key": "app.json"}},
                {"env": {"configMapName": "env", "prefix": "APP_"}},
            ],
            "secrets": [{"path": "database.password", "remoteRef": {"key": "db/password"}}],
            "output": {"format": "json"},
        },
    })
    cb = wait_ready(kube, namespace, "app", plural="configbundles")
    cm = kube.get("configmaps", namespace, "app")
    sec = kube.get("secrets", namespace, "app-secret")
    assert cm is not None and sec is not None
    masked = json.loads(cm["data"]["config.json"])
    real = json.loads(base64.b64decode(sec["data"]["config.json"]))
    assert real == {"log": {"level": "info"}, "database": {"host": "db", "port": 5432, "password": password},
                    "api": {"key": "k-" + password}, "feature": {"x": "on"}}
    assert masked["database"] == {"host": "db", "port": 5432, "password": "[MASKED]"}
    assert masked["api"] == {"key": "[MASKED]"}
    assert password not in json.dumps(cm) and password not in json.dumps(cb)
    assert cb["status"]["stats"]["secretKeys"] == 2 and cb["status"]["stats"]["sources"] == 4

    kube.patch("configmaps", namespace, "base", {"data": {"app.yaml": yaml.safe_dump({"database": {"host": "db2"}})}})
    wait_for(lambda: json.loads((kube.get("configmaps", namespace, "app") or {})["data"]["config.json"])["database"]["host"] == "db2",
             what="re-sync after a source ConfigMap changed")


def test_bundle_missing_source_is_reported_and_outputs_kept(kube: KubeApi, namespace: str, running_operator: OperatorProcess) -> None:
    kube.create("configmaps", namespace, {"metadata": {"name": "src"}, "data": {"c.yaml": "a: 1\n"}})
    kube.create("configbundles", namespace, {
        "apiVersion": API, "kind": "ConfigBundle", "metadata": {"name": "b"},
        "spec": {"sources": [{"configMap": {"name": "src", "key": "c.yaml"}}], "output": {"format": "yaml"}}})
    wait_ready(kube, namespace, "b", plural="configbundles")
    kube.delete("configmaps", namespace, "src")
    cb = wait_ready(kube, namespace, "b", plural="configbundles", status="False", reason="SourceError")
    assert "spec.sources[0]" in condition(cb)["message"]
    assert (kube.get("configmaps", namespace, "b") or {}).get("data") == {"config.yaml": "a: 1\n"}


def test_bundle_opens_an_encrypted_source_with_a_local_store_key(kube: KubeApi, namespace: str, running_operator: OperatorProcess) -> None:
    from config_manager import crypto

    store = make_local_store(kube, namespace)
    blob = crypto.encrypt(json.dumps({"smtp": {"password": "enc-secret"}, "smtp_host": "mail"}).encode(), key=store.key)
    kube.create("secrets", namespace, {"metadata": {"name": "enc"}, "data": {"config.json.enc": base64.b64encode(blob).decode()}})
    kube.create("configbundles", namespace, {
        "apiVersion": API, "kind": "ConfigBundle", "metadata": {"name": "e"},
        "spec": {"storeRef": {"name": "local"},
                 "sources": [{"encrypted": {"name": "enc", "key": "config.json.enc", "format": "json"}}],
                 "output": {"format": "yaml"}}})
    wait_ready(kube, namespace, "e", plural="configbundles")
    masked = yaml.safe_load((kube.get("configmaps", namespace, "e") or {})["data"]["config.yaml"])
    real = yaml.safe_load(base64.b64decode((kube.get("secrets", namespace, "e-secret") or {})["data"]["config.yaml"]))
    assert real == {"smtp": {"password": "enc-secret"}, "smtp_host": "mail"}
    assert masked == {"smtp": {"password": "[MASKED]"}, "smtp_host": "[MASKED]"}, "everything from an encrypted source is secret"
