"""The import rules of DESIGN.md hold: the import-linter contracts of ``.importlinter`` are kept.

``make lint`` (run by .ci/run before the tests) checks them too; running them here keeps a plain
``pytest`` honest. The checker works on the import graph grimp builds, which sees relative imports
(``from .. import metrics``) and indented imports, unlike a scan of top-level package names.
"""

from __future__ import annotations

import configparser
import subprocess
import sys
from pathlib import Path

import grimp

REPO = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def test_every_import_contract_is_kept() -> None:
    result = subprocess.run([str(LINT_IMPORTS), "--config", str(REPO / ".importlinter")], cwd=REPO,
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "0 broken" in result.stdout


def test_the_contracts_cover_the_rules_of_the_design() -> None:
    contracts = configparser.ConfigParser()
    contracts.read(REPO / ".importlinter")
    types = {section: contracts[section].get("type") for section in contracts.sections() if ":contract:" in section}
    assert types == {
        "importlinter:contract:library-layers": "layers",
        "importlinter:contract:operator-pipeline": "layers",
        "importlinter:contract:reconcilers-independent": "independence",
        "importlinter:contract:provider-bindings-independent": "independence",
        "importlinter:contract:providers-independent": "independence",
        "importlinter:contract:concrete-providers-behind-registry": "forbidden",
    }


def test_the_graph_sees_relative_and_lazy_imports() -> None:
    graph = grimp.build_graph("config_manager")
    # ``from .. import metrics`` (relative, a module imported by name)
    assert graph.direct_import_exists(importer="config_manager.k8s.reconcile.managedsecret",
                                      imported="config_manager.k8s.metrics")
    # ``from ..errors import ...`` two levels up
    assert graph.direct_import_exists(importer="config_manager.providers.base", imported="config_manager.errors")
    # an import under ``if TYPE_CHECKING:`` (indented, not at the top of the module) counts as well
    assert graph.direct_import_exists(importer="config_manager.sources.base", imported="config_manager.secrets.manager")
