"""``python -m bench.shards``: the same load on one replica and on two replicas with ``--shards 2``.

On a fresh local control plane with an audit log, for each setup in turn (fresh namespaces each time,
the operators serving only those): one local store per namespace, the replicas started (one with
``--leader-election``, the chart's default; or two with ``--shards=2``, each with a client certificate
of its own so the audit log tells their requests apart) and, once the shard plan is settled, ``--objects``
ManagedSecrets created across ``--namespaces`` namespaces as fast as the apiserver takes them. Measured
per replica: operator CPU seconds and API requests (by verb, from the audit log) for the burst, then the
requests of an idle window scaled to an hour (the Lease requests from the replica's own counters: the
audit policy leaves Leases out); and the burst's time until every object is Ready
with its Secret (the bench's own watches). Each figure carries the load average.

What 2 shards can and cannot split: reconciles (provider reads, the writes of each object) are done once,
by the shard's holder; every replica lists and watches every namespace, so the watch-event cost is paid
by both. Writes ``bench/results/shards.json``. Needs the built binaries (``make binaries``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from config_manager.devcluster import ControlPlaneSettings, LocalControlPlane
from config_manager.k8s.api.client import KubeApi
from config_manager.k8s.api.shards import shard_of
from tests.helpers.operator_process import OperatorProcess, make_local_store, wait_for

from .audit import AuditLog, apiserver_args, by_verb, writes
from .client import AsyncKube, WatchLog, wait_until, watch
from .run import KEYS, STORE, cpu_seconds, managed_secret, rss_mb

REPO = Path(__file__).resolve().parents[1]


def held(proc: OperatorProcess) -> list[int] | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{proc.port}/healthz", timeout=5) as resp:
            answer = json.loads(resp.read())
    except OSError:
        return None
    return list(answer.get("shards", [0] if answer.get("leader") else []))


def namespaces_for(tag: str, count: int, shards: int) -> list[str]:
    """``count`` namespace names, as many in each of ``shards`` shards as can be (an even load)."""
    names: list[str] = []
    per_shard = {i: 0 for i in range(shards)}
    index = 0
    while len(names) < count:
        name = f"{tag}-{index}"
        index += 1
        shard = shard_of(name, shards)
        if per_shard[shard] < -(-count // shards):
            per_shard[shard] += 1
            names.append(name)
    return names


class Setup:
    """One measured setup: its replicas (name -> process, audit user) and namespaces."""

    def __init__(self, plane: LocalControlPlane, work: Path, tag: str, replicas: int, shards: int, namespaces: int) -> None:
        self.tag, self.shards = tag, shards
        self.namespaces = namespaces_for(tag, namespaces, max(shards, 2))
        self.users = {f"{tag}-r{i}": f"{tag}-r{i}" for i in range(replicas)}
        election = ["--shards=2"] if shards > 1 else ["--leader-election"]
        self.procs = {
            name: OperatorProcess(
                kubeconfig=plane.user_kubeconfig(user, ("system:masters",)), log_path=work / f"{name}.log",
                args=(*(f"--namespace={ns}" for ns in self.namespaces), *election,
                      f"--leader-election-namespace={self.namespaces[0]}", f"--leader-election-id=cm-{tag}",
                      "--log-level=info", "--no-workload-tracking"))
            for name, user in self.users.items()}


async def measure(plane: LocalControlPlane, audit: AuditLog, kube: AsyncKube, setup: Setup, objects: int,
                  idle: float) -> dict[str, Any]:
    sync_kube = KubeApi.from_environment(str(plane.kubeconfig))
    secrets, managed = WatchLog(), WatchLog()
    tasks = []
    for ns in setup.namespaces:
        await kube.create("namespaces", None, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
        values = {f"g{g}-{k}": os.urandom(16).hex() for g in range(10) for k in KEYS}
        await asyncio.to_thread(make_local_store, sync_kube, ns, STORE, values)
        for resource, log in (("secrets", secrets), ("managedsecrets", managed)):
            started = asyncio.Event()
            tasks.append(asyncio.create_task(watch(kube, resource, ns, log, started)))
            await started.wait()
    try:
        for name, proc in setup.procs.items():
            await asyncio.to_thread(proc.start, env={"POD_NAME": name})
        want = sorted(range(max(1, setup.shards)))
        await asyncio.to_thread(wait_for, lambda: sorted(i for p in setup.procs.values() for i in (held(p) or [])) == want
                                and all(held(p) for p in setup.procs.values()), 90, 0.5, "the shard plan settled")
        mark = audit.mark()
        pids = {name: proc.proc.pid for name, proc in setup.procs.items() if proc.proc is not None}
        cpu0 = {name: cpu_seconds(pid) for name, pid in pids.items()}
        names = [f"ms-{i}" for i in range(objects)]
        start = time.monotonic()
        per_ns = {ns: [managed_secret(n, i % 10, "1h") for i, n in enumerate(names) if i % len(setup.namespaces) == k]
                  for k, ns in enumerate(setup.namespaces)}
        await asyncio.gather(*(kube.create_all("managedsecrets", ns, bodies) for ns, bodies in per_ns.items()))
        expected = {f"ms-{i}" for i in range(objects)}

        def synced() -> bool:
            return expected <= managed.ready.keys() and expected <= secrets.added.keys()

        await wait_until(synced, managed, max(300.0, objects * 0.2), f"{objects} ManagedSecrets synced")
        elapsed = time.monotonic() - start
        load_burst = os.getloadavg()
        cpu = {name: round(cpu_seconds(pid) - cpu0[name], 2) for name, pid in pids.items()}
        await asyncio.sleep(3)
        burst_requests = {name: audit.since(mark, user) for name, user in setup.users.items()}
        idle_mark = audit.mark()
        leases0 = {name: _lease_requests(proc) for name, proc in setup.procs.items()}
        await asyncio.sleep(idle)
        leases = {name: _lease_requests(proc) - leases0[name] for name, proc in setup.procs.items()}
        idle_requests = {name: audit.since(idle_mark, user) for name, user in setup.users.items()}
        replicas = {}
        for name in setup.procs:
            reqs = burst_requests[name]
            replicas[name] = {
                "shards": held(setup.procs[name]), "cpu_s": cpu[name], "rss_mb": round(rss_mb(pids[name]), 1),
                "requests": len(reqs), "writes": writes(reqs), "by_verb": by_verb(reqs),
                "idle_requests_per_h": round(len(idle_requests[name]) * 3600 / idle),
                "idle_by_verb": by_verb(idle_requests[name]),
                "idle_lease_requests_per_h": round(leases[name] * 3600 / idle),
            }
        total_cpu = sum(cpu.values())
        return {"setup": setup.tag, "replicas_n": len(setup.procs), "shards": setup.shards, "objects": objects,
                "namespaces": setup.namespaces, "all_synced_s": round(elapsed, 2), "per_s": round(objects / elapsed, 1),
                "cpu_ms_per_object_total": round(total_cpu / objects * 1000, 2),
                "cpu_ms_per_object_busiest": round(max(cpu.values()) / objects * 1000, 2),
                "load_burst": load_burst, "load_end": os.getloadavg(), "replicas": replicas}
    finally:
        for proc in setup.procs.values():
            proc.stop()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def _lease_requests(proc: OperatorProcess) -> float:
    """The replica's own count of Lease requests (the audit policy leaves Leases out)."""
    return sum(v for (_verb, resource), v in proc.metrics().items() if resource == "leases")


def _served(api: KubeApi) -> bool:
    try:
        api.list("secretstores", "default")
        api.list("managedsecrets", "default")
        return True
    except Exception:  # noqa: BLE001 - not established yet
        return False


def table(results: list[dict[str, Any]]) -> str:
    lines = ["| setup | objects | all synced | objects/s | CPU ms/object (all replicas) | busiest replica | "
             "per replica: CPU s / requests / writes / idle requests per h / idle Lease requests per h | load (1 min) |", "|---|---|---|---|---|---|---|---|"]
    for r in results:
        per = "; ".join(f"{n} {v['shards']}: {v['cpu_s']} / {v['requests']} / {v['writes']} / {v['idle_requests_per_h']} / {v['idle_lease_requests_per_h']}"
                        for n, v in r["replicas"].items())
        lines.append(f"| {r['replicas_n']} replica(s), shards {r['shards']} | {r['objects']} | {r['all_synced_s']} s | "
                     f"{r['per_s']} | {r['cpu_ms_per_object_total']} | {r['cpu_ms_per_object_busiest']} | {per} | "
                     f"{r['load_burst'][0]:.2f} |")
    return "\n".join(lines)


async def run(plane: LocalControlPlane, work: Path, objects: int, namespaces: int, idle: float) -> list[dict[str, Any]]:
    audit = AuditLog(work / "audit" / "audit.log")
    results = []
    async with AsyncKube(plane.user_kubeconfig("bench", ("system:masters",)), 48) as kube:
        for tag, replicas, shards in (("one", 1, 1), ("two", 2, 2)):
            print(f"bench.shards: {replicas} replica(s), shards {shards}: {objects} ManagedSecrets over {namespaces} namespaces",
                  flush=True)
            result = await measure(plane, audit, kube, Setup(plane, work, tag, replicas, shards, namespaces), objects, idle)
            print(json.dumps({k: v for k, v in result.items() if k != "namespaces"}), flush=True)
            results.append(result)
    return results


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(prog="python -m bench.shards", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--objects", type=int, default=4000, help="ManagedSecrets per setup")
    parser.add_argument("--namespaces", type=int, default=8, help="namespaces they are spread over")
    parser.add_argument("--idle", type=float, default=60.0, help="seconds of the idle window")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "shards.json")
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="cm-bench-shards-"))
    plane = LocalControlPlane(ControlPlaneSettings(controller_manager=False, extra_apiserver_args=apiserver_args(work / "audit")))
    plane.start()
    try:
        kubectl = REPO / ".venv" / "bin" / "kubectl"
        subprocess.run([str(kubectl) if kubectl.exists() else "kubectl", "--kubeconfig", str(plane.kubeconfig),
                        "apply", "-f", str(REPO / "crds")], check=True, capture_output=True)
        api = KubeApi.from_environment(str(plane.kubeconfig))
        wait_for(lambda: _served(api), 60, 0.2, "the CRDs served")
        results = asyncio.run(run(plane, work, args.objects, args.namespaces, args.idle))
    finally:
        plane.stop()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"cpus": os.cpu_count(), "results": results}, indent=2) + "\n")
    print(table(results))
    print(f"results: {args.out}")
    return results


if __name__ == "__main__":
    main()
