"""``make demo``: the whole product on this machine, with nothing but Python, Go and the local store.

Brings up the real local control plane, installs the CRDs, puts a local encrypted store into the
``demo`` namespace the way a user would (``configmanager store`` on a file, then ``kubectl create
secret --from-file``), starts the operator, applies ``examples/demo/demo.yaml`` and shows what the
operator wrote. Secret values are generated at random and never printed: the demo shows keys, sizes
and the masked ConfigMaps. It then keeps everything running until Ctrl-C (``--exit`` stops at once).
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from .devcluster import ControlPlaneError, ControlPlaneSettings, LocalControlPlane, MissingBinaryError
from .devcluster.binaries import REPO_ROOT, find_kubectl

NAMESPACE = "demo"
MANIFEST = REPO_ROOT / "examples" / "demo" / "demo.yaml"


class DemoError(RuntimeError):
    """A demo step failed; the message says which and what it printed."""


def _say(text: str) -> None:
    print(f"\n==> {text}", flush=True)


class Demo:
    def __init__(self, plane: LocalControlPlane, workdir: Path) -> None:
        self.plane = plane
        self.workdir = workdir
        self.env = {**os.environ, "KUBECONFIG": str(plane.kubeconfig)}
        self.operator: subprocess.Popen[bytes] | None = None
        self.operator_log = workdir / "operator.log"

    def run(self, argv: list[str], *, show: bool = True, stdin: str | None = None) -> str:
        if show:
            print(f"$ {' '.join(Path(argv[0]).name if i == 0 else a for i, a in enumerate(argv))}", flush=True)
        result = subprocess.run(argv, env=self.env, input=stdin, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise DemoError(f"{' '.join(argv[:3])} ... failed ({result.returncode}): {result.stderr.strip()}")
        return result.stdout

    def kubectl(self, *args: str, show: bool = True) -> str:
        return self.run([str(find_kubectl()), *args], show=show)

    def configmanager(self, *args: str, stdin: str | None = None) -> str:
        return self.run([str(Path(sys.executable).parent / "configmanager"), *args], stdin=stdin)

    def install_crds(self) -> None:
        _say("Installing the CRDs (kubectl apply --server-side -f crds/)")
        print(self.kubectl("apply", "--server-side", "-f", str(REPO_ROOT / "crds")), end="")
        self.kubectl("wait", "--for", "condition=Established", "--timeout", "60s", "crd", "-l",
                     "app.kubernetes.io/part-of=config-manager", show=False)

    def create_local_store(self) -> None:
        _say("Creating a local encrypted store with the configmanager CLI (values generated, never shown)")
        store, key = self.workdir / "secrets.enc", self.workdir / "secrets.key"
        self.configmanager("store", "init", "--store", str(store), "--key-file", str(key))
        values = {
            "database/username": "app",
            "database/password": secrets.token_urlsafe(18),
            "stripe/api-key": "sk_demo_" + secrets.token_hex(12),
        }
        for name, value in values.items():
            self.configmanager("store", "set", "--store", str(store), "--key-file", str(key), "--stdin",
                               "-m", "tier=restricted", name, stdin=value)
        print(self.configmanager("store", "list", "--store", str(store), "--key-file", str(key)), end="")
        _say(f"Putting the store into namespace '{NAMESPACE}' as two Secrets (blob and key)")
        self.kubectl("create", "namespace", NAMESPACE)
        self.kubectl("-n", NAMESPACE, "create", "secret", "generic", "demo-store", f"--from-file=secrets.enc={store}")
        self.kubectl("-n", NAMESPACE, "create", "secret", "generic", "demo-store-key", f"--from-file=key={key}")

    def start_operator(self) -> None:
        _say(f"Starting the operator (python -m config_manager.k8s; log: {self.operator_log})")
        log = self.operator_log.open("ab")
        self.operator = subprocess.Popen(
            [sys.executable, "-m", "config_manager.k8s", "--all-namespaces", "--standalone", "--startup-spread=0"],
            env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        log.close()

    def apply_example(self) -> None:
        _say(f"Applying {MANIFEST.relative_to(REPO_ROOT)}")
        print(self.kubectl("apply", "-f", str(MANIFEST)), end="")

    def wait_ready(self, timeout: float = 90.0) -> None:
        _say("Waiting for the ManagedSecret and the ConfigBundle to become Ready")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.operator is not None and self.operator.poll() is not None:
                raise DemoError(f"the operator exited ({self.operator.returncode}); see {self.operator_log}")
            out = self.kubectl("-n", NAMESPACE, "get", "managedsecrets,configbundles", "-o", "json", show=False)
            items = json.loads(out)["items"]
            ready = [any(c.get("type") == "Ready" and c.get("status") == "True"
                         for c in (i.get("status") or {}).get("conditions", [])) for i in items]
            if items and all(ready):
                return
            time.sleep(0.5)
        raise DemoError(f"not Ready after {timeout:.0f}s; see {self.operator_log} and "
                        f"kubectl -n {NAMESPACE} describe managedsecrets,configbundles")

    def show(self) -> None:
        _say("What the operator reports")
        print(self.kubectl("-n", NAMESPACE, "get", "secretstores,managedsecrets,configbundles"), end="")
        _say("The Secrets it wrote (keys and sizes; values stay in the cluster)")
        for name in ("database-credentials", "web-secret"):
            data = json.loads(self.kubectl("-n", NAMESPACE, "get", "secret", name, "-o", "json"))["data"]
            for key, encoded in sorted(data.items()):
                print(f"  {name}: {key} ({len(base64.b64decode(encoded))} bytes)")
        _say("The masked ConfigMaps (safe to show to anyone who may read config)")
        for name in ("database-credentials-masked", "web"):
            data = json.loads(self.kubectl("-n", NAMESPACE, "get", "configmap", name, "-o", "json"))["data"]
            for key, value in sorted(data.items()):
                print(f"  {name}: {key}:" + ("\n    " + value.rstrip().replace("\n", "\n    ") if "\n" in value else f" {value}"))

    def stop(self) -> None:
        if self.operator is not None and self.operator.poll() is None:
            os.killpg(self.operator.pid, signal.SIGTERM)
            try:
                self.operator.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.operator.pid, signal.SIGKILL)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m config_manager.demo", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--exit", action="store_true", help="stop everything after showing the result")
    args = parser.parse_args(argv)

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    workdir = Path(tempfile.mkdtemp(prefix="cm-demo-"))
    _say("Starting the local control plane (etcd, kube-apiserver, kube-controller-manager)")
    plane = LocalControlPlane(ControlPlaneSettings())
    demo: Demo | None = None
    try:
        plane.start()
        print(f"Kubernetes {plane.version()} at {plane.server}")
        demo = Demo(plane, workdir)
        demo.install_crds()
        demo.create_local_store()
        demo.start_operator()
        demo.apply_example()
        demo.wait_ready()
        demo.show()
        if not args.exit:
            kubeconfig = workdir / "kubeconfig"
            shutil.copyfile(plane.kubeconfig, kubeconfig)
            _say("Running. In another shell:")
            print(f"  export KUBECONFIG={kubeconfig}")
            print(f"  kubectl -n {NAMESPACE} get managedsecrets,configbundles")
            print(f"  kubectl -n {NAMESPACE} annotate managedsecret database configmanager.io/force-sync=$(date +%s) --overwrite")
            print("Press Ctrl-C to stop everything.", flush=True)
            try:
                stop.wait()
            except KeyboardInterrupt:
                pass
        return 0
    except (MissingBinaryError, ControlPlaneError, DemoError) as exc:
        print(f"demo: {exc}", file=sys.stderr)
        return 1
    finally:
        if demo is not None:
            demo.stop()
        plane.stop()
        shutil.rmtree(workdir, ignore_errors=True)
        print("\ndemo: stopped; everything removed", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
