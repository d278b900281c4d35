"""The node's container runtime: Debian's containerd, run by us with a config of our own.

Everything it keeps (root, state, the Pods' network namespaces, its socket) lives in the node's own
folder, so several nodes on one machine do not meet and teardown knows exactly what is ours. Two
settings matter on these machines: ``restrict_oom_score_adj`` (there is no CAP_SYS_RESOURCE, so runc
may not lower oom_score_adj) and runc with cgroupfs. Images are imported from docker-archive tarballs
(``images.py``); nothing is ever pulled.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

from ..errors import ConfigManagerError
from .processes import ManagedProcess

CNI_BIN_DIR = Path("/usr/lib/cni")
# containerd 1.6's shims put their sockets under this fixed folder whatever the config says; emptied
# folders there are removed at stop (rmdir only: another containerd's live sockets are never touched).
SHARED_STATE = Path("/run/containerd")


class ContainerRuntimeError(ConfigManagerError):
    """containerd did not start, or an image could not be imported; the message quotes its log."""


def _find(name: str, hint: str) -> str:
    found = shutil.which(name) or (f"/usr/sbin/{name}" if os.access(f"/usr/sbin/{name}", os.X_OK) else None)
    if not found:
        raise ContainerRuntimeError(f"{name} not found: {hint} (tools/install-node-deps.sh installs it)")
    return found


def containerd_config(folder: Path, cni_conf_dir: Path, sandbox_image: str) -> str:
    """containerd 1.6's config (version 2) for one node."""
    return f"""version = 2
root = "{folder / 'root'}"
state = "{folder / 'state'}"
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs",
                    "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs",
                    "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]
[grpc]
  address = "{folder / 'containerd.sock'}"
[ttrpc]
  address = "{folder / 'containerd.ttrpc.sock'}"
[debug]
  level = "info"
[plugins."io.containerd.internal.v1.opt"]
  path = "{folder / 'opt'}"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{sandbox_image}"
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  enable_selinux = false
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = "{folder / 'runc'}"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "{CNI_BIN_DIR}"
    conf_dir = "{cni_conf_dir}"
    max_conf_num = 1
"""


class Containerd:
    """One containerd process for one node; ``stop()`` also ends its shims and unmounts what it mounted."""

    def __init__(self, folder: Path, cni_conf_dir: Path, sandbox_image: str) -> None:
        self.folder = folder
        self.socket = folder / "containerd.sock"
        self._binary = _find("containerd", "Debian package containerd")
        self._ctr = _find("ctr", "Debian package containerd")
        _find("runc", "Debian package runc")
        if not (CNI_BIN_DIR / "bridge").exists():
            raise ContainerRuntimeError(f"CNI plugins missing in {CNI_BIN_DIR}: Debian package containernetworking-plugins")
        folder.mkdir(parents=True, exist_ok=True)
        self.config = folder / "config.toml"
        self.config.write_text(containerd_config(folder, cni_conf_dir, sandbox_image))
        self.process: ManagedProcess | None = None

    def start(self, timeout: float = 60.0) -> None:
        """Start containerd and wait until its socket answers."""
        self.process = ManagedProcess("containerd", [self._binary, "--config", str(self.config)],
                                      self.folder.parent / "containerd.log")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.process.running():
                raise ContainerRuntimeError(f"containerd exited with code {self.process.process.returncode} while starting; "
                                    f"last lines of {self.process.log_file}:\n{self.process.log_tail()}")
            if self.socket.exists() and self.ctr("version", check=False).returncode == 0:
                return
            time.sleep(0.2)
        raise ContainerRuntimeError(f"containerd not ready within {timeout:.0f}s; last lines of "
                            f"{self.process.log_file}:\n{self.process.log_tail()}")

    def ctr(self, *args: str, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        """Run ``ctr`` against this containerd in the CRI namespace (k8s.io)."""
        argv = [self._ctr, "--address", str(self.socket), "--namespace", "k8s.io", *args]
        result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)  # noqa: S603
        if check and result.returncode != 0:
            raise ContainerRuntimeError(f"ctr {' '.join(args)} failed ({result.returncode}): {result.stderr.strip()}")
        return result

    def import_image(self, archive: Path) -> None:
        """Load a docker-archive tarball into the CRI namespace (so the kubelet sees it)."""
        self.ctr("images", "import", str(archive))

    def _shim_pids(self) -> list[int]:
        """Shims started by this containerd (they name its socket on their command line)."""
        pids = []
        needle = str(self.socket).encode()
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if b"containerd-shim" in cmdline and needle in cmdline:
                pids.append(int(entry.name))
        return pids

    def stop(self) -> list[str]:
        """Kill every task, stop containerd and its shims, unmount what is left under the folder."""
        problems: list[str] = []
        if self.process and self.process.running():
            tasks = self.ctr("tasks", "ls", "-q", check=False).stdout.split()
            for task in tasks:
                self.ctr("tasks", "kill", "-s", "SIGKILL", task, check=False)
            for task in tasks:
                for _ in range(50):
                    if self.ctr("tasks", "delete", task, check=False).returncode == 0:
                        break
                    time.sleep(0.1)
            self.process.stop()
        for pid in self._shim_pids():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        problems += unmount_under(self.folder)
        remove_empty_dirs(SHARED_STATE)
        return problems


def unmount_under(folder: Path) -> list[str]:
    """Unmount every mount point below ``folder`` (deepest first); returns the ones that stayed."""
    prefix = str(folder.resolve()) + "/"
    points = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = line.split()[4].replace("\\040", " ")
        if point.startswith(prefix):
            points.append(point)
    problems = []
    for point in sorted(set(points), key=len, reverse=True):
        result = subprocess.run(["umount", "-l", point], capture_output=True, text=True, check=False)  # noqa: S603
        if result.returncode != 0 and "not mounted" not in result.stderr:
            problems.append(f"umount {point}: {result.stderr.strip()}")
    return problems


def remove_empty_dirs(root: Path) -> None:
    """rmdir ``root`` and the folders below it that are empty (deepest first); anything in use stays."""
    if not root.is_dir():
        return
    for folder in sorted((p for p in root.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True):
        try:
            folder.rmdir()
        except OSError:
            pass
    try:
        root.rmdir()
    except OSError:
        pass


def other_kubelets() -> bool:
    """Whether another kubelet runs on this machine (then its iptables chains stay)."""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                argv0 = (entry / "cmdline").read_bytes().split(b"\0", 1)[0]
            except OSError:
                continue
            if Path(argv0.decode(errors="replace")).name.startswith("kubelet"):
                return True
    return False
