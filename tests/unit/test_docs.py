"""The documentation in docs/ stays true to the code it describes.

Why: docs that drift are worse than none. The CRD reference is generated from crds/ and must be current;
every relative link must lead to a file; every CLI command and Helm value the docs name must exist.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import yaml

from config_manager.cli import build_parser

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs"


def test_reference_is_generated_from_the_current_crds() -> None:
    result = subprocess.run([sys.executable, str(REPO / "tools" / "gen-crd-docs.py"), "--check"],
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr


def test_reference_covers_every_crd_kind() -> None:
    text = (DOCS / "reference.md").read_text()
    for path in (REPO / "crds").glob("*.yaml"):
        kind = yaml.safe_load(path.read_text())["spec"]["names"]["kind"]
        assert f"## {kind}\n" in text, kind


def test_relative_links_resolve() -> None:
    broken = []
    for page in DOCS.rglob("*.md"):
        if page.name == "reference.md":  # generated; its brackets are regular expressions, not links
            continue
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", page.read_text()):
            if "://" in target:
                continue
            if not (page.parent / target).exists():
                broken.append(f"{page.relative_to(REPO)} -> {target}")
    assert broken == []


def test_cli_commands_named_in_the_docs_exist() -> None:
    parser = build_parser()
    text = (DOCS / "cli.md").read_text()
    named = set(re.findall(r"^\| `((?:store )?[a-z]+)", text, flags=re.MULTILINE))
    assert {"store init", "store rekey", "encrypt", "status", "operator", "cluster"} <= named
    for command in named:
        # parse_args exits 0 for --help only when the command exists
        try:
            parser.parse_args([*command.split(), "--help"])
        except SystemExit as exc:
            assert exc.code == 0, command


def test_helm_values_named_in_the_docs_exist() -> None:
    values = yaml.safe_load((REPO / "charts" / "config-manager" / "values.yaml").read_text())
    for page in DOCS.rglob("*.md"):
        for dotted in re.findall(r"`((?:rbac|metrics|ha|health|operator|image|webhook|dashboards|expiry)\.[A-Za-z.]+)", page.read_text()):
            node = values
            for part in dotted.split("."):
                assert isinstance(node, dict) and part in node, f"{page.name}: {dotted}"
                node = node[part]
