"""examples/secrets_usage.py runs offline and prints no secret value."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "secrets_usage.py"


def test_example_runs_and_masks_everything(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, str(EXAMPLE)], capture_output=True, text=True, timeout=120,
                            cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.rstrip().endswith("done")
    assert "connecting with password [MASKED]" in out
    assert out.count("[MASKED]") >= 6
    # the example's generated values have these shapes; none may be printed
    for pattern in (r"sk-[0-9a-f]{32}", r"(mail|cache|smtp)-[0-9a-f]{16}"):
        assert not re.search(pattern, out), pattern
    assert list(tmp_path.iterdir()) == []  # worked in its own temporary folder
