"""ManagedSecret templates on the real control plane with the operator (local store): Go templates with
Sprig functions, templateFrom a ConfigMap (Values, KeysAndValues, labels; re-synced when it changes) and a
Secret (annotations), PKCS#12 to PEM from a real PKCS#12 file, and forbidden templates refused with the
previous Secret intact; an ESO ExternalSecret with templates converted by `configmanager migrate eso` and synced."""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from config_manager.devcluster.pki import CertificateAuthority
from config_manager.k8s.api.client import ApiError, KubeApi
from tests.helpers.operator_process import OperatorProcess, make_local_store, wait_for
from tests.integration.opkit import condition, events_for, managed_secret, secret_data, wait_ready

pytestmark = pytest.mark.cluster


def test_go_template_with_sprig_functions_into_data_labels_and_annotations(kube: KubeApi, namespace: str,
                                                                            running_operator: OperatorProcess) -> None:
    password = f"pw-{uuid.uuid4().hex}"
    make_local_store(kube, namespace, values={"db": {"user": "svc", "password": password, "host": "db.internal"},
                                              "team": "Payments"})
    template = {
        "engineVersion": "v2",
        "metadata": {"labels": {"team": "{{ .team | lower }}"},
                     "annotations": {"checksum/password": "{{ .password | sha256sum }}"}},
        "data": {
            "url": '{{ printf "postgres://%s:%s@%s/app" .user .password .host }}',
            "config.json": '{{ dict "user" .user "password" .password | toJson }}',
            "password.b64": "{{ .password | b64enc }}",
            "env": '{{- range $k, $v := . }}{{ if ne $k "team" }}{{ $k | upper }}={{ $v | quote }}\n{{ end }}{{ end -}}',
            "mode": '{{ if eq .host "db.internal" }}internal{{ else }}external{{ end }}',
        },
    }
    kube.create("managedsecrets", namespace, managed_secret("tpl", data={"team": "team"}, dataFrom=[{"extract": {"key": "db"}}],
                                                            target={"template": template}))
    wait_ready(kube, namespace, "tpl", reason="SecretSynced")
    data = secret_data(kube, namespace, "tpl")
    assert data == {
        "url": f"postgres://svc:{password}@db.internal/app",
        "config.json": json.dumps({"password": password, "user": "svc"}, separators=(",", ":")),
        "password.b64": base64.b64encode(password.encode()).decode(),
        "env": f'HOST="db.internal"\nPASSWORD="{password}"\nUSER="svc"\n',
        "mode": "internal",
    }, "Replace: only the template's keys"
    meta = (kube.get("secrets", namespace, "tpl") or {})["metadata"]
    assert meta["labels"]["team"] == "payments"
    assert meta["annotations"]["checksum/password"] == hashlib.sha256(password.encode()).hexdigest()
    assert password not in json.dumps(meta), "a value lands in metadata only where a template puts it (here: hashed)"

    kube.patch("managedsecrets", namespace, "tpl", {"spec": {"target": {"template": {
        "mergePolicy": "Merge", "data": {"user": "{{ .user | upper }}"}, "metadata": None}}}})
    wait_for(lambda: (secret_data(kube, namespace, "tpl") or {}).get("user") == "SVC", timeout=30, what="Merge applied")
    merged = secret_data(kube, namespace, "tpl") or {}
    assert merged["password"] == password and merged["host"] == "db.internal" and merged["user"] == "SVC"


def test_template_from_a_configmap_values_keys_and_values_and_labels(kube: KubeApi, namespace: str,
                                                                     running_operator: OperatorProcess) -> None:
    make_local_store(kube, namespace, values={"user": "svc", "password": "tf-pw-1", "tier": "Gold"})
    kube.create("configmaps", namespace, {"metadata": {"name": "app-tpl"}, "data": {
        "app.conf": "[db]\nuser = {{ .user }}\npassword = {{ .password }}\n",
        "extra": "API_USER: '{{ .user | upper }}'\nAPI_HASH: '{{ .password | sha256sum | trunc 8 }}'\n",
        "labels": "tier: '{{ .tier | lower }}'\n",
    }})
    kube.create("secrets", namespace, {"metadata": {"name": "app-tpl-secret"}, "data": {
        "annotations": base64.b64encode(b"app/user: '{{ .user }}'\n").decode()}})
    kube.create("managedsecrets", namespace, managed_secret("from-cm", data={"user": "user", "password": "password", "tier": "tier"},
                                                            target={"template": {"templateFrom": [
        {"configMap": {"name": "app-tpl", "items": [{"key": "app.conf"}, {"key": "extra", "templateAs": "KeysAndValues"}]}},
        {"configMap": {"name": "app-tpl", "items": [{"key": "labels", "templateAs": "KeysAndValues"}]}, "target": "Labels"},
        {"secret": {"name": "app-tpl-secret", "items": [{"key": "annotations", "templateAs": "KeysAndValues"}]}, "target": "Annotations"},
    ]}}))
    wait_ready(kube, namespace, "from-cm", reason="SecretSynced")
    assert secret_data(kube, namespace, "from-cm") == {
        "app.conf": "[db]\nuser = svc\npassword = tf-pw-1\n", "API_USER": "SVC",
        "API_HASH": hashlib.sha256(b"tf-pw-1").hexdigest()[:8]}
    meta = (kube.get("secrets", namespace, "from-cm") or {})["metadata"]
    assert meta["labels"]["tier"] == "gold" and meta["annotations"]["app/user"] == "svc"

    # the ConfigMap changes: the Secret follows without touching the ManagedSecret
    kube.patch("configmaps", namespace, "app-tpl", {"data": {"app.conf": "user={{ .user }}\n"}})
    wait_for(lambda: (secret_data(kube, namespace, "from-cm") or {}).get("app.conf") == "user=svc\n", timeout=30,
             what="re-synced after the template ConfigMap changed")

    # a key the ConfigMap lacks: refused naming the field, the Secret kept
    kube.patch("managedsecrets", namespace, "from-cm", {"spec": {"target": {"template": {"templateFrom": [
        {"configMap": {"name": "app-tpl", "items": [{"key": "nope"}]}}]}}}})
    ms = wait_ready(kube, namespace, "from-cm", status="False", reason="InvalidSpec")
    assert condition(ms)["message"].startswith("spec.target.template.templateFrom[0].configMap.items[0].key")
    assert (secret_data(kube, namespace, "from-cm") or {}).get("app.conf") == "user=svc\n"


def test_pkcs12_to_pem_from_a_real_pkcs12_file(kube: KubeApi, namespace: str, running_operator: OperatorProcess, tmp_path: Path) -> None:
    ca = CertificateAuthority(tmp_path)
    files = ca.issue("server", "app.example", server=True, dns_names=("app.example",))
    key = serialization.load_pem_private_key(files.key.read_bytes(), None)
    cert = x509.load_pem_x509_certificate(files.cert.read_bytes())
    root = x509.load_pem_x509_certificate(ca.cert_pem)
    p12 = pkcs12.serialize_key_and_certificates(b"app", key, cert, [root],  # type: ignore[arg-type]
                                                serialization.BestAvailableEncryption(b"p12-pass"))
    make_local_store(kube, namespace, values={"tls/p12": base64.b64encode(p12).decode(), "tls/pass": "p12-pass"})
    kube.create("managedsecrets", namespace, managed_secret("tls", data={"p12": "tls/p12", "pass": "tls/pass"}, target={
        "type": "kubernetes.io/tls", "template": {"data": {
            "tls.crt": '{{ .p12 | b64dec | pkcs12certPass .pass | filterCertChain "leaf" }}',
            "tls.key": "{{ .p12 | b64dec | pkcs12keyPass .pass }}",
            "ca.crt": '{{ .p12 | b64dec | pkcs12certPass .pass | filterCertChain "root" }}'}}}))
    wait_ready(kube, namespace, "tls", reason="SecretSynced")
    secret = kube.get("secrets", namespace, "tls") or {}
    assert secret["type"] == "kubernetes.io/tls"
    data = secret_data(kube, namespace, "tls") or {}
    assert data["tls.crt"] == cert.public_bytes(serialization.Encoding.PEM).decode()
    assert data["ca.crt"] == ca.cert_pem.decode()
    loaded = serialization.load_pem_private_key(data["tls.key"].encode(), None)
    assert loaded.private_numbers() == key.private_numbers()  # type: ignore[union-attr]


@pytest.mark.parametrize("forbidden", [
    "{{ ''.__class__.__mro__ }}",
    '{{ cycler.__init__.__globals__.os.environ }}',
    '{{ env "HOME" }}',
    '{{ range until 10000 }}{{ range until 10000 }}x{{ end }}{{ end }}',
])
def test_a_forbidden_template_is_refused_and_the_secret_kept(kube: KubeApi, namespace: str, running_operator: OperatorProcess,
                                                              forbidden: str) -> None:
    make_local_store(kube, namespace, values={"pw": "keep-me-1"})
    kube.create("managedsecrets", namespace, managed_secret("f", data={"pw": "pw"}, target={"template": {"data": {"out": "v={{ .pw }}"}}}))
    wait_ready(kube, namespace, "f", reason="SecretSynced")
    before = kube.get("secrets", namespace, "f") or {}
    kube.patch("managedsecrets", namespace, "f", {"spec": {"target": {"template": {"data": {"out": forbidden}}}}})
    ms = wait_ready(kube, namespace, "f", status="False", reason="InvalidSpec", generation=2)
    message = condition(ms)["message"]
    assert message.startswith("spec.target.template.data[out]: ") and "keep-me-1" not in message
    warnings = wait_for(lambda: [e for e in events_for(kube, namespace, "f") if e["reason"] == "InvalidSpec"],
                        what="the InvalidSpec Event (posted after the status write)")
    assert all("keep-me-1" not in e["message"] for e in warnings)
    after = kube.get("secrets", namespace, "f") or {}
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"], "the Secret is untouched"
    assert secret_data(kube, namespace, "f") == {"out": "v=keep-me-1"}


def test_template_from_needs_exactly_one_source_at_admission(kube: KubeApi, namespace: str) -> None:
    body = managed_secret("adm", data={"a": "a"}, target={"template": {"templateFrom": [
        {"literal": "a: b", "configMap": {"name": "x", "items": [{"key": "k"}]}}]}})
    with pytest.raises(ApiError) as err:
        kube.create("managedsecrets", namespace, body)
    assert "templateFrom[0]" in str(err.value) and "exactly one of configMap, secret or literal" in str(err.value)


def test_an_eso_external_secret_with_templates_migrates_and_syncs(kube: KubeApi, namespace: str, cluster: Any,
                                                                  running_operator: OperatorProcess, tmp_path: Path) -> None:
    make_local_store(kube, namespace, values={"app/db": {"user": "svc", "password": "mig-pw-1"}})
    kube.create("configmaps", namespace, {"metadata": {"name": "eso-tpl"}, "data": {"dsn": "{{ .user }}@db"}})
    external_secret = {  # as ESO documents it (engine v2, Sprig, templateFrom, templated metadata)
        "apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret", "metadata": {"name": "mig", "namespace": namespace},
        "spec": {"refreshInterval": "1h", "secretStoreRef": {"name": "local", "kind": "SecretStore"},
                 "target": {"name": "mig", "creationPolicy": "Owner", "template": {
                     "engineVersion": "v2", "mergePolicy": "Replace",
                     "metadata": {"annotations": {"checksum": "{{ .password | sha256sum }}"}},
                     "templateFrom": [{"configMap": {"name": "eso-tpl", "items": [{"key": "dsn", "templateAs": "Values"}]}},
                                      {"literal": "USER: '{{ .user | upper }}'"}],
                     "data": {"auth": '{{ printf "%s:%s" .user .password | b64enc }}'}}},
                 "dataFrom": [{"extract": {"key": "app/db"}}]}}
    source = tmp_path / "eso.yaml"
    source.write_text(yaml.safe_dump(external_secret))
    configmanager = Path(sys.executable).parent / "configmanager"
    result = subprocess.run([str(configmanager), "migrate", "eso", "-f", str(source)], capture_output=True, text=True,
                            timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert "not available" not in result.stderr and "1 of 1 documents written" in result.stderr
    converted = tmp_path / "converted.yaml"
    converted.write_text(result.stdout)
    cluster.kubectl("apply", "-f", str(converted))
    wait_ready(kube, namespace, "mig", reason="SecretSynced")
    assert secret_data(kube, namespace, "mig") == {"dsn": "svc@db", "USER": "SVC",
                                                   "auth": base64.b64encode(b"svc:mig-pw-1").decode()}
    annotations = (kube.get("secrets", namespace, "mig") or {})["metadata"]["annotations"]
    assert annotations["checksum"] == hashlib.sha256(b"mig-pw-1").hexdigest()
