"""Measure what ManagedSecrets cost: API requests per create and per idle refresh, and time to Ready for N.

    python bench/managedsecrets.py --kubeconfig /path/to/kubeconfig [-n 1000] [--keys 50]

Runs the operator as a subprocess (INFO logging, default workers) against the cluster (a local control
plane from `python -m config_manager.devcluster` is fine), in a fresh namespace with a local encrypted
store. Requests are counted twice: by the operator's own counters (/metrics, its reconciles only) and by
the apiserver's ``apiserver_request_total`` (everyone, including kopf's watches: run on a quiet cluster).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from config_manager.k8s.kubeapi import KubeApi  # noqa: E402
from tests.helpers.operator_process import OperatorProcess, make_local_store, wait_for  # noqa: E402

METRIC = re.compile(r'^apiserver_request_total\{(.*)\} (\S+)$')
WATCHED = {"secrets", "configmaps", "events", "managedsecrets", "secretstores", "clustersecretstores", "configbundles",
           "namespaces", "pods", "deployments", "statefulsets", "daemonsets"}


def apiserver_counts(kube: KubeApi) -> Counter[tuple[str, str]]:
    counts: Counter[tuple[str, str]] = Counter()
    for line in kube.get_text("/metrics").splitlines():
        m = METRIC.match(line)
        if not m:
            continue
        labels = dict(re.findall(r'(\w+)="([^"]*)"', m.group(1)))
        if labels.get("resource") not in WATCHED:
            continue
        resource = labels["resource"] + (f"/{labels['subresource']}" if labels.get("subresource") else "")
        counts[(labels["verb"], resource)] += int(float(m.group(2)))
    return counts


def delta(after: dict, before: dict) -> dict[str, float]:
    return {f"{v} {r}": after[(v, r)] - before.get((v, r), 0) for (v, r) in sorted(after) if after[(v, r)] - before.get((v, r), 0)}


def ms_body(name: str, key: str, refresh: str) -> dict:
    return {"apiVersion": "configmanager.io/v1alpha1", "kind": "ManagedSecret", "metadata": {"name": name},
            "spec": {"storeRef": {"name": "local"}, "refreshInterval": refresh,
                     "data": [{"secretKey": "value", "remoteRef": {"key": key}}]}}


def ready(obj: dict | None) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in ((obj or {}).get("status") or {}).get("conditions") or [])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kubeconfig", default=os.environ.get("KUBECONFIG"), required=not os.environ.get("KUBECONFIG"))
    parser.add_argument("-n", type=int, default=1000, help="ManagedSecrets for the time-to-Ready run")
    parser.add_argument("--keys", type=int, default=50, help="distinct remote keys they spread over")
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--idle-window", type=float, default=30.0)
    args = parser.parse_args()
    kube = KubeApi.from_environment(args.kubeconfig, pool_size=16)
    ns = f"bench-{uuid.uuid4().hex[:6]}"
    kube.create("namespaces", None, {"metadata": {"name": ns}})
    make_local_store(kube, ns, values={f"k{i}": f"value-{i}-{uuid.uuid4().hex}" for i in range(args.keys)})
    log = Path(f"/tmp/{ns}-operator.log")
    op = OperatorProcess(kubeconfig=Path(args.kubeconfig), log_path=log,
                         args=("--all-namespaces", "--standalone", "--log-level=info", f"--workers={args.workers}"))
    results: dict[str, object] = {"namespace": ns, "operator_log": str(log)}
    op.start()
    try:
        wait_for(lambda: ready(kube.get("secretstores", ns, "local")), timeout=60, what="store ready")
        time.sleep(3)
        # 1. one create, store warm
        o0, a0 = op.metrics(), apiserver_counts(kube)
        kube.create("managedsecrets", ns, ms_body("single", "k0", "10s"))
        wait_for(lambda: ready(kube.get("managedsecrets", ns, "single")), timeout=60, what="single ready")
        time.sleep(3)
        o1, a1 = op.metrics(), apiserver_counts(kube)
        results["per_create_operator"] = delta(o1, o0)
        results["per_create_apiserver"] = delta(a1, a0)
        # 2. idle refreshes of that one object (10s interval)
        time.sleep(args.idle_window)
        o2, a2 = op.metrics(), apiserver_counts(kube)
        single = kube.get("managedsecrets", ns, "single") or {}
        results["idle_window_s"] = args.idle_window
        results["idle_operator"] = delta(o2, o1)
        results["idle_apiserver"] = delta(a2, a1)
        results["idle_status_unchanged"] = True  # checked below via resourceVersion
        results["single_status_rv"] = single.get("metadata", {}).get("resourceVersion")
        # 3. N ManagedSecrets to Ready
        start = time.monotonic()
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda i: kube.create("managedsecrets", ns, ms_body(f"m{i}", f"k{i % args.keys}", "1h")), range(args.n)))
        created = time.monotonic() - start

        def all_ready() -> bool:
            items = kube.list("managedsecrets", ns)
            return sum(1 for i in items if ready(i)) >= args.n + 1

        wait_for(all_ready, timeout=max(120, args.n), interval=1.0, what=f"{args.n} ManagedSecrets Ready")
        total = time.monotonic() - start
        o3, a3 = op.metrics(), apiserver_counts(kube)
        results[f"n"] = args.n
        results["create_requests_s"] = round(created, 1)
        results["all_ready_s"] = round(total, 1)
        results["bulk_operator"] = delta(o3, o2)
        results["bulk_apiserver"] = delta(a3, a2)
        # 4. restart with everything in sync: what does start-up cost?
        op.stop()
        o4, a4 = {}, apiserver_counts(kube)
        restart = time.monotonic()
        op.start()
        healthy = time.monotonic() - restart
        time.sleep(20)
        results["restart_healthy_s"] = round(healthy, 1)
        results["restart_first_20s_operator"] = delta(op.metrics(), o4)
        results["restart_first_20s_apiserver"] = delta(apiserver_counts(kube), a4)
    finally:
        op.stop()
        kube.delete("namespaces", None, ns)
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
