"""The provider test servers are pinned once (tools/versions.env) and the Vault wrapper module agrees."""

from __future__ import annotations

import re

from config_manager.devcluster.binaries import TOOLS_DIR, read_versions


def test_vault_wrapper_requires_the_pinned_vault() -> None:
    text = (TOOLS_DIR / "vault" / "go.mod").read_text()
    required = re.search(r"^require github\.com/hashicorp/vault (v\S+)$", text, flags=re.M)
    assert required and required.group(1) == read_versions()["VAULT_VERSION"]


def test_build_script_knows_the_servers() -> None:
    build = (TOOLS_DIR / "build-binaries.sh").read_text()
    assert re.search(r"^\s*vault\|bao\) ", build, flags=re.M)
    assert 'build vault "$VAULT_VERSION" vault github.com/hashicorp/vault ' in build
    assert 'build azure-keyvault "src-$(source_hash azure-keyvault)" azure-keyvault . ' in build


def test_key_vault_server_module_pins_the_sdk_fake_it_is_built_on() -> None:
    text = (TOOLS_DIR / "azure-keyvault" / "go.mod").read_text()
    assert re.search(r"^\s*github\.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets v1\.5\.1$", text, flags=re.M)


def test_the_fixture_finds_the_binary_the_build_script_names() -> None:
    """tests/helpers/azure_server.py and tools/build-binaries.sh compute the same source tag."""
    import subprocess

    from tests.helpers.azure_server import source_hash

    script = (TOOLS_DIR / "build-binaries.sh").read_text()
    body = script[script.index("source_hash() {"):]
    body = body[:body.index("\n}\n") + 3]
    out = subprocess.run(["bash", "-c", f'here="{TOOLS_DIR}"\n{body}\nsource_hash azure-keyvault'],
                         capture_output=True, text=True, check=True).stdout.strip()
    assert out == source_hash()
