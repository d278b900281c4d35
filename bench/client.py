"""A small asyncio Kubernetes client (aiohttp) for the bench's own load and its independent watches.

The bench must not share the operator's client (or its process): it creates objects as fast as the
apiserver accepts them, with bounded concurrency, and observes results through its own watch streams.
Authentication is the client certificate of a kubeconfig (what the local control plane issues).
"""

from __future__ import annotations

import asyncio
import json
import ssl
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import yaml

CORE = "/api/v1"
CM = "/apis/configmanager.io/v1alpha1"


def collection(resource: str, namespace: str | None) -> str:
    """The collection path of ``resource`` (secrets, managedsecrets, ...) in ``namespace``."""
    base = CM if resource in ("managedsecrets", "secretstores", "configbundles") else CORE
    return f"{base}/namespaces/{namespace}/{resource}" if namespace else f"{base}/{resource}"


class AsyncKube:
    """aiohttp session against one apiserver; at most ``concurrency`` requests in flight."""

    def __init__(self, kubeconfig: Path, concurrency: int = 48) -> None:
        config = yaml.safe_load(kubeconfig.read_text())
        cluster = config["clusters"][0]["cluster"]
        user = config["users"][0]["user"]
        self.server: str = cluster["server"]
        self._ssl = ssl.create_default_context(cafile=cluster["certificate-authority"])
        self._ssl.load_cert_chain(user["client-certificate"], user["client-key"])
        self._limit = asyncio.Semaphore(concurrency)
        self._concurrency = concurrency
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> AsyncKube:
        connector = aiohttp.TCPConnector(ssl=self._ssl, limit=self._concurrency + 8)
        self._session = aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=None))
        return self

    async def __aexit__(self, *_: object) -> None:
        if self._session is not None:
            await self._session.close()

    @property
    def session(self) -> aiohttp.ClientSession:
        assert self._session is not None, "use AsyncKube as an async context manager"
        return self._session

    async def request(self, method: str, path: str, body: Any = None, content_type: str = "application/json",
                      retries: int = 5) -> dict[str, Any]:
        """One request; retried on 429/5xx/connection errors (the apiserver pushing back is part of the limit)."""
        data = None if body is None else json.dumps(body)
        for attempt in range(retries + 1):
            async with self._limit:
                try:
                    async with self.session.request(method, self.server + path, data=data,
                                                    headers={"Content-Type": content_type}) as resp:
                        text = await resp.text()
                        if resp.status < 300:
                            return json.loads(text) if text else {}
                        if resp.status not in (429, 500, 502, 503, 504) or attempt == retries:
                            raise RuntimeError(f"{method} {path}: {resp.status} {text[:200]}")
                except aiohttp.ClientConnectionError:
                    if attempt == retries:
                        raise
            await asyncio.sleep(0.2 * (attempt + 1))
        raise AssertionError("unreachable")

    async def create(self, resource: str, namespace: str | None, body: Mapping[str, Any]) -> dict[str, Any]:
        return await self.request("POST", collection(resource, namespace), body)

    async def patch(self, resource: str, namespace: str, name: str, body: Mapping[str, Any]) -> dict[str, Any]:
        return await self.request("PATCH", f"{collection(resource, namespace)}/{name}", body,
                                  "application/merge-patch+json")

    async def create_all(self, resource: str, namespace: str, bodies: Iterable[Mapping[str, Any]],
                         on_sent: Callable[[str, float], None] | None = None) -> list[float]:
        """Create every body concurrently (bounded by the semaphore); returns each completion time."""
        done: list[float] = []

        async def one(body: Mapping[str, Any]) -> None:
            if on_sent is not None:
                on_sent(str(body["metadata"]["name"]), time.monotonic())
            await self.create(resource, namespace, body)
            done.append(time.monotonic())

        await asyncio.gather(*(one(b) for b in bodies))
        return done


@dataclass
class WatchLog:
    """When each object was first seen, first seen Ready, and every data change (monotonic clock)."""

    added: dict[str, float] = field(default_factory=dict)
    ready: dict[str, float] = field(default_factory=dict)
    modified: dict[str, list[float]] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def record(self, kind: str, obj: Mapping[str, Any], now: float) -> None:
        name = str(obj["metadata"]["name"])
        if kind in ("ADDED", "MODIFIED"):
            self.added.setdefault(name, now)
            data = json.dumps(obj.get("data") or {}, sort_keys=True)
            previous = self.versions.get(name)
            if previous is not None and previous != data:
                self.modified.setdefault(name, []).append(now)
            self.versions[name] = data
            conditions = (obj.get("status") or {}).get("conditions") or []
            if name not in self.ready and any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions):
                self.ready[name] = now
            self.changed.set()


async def watch(kube: AsyncKube, resource: str, namespace: str, log: WatchLog, started: asyncio.Event) -> None:
    """Follow ``resource`` in ``namespace`` for ever (cancel to stop), recording into ``log``."""
    version = ""
    while True:
        path = f"{collection(resource, namespace)}?watch=1&timeoutSeconds=3600"
        if version:
            path += f"&resourceVersion={version}"
        try:
            async with kube.session.get(kube.server + path) as resp:
                started.set()
                async for line in resp.content:
                    if not line.strip():
                        continue
                    event = json.loads(line)
                    if event["type"] == "ERROR":
                        version = ""
                        break
                    obj = event["object"]
                    version = obj["metadata"].get("resourceVersion", version)
                    log.record(event["type"], obj, time.monotonic())
        except (TimeoutError, aiohttp.ClientError):
            await asyncio.sleep(0.5)


async def wait_until(predicate: Callable[[], bool], log: WatchLog, timeout: float, what: str) -> None:
    """Wait (event-driven) until ``predicate()`` holds; TimeoutError naming ``what`` otherwise."""
    deadline = time.monotonic() + timeout
    while not predicate():
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")
        log.changed.clear()
        try:
            await asyncio.wait_for(log.changed.wait(), timeout=min(remaining, 1.0))
        except TimeoutError:
            pass

