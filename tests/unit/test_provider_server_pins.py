"""The provider test servers are pinned once (tools/versions.env) and the Vault wrapper module agrees."""

from __future__ import annotations

import re

from config_manager.devcluster.binaries import TOOLS_DIR, read_versions


def test_vault_wrapper_requires_the_pinned_vault() -> None:
    text = (TOOLS_DIR / "vault" / "go.mod").read_text()
    required = re.search(r"^require github\.com/hashicorp/vault (v\S+)$", text, flags=re.M)
    assert required and required.group(1) == read_versions()["VAULT_VERSION"]


def test_build_script_and_fetch_script_know_the_servers() -> None:
    build = (TOOLS_DIR / "build-binaries.sh").read_text()
    assert re.search(r"^\s*vault\|bao\) ", build, flags=re.M)
    assert 'build vault "$VAULT_VERSION" vault github.com/hashicorp/vault ' in build
    fetch = (TOOLS_DIR / "fetch-lowkey-vault.sh").read_text()
    assert "$LOWKEY_VAULT_VERSION" in fetch and read_versions()["LOWKEY_VAULT_VERSION"]
