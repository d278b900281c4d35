"""/readyz answers 503 until the operator's informers have listed everything, /healthz stays liveness,
and the work queue only runs once the caches are synced (and, with leader election, while leading)."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request

from config_manager.devcluster.processes import free_port
from config_manager.k8s.__main__ import _serve_health
from config_manager.k8s.app import Operator
from config_manager.k8s.config import OperatorConfig
from config_manager.k8s.watch.workqueue import WorkQueue


def _get(url: str) -> tuple[int, dict[str, object]]:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_readyz_is_503_until_synced_while_healthz_answers() -> None:
    operator = Operator(OperatorConfig())
    port = free_port()

    async def main() -> list[tuple[int, dict[str, object]]]:
        runner = await _serve_health(f"http://127.0.0.1:{port}/healthz", operator)
        operator.watched.queue = WorkQueue(lambda key, reason: None, workers=1)
        try:
            answers = [await asyncio.to_thread(_get, f"http://127.0.0.1:{port}/readyz"),
                       await asyncio.to_thread(_get, f"http://127.0.0.1:{port}/healthz")]
            operator.ready, operator.sync_seconds = True, 1.5
            answers.append(await asyncio.to_thread(_get, f"http://127.0.0.1:{port}/readyz"))
            return answers
        finally:
            await runner.cleanup()

    not_ready, healthy, ready = asyncio.run(main())
    assert not_ready[0] == 503 and not_ready[1]["ready"] is False
    assert healthy[0] == 200, "liveness does not wait for the caches"
    assert ready == (200, {"ready": True, "leader": True, "syncSeconds": 1.5})


def test_the_queue_runs_only_when_synced_and_leading() -> None:
    operator = Operator(OperatorConfig())

    async def main() -> list[bool]:
        queue = WorkQueue(lambda key, reason: None, workers=1)
        operator.watched.queue = queue
        await queue.start(paused=True)
        seen = []
        operator._gate()  # not synced yet
        seen.append(queue.paused)
        operator.ready = True
        operator._gate()
        seen.append(queue.paused)
        await queue.stop()
        return seen

    assert asyncio.run(main()) == [True, False]
