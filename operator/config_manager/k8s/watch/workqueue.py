"""One delayed work queue for every reconcile: dedupe, jitter, bounded concurrency, no task per object.

kopf timers/daemons would run one asyncio task per object (and add a finalizer). Here a single heap holds
"key due at time T"; ``workers`` coroutines take due keys and run the (blocking) reconcile in a thread
pool of the same size, so at most ``workers`` reconciles — and thus API requests — run at once.

- ``add(key, delay)`` keeps the earliest due time for a key (a force-sync pulls a refresh forward).
- Two lanes: an immediate add (delay 0: a new object, a spec change, a force-sync, a rotation asked for)
  is served before any scheduled one that is due (a refresh, a backoff retry, a start-up spread), so a
  wave of due refreshes does not make a new object wait behind it (controller-runtime's priority queue
  does the same for events after the initial list). A key in both lanes runs once, from the first.
- A key is never reconciled twice at the same time; if it is re-added while running, it runs again
  right after (``dirty``), so no change is lost.
- The reconcile returns the delay of its next run (refresh or backoff), or None for "only on events".
- ``pause()`` / ``resume()`` gate the workers (leader election: a standby keeps scheduling keys from its
  watch events but runs none until it leads); ``drain()`` waits for reconciles already running.
- ``set_filter(runnable)`` gates single keys (sharding: only the keys of the shards this replica holds
  run). A due key that may not run is parked with its due time and lane, and ``reconsider()`` puts the
  parked keys that may run now back where they were (a shard taken over runs what fell due meanwhile).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable, Hashable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

log = logging.getLogger(__name__)

Reconcile = Callable[[Any, str], "float | None"]


def describe(key: Hashable) -> str:
    """``Kind/namespace/name`` for a (kind, namespace, name) key, else the key as text."""
    return "/".join(str(part) for part in key) if isinstance(key, tuple) else str(key)


def _object_ref(key: Hashable) -> dict[str, Any]:
    """``extra`` naming the object of a (kind, namespace, name) key (the JSON log's ``object`` field)."""
    if isinstance(key, tuple) and len(key) == 3:
        return {"k8s_ref": {"kind": key[0], "namespace": key[1], "name": key[2]}}
    return {}


class WorkQueue:
    """Delayed, de-duplicated queue of keys processed by a bounded pool."""

    def __init__(self, reconcile: Callable[[Any, str], float | None], workers: int = 8,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._reconcile = reconcile
        self._clock = clock  # monotonic seconds; injected by tests
        self._workers = workers
        self._heap: list[tuple[float, int, Hashable]] = []  # scheduled keys
        self._urgent: list[tuple[float, int, Hashable]] = []  # keys added with no delay
        self._due: dict[Hashable, float] = {}
        self._is_urgent: dict[Hashable, bool] = {}
        self._reason: dict[Hashable, str] = {}
        self._running: set[Hashable] = set()
        self._dirty: dict[Hashable, str] = {}
        self._counter = itertools.count()
        self._wakeup: asyncio.Event | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._active: asyncio.Event | None = None
        self._paused = False
        self._in_flight: dict[concurrent.futures.Future[float | None], Hashable] = {}
        self._runnable: Callable[[Hashable], bool] | None = None
        self._parked: dict[Hashable, tuple[float, bool, str]] = {}  # key -> (due, urgent, reason)
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="reconcile")
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None
        self.processed = 0

    def __len__(self) -> int:
        return len(self._due) + len(self._parked)

    def _off_loop(self) -> bool:
        return self._loop is not None and threading.get_ident() != self._loop_thread

    def add(self, key: Hashable, delay: float = 0.0, reason: str = "sync") -> None:
        """Schedule ``key`` in ``delay`` seconds (earlier schedules win). Safe from any thread: kopf runs
        sync handlers in its executor, so calls from other threads are handed to the loop's thread."""
        if self._off_loop():
            assert self._loop is not None
            self._loop.call_soon_threadsafe(self._add, key, delay, reason)
            return
        self._add(key, delay, reason)

    def _add(self, key: Hashable, delay: float, reason: str) -> None:
        if key in self._parked:
            self._unpark(key)
        if key in self._running:
            if delay <= 0:
                # rerun right after the current pass; a "sync" reason wins over "usage"
                if self._dirty.get(key) != "sync":
                    self._dirty[key] = reason
                return
        urgent = delay <= 0
        due = self._clock() + max(0.0, delay)
        current = self._due.get(key)
        if current is not None and current <= due:
            if reason == "sync":
                self._reason[key] = "sync"
            if not urgent or self._is_urgent.get(key):
                return
            due = current  # already due: keep its time, move it to the immediate lane
        self._due[key] = due
        self._is_urgent[key] = urgent
        self._reason[key] = reason if current is None or self._reason.get(key) != "sync" else "sync"
        heapq.heappush(self._urgent if urgent else self._heap, (due, next(self._counter), key))
        if self._wakeup is not None:
            self._wakeup.set()

    def forget(self, key: Hashable) -> None:
        """Drop a key (its object was deleted). A pass already running finishes. Safe from any thread."""
        if self._off_loop():
            assert self._loop is not None
            self._loop.call_soon_threadsafe(self.forget, key)
            return
        self._due.pop(key, None)
        self._is_urgent.pop(key, None)
        self._reason.pop(key, None)
        self._dirty.pop(key, None)
        self._parked.pop(key, None)

    def due_in(self, key: Hashable) -> float | None:
        due = self._due.get(key, self._parked.get(key, (None,))[0])
        return None if due is None else due - self._clock()

    # -- per-key gate (sharding) ---------------------------------------------------------------------------

    def set_filter(self, runnable: Callable[[Hashable], bool] | None) -> None:
        """Run only the keys ``runnable`` admits (None: all); the others are parked when due. Call on the loop."""
        self._runnable = runnable
        self.reconsider()

    def reconsider(self) -> None:
        """Put back the parked keys the filter admits now (what may run changed). Call on the loop."""
        for key in [k for k in self._parked if self._runnable is None or self._runnable(k)]:
            self._unpark(key)
        if self._wakeup is not None:
            self._wakeup.set()

    def _unpark(self, key: Hashable) -> None:
        due, urgent, reason = self._parked.pop(key)
        self._due[key] = due
        self._is_urgent[key] = urgent
        self._reason[key] = reason
        heapq.heappush(self._urgent if urgent else self._heap, (due, next(self._counter), key))

    def _park(self, key: Hashable, due: float, urgent: bool) -> None:
        del self._due[key]
        del self._is_urgent[key]
        self._parked[key] = (due, urgent, self._reason.pop(key, "sync"))

    @property
    def parked(self) -> int:
        """Keys due but held back by the filter (another replica's shard)."""
        return len(self._parked)

    async def start(self, paused: bool = False) -> None:
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self._wakeup = asyncio.Event()
        self._active = asyncio.Event()
        self._paused = paused
        if not paused:
            self._active.set()
        self._tasks = [asyncio.create_task(self._worker(i)) for i in range(self._workers)]

    @property
    def paused(self) -> bool:
        return self._paused

    def pause(self) -> None:
        """Run no further reconciles (those running finish); keys keep being scheduled. Call on the loop."""
        self._paused = True
        if self._active is not None:
            self._active.clear()
        if self._wakeup is not None:
            self._wakeup.set()

    def resume(self) -> None:
        """Run due keys again. Call on the loop."""
        self._paused = False
        if self._active is not None:
            self._active.set()

    async def drain(self, timeout: float = 10.0, keys: Callable[[Hashable], bool] | None = None) -> bool:
        """Wait until reconciles already running (of the ``keys`` admitted, default all) have finished (True)
        or ``timeout`` passed (False)."""
        pending = [f for f, key in self._in_flight.copy().items() if not f.done() and (keys is None or keys(key))]
        if not pending:
            return True
        loop = asyncio.get_running_loop()
        _, not_done = await loop.run_in_executor(None, lambda: concurrent.futures.wait(pending, timeout=timeout))
        return not not_done

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._pool.shutdown(wait=False, cancel_futures=True)

    async def _next_key(self) -> tuple[Hashable, str]:
        assert self._wakeup is not None and self._active is not None
        while True:
            if not self._active.is_set():
                await self._active.wait()
                continue
            now = self._clock()
            for heap, urgent in ((self._urgent, True), (self._heap, False)):
                key = self._pop_due(heap, urgent, now)
                if key is not None:
                    return key, self._reason.pop(key, "sync")
            tops = [heap[0][0] for heap in (self._urgent, self._heap) if heap]
            timeout = (min(tops) - now) if tops else None
            self._wakeup.clear()
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for swallows a cancellation that arrives as
            # its inner wait completes (pause() sets the wakeup, stop() cancels in the same loop turn), and
            # the worker then waits for ever on a paused queue, so the process never exits on SIGTERM
            try:
                async with asyncio.timeout(timeout):
                    await self._wakeup.wait()
            except TimeoutError:
                pass

    def _pop_due(self, heap: list[tuple[float, int, Hashable]], urgent: bool, now: float) -> Hashable | None:
        """The first key of one lane that is due (taken off the queue), dropping stale entries on the way;
        None when the lane's first live entry is not due yet."""
        while heap:
            due, _, key = heap[0]
            if self._due.get(key) != due or self._is_urgent.get(key) != urgent:
                heapq.heappop(heap)  # stale entry: rescheduled, moved to the other lane, or forgotten
                continue
            if key in self._running:
                heapq.heappop(heap)
                self._dirty.setdefault(key, self._reason.get(key, "sync"))
                self._due.pop(key, None)
                self._is_urgent.pop(key, None)
                continue
            if due > now:
                return None
            heapq.heappop(heap)
            if self._runnable is not None and not self._runnable(key):
                self._park(key, due, urgent)
                continue
            del self._due[key]
            del self._is_urgent[key]
            return key
        return None

    async def _worker(self, index: int) -> None:
        while True:
            key, reason = await self._next_key()
            self._running.add(key)
            delay: float | None = None
            try:
                running = self._pool.submit(self._reconcile, key, reason)
                self._in_flight[running] = key
                running.add_done_callback(lambda done: self._in_flight.pop(done, None))
                delay = await asyncio.wrap_future(running)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("reconcile of %s failed unexpectedly; retrying in 30s", key)
                delay = 30.0
            finally:
                self._running.discard(key)
                self.processed += 1
            # one line per finished pass (DEBUG): tests wait on it before asserting that a pass wrote nothing
            log.debug("reconciled %s (%s); next pass %s", describe(key), reason,
                      "on change" if delay is None else f"in {delay:.1f}s", extra=_object_ref(key))
            rerun = self._dirty.pop(key, None)
            if rerun is not None:
                self.add(key, 0.0, rerun)
            elif delay is not None:
                self.add(key, delay, "sync")
