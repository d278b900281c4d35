"""The CRDs in crds/: structural, described, and the ClusterSecretStore kept in step with SecretStore.

ClusterSecretStore's schema is *derived* from SecretStore's (same provider section plus ``namespace`` on
every reference, plus ``conditions``). ``python -m tests.unit.test_crds`` rewrites it after a change to
crds/secretstore.yaml; ``test_cluster_store_is_derived_from_secret_store`` fails until that is done.
"""

from __future__ import annotations

import copy
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from config_manager.k8s.api.resources import GENERATOR_PLURALS

CRDS = Path(__file__).resolve().parents[2] / "crds"
ALLOWED = {
    "type", "description", "properties", "items", "required", "default", "enum", "pattern", "maxLength",
    "minLength", "maxItems", "minItems", "maxProperties", "additionalProperties", "format", "minimum",
    "maximum", "x-kubernetes-validations", "x-kubernetes-list-type", "x-kubernetes-list-map-keys",
    "x-kubernetes-preserve-unknown-fields", "x-kubernetes-map-type",
}
REF_FIELDS = ("storage", "keySecretRef", "passphraseSecretRef", "caProvider", "tokenSecretRef", "secretRef",
              "serviceAccountRef", "clientId", "clientSecret", "clientCert")


def load(name: str) -> dict[str, Any]:
    return yaml.safe_load((CRDS / f"{name}.yaml").read_text())


def schema(crd: dict[str, Any]) -> dict[str, Any]:
    return crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]  # type: ignore[no-any-return]


def problems(node: Any, path: str) -> list[str]:
    out: list[str] = []
    if not isinstance(node, dict):
        return [f"{path}: not a schema"]
    if path != "root.metadata":
        if not isinstance(node.get("description"), str) or not node["description"].strip():
            out.append(f"{path}: no description")
    out += [f"{path}: unknown keyword {k!r}" for k in node if k not in ALLOWED]
    for key, child in (node.get("properties") or {}).items():
        out += problems(child, f"{path}.{key}")
    if isinstance(node.get("items"), dict):
        out += problems(node["items"], f"{path}[]")
    return out


def derive_cluster_store(src: dict[str, Any]) -> dict[str, Any]:
    d = copy.deepcopy(src)
    d["metadata"]["name"] = "clustersecretstores.configmanager.io"
    d["spec"]["scope"] = "Cluster"
    d["spec"]["names"] = {"kind": "ClusterSecretStore", "listKind": "ClusterSecretStoreList",
                          "plural": "clustersecretstores", "singular": "clustersecretstore",
                          "shortNames": ["css", "cmcss"], "categories": ["configmanager"]}
    root = schema(d)
    root["description"] = ("ClusterSecretStore is a cluster-wide SecretStore run by the platform team. Namespaces "
                           "listed by its conditions may use it; credential references name their namespace explicitly.")
    root["properties"]["kind"]["description"] = "Kind of this object (ClusterSecretStore)."
    ns = {"type": "string", "description": "Namespace of the referenced object (required in a ClusterSecretStore).",
          "maxLength": 63, "pattern": "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"}

    def walk(node: Any, last: str) -> None:
        if isinstance(node, dict):
            props = node.get("properties")
            if isinstance(props, dict) and "name" in props and node.get("type") == "object" and last in REF_FIELDS:
                props["namespace"] = dict(ns)
                node["required"] = sorted(set(node.get("required", [])) | {"namespace"})
            for key, value in node.items():
                walk(value, key)
        elif isinstance(node, list):
            for item in node:
                walk(item, last)

    walk(root["properties"]["spec"], "spec")
    selector = {
        "type": "object", "description": "A label selector over Namespace labels ({} selects every namespace).",
        "x-kubernetes-map-type": "atomic",
        "properties": {
            "matchLabels": {"type": "object", "description": "Labels a namespace must carry (all of them).",
                            "additionalProperties": {"type": "string"}},
            "matchExpressions": {
                "type": "array", "description": "Label requirements, all of which must hold.", "maxItems": 16,
                "items": {
                    "type": "object", "description": "One requirement.", "required": ["key", "operator"],
                    "properties": {
                        "key": {"type": "string", "description": "Label key.", "maxLength": 317},
                        "operator": {"type": "string", "description": "How the key relates to the values.",
                                     "enum": ["In", "NotIn", "Exists", "DoesNotExist"]},
                        "values": {"type": "array", "description": "Values for In and NotIn; empty for Exists and DoesNotExist.",
                                   "maxItems": 64, "items": {"type": "string", "description": "One value.", "maxLength": 63}},
                    },
                    "x-kubernetes-validations": [{
                        "rule": "self.operator in ['In', 'NotIn'] ? (has(self.values) && size(self.values) > 0) "
                                ": (!has(self.values) || size(self.values) == 0)",
                        "message": "values must be non-empty for In/NotIn and empty for Exists/DoesNotExist"}],
                },
            },
        },
    }
    spec = root["properties"]["spec"]
    spec["required"] = ["provider", "conditions"]
    spec["properties"]["conditions"] = {
        "type": "array", "minItems": 1, "maxItems": 32,
        "description": ("Which namespaces may use this store. A namespace is admitted when any condition matches it. "
                        "Required: to admit every namespace, say so with a condition whose namespaceSelector is {}."),
        "items": {
            "type": "object", "description": "One admission condition; the namespace must satisfy every field that is set.",
            "x-kubernetes-validations": [{
                "rule": "has(self.namespaceSelector) || has(self.namespaces) || has(self.namespaceRegexes)",
                "message": "set at least one of namespaceSelector, namespaces or namespaceRegexes"}],
            "properties": {
                "namespaceSelector": selector,
                "namespaces": {"type": "array", "description": "Namespace names admitted.", "maxItems": 256,
                               "items": {"type": "string", "description": "A namespace name.", "maxLength": 63}},
                "namespaceRegexes": {"type": "array", "description": "Regular expressions a namespace name must match as a whole.",
                                     "maxItems": 32, "items": {"type": "string", "description": "A regular expression.", "maxLength": 253}},
            },
        },
    }
    return d


HEADER = ("# ClusterSecretStore: a cluster-wide SecretStore for the platform team. Same provider schema as SecretStore\n"
          "# plus `namespace` on every credential reference and `conditions` naming the namespaces allowed to use the\n"
          "# store (required: no implicit \"everyone\"). GENERATED from crds/secretstore.yaml by\n"
          "# `python -m tests.unit.test_crds`; tests/unit/test_crds.py checks it is up to date.\n")


@pytest.mark.parametrize("name", ["secretstore", "clustersecretstore", "managedsecret", "configbundle", "vaultdynamicsecret"])
def test_every_field_has_a_description_and_known_keywords(name: str) -> None:
    crd = load(name)
    assert crd["spec"]["group"] == "configmanager.io"
    version = crd["spec"]["versions"][0]
    assert version["name"] == "v1alpha1" and version["subresources"] == {"status": {}}
    assert crd["spec"]["names"]["shortNames"]
    assert version["additionalPrinterColumns"]
    assert problems(schema(crd), "root") == []


@pytest.mark.parametrize("name", ["password", "sshkey", "uuid"])
def test_generator_crds_are_described(name: str) -> None:
    crd = load(name)
    assert crd["spec"]["group"] == "configmanager.io" and crd["spec"]["names"]["shortNames"]
    assert crd["spec"]["names"]["plural"] in GENERATOR_PLURALS.values()
    assert problems(schema(crd), "root") == []


def test_cluster_store_is_derived_from_secret_store() -> None:
    assert load("clustersecretstore") == derive_cluster_store(load("secretstore"))


def test_secret_store_references_have_no_namespace_field() -> None:
    text = (CRDS / "secretstore.yaml").read_text()
    assert "namespace: " not in text.replace("namespace: {type: string", "")  # only Vault's own namespace field


def test_forbidden_secret_types_are_refused_by_cel() -> None:
    target = schema(load("managedsecret"))["properties"]["spec"]["properties"]["target"]
    rules = " ".join(r["rule"] for r in target["properties"]["type"]["x-kubernetes-validations"])
    assert "kubernetes.io/service-account-token" in rules and "bootstrap.kubernetes.io/token" in rules


if __name__ == "__main__":
    out = CRDS / "clustersecretstore.yaml"
    out.write_text(HEADER + yaml.safe_dump(derive_cluster_store(load("secretstore")), sort_keys=False, width=120))
    print(f"wrote {out}", file=sys.stderr)
