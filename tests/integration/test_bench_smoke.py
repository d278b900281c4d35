"""The benchmark still runs: ``python -m bench`` with 20 ManagedSecrets, tiny windows, no plots.

The full bench (``make bench``) is not part of ``make test``; this keeps its code from rotting. It
starts its own control plane (audit log on, no controller manager) and checks the shape of the results
and the counts that do not depend on machine load.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.__main__ import main, parse
from bench.report import table

pytestmark = [pytest.mark.cluster, pytest.mark.slow]


def test_bench_quick_run_measures_every_figure(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--sizes", "20", "--quick", "--out", str(tmp_path)]) == 0
    results = json.loads((tmp_path / "results.json").read_text())
    names = {f["name"] for f in results["figures"]}
    for expected in ("raw baseline: Secret creates", "burst N=20: throughput / raw baseline",
                     "latency create->Secret p99 (idle)", "latency create->Secret p99 (refresh wave)",
                     "idle: mutating writes per hour (extrapolated)",
                     "refresh wave: API requests per re-synced object",
                     "rotation: provider change -> Secret, force-sync, max"):
        assert expected in names
    assert any(n.startswith("restart at ") and n.endswith(": mutating writes") for n in names)
    assert all(len(f["load"]) == 3 for f in results["figures"])
    burst = results["bursts"][-1]
    assert burst["n"] == 20 and len(burst["curve"]) == 20
    # a create costs the operator one Secret POST, one status PATCH and one Event (counts, not timings)
    assert results["per_create"]["create secrets"] == 1
    assert results["per_create"]["patch managedsecrets/status"] == 1
    assert [r["writes"] for r in results["restarts"]] == [0]
    assert "rotation: provider change" in table(results)
    assert "results.json" in capsys.readouterr().out


def test_quick_settings_are_small() -> None:
    config = parse(["--sizes", "20", "--quick"])
    assert config.sizes == (20,) and config.idle_window <= 5 and not config.plots and not config.profile
