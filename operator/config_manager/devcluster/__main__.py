"""``python -m config_manager.devcluster``: run the local control plane until interrupted.

Prints the admin kubeconfig path (and copies it to ``--kubeconfig-out`` when given) so that kubectl,
helm and the operator can be pointed at it from another shell. ``--node`` (as root) adds a real node
(kubelet + containerd) and kube-scheduler; ``--image ARCHIVE`` (repeatable) loads docker-archives built
by ``tools/build-image.sh`` into it, so ``helm install`` of the chart runs the operator as a Pod.
"""

from __future__ import annotations

import argparse
import shutil
import signal
import sys
import threading
from pathlib import Path

from .binaries import MissingBinaryError
from .controlplane import ControlPlaneError, ControlPlaneSettings, LocalControlPlane
from .node import NodeError
from .runtime import ContainerRuntimeError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m config_manager.devcluster", description=__doc__)
    parser.add_argument("--kubeconfig-out", type=Path, help="copy the admin kubeconfig here")
    parser.add_argument("--keep-dir", action="store_true", help="keep logs and certificates after stop")
    parser.add_argument("--node", action="store_true", help="add a node (kubelet + containerd; needs root)")
    parser.add_argument("--image", type=Path, action="append", default=[],
                        help="docker-archive to load into the node (with --node)")
    args = parser.parse_args(argv)

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    plane = LocalControlPlane(ControlPlaneSettings(keep_dir=args.keep_dir), nodes=1 if args.node else 0)
    try:
        plane.start()
        for archive in args.image:
            if plane.node is None:
                raise ControlPlaneError("--image needs --node")
            plane.node.import_image(archive)
    except (MissingBinaryError, ControlPlaneError, NodeError, ContainerRuntimeError) as exc:
        plane.stop()
        print(f"devcluster: {exc}", file=sys.stderr)
        return 1
    try:
        kubeconfig = plane.kubeconfig
        if args.kubeconfig_out:
            args.kubeconfig_out.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(kubeconfig, args.kubeconfig_out)
            args.kubeconfig_out.chmod(0o600)
            kubeconfig = args.kubeconfig_out
        print(f"devcluster: Kubernetes {plane.version()} ready at {plane.server}", flush=True)
        print(f"devcluster: export KUBECONFIG={kubeconfig}", flush=True)
        stop.wait()
    finally:
        plane.stop()
        print("devcluster: stopped", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
