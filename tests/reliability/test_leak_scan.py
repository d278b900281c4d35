"""Leak scan: plant known secret values through every provider and feature, then search everything a
user or an attacker with read access to non-Secret objects could see. Zero hits.

Planted through: the local encrypted store (ManagedSecret with a template, dataFrom of a JSON value, a
masked ConfigMap view), the real Vault (ManagedSecret; its token), ConfigBundles (a Secret source, an
encrypted source, secrets from a store), failures that produce error messages (a template error, a
property of a non-object value, a Vault permission error, a corrupted local store blob), drift repair and
a forced re-sync (more logging), and the ``configmanager`` CLI (store init/set/get/list/rotate, encrypt,
decrypt to a file, error paths, ``status`` against the cluster).

Searched (as the value, its base64 and its hex): every line of the operator's DEBUG log, every Event in
the cluster, the status, annotations and labels of every object in the test namespaces (Secrets: their
metadata only), every ConfigMap in the cluster, and the stdout/stderr of every CLI command.

The environment provider is not a store kind of the operator (no ``spec.provider.env``); the library's
EnvironmentSecretsSource is covered by tests/unit/test_no_secret_leaks.py.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from config_manager import crypto
from config_manager.k8s.api.client import KubeApi
from tests.helpers.cluster import ClusterInfo
from tests.helpers.operator_process import OperatorProcess, make_local_store, wait_for
from tests.helpers.vault_server import VaultServer
from tests.integration.opkit import API, condition, managed_secret, secret_data, wait_ready

pytestmark = [pytest.mark.cluster, pytest.mark.vault]


def canary(label: str) -> str:
    return f"PLANTED-{label}-{uuid.uuid4().hex[:16]}"


def forms(value: str) -> list[str]:
    raw = value.encode()
    return [value, base64.b64encode(raw).decode(), raw.hex()]


def b64(text: str | bytes) -> str:
    return base64.b64encode(text.encode() if isinstance(text, str) else text).decode()


def hits(planted: dict[str, str], text: str, where: str) -> list[str]:
    return [f"{label} ({form[:12]}...) in {where}" for label, value in planted.items() for form in forms(value) if form in text]


def run_cli(*args: str, env: dict[str, str], stdin: str | None = None) -> str:
    result = subprocess.run([sys.executable, "-c", "import sys; from config_manager.cli import main; sys.exit(main())", *args], input=stdin, capture_output=True,
                            text=True, env=env, timeout=60, check=False)
    return f"$ configmanager {' '.join(args)} -> {result.returncode}\n{result.stdout}\n{result.stderr}"


def test_no_planted_value_is_visible_anywhere(kube: KubeApi, operator: OperatorProcess, vault_server: VaultServer,
                                              cluster: ClusterInfo, tmp_path: Path) -> None:
    if operator.proc is None:
        operator.start()
    planted: dict[str, str] = {label: canary(label) for label in (
        "local", "local-json", "template-input", "masked-view", "vault", "vault-denied", "bundle-store",
        "bundle-secret-source", "bundle-encrypted", "shape-error", "template-error", "corrupt-blob", "cli-set",
        "cli-json", "cli-file", "cli-passphrase")}
    ns, ns2 = f"leak-{uuid.uuid4().hex[:8]}", f"leak-{uuid.uuid4().hex[:8]}"
    for name in (ns, ns2):
        kube.create("namespaces", None, {"metadata": {"name": name}})
    try:
        _plant_in_cluster(kube, ns, ns2, vault_server, planted)
        cli_text = _plant_through_cli(tmp_path, cluster, ns, planted)

        found: list[str] = []
        found += hits(planted, operator.log_text(), "the operator log")
        found += hits(planted, cli_text, "CLI output")
        for event in kube.list("events", None):
            found += hits(planted, json.dumps(event), f"Event {event['metadata']['namespace']}/{event['metadata']['name']}")
        for cm in kube.list("configmaps", None):
            found += hits(planted, json.dumps(cm), f"ConfigMap {cm['metadata']['namespace']}/{cm['metadata']['name']}")
        checked = 0
        for namespace in (ns, ns2):
            for plural in ("managedsecrets", "configbundles", "secretstores", "secrets", "configmaps", "serviceaccounts"):
                for obj in kube.list(plural, namespace):
                    checked += 1
                    meta = obj["metadata"]
                    visible = {"status": obj.get("status"), "annotations": meta.get("annotations"),
                               "labels": meta.get("labels"), "spec": obj.get("spec") if plural != "secrets" else None}
                    found += hits(planted, json.dumps(visible), f"{plural} {namespace}/{meta['name']}")
        print(f"leak scan: {len(planted)} planted values x 3 forms; {checked} objects, "
              f"{len(operator.log_text().splitlines())} log lines, {len(cli_text.splitlines())} CLI output lines: "
              f"{len(found)} hits")
        assert "DEBUG" in operator.log_text(), "the operator ran at DEBUG"
        assert found == [], "\n".join(found[:20])
    finally:
        for name in (ns, ns2):
            kube.delete("namespaces", None, name)


def _plant_in_cluster(kube: KubeApi, ns: str, ns2: str, vault: VaultServer, planted: dict[str, str]) -> None:
    store = make_local_store(kube, ns, values={
        "db/password": planted["local"], "app": {"token": planted["local-json"], "user": "svc"},
        "tmpl": planted["template-input"], "view": planted["masked-view"], "bundle": planted["bundle-store"],
        "scalar": planted["shape-error"], "te": planted["template-error"]})
    # ManagedSecrets on the local store: plain, dataFrom of a JSON value, template, masked view
    kube.create("managedsecrets", ns, managed_secret("plain", data={"password": "db/password"}, dataFrom=[{"extract": {"key": "app"}}]))
    kube.create("managedsecrets", ns, managed_secret("tmpl", data={"p": "tmpl"}, target={
        "template": {"data": {"url": "postgres://svc:{{ .p }}@db/app", "b": "{{ .p | b64enc }}"}}}))
    kube.create("managedsecrets", ns, managed_secret("view", data={"v": "view"}, target={"configMap": {"enabled": True}},
                                                    metadata={"tier": "restricted", "owner": "team-a"}))
    # failures whose messages must not carry the value
    kube.create("managedsecrets", ns, {**managed_secret("shape"), "spec": {
        "storeRef": {"name": "local"}, "data": [{"secretKey": "x", "remoteRef": {"key": "scalar", "property": "nested"}}]}})
    kube.create("managedsecrets", ns, managed_secret("tmpl-error", data={"p": "te"}, target={
        "template": {"data": {"x": "{{ .p | b64dec }}{{ .missing }}"}}}))
    # Vault: a readable path and a denied one
    readable, denied = f"app/leak-{uuid.uuid4().hex[:6]}", f"other/leak-{uuid.uuid4().hex[:6]}"
    vault.admin.secrets.kv.v2.create_or_update_secret(path=readable, secret={"v": planted["vault"]}, mount_point="secret")
    vault.admin.secrets.kv.v2.create_or_update_secret(path=denied, secret={"v": planted["vault-denied"]}, mount_point="secret")
    token = vault.create_token(["app-read"])
    planted["vault-token"] = token
    kube.create("secrets", ns, {"metadata": {"name": "vault-auth"}, "data": {"token": b64(token), "ca.crt": b64(vault.ca_file.read_bytes())}})
    kube.create("secretstores", ns, {"apiVersion": API, "kind": "SecretStore", "metadata": {"name": "vault"},
        "spec": {"provider": {"vault": {"server": vault.url, "path": "secret", "version": "v2",
                                        "caProvider": {"type": "Secret", "name": "vault-auth", "key": "ca.crt"},
                                        "auth": {"tokenSecretRef": {"name": "vault-auth", "key": "token"}}}}}})
    kube.create("managedsecrets", ns, {**managed_secret("vault"), "spec": {"storeRef": {"name": "vault"}, "data": [
        {"secretKey": "v", "remoteRef": {"key": readable, "property": "v"}}], "dataFrom": [{"extract": {"key": readable}}]}})
    kube.create("managedsecrets", ns, managed_secret("denied", store="vault", data={"v": denied}))
    # ConfigBundle: a Secret source, an encrypted source, a secret from the store
    kube.create("secrets", ns, {"metadata": {"name": "src"}, "data": {
        "app.json": b64(json.dumps({"api": {"password": planted["bundle-secret-source"]}}))}})
    blob = crypto.encrypt(json.dumps({"smtp": {"password": planted["bundle-encrypted"]}}).encode(), key=store.key)
    kube.create("secrets", ns, {"metadata": {"name": "enc"}, "data": {"c.json.enc": b64(blob)}})
    kube.create("configbundles", ns, {"apiVersion": API, "kind": "ConfigBundle", "metadata": {"name": "bundle"}, "spec": {
        "storeRef": {"name": "local"},
        "sources": [{"inline": {"log": {"level": "debug"}}}, {"secret": {"name": "src", "key": "app.json"}},
                    {"encrypted": {"name": "enc", "key": "c.json.enc", "format": "json"}}],
        "secrets": [{"path": "database.password", "remoteRef": {"key": "bundle"}}],
        "output": {"format": "yaml"}}})
    # a second namespace whose store blob gets corrupted after a first good sync (ProviderError path)
    make_local_store(kube, ns2, values={"k": planted["corrupt-blob"]})
    kube.create("managedsecrets", ns2, managed_secret("c", data={"k": "k"}, refresh="5s"))

    for name in ("plain", "tmpl", "view", "vault"):
        try:
            wait_ready(kube, ns, name, timeout=45)
        except AssertionError as exc:
            raise AssertionError(f"{exc}: {condition(kube.get('managedsecrets', ns, name))}") from None
    wait_ready(kube, ns, "bundle", plural="configbundles", timeout=45)
    wait_ready(kube, ns2, "c", timeout=45)
    assert secret_data(kube, ns, "tmpl") == {"url": f"postgres://svc:{planted['template-input']}@db/app",
                                             "b": b64(planted["template-input"])}, "the values really went through"
    for name, _reason in (("shape", "ProviderError"), ("tmpl-error", "InvalidSpec"), ("denied", "ProviderError")):
        wait_ready(kube, ns, name, status="False", timeout=45)
    kube.patch("secrets", ns2, "local-blob", {"data": {"secrets.enc": b64(b"garbage")}})
    wait_ready(kube, ns2, "c", status="False", reason="ProviderError", timeout=45)
    # drift repair and a forced sync produce more (DEBUG) logging around the values
    kube.patch("secrets", ns, "plain", {"data": {"password": b64("tampered")}})
    wait_for(lambda: (secret_data(kube, ns, "plain") or {}).get("password") == planted["local"], what="drift repaired")
    kube.patch("managedsecrets", ns, "vault", {"metadata": {"annotations": {"configmanager.io/force-sync": "1"}}})
    wait_for(lambda: (o := kube.get("managedsecrets", ns, "vault")) and o["status"].get("forceSync") == "1", what="forced sync")
    assert condition(kube.get("managedsecrets", ns, "view"))["status"] == "True"


def _plant_through_cli(tmp: Path, cluster: ClusterInfo, ns: str, planted: dict[str, str]) -> str:
    env = {**os.environ, "KUBECONFIG": str(cluster.kubeconfig), "CONFIGMANAGER_STORE": str(tmp / "s.enc"),
           "CONFIGMANAGER_KEY_FILE": str(tmp / "s.key"), "PASS": planted["cli-passphrase"]}
    env.pop("CONFIGMANAGER_PASSPHRASE", None)
    out = [
        run_cli("store", "init", env=env),
        run_cli("store", "set", "db/password", "--stdin", "-m", "owner=team", env=env, stdin=planted["cli-set"] + "\n"),
        run_cli("store", "set", "app", "--json", "--stdin", env=env, stdin=json.dumps({"token": planted["cli-json"]})),
        run_cli("store", "list", env=env), run_cli("store", "list", "-o", "json", env=env),
        run_cli("store", "get", "db/password", env=env), run_cli("store", "get", "app", "-o", "json", env=env),
        run_cli("store", "get", "missing", env=env),
        run_cli("store", "rotate", "db/password", env=env), run_cli("store", "list", env=env),
        run_cli("store", "get", "db/password", "--version", "1", env=env),
    ]
    plain = tmp / "app.json"
    plain.write_text(json.dumps({"password": planted["cli-file"]}))
    out += [
        run_cli("encrypt", str(plain), "-o", str(tmp / "app.json.enc"), "--passphrase-env", "PASS", env=env),
        run_cli("decrypt", str(tmp / "app.json.enc"), "-o", str(tmp / "back.json"), "--passphrase-env", "PASS", env=env),
        run_cli("decrypt", str(tmp / "app.json.enc"), "-o", str(tmp / "x.json"), "--key-file", str(tmp / "s.key"), env=env),
        run_cli("status", "-n", ns, env=env), run_cli("status", "-n", ns, "-o", "json", "-v", env=env),
        run_cli("--debug", "store", "get", "db/password", "--key-file", str(tmp / "nope.key"), env=env),
    ]
    assert json.loads((tmp / "back.json").read_text()) == {"password": planted["cli-file"]}, "the CLI really decrypted"
    text = "\n".join(out)
    assert "db/password" in text and "vault" in text, "the commands really ran"
    return text
