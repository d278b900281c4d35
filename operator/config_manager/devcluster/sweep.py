"""Clean up after a local cluster with a node whose test run was killed before it could stop it.

The components die with their parent (``processes.py``), but containerd's shims and the containers
under them are reparented and live on, and the bridge and NAT chain stay. Each node cluster writes
``network.json`` into its folder; a folder in the temp dir that has one and no live component (a process
other than a shim naming the folder) is stale: its shims are killed, its mounts undone, its bridge and
chain deleted and the folder removed. Called before a new node cluster starts.
"""

from __future__ import annotations

import ipaddress
import json
import os
import shutil
import signal
import tempfile
from pathlib import Path

from .network import PodNetwork, remove_kubelet_chains
from .runtime import SHARED_STATE, other_kubelets, remove_empty_dirs, unmount_under

PREFIX = "cm-controlplane-"
STATE_FILE = "network.json"


def _processes_naming(folder: Path) -> tuple[list[int], list[int]]:
    """(component pids, shim pids) whose command line names ``folder``."""
    needle = str(folder).encode()
    components: list[int] = []
    shims: list[int] = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if needle in cmdline:
            (shims if b"containerd-shim" in cmdline else components).append(int(entry.name))
    return components, shims


def _container_pids(folder: Path) -> list[int]:
    """The init pids runc recorded for the node's containers (runc's state lives in the node folder)."""
    pids = []
    for state in folder.glob("node/containerd/runc/*/*/state.json"):
        try:
            pid = int(json.loads(state.read_text()).get("init_process_pid") or 0)
        except (OSError, ValueError):
            continue
        if pid > 1:
            pids.append(pid)
    return pids


def _remove_dead_shim_sockets() -> None:
    """Socket files of killed shims: no process has them open (they are not in /proc/net/unix)."""
    folder = SHARED_STATE / "s"
    if not folder.is_dir():
        return
    live = {line.split()[-1] for line in Path("/proc/net/unix").read_text().splitlines()[1:] if len(line.split()) > 7}
    for sock in folder.iterdir():
        if sock.is_socket() and str(sock) not in live:
            sock.unlink(missing_ok=True)


def record(folder: Path, network: PodNetwork) -> None:
    """Note the cluster's bridge in its folder, for ``sweep_stale``."""
    (folder / STATE_FILE).write_text(json.dumps({"bridge": network.bridge, "subnet": str(network.subnet)}))


def sweep_stale(parent: Path | None = None) -> list[str]:
    """Remove what killed node clusters left behind; returns the folders swept."""
    swept = []
    for folder in sorted((parent or Path(tempfile.gettempdir())).glob(f"{PREFIX}*")):
        state = folder / STATE_FILE
        if not state.is_file():
            continue
        components, shims = _processes_naming(folder)
        if components:
            continue  # alive
        # Each container's first process (its PID namespace goes with it), then the shims.
        for pid in [*_container_pids(folder), *shims]:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        unmount_under(folder)
        saved = json.loads(state.read_text())
        PodNetwork(bridge=saved["bridge"], subnet=ipaddress.IPv4Network(saved["subnet"]), created=True).delete()
        shutil.rmtree(folder, ignore_errors=True)
        swept.append(str(folder))
    if swept and not other_kubelets():
        remove_kubelet_chains()
        _remove_dead_shim_sockets()
        remove_empty_dirs(SHARED_STATE)
    return swept
