"""The scale part of the benchmark (``python -m bench --scale 10000,20000``): restarts and memory at size.

Same control plane, operator and measurements as ``run.Bench`` (audit log, load averages), other phases:

1. a small raw baseline (for the burst ratio) and the operator started over the local store;
2. for each size: fill the namespace up to it with ManagedSecrets (the fill's operator CPU per created
   object, with a py-spy profile of the first fill), the operator's RSS, then a restart over everything:
   time to /healthz, to /readyz (every informer listed), to a new object's Secret, and the mutating
   writes the new process makes for objects that were already synced (expected 0);
3. ``unrelated`` Secrets of 100 KB each (Helm release Secrets are that size), without our label, in the
   operator's namespace: the operator's RSS before and after, and one more restart with them present.
"""

from __future__ import annotations

import asyncio
import base64
import secrets as pysecrets
import time
from typing import Any

from .client import AsyncKube, watch
from .run import NS, Bench, BenchConfig, rss_mb

UNRELATED_BYTES = 100 * 1024


def unrelated_secret(name: str, payload: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "labels": {"owner": "helm"}},
            "type": "helm.sh/release.v1", "data": {"release": payload}}


class ScaleBench(Bench):
    """``run.Bench`` with the scale phases (see the module docstring)."""

    def __init__(self, config: BenchConfig, sizes: tuple[int, ...], unrelated: int) -> None:
        super().__init__(config)
        self.scale_sizes = sizes
        self.unrelated = unrelated
        self.data["scale"] = {"sizes": list(sizes), "unrelated": unrelated}

    async def _run(self) -> None:
        async with AsyncKube(self.bench_kubeconfig, self.cfg.concurrency) as kube:
            self.kube = kube
            for ns in (NS, "raw"):
                await kube.create("namespaces", None, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
            await self._wait_crds()
            started = [asyncio.Event(), asyncio.Event()]
            watches = [asyncio.create_task(watch(kube, "secrets", NS, self.secrets, started[0])),
                       asyncio.create_task(watch(kube, "managedsecrets", NS, self.objects, started[1]))]
            await asyncio.gather(*(e.wait() for e in started))
            try:
                await self.raw_baseline()
                await self.start_operator()
                for index, n in enumerate(self.scale_sizes):
                    if n > self.total:
                        await self.burst(f"s{index}", n - self.total, "1h", record=True, profile=index == 0)
                    await self.restart()
                if self.unrelated:
                    await self.unrelated_secrets()
                    await self.restart()
            finally:
                for task in watches:
                    task.cancel()
                await asyncio.gather(*watches, return_exceptions=True)

    async def unrelated_secrets(self) -> None:
        n = self.unrelated
        print(f"bench: {n} unrelated Secrets of {UNRELATED_BYTES // 1024} KB next to {self.total} ManagedSecrets", flush=True)
        before = rss_mb(self._pid())
        payload = base64.b64encode(pysecrets.token_bytes(UNRELATED_BYTES * 3 // 4)).decode()
        start = time.monotonic()
        for chunk in range(0, n, 1000):
            await self.kube.create_all("secrets", NS, (unrelated_secret(f"helm-{i}", payload)
                                                       for i in range(chunk, min(n, chunk + 1000))))
        created = time.monotonic() - start
        await asyncio.sleep(10)
        after = rss_mb(self._pid())
        self.data["unrelated"] = {"n": n, "bytes_each": UNRELATED_BYTES, "created_s": round(created, 1),
                                  "rss_before_mb": round(before, 1), "rss_after_mb": round(after, 1)}
        self.data["rss_mb"][f"{self.total} + {n} unrelated"] = round(after, 1)
        self.figure(f"operator RSS with {n} unrelated 100 KB Secrets", after, "MB", "flat (±10 MB)",
                    abs(after - before) <= 10, note=f"{before:.0f} MB before; created in {created:.0f}s")


def run_scale(config: BenchConfig, sizes: tuple[int, ...], unrelated: int) -> dict[str, Any]:
    """Run the scale phases; returns (and writes to ``config.out/results.json``) the results."""
    return ScaleBench(config, sizes, unrelated).run()
