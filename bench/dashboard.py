"""``python -m bench.dashboard``: one real operator run for the dashboard picture and the change-signal figure.

A fresh local control plane, the Key Vault test server (tools/azure-keyvault) and the operator process
with the change-event receiver on. While ``/metrics`` is scraped every 2 s:

1. **polling**: ``N`` ManagedSecrets, one Azure key each, ``refreshInterval: 15s`` (a scaled stand-in
   for 1m), plus ManagedSecrets holding certificates that expire in 1–30 days, one reading a missing key
   of the local store (sync errors, kept out of the Azure read counts), and a local-store ManagedSecret rotated every 15 s (1m scaled) that a Deployment uses
   (rotations and restarts); provider reads are counted over ``window`` seconds;
2. **change-driven**: the same ``N`` objects switched to ``refreshInterval: 1h``; over the same window
   one key changes every 15 s and a generic ``{store, key}`` event is posted for it (plus a few
   unauthenticated posts); provider reads are counted again.

Then the dashboard's panels are drawn from the scrapes (``dashboard_render``) into
docs/images/dashboard.png and the figures are printed and written to bench/results/change-signals.json.
Provider reads are ``configmanager_provider_request_duration_seconds_count{provider="azure",operation="get"}``.
"""

from __future__ import annotations

import argparse
import base64
import json
import re
import shutil
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from config_manager.devcluster import ControlPlaneSettings, LocalControlPlane
from config_manager.devcluster.processes import free_port
from config_manager.k8s.api.client import KubeApi
from config_manager.providers.azure import AzureKeyVaultSecrets
from tests.helpers.azure_server import start_key_vault_server
from tests.helpers.operator_process import OperatorProcess, make_local_store, wait_for
from tests.unit.k8s.test_expiry import self_signed

from .dashboard_render import render

REPO = Path(__file__).resolve().parents[1]
NS = "dash"
API = "configmanager.io/v1alpha1"


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


class Scraper(threading.Thread):
    """Scrapes the operator's /metrics every ``every`` seconds into ``scrapes``."""

    def __init__(self, url: str, every: float = 2.0) -> None:
        super().__init__(daemon=True)
        self.url, self.every = url, every
        self.scrapes: list[tuple[float, str]] = []
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.is_set():
            try:
                with urllib.request.urlopen(self.url, timeout=5) as resp:
                    self.scrapes.append((time.time(), resp.read().decode()))
            except OSError:
                pass
            self.stopped.wait(self.every)

    def last(self) -> str:
        with urllib.request.urlopen(self.url, timeout=5) as resp:
            return str(resp.read().decode())


def azure_gets(text: str) -> float:
    m = re.search(r'^configmanager_provider_request_duration_seconds_count\{operation="get",provider="azure"\} (\S+)$', text, re.M)
    return float(m.group(1)) if m else 0.0


def managed(name: str, store: str, keys: dict[str, str], refresh: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": API, "kind": "ManagedSecret", "metadata": {"name": name},
            "spec": {"storeRef": {"name": store}, "refreshInterval": refresh,
                     "data": [{"secretKey": k, "remoteRef": {"key": r}} for k, r in keys.items()], **spec}}


def post(url: str, doc: Any, token: str | None) -> int:
    headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})}
    request = urllib.request.Request(url, data=json.dumps(doc).encode(), method="POST", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def run(objects: int, window: float, out_png: Path, out_json: Path) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="cm-dash-"))
    plane = LocalControlPlane(ControlPlaneSettings(controller_manager=False))
    print("dashboard: starting a local control plane and the Key Vault test server", flush=True)
    plane.start()
    kv = start_key_vault_server()
    op: OperatorProcess | None = None
    scraper: Scraper | None = None
    try:
        kubectl = str(REPO / ".venv" / "bin" / "kubectl") if (REPO / ".venv/bin/kubectl").exists() else "kubectl"
        subprocess.run([kubectl, "--kubeconfig", str(plane.kubeconfig), "apply", "-f", str(REPO / "crds")], check=True,
                       capture_output=True)
        kube = KubeApi.from_environment(str(plane.kubeconfig))
        subprocess.run([kubectl, "--kubeconfig", str(plane.kubeconfig), "wait", "--for=condition=established", "--timeout=60s",
                        "crd/managedsecrets.configmanager.io", "crd/secretstores.configmanager.io"], check=True, capture_output=True)
        kube.create("namespaces", None, {"metadata": {"name": NS}})
        token = uuid.uuid4().hex
        (work / "token").write_text(token)
        hook_port = free_port()
        op = OperatorProcess(kubeconfig=plane.kubeconfig, log_path=work / "operator.log",
                             args=("--namespace", NS, "--standalone", "--log-level=info", "--read-cache-ttl=1",
                                   "--startup-spread=0.2", "--rotation-interval-scale=0.25"))
        op.start(f"--webhook-address=127.0.0.1:{hook_port}", f"--webhook-token-file={work / 'token'}", "--expiry-warning=240h",
                 env={"REQUESTS_CA_BUNDLE": str(kv.ca_file)})
        scraper = Scraper(f"http://127.0.0.1:{op.port}/metrics")
        scraper.start()
        hook = f"http://127.0.0.1:{hook_port}/events"

        vault = AzureKeyVaultSecrets(kv.vault_url, kv.credential, purge_on_delete=True, **kv.client_kwargs)
        client_id, secret = "app-dash", uuid.uuid4().hex
        kv.add_principal(client_id, secret=secret)
        kube.create("secrets", NS, {"metadata": {"name": "azure-sp"}, "data": {"client-id": b64(client_id), "client-secret": b64(secret)}})
        kube.create("secretstores", NS, {"apiVersion": API, "kind": "SecretStore", "metadata": {"name": "azure"}, "spec": {"provider": {"azure": {
            "vaultUrl": kv.vault_url, "tenantId": kv.tenant_id, "environmentType": "AzureStackCloud",
            "customCloudConfig": {"activeDirectoryEndpoint": kv.authority_host}, "authType": "ServicePrincipal",
            "authSecretRef": {"clientId": {"name": "azure-sp", "key": "client-id"},
                              "clientSecret": {"name": "azure-sp", "key": "client-secret"}}}}}})
        for i in range(objects):
            vault.set(f"app-{i}", f"value-{i}-0")
        now = datetime.now(timezone.utc)
        for days in (1, 3, 7, 14, 30):
            vault.set(f"tls-{days}d", self_signed(now + timedelta(days=days)).decode())
        # the local store: a rotated key that a Deployment uses (rotations and restarts)
        make_local_store(kube, NS)
        kube.create("managedsecrets", NS, {"apiVersion": API, "kind": "ManagedSecret", "metadata": {"name": "rotated"},
                                           "spec": {"storeRef": {"name": "local"}, "refreshInterval": "1h",
                                                    "rotation": {"interval": "1m", "keys": ["api-key"],
                                                                 "generators": {"api-key": {"type": "token", "length": 32}}}}})
        kube.create("deployments", NS, {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "api"}, "spec": {
            "replicas": 1, "selector": {"matchLabels": {"app": "api"}}, "template": {"metadata": {"labels": {"app": "api"}}, "spec": {
                "containers": [{"name": "api", "image": "registry.invalid/api:1",
                                "env": [{"name": "KEY", "valueFrom": {"secretKeyRef": {"name": "rotated", "key": "api-key"}}}]}]}}}})

        # phase 1: polling
        print(f"dashboard: phase 1, {objects} objects polling every 15s for {window:.0f}s", flush=True)
        for i in range(objects):
            kube.create("managedsecrets", NS, managed(f"app-{i}", "azure", {"v": f"app-{i}"}, "15s"))
        for days in (1, 3, 7, 14, 30):
            kube.create("managedsecrets", NS, managed(f"tls-{days}d", "azure", {"tls.crt": f"tls-{days}d"}, "1h"))
        # sync errors on the local store, so its retries (every few seconds) stay out of the Azure read counts
        kube.create("managedsecrets", NS, managed("broken", "local", {"v": "no-such-key"}, "15s"))
        wait_for(lambda: all((kube.get("secrets", NS, f"app-{i}") is not None) for i in range(objects)), timeout=120,
                 what="every Secret")
        start_gets, start = azure_gets(scraper.last()), time.monotonic()
        time.sleep(window)  # a measurement window: the figure is what happens in it
        polling = azure_gets(scraper.last()) - start_gets
        polling_seconds = time.monotonic() - start

        # phase 2: long refresh + change events
        print(f"dashboard: phase 2, refreshInterval 1h + change events for {window:.0f}s", flush=True)
        for i in range(objects):
            kube.patch("managedsecrets", NS, f"app-{i}", {"spec": {"refreshInterval": "1h"}})
        time.sleep(10)  # let the spec-change passes (one read each, not part of the window) finish
        start_gets, start = azure_gets(scraper.last()), time.monotonic()
        changes, latencies = 0, []
        while time.monotonic() - start < window:
            i = changes % objects
            changes += 1
            new = f"value-{i}-{changes}"
            vault.set(f"app-{i}", new)
            sent = time.monotonic()
            assert post(hook, {"store": {"kind": "SecretStore", "name": "azure", "namespace": NS}, "key": f"app-{i}"}, token) == 202
            post(hook, {"store": {"kind": "SecretStore", "name": "azure", "namespace": NS}, "key": f"app-{i}"}, None)  # refused
            wait_for(lambda i=i, new=new: (base64.b64decode((kube.get("secrets", NS, f"app-{i}") or {}).get("data", {}).get("v", "")).decode() == new),
                     timeout=30, interval=0.02, what="changed value")
            latencies.append(time.monotonic() - sent)
            time.sleep(max(0.0, 15.0 - (time.monotonic() - sent)))
        hooked = azure_gets(scraper.last()) - start_gets
        hooked_seconds = time.monotonic() - start
        scraper.stopped.set()
        scraper.join(5)
        titles = render(scraper.scrapes, out_png)
        per_hour_poll_1m = objects * 60
        result = {
            "objects": objects, "window_s": window,
            "polling_15s_reads": polling, "polling_window_s": round(polling_seconds, 1),
            "polling_15s_reads_per_object_per_interval": round(polling / objects / (polling_seconds / 15.0), 3),
            "webhook_1h_reads": hooked, "webhook_window_s": round(hooked_seconds, 1), "changes": changes,
            "webhook_reads_per_change": round(hooked / changes, 3) if changes else None,
            "event_to_secret_ms": sorted(round(x * 1000) for x in latencies),
            "per_hour_polling_1m_reads": per_hour_poll_1m,
            "per_hour_webhook_1h_reads_with_c_changes": f"{objects} + {round(hooked / changes, 2) if changes else 0} x c",
            "panels": titles, "scrapes": len(scraper.scrapes),
        }
        out_json.parent.mkdir(parents=True, exist_ok=True)
        out_json.write_text(json.dumps(result, indent=2) + "\n")
        print(json.dumps(result, indent=2), flush=True)
        vault.close()
        return result
    finally:
        if scraper is not None:
            scraper.stopped.set()
        if op is not None:
            op.stop()
            shutil.copyfile(work / "operator.log", out_json.parent / "change-signals-operator.log")
        kv.stop()
        plane.stop()
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.dashboard", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--objects", type=int, default=30)
    parser.add_argument("--window", type=float, default=90.0)
    parser.add_argument("--png", type=Path, default=REPO / "docs" / "images" / "dashboard.png")
    parser.add_argument("--json", type=Path, default=REPO / "bench" / "results" / "change-signals.json")
    args = parser.parse_args()
    run(args.objects, args.window, args.png, args.json)


if __name__ == "__main__":
    main()
