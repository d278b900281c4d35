"""A stopping operator lets the reconciles already running finish and starts no new one.

Found by the bench's smoke run in CI: a restart made one status PATCH for an object already synced, the
kind of write a pass leaves behind when SIGTERM cuts it between its Secret write and its status write.
A replica alone (no leader election, no shards) now drains its queue like a leader does.

Draining found the second: a paused queue with a key scheduled never stopped (a worker's timed wait swallowed
its cancellation), so the operator hung on SIGTERM until killed; found with a Vault store, whose next
validation is always scheduled.
"""

from __future__ import annotations

import asyncio
import threading

from config_manager.k8s.app import Operator
from config_manager.k8s.config import OperatorConfig
from config_manager.k8s.watch.workqueue import WorkQueue


def test_cleanup_waits_for_running_reconciles_and_starts_no_new_one() -> None:
    operator = Operator(OperatorConfig())
    started = threading.Event()
    finished: list[str] = []
    began: list[str] = []

    def reconcile(key: str, reason: str) -> None:
        began.append(key)
        started.set()
        threading.Event().wait(0.3)  # the pass's writes, still under way when the stop arrives
        finished.append(key)

    async def main() -> None:
        queue = WorkQueue(reconcile, workers=2)
        operator.watched.queue = queue
        await queue.start()
        queue.add("running")
        assert await asyncio.to_thread(started.wait, 5.0)
        queue.add("later", 0.05)
        await operator.cleanup()
        assert finished == ["running"], "cleanup returned before the running pass had finished"

    asyncio.run(main())
    assert began == ["running"], "no new pass starts once the operator is stopping"


def test_a_paused_queue_with_keys_scheduled_stops() -> None:
    async def main() -> None:
        queue = WorkQueue(lambda key, reason: None, workers=4)
        await queue.start()
        queue.add("a store's next validation", 3600.0)
        await asyncio.sleep(0.05)  # every worker waits for that key's time
        queue.pause()
        await asyncio.wait_for(queue.stop(), 5.0)

    asyncio.run(main())


def test_cleanup_returns_with_keys_scheduled() -> None:
    operator = Operator(OperatorConfig())

    async def main() -> None:
        queue = WorkQueue(lambda key, reason: None, workers=4)
        operator.watched.queue = queue
        await queue.start()
        queue.add("SecretStore/ns/vault", 3540.0)
        await asyncio.sleep(0.05)
        await asyncio.wait_for(operator.cleanup(), 5.0)

    asyncio.run(main())
