"""Starting and stopping the local control plane leaves nothing behind, and failures name what is missing."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from config_manager.devcluster import ControlPlaneError, ControlPlaneSettings, LocalControlPlane, MissingBinaryError
from config_manager.devcluster.binaries import Binaries, find_all, find_component

pytestmark = pytest.mark.cluster


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_stop_kills_every_component_and_removes_the_folder(tmp_path: Path) -> None:
    plane = LocalControlPlane(ControlPlaneSettings(base_dir=tmp_path))
    plane.start()
    pids, folder = plane.pids, plane.dir
    assert len(pids) == 3 and folder is not None and folder.exists()
    plane.stop()
    assert not any(_alive(pid) for pid in pids)
    assert not folder.exists()
    plane.stop()  # idempotent


def test_missing_binary_is_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CONFIG_MANAGER_BIN_DIR", str(tmp_path))
    with pytest.raises(MissingBinaryError, match="etcd not found in CONFIG_MANAGER_BIN_DIR"):
        find_all()


def test_component_that_cannot_start_is_named_with_its_log(tmp_path: Path) -> None:
    real = find_all(build_missing=False)
    broken = tmp_path / "kube-apiserver"
    broken.write_text("#!/bin/sh\necho 'simulated start-up failure' >&2\nexit 3\n")
    broken.chmod(0o755)
    plane = LocalControlPlane(
        ControlPlaneSettings(base_dir=tmp_path, start_timeout=20),
        binaries=Binaries(real.etcd, broken, real.kube_controller_manager, real.kubectl),
    )
    with pytest.raises(ControlPlaneError) as failure:
        plane.start()
    message = str(failure.value)
    assert "kube-apiserver exited with code 3" in message
    assert "simulated start-up failure" in message
    assert plane.dir is None and plane.pids == []
    assert find_component("etcd", build_missing=False) == real.etcd
