"""Container images without a registry: docker-archive tarballs the node's containerd imports.

No registry is reachable here, so every image a node runs is made on this machine: the sandbox
("pause") image from a few lines of C compiled statically, a workload image from Debian's
``busybox-static``, and the operator image by ``tools/build-image.sh`` (which uses ``write_archive``
too, through ``python -m config_manager.devcluster.images``). An archive holds ``manifest.json``, one
image config and uncompressed layer tars: what ``docker save`` writes and ``ctr images import`` reads.
Archives are cached under ``<cache>/images`` by a hash of what went into them.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ConfigurationError
from .binaries import cache_dir

PAUSE_IMAGE = "config-manager-pause:1"
BUSYBOX_IMAGE = "config-manager-busybox:1"
BUSYBOX_BINARY = Path("/bin/busybox")

# Waits for SIGTERM/SIGINT and reaps children: all a Pod sandbox's first process has to do.
_PAUSE_C = r"""
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>
static void quit(int sig) { (void)sig; _exit(0); }
static void reap(int sig) { (void)sig; while (waitpid(-1, NULL, WNOHANG) > 0) {} }
int main(void) {
  signal(SIGTERM, quit); signal(SIGINT, quit); signal(SIGCHLD, reap);
  for (;;) pause();
}
"""


class ImageBuildError(ConfigurationError):
    """An image could not be made; the message names the step and the tool that failed."""


@dataclass
class ImageConfig:
    """The parts of an OCI image config the node needs."""

    entrypoint: list[str] = field(default_factory=list)
    cmd: list[str] = field(default_factory=list)
    env: list[str] = field(default_factory=lambda: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"])
    user: str = ""
    workdir: str = "/"
    labels: dict[str, str] = field(default_factory=dict)
    exposed_ports: list[str] = field(default_factory=list)


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def layer_from_dir(root: Path, out: Path) -> Path:
    """An uncompressed layer tar of a folder (paths relative to it, owners and modes kept)."""
    with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as tar:
        for child in sorted(root.iterdir()):
            tar.add(child, arcname=child.name)
    return out


def write_archive(out: Path, tag: str, layers: Sequence[Path], config: ImageConfig) -> Path:
    """Write a docker-archive (``docker save`` format) of uncompressed layer tars, bottom layer first."""
    diff_ids = [f"sha256:{_sha256_file(layer)}" for layer in layers]
    container_config: dict[str, object] = {"Env": config.env, "WorkingDir": config.workdir}
    if config.entrypoint:
        container_config["Entrypoint"] = config.entrypoint
    if config.cmd:
        container_config["Cmd"] = config.cmd
    if config.user:
        container_config["User"] = config.user
    if config.labels:
        container_config["Labels"] = config.labels
    if config.exposed_ports:
        container_config["ExposedPorts"] = {port: {} for port in config.exposed_ports}
    image_config = {
        "architecture": "amd64", "os": "linux", "config": container_config,
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": [{"created_by": "config-manager devcluster.images"} for _ in layers],
    }
    config_bytes = json.dumps(image_config, sort_keys=True).encode()
    config_name = f"{hashlib.sha256(config_bytes).hexdigest()}.json"
    layer_names = [f"{diff_id.removeprefix('sha256:')}/layer.tar" for diff_id in diff_ids]
    manifest = [{"Config": config_name, "RepoTags": [tag], "Layers": layer_names}]
    tmp = out.with_suffix(".tmp")
    with tarfile.open(tmp, "w") as tar:
        def add_bytes(name: str, data: bytes) -> None:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        add_bytes(config_name, config_bytes)
        for name, layer in zip(layer_names, layers, strict=True):
            tar.add(layer, arcname=name)
        add_bytes("manifest.json", json.dumps(manifest).encode())
    tmp.replace(out)
    return out


def _images_dir() -> Path:
    folder = cache_dir() / "images"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _run(step: str, argv: list[str]) -> None:
    result = subprocess.run(argv, capture_output=True, text=True, check=False)  # noqa: S603 - argv is ours
    if result.returncode != 0:
        raise ImageBuildError(f"{step} failed ({' '.join(argv[:2])} exit {result.returncode}): {result.stderr.strip()[-2000:]}")


def pause_archive() -> Path:
    """The sandbox image: a static pause binary, built once with gcc and cached by its source's hash."""
    key = hashlib.sha256(_PAUSE_C.encode()).hexdigest()[:16]
    out = _images_dir() / f"pause-{key}.tar"
    if out.exists():
        return out
    if not shutil.which("gcc"):
        raise ImageBuildError("the pause image needs gcc and libc6-dev (tools/install-node-deps.sh installs them)")
    with tempfile.TemporaryDirectory(prefix="cm-pause-") as tmp:
        work = Path(tmp)
        (work / "pause.c").write_text(_PAUSE_C)
        root = work / "root"
        root.mkdir()
        _run("compiling the pause binary", ["gcc", "-static", "-Os", "-s", "-o", str(root / "pause"), str(work / "pause.c")])
        layer = layer_from_dir(root, work / "layer.tar")
        return write_archive(out, PAUSE_IMAGE, [layer], ImageConfig(entrypoint=["/pause"], env=[]))


def busybox_archive() -> Path:
    """A small workload image: Debian's static busybox with a link per applet in /bin."""
    if not BUSYBOX_BINARY.exists():
        raise ImageBuildError(f"{BUSYBOX_BINARY} is missing: install Debian's busybox-static (tools/install-node-deps.sh)")
    key = _sha256_file(BUSYBOX_BINARY)[:16]
    out = _images_dir() / f"busybox-{key}.tar"
    if out.exists():
        return out
    applets = subprocess.run([str(BUSYBOX_BINARY), "--list"], capture_output=True, text=True, check=True).stdout.split()
    with tempfile.TemporaryDirectory(prefix="cm-busybox-") as tmp:
        work = Path(tmp)
        root = work / "root"
        for folder in ("bin", "tmp", "etc"):
            (root / folder).mkdir(parents=True)
        (root / "tmp").chmod(0o1777)
        shutil.copy2(BUSYBOX_BINARY, root / "bin" / "busybox")
        for applet in applets:
            if applet != "busybox":
                (root / "bin" / applet).symlink_to("busybox")
        (root / "etc" / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n")
        (root / "etc" / "group").write_text("root:x:0:\nnobody:x:65534:\n")
        layer = layer_from_dir(root, work / "layer.tar")
        return write_archive(out, BUSYBOX_IMAGE, [layer], ImageConfig(cmd=["sh"], env=["PATH=/bin"]))


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m config_manager.devcluster.images OUT TAG LAYER... [--config JSON]``: write an archive."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("tag")
    parser.add_argument("layers", type=Path, nargs="+")
    parser.add_argument("--config", default="{}", help="ImageConfig fields as JSON")
    args = parser.parse_args(argv)
    write_archive(args.out, args.tag, args.layers, ImageConfig(**json.loads(args.config)))


if __name__ == "__main__":
    main()
