"""The README's first command works: `make demo` (python -m config_manager.demo) reaches Ready and
shows the Secret keys and masked ConfigMaps without printing a secret value."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.cluster, pytest.mark.slow]
REPO = Path(__file__).resolve().parents[2]


def test_demo_runs_end_to_end_and_prints_no_secret() -> None:
    result = subprocess.run([sys.executable, "-m", "config_manager.demo", "--exit"], cwd=REPO,
                            capture_output=True, text=True, timeout=300, check=False)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert re.search(r"managedsecret.configmanager.io/database\s+demo-store\s+1m\s+True\s+SecretSynced", output)
    assert re.search(r"configbundle.configmanager.io/web\s+2\s+2\s+True\s+ConfigSynced", output)
    assert "database-credentials: password (24 bytes)" in output
    assert "database-credentials-masked: password: [MASKED]" in output
    assert "api_key: '[MASKED]'" in output
    # The demo generates its values with secrets.token_urlsafe(18) / token_hex(12); none may be shown.
    assert not re.search(r"sk_demo_[0-9a-f]{24}", output)
    assert "everything removed" in output
