"""ESO manifests, written from External Secrets' documented API, converted by ``configmanager migrate eso``
as a user runs it, applied with kubectl, and synced by the operator from the real Vault server."""

from __future__ import annotations

import base64
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml

from config_manager.k8s.api.client import KubeApi
from tests.helpers.operator_process import OperatorProcess
from tests.helpers.vault_server import VaultServer
from tests.integration.opkit import secret_data, wait_ready

pytestmark = [pytest.mark.cluster, pytest.mark.vault]


def _eso_manifests(ns: str, server: VaultServer, path: str) -> list[dict[str, Any]]:
    return [
        {"apiVersion": "external-secrets.io/v1beta1", "kind": "SecretStore", "metadata": {"name": "vault-backend", "namespace": ns},
         "spec": {"provider": {"vault": {
             "server": server.url, "path": "secret", "version": "v2",
             "caProvider": {"type": "Secret", "name": "vault-ca", "key": "ca.crt"},
             "auth": {"tokenSecretRef": {"name": "vault-token", "key": "token"}}}}}},
        {"apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret", "metadata": {"name": "db", "namespace": ns},
         "spec": {"refreshInterval": "1h", "refreshPolicy": "Periodic",
                  "secretStoreRef": {"name": "vault-backend", "kind": "SecretStore"},
                  "target": {"name": "db-credentials", "creationPolicy": "Owner", "deletionPolicy": "Delete",
                             "template": {"engineVersion": "v2", "type": "Opaque",
                                          "data": {"url": "postgres://{{ .user }}:{{ .password }}@db:5432/app"}}},
                  "data": [{"secretKey": "password", "remoteRef": {"key": path, "property": "password", "conversionStrategy": "Default"}}],
                  "dataFrom": [{"extract": {"key": path}}]}},
    ]


def test_converted_eso_manifests_sync_from_vault(kube: KubeApi, namespace: str, cluster: Any, running_operator: OperatorProcess,
                                                 vault_server: VaultServer, tmp_path: Any) -> None:
    ns, path = namespace, f"app/{uuid.uuid4().hex[:8]}"
    vault_server.admin.secrets.kv.v2.create_or_update_secret(path=path, secret={"user": "svc", "password": "eso-pw-1"}, mount_point="secret")
    token = vault_server.create_token(["app-read"])
    kube.create("secrets", ns, {"metadata": {"name": "vault-token"}, "data": {"token": base64.b64encode(token.encode()).decode()}})
    kube.create("secrets", ns, {"metadata": {"name": "vault-ca"}, "data": {"ca.crt": base64.b64encode(vault_server.ca_file.read_bytes()).decode()}})
    source = tmp_path / "eso.yaml"
    source.write_text(yaml.safe_dump_all(_eso_manifests(ns, vault_server, path)))

    configmanager = Path(sys.executable).parent / "configmanager"  # the console script, as a user runs it
    result = subprocess.run([str(configmanager), "migrate", "eso", "-f", str(source)],
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert "migrate: 2 of 2 documents written, 0 not converted" in result.stderr
    converted = tmp_path / "converted.yaml"
    converted.write_text(result.stdout)
    cluster.kubectl("apply", "-f", str(converted))

    wait_ready(kube, ns, "db", timeout=60)
    assert secret_data(kube, ns, "db-credentials") == {"url": "postgres://svc:eso-pw-1@db:5432/app"}
    # re-applying the converted manifests changes nothing the operator wrote (what GitOps does every sync)
    assert cluster.kubectl("diff", "-f", str(converted), check=False).returncode == 0


def test_converted_find_rewrite_and_generators_sync(kube: KubeApi, namespace: str, cluster: Any, running_operator: OperatorProcess,
                                                     vault_server: VaultServer, tmp_path: Any) -> None:
    """ESO's dataFrom find + rewrite against the real Vault and its Password / UUID generators, converted and synced."""
    ns, base = namespace, f"app/{uuid.uuid4().hex[:8]}"
    for name, value in (("db-user", "svc"), ("db-pass", "eso-pw"), ("cache-url", "redis://c")):
        vault_server.admin.secrets.kv.v2.create_or_update_secret(path=f"{base}/{name}", secret={"v": value}, mount_point="secret")
    token = vault_server.create_token(["app-read"])
    kube.create("secrets", ns, {"metadata": {"name": "vault-token"}, "data": {"token": base64.b64encode(token.encode()).decode()}})
    kube.create("secrets", ns, {"metadata": {"name": "vault-ca"}, "data": {"ca.crt": base64.b64encode(vault_server.ca_file.read_bytes()).decode()}})
    gen = "generators.external-secrets.io/v1alpha1"
    manifests = [
        _eso_manifests(ns, vault_server, base)[0],
        {"apiVersion": gen, "kind": "Password", "metadata": {"name": "pw", "namespace": ns},
         "spec": {"length": 20, "digits": 5, "symbols": 0, "noUpper": False, "allowRepeat": True}},
        {"apiVersion": gen, "kind": "UUID", "metadata": {"name": "id", "namespace": ns}, "spec": {}},
        {"apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret", "metadata": {"name": "found", "namespace": ns},
         "spec": {"refreshInterval": "1h", "secretStoreRef": {"name": "vault-backend", "kind": "SecretStore"},
                  "dataFrom": [
                      {"find": {"path": base, "name": {"regexp": "db-"}, "conversionStrategy": "Default", "decodingStrategy": "None"},
                       "rewrite": [{"regexp": {"source": f"^{base}/db-(.*)$", "target": "$1"}}]},
                      {"sourceRef": {"generatorRef": {"apiVersion": gen, "kind": "Password", "name": "pw"}}},
                      {"sourceRef": {"generatorRef": {"apiVersion": gen, "kind": "UUID", "name": "id"}}},
                  ]}},
    ]
    source = tmp_path / "eso.yaml"
    source.write_text(yaml.safe_dump_all(manifests))
    configmanager = Path(sys.executable).parent / "configmanager"
    result = subprocess.run([str(configmanager), "migrate", "eso", "-f", str(source)], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    converted = tmp_path / "converted.yaml"
    converted.write_text(result.stdout)
    cluster.kubectl("apply", "-f", str(converted))
    wait_ready(kube, ns, "found", timeout=60)
    data = secret_data(kube, ns, "found") or {}
    assert {k: data[k] for k in ("user", "pass")} == {"user": '{"v":"svc"}', "pass": '{"v":"eso-pw"}'}
    assert len(data["password"]) == 20 and sum(c.isdigit() for c in data["password"]) == 5 and len(data["uuid"]) == 36
    assert set(data) == {"user", "pass", "password", "uuid"}
