"""The example manifests in examples/*.yaml are accepted by the real apiserver (server-side dry run)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.cluster
EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "examples").glob("*.yaml"))


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_example_is_accepted_by_the_apiserver(path: Path, cluster: Any, namespace: str, crds: None) -> None:
    result = cluster.kubectl("apply", "--dry-run=server", "-n", namespace, "-f", str(path))
    assert "created (server dry run)" in result.stdout
