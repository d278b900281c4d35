"""``configmanager migrate eso``: every field of ESO's stores we have and of ExternalSecret, converted,
dropped with a note (ESO defaults that mean what ours do) or refused naming the field; exit codes."""

from __future__ import annotations

import io
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from config_manager.cli import main
from config_manager.cli.migrate import convert

VAULT_STORE: dict[str, Any] = {
    "apiVersion": "external-secrets.io/v1beta1", "kind": "SecretStore",
    "metadata": {"name": "vault", "namespace": "app", "labels": {"team": "a"}, "resourceVersion": "42",
                 "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}", "owner": "me"}},
    "spec": {
        "refreshInterval": 300,
        "retrySettings": {"maxRetries": 3, "retryInterval": "10s"},
        "provider": {"vault": {
            "server": "https://vault.example:8200", "path": "secret", "version": "v2", "namespace": "team-a",
            "caBundle": "LS0tLS1CRUdJTg==", "caProvider": {"type": "Secret", "name": "vault-ca", "key": "ca.crt", "namespace": "app"},
            "readYourWrites": False, "forwardInconsistent": False,
            "auth": {"appRole": {"path": "approle", "roleId": "role-id", "secretRef": {"name": "approle", "key": "secret-id"}}},
        }},
    },
}

EXTERNAL_SECRET: dict[str, Any] = {
    "apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret",
    "metadata": {"name": "db", "namespace": "app"},
    "spec": {
        "refreshInterval": "15m", "refreshPolicy": "Periodic",
        "secretStoreRef": {"name": "vault", "kind": "SecretStore"},
        "target": {"name": "db-secret", "creationPolicy": "Merge", "deletionPolicy": "Retain", "immutable": False,
                   "template": {"engineVersion": "v2", "type": "Opaque", "mergePolicy": "Replace",
                                "metadata": {"labels": {"app": "db"}, "annotations": {"note": "x"}},
                                "data": {"url": "postgres://{{ .user }}:{{ .password | b64enc }}@db"}}},
        "data": [{"secretKey": "password", "remoteRef": {"key": "db", "property": "password", "version": "3",
                                                         "conversionStrategy": "Default", "decodingStrategy": "None",
                                                         "metadataPolicy": "None"}}],
        "dataFrom": [{"extract": {"key": "db/common"}}],
    },
}


def test_a_vault_store_converts_field_by_field() -> None:
    out, report = convert(VAULT_STORE)
    assert report.problems == []
    assert out == {
        "apiVersion": "configmanager.io/v1alpha1", "kind": "SecretStore",
        "metadata": {"name": "vault", "namespace": "app", "labels": {"team": "a"}, "annotations": {"owner": "me"}},
        "spec": {"provider": {"vault": {
            "server": "https://vault.example:8200", "path": "secret", "version": "v2", "namespace": "team-a",
            "caBundle": "LS0tLS1CRUdJTg==", "caProvider": {"type": "Secret", "name": "vault-ca", "key": "ca.crt"},
            "auth": {"appRole": {"path": "approle", "roleId": "role-id", "secretRef": {"name": "approle", "key": "secret-id"}}},
        }}, "refreshInterval": "300s"},
    }
    assert any("retrySettings" in n for n in report.notes) and any("readYourWrites" in n for n in report.notes)


def test_an_external_secret_converts_to_a_managed_secret() -> None:
    out, report = convert(EXTERNAL_SECRET)
    assert report.problems == []
    assert out["kind"] == "ManagedSecret" and out["apiVersion"] == "configmanager.io/v1alpha1"
    assert out["spec"] == {
        "storeRef": {"name": "vault", "kind": "SecretStore"}, "refreshInterval": "15m", "refreshPolicy": "Periodic",
        "target": {"name": "db-secret", "immutable": False, "creationPolicy": "Merge", "deletionPolicy": "Retain",
                   "template": {"type": "Opaque", "mergePolicy": "Replace",
                                "metadata": {"labels": {"app": "db"}, "annotations": {"note": "x"}},
                                "data": {"url": "postgres://{{ .user }}:{{ .password | b64enc }}@db"}}},
        "data": [{"secretKey": "password", "remoteRef": {"key": "db", "property": "password", "version": "3"}}],
        "dataFrom": [{"extract": {"key": "db/common"}}],
    }
    assert len(report.notes) == 4  # engineVersion and the three remoteRef defaults


def test_azure_and_kubernetes_auth_and_cluster_store_namespaces() -> None:
    store = {"apiVersion": "external-secrets.io/v1", "kind": "ClusterSecretStore", "metadata": {"name": "shared"},
             "spec": {"conditions": [{"namespaces": ["a", "b"]}], "provider": {"azurekv": {
                 "vaultUrl": "https://kv.vault.azure.net", "tenantId": "t", "authType": "ServicePrincipal",
                 "environmentType": "ChinaCloud",
                 "authSecretRef": {"clientId": {"name": "sp", "key": "id", "namespace": "ops"},
                                   "clientSecret": {"name": "sp", "key": "secret", "namespace": "ops"}}}}}}
    out, report = convert(store)
    assert report.problems == []
    assert out["spec"] == {"provider": {"azure": {
        "vaultUrl": "https://kv.vault.azure.net", "tenantId": "t", "authType": "ServicePrincipal", "environmentType": "ChinaCloud",
        "authSecretRef": {"clientId": {"name": "sp", "key": "id", "namespace": "ops"},
                          "clientSecret": {"name": "sp", "key": "secret", "namespace": "ops"}}}},
        "conditions": [{"namespaces": ["a", "b"]}]}
    kube = {"apiVersion": "external-secrets.io/v1", "kind": "SecretStore", "metadata": {"name": "k", "namespace": "app"},
            "spec": {"provider": {"vault": {"server": "https://v", "auth": {"kubernetes": {
                "mountPath": "kubernetes", "role": "app", "serviceAccountRef": {"name": "app", "audiences": ["vault"]}}}}}}}
    out, report = convert(kube)
    assert report.problems == [] and out["spec"]["provider"]["vault"]["auth"]["kubernetes"] == {
        "mountPath": "kubernetes", "role": "app", "serviceAccountRef": {"name": "app", "audiences": ["vault"]}}


def test_vault_jwt_and_userpass_auth_convert() -> None:
    doc = {"apiVersion": "external-secrets.io/v1", "kind": "SecretStore", "metadata": {"name": "s", "namespace": "app"},
           "spec": {"provider": {"vault": {"server": "https://v", "auth": {"jwt": {
               "path": "jwt-k8s", "role": "app", "kubernetesServiceAccountToken": {
                   "serviceAccountRef": {"name": "app"}, "audiences": ["vault"], "expirationSeconds": 600}}}}}}}
    out, report = convert(doc)
    assert report.problems == [] and any("expirationSeconds" in n for n in report.notes)
    assert out["spec"]["provider"]["vault"]["auth"] == {"jwt": {"path": "jwt-k8s", "role": "app", "kubernetesServiceAccountToken": {
        "serviceAccountRef": {"name": "app", "audiences": ["vault"]}}}}
    doc["spec"]["provider"]["vault"]["auth"] = {"cert": {"clientCert": {"name": "c", "key": "tls.crt"},
                                                         "secretRef": {"name": "c", "key": "tls.key"}}}
    out, report = convert(doc)
    assert report.problems == [] and out["spec"]["provider"]["vault"]["auth"] == {"cert": {
        "clientCert": {"name": "c", "key": "tls.crt"}, "secretRef": {"name": "c", "key": "tls.key"}}}
    doc["spec"]["provider"]["vault"]["auth"] = {"userPass": {"path": "userpass", "username": "svc",
                                                             "secretRef": {"name": "vault-user", "key": "password"}}}
    out, report = convert(doc)
    assert report.problems == [] and out["spec"]["provider"]["vault"]["auth"] == {"userPass": {
        "path": "userpass", "username": "svc", "secretRef": {"name": "vault-user", "key": "password"}}}


@pytest.mark.parametrize(("doc", "field", "why"), [
    ({"kind": "ClusterSecretStore", "metadata": {"name": "open"}, "spec": {"provider": {"vault": {"server": "https://v", "auth": {"tokenSecretRef": {"name": "t", "key": "t", "namespace": "ops"}}}}}},
     "spec.conditions", "requires them"),
    ({"kind": "SecretStore", "metadata": {"name": "s", "namespace": "app"}, "spec": {"provider": {"aws": {"service": "SecretsManager"}}}},
     "spec.provider.aws", "provider 'aws' is not available"),
    ({"kind": "SecretStore", "metadata": {"name": "s", "namespace": "app"}, "spec": {"provider": {"vault": {"server": "https://v", "auth": {"ldap": {"path": "ldap"}}}}}},
     "spec.provider.vault.auth.ldap", "Vault auth method 'ldap' is not available"),
    ({"kind": "SecretStore", "metadata": {"name": "s", "namespace": "app"}, "spec": {"provider": {"vault": {"server": "https://v", "auth": {"tokenSecretRef": {"name": "t", "key": "t", "namespace": "other"}}}}}},
     "spec.provider.vault.auth.tokenSecretRef.namespace", "never reads another namespace"),
    ({"kind": "SecretStore", "metadata": {"name": "s", "namespace": "app"}, "spec": {"provider": {"vault": {"server": "https://v", "auth": {"kubernetes": {"role": "r"}}}}}},
     "spec.provider.vault.auth.kubernetes.serviceAccountRef", "never lends its own identity"),
    ({"kind": "SecretStore", "metadata": {"name": "s", "namespace": "app"}, "spec": {"provider": {"azurekv": {"vaultUrl": "https://kv", "authSecretRef": {"clientCertificate": {"name": "c", "key": "c"}}}}}},
     "spec.provider.azurekv.authSecretRef.clientCertificate", "certificate credentials are not available"),
    ({"kind": "ExternalSecret", "metadata": {"name": "e", "namespace": "app"}, "spec": {"secretStoreRef": {"name": "s"}, "target": {"creationPolicy": "None"}}},
     "spec.target.creationPolicy", "'None' is not available"),
    ({"kind": "ExternalSecret", "metadata": {"name": "e", "namespace": "app"}, "spec": {"secretStoreRef": {"name": "s"}, "target": {"deletionPolicy": "Merge"}}},
     "spec.target.deletionPolicy", "'Merge' is not available"),
    ({"kind": "ExternalSecret", "metadata": {"name": "e", "namespace": "app"}, "spec": {"secretStoreRef": {"name": "s"}, "refreshInterval": "1s"}},
     "spec.refreshInterval", "below the minimum"),
    ({"kind": "ExternalSecret", "metadata": {"name": "e", "namespace": "app"}, "spec": {"secretStoreRef": {"name": "s"}, "refreshPolicy": "Sometimes"}},
     "spec.refreshPolicy", "'Sometimes' is not available"),
    ({"kind": "ExternalSecret", "metadata": {"name": "e", "namespace": "app"}, "spec": {"secretStoreRef": {"name": "s"}, "dataFrom": [{"find": {"name": {"regexp": "^db"}}, "rewrite": [{"merge": {}}]}]}},
     "spec.dataFrom[0].rewrite[0].merge", "rewrite.merge is not available"),
    ({"kind": "ExternalSecret", "metadata": {"name": "e", "namespace": "app"}, "spec": {"dataFrom": [{"sourceRef": {"generatorRef": {"kind": "ECRAuthorizationToken", "name": "t"}}}]}},
     "spec.dataFrom[0].sourceRef.generatorRef.kind", "generator 'ECRAuthorizationToken' is not available"),
    ({"kind": "ExternalSecret", "metadata": {"name": "e", "namespace": "app"}, "spec": {"dataFrom": [{"sourceRef": {"generatorRef": {"kind": "Password", "name": "p"}}}]}},
     "spec.secretStoreRef", "needs a store"),
    ({"kind": "ExternalSecret", "metadata": {"name": "e", "namespace": "app"}, "spec": {"secretStoreRef": {"name": "s"}, "data": [{"secretKey": "k", "remoteRef": {"key": "k", "decodingStrategy": "Base64"}}]}},
     "spec.data[0].remoteRef.decodingStrategy", "'Base64' is not available"),
    ({"kind": "ExternalSecret", "metadata": {"name": "e", "namespace": "app"}, "spec": {"secretStoreRef": {"name": "s"}, "target": {"template": {"data": {"k": '{{ .a | regexReplaceAll "x" "y" }}'}}}}},
     "spec.target.template.data.k", "template function 'regexReplaceAll' is not available"),
    ({"kind": "ExternalSecret", "metadata": {"name": "e", "namespace": "app"}, "spec": {"secretStoreRef": {"name": "s"}, "target": {"template": {"data": {"k": '{{ env "HOME" }}'}}}}},
     "spec.target.template.data.k", "template function 'env' is not available (reads the operator's environment"),
    ({"kind": "ExternalSecret", "metadata": {"name": "e", "namespace": "app"}, "spec": {"secretStoreRef": {"name": "s"}, "target": {"template": {"data": {"k": '{{ define "t" }}x{{ end }}'}}}}},
     "spec.target.template.data.k", "{{ define }} is not supported"),
    ({"kind": "ExternalSecret", "metadata": {"name": "e", "namespace": "app"}, "spec": {"secretStoreRef": {"name": "s"}, "target": {"template": {"templateFrom": [{"literal": "{{ .a | now }}"}]}}}},
     "spec.target.template.templateFrom[0].literal", "template function 'now' is not available (is not deterministic"),
    ({"kind": "ExternalSecret", "metadata": {"name": "e", "namespace": "app"}, "spec": {"secretStoreRef": {"name": "s"}, "target": {"template": {"engineVersion": "v1", "data": {"k": "{{ .a }}"}}}}},
     "spec.target.template.engineVersion", "'v1' is not available (only 'v2')"),
    ({"kind": "ExternalSecret", "metadata": {"name": "e", "namespace": "app"}, "spec": {"secretStoreRef": {"name": "s"}, "somethingNew": 1}},
     "spec.somethingNew", "not available in config-manager"),
    ({"kind": "SecretStore", "metadata": {"name": "s", "namespace": "app"}, "spec": {"refreshInterval": 5, "provider": {"vault": {"server": "https://v", "auth": {"tokenSecretRef": {"name": "t", "key": "t"}}}}}},
     "spec.refreshInterval", "at most every 10s"),
    ({"kind": "ClusterExternalSecret", "metadata": {"name": "c"}, "spec": {}}, "kind", "create one ManagedSecret per namespace"),
    ({"kind": "PushSecret", "metadata": {"name": "p", "namespace": "app"}, "spec": {}}, "kind", "not available yet"),
])
def test_what_cannot_be_converted_is_refused_naming_the_field(doc: dict[str, Any], field: str, why: str) -> None:
    doc = {"apiVersion": "external-secrets.io/v1", **doc}
    out, report = convert(doc)
    assert out is None
    assert any(f": {field}: " in p and why in p for p in report.problems), report.problems


def test_a_cluster_store_without_conditions_admits_every_namespace_only_when_asked() -> None:
    doc = {"apiVersion": "external-secrets.io/v1", "kind": "ClusterSecretStore", "metadata": {"name": "open"},
           "spec": {"provider": {"vault": {"server": "https://v", "auth": {"tokenSecretRef": {"name": "t", "key": "t", "namespace": "ops"}}}}}}
    out, report = convert(doc, admit_all=True)
    assert report.problems == [] and out["spec"]["conditions"] == [{"namespaceSelector": {}}]


def _run(argv: list[str], stdin: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_the_command_writes_what_converts_passes_other_documents_through_and_exits_1_on_problems(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    bad = {"apiVersion": "external-secrets.io/v1", "kind": "PushSecret", "metadata": {"name": "p", "namespace": "app"}}
    plain = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "keep-me"}}
    stream = yaml.safe_dump_all([VAULT_STORE, EXTERNAL_SECRET, bad, plain])
    code, out, err = _run(["migrate", "eso", "-f", "-"], stream, monkeypatch, capsys)
    assert code == 1
    docs = list(yaml.safe_load_all(out))
    assert [d["kind"] for d in docs] == ["SecretStore", "ManagedSecret", "ConfigMap"] and docs[2] == plain
    assert "cannot convert: PushSecret app/p: kind: not available yet" in err
    assert "migrate: 3 of 4 documents written, 1 not converted" in err


def test_exit_0_when_everything_converts_and_2_on_input_that_is_not_yaml(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "eso.yaml"
    path.write_text(yaml.safe_dump_all([VAULT_STORE, EXTERNAL_SECRET]))
    code, out, _ = _run(["migrate", "eso", "-f", str(path)], "", monkeypatch, capsys)
    assert code == 0 and len(list(yaml.safe_load_all(out))) == 2
    code, out, err = _run(["migrate", "eso", "-f", "-"], "key: [unclosed", monkeypatch, capsys)
    assert code == 2 and out == "" and "not YAML" in err


def test_templates_that_now_work_convert_without_problems() -> None:
    template = {"engineVersion": "v2", "mergePolicy": "Merge",
                "metadata": {"annotations": {"checksum": "{{ .password | sha256sum }}"}},
                "data": {"config.json": '{{ dict "user" .user "pw" (.password | b64enc) | toJson }}',
                         "tls.key": "{{ .bundle | b64dec | pkcs12key }}",
                         "list": '{{- range $k, $v := . }}{{ $k | upper }}={{ $v | quote }}\n{{ end -}}'},
                "templateFrom": [{"configMap": {"name": "tpl", "items": [{"key": "app.yaml", "templateAs": "KeysAndValues"}]}},
                                 {"target": "Labels", "literal": 'team: {{ .team | lower | default "none" }}'}]}
    doc = {"apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret", "metadata": {"name": "e", "namespace": "app"},
           "spec": {"secretStoreRef": {"name": "s"}, "target": {"template": template}, "dataFrom": [{"extract": {"key": "k"}}]}}
    out, report = convert(doc)
    assert report.problems == [], report.problems
    assert out is not None and out["spec"]["target"]["template"]["templateFrom"] == template["templateFrom"]
    assert out["spec"]["target"]["template"]["data"] == template["data"]


def test_find_rewrite_and_generator_refs_convert() -> None:
    doc = {"apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret", "metadata": {"name": "e", "namespace": "app"},
           "spec": {"secretStoreRef": {"name": "s"}, "dataFrom": [
               {"find": {"path": "app", "name": {"regexp": "^db-"}, "tags": {"team": "a"}, "conversionStrategy": "Unicode",
                         "decodingStrategy": "Auto"},
                "rewrite": [{"regexp": {"source": "db-(.*)", "target": "$1"}}, {"transform": {"template": "{{ .value | upper }}"}}]},
               {"extract": {"key": "k", "conversionStrategy": "Default", "decodingStrategy": "Base64", "metadataPolicy": "None"}},
               {"sourceRef": {"generatorRef": {"apiVersion": "generators.external-secrets.io/v1alpha1", "kind": "Password", "name": "pw"}}},
           ]}}
    out, report = convert(doc)
    assert report.problems == [], report.problems
    find, extract, generator = out["spec"]["dataFrom"]
    assert find == {"find": {"path": "app", "name": {"regexp": "^db-"}, "tags": {"team": "a"}, "conversionStrategy": "Unicode",
                             "decodingStrategy": "Auto"},
                    "rewrite": [{"regexp": {"source": "db-(.*)", "target": "$1"}}, {"transform": {"template": "{{ .value | upper }}"}}]}
    assert extract == {"extract": {"key": "k", "conversionStrategy": "Default", "decodingStrategy": "Base64"}}
    assert generator == {"sourceRef": {"generatorRef": {"kind": "Password", "name": "pw"}}}


@pytest.mark.parametrize(("kind", "spec"), [
    ("Password", {"length": 32, "digits": 5, "symbols": 2, "symbolCharacters": "-_", "noUpper": True, "allowRepeat": True}),
    ("SSHKey", {"keyType": "rsa", "keySize": 4096, "comment": "deploy"}),
    ("UUID", {}),
])
def test_generator_manifests_convert(kind: str, spec: dict[str, Any]) -> None:
    doc = {"apiVersion": "generators.external-secrets.io/v1alpha1", "kind": kind, "metadata": {"name": "g", "namespace": "app"}, "spec": spec}
    out, report = convert(doc)
    assert report.problems == []
    assert out == {"apiVersion": "configmanager.io/v1alpha1", "kind": kind, "metadata": {"name": "g", "namespace": "app"}, "spec": spec}
    _, bad = convert({**doc, "spec": {**spec, "encoding": "hex"}})
    assert any(": spec.encoding: " in p for p in bad.problems)
