"""The import rules of DESIGN.md for the library layers, checked on the source text."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "operator" / "config_manager"

# layer -> packages it must not import (relative to config_manager)
FORBIDDEN = {
    "errors.py": {"secrets", "sources", "config", "k8s", "providers", "crypto", "masking"},
    "masking.py": {"secrets", "sources", "config", "k8s", "providers", "crypto"},
    "crypto": {"secrets", "sources", "config", "k8s", "providers", "masking"},
    "providers": {"secrets", "sources", "config", "k8s", "cli"},
    "secrets": {"sources", "config", "k8s", "cli"},
    "sources": {"config", "k8s", "cli"},
    "config.py": {"k8s", "cli"},
}


def _imports(path: Path) -> set[str]:
    """Top-level config_manager subpackages a module imports (absolute or relative)."""
    module_parts = path.relative_to(PACKAGE).with_suffix("").parts
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = list(module_parts[: len(module_parts) - node.level])
                target = base + (node.module.split(".") if node.module else [])
                names = [target] if node.module else [base + [alias.name] for alias in node.names]
            elif node.module and node.module.startswith("config_manager"):
                names = [node.module.split(".")[1:]]
            else:
                continue
            found.update(parts[0] for parts in names if parts)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("config_manager."):
                    found.add(alias.name.split(".")[1])
    return found


def _files(layer: str) -> list[Path]:
    target = PACKAGE / layer
    return sorted(target.rglob("*.py")) if target.is_dir() else [target]


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_layer_does_not_import_upwards(layer: str) -> None:
    for path in _files(layer):
        bad = _imports(path) & FORBIDDEN[layer]
        assert not bad, f"{path.relative_to(PACKAGE)} imports {sorted(bad)}"


def test_no_provider_imports_another_provider() -> None:
    concrete = {"local", "env", "memory", "vault", "azure"}
    for path in _files("providers"):
        own = path.relative_to(PACKAGE / "providers").parts[0].removesuffix(".py")
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level and node.module:
                first = node.module.split(".")[0]
                assert first not in concrete - {own}, f"{path.name} imports provider {first}"


def test_the_checker_sees_relative_imports() -> None:
    assert {"errors", "masking"} <= _imports(PACKAGE / "providers" / "base.py")
    assert "providers" in _imports(PACKAGE / "secrets" / "manager.py")
