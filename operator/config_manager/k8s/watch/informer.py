"""List+watch informers: one asyncio task per watched scope keeps the cache current, and survives 410s.

Why our own and not kopf's: kopf's initial listing with ``index`` handlers is quadratic in the object
count, and when a listing outlives its continue token (410 Gone) kopf ends the process, so a restart over
10,000 objects became a crash loop. An ``Informer`` here:

- LISTs in pages (``limit`` / ``continue``); a 410 on a continue token restarts the list instead of
  failing, and objects already delivered at the same resourceVersion are not delivered again;
- then WATCHes from the list's resourceVersion with bookmarks, resuming from the last version seen when
  the server ends the stream, and relisting on 410 Gone; a relist delivers only what changed, and a
  DELETED for what disappeared meanwhile;
- a resource the apiserver does not serve (404: its CRD is not installed) counts as synced and empty,
  and is listed again every 30 s, so one missing CRD does not hold the operator's readiness;
- calls its handler with ``(None, object)`` for objects of the first listing ("first sight", as kopf's
  initial listing did) and ``("ADDED" | "MODIFIED" | "DELETED", object)`` afterwards; ``synced`` is set
  once the first listing is complete (the operator's readiness).

The HTTP side is a ``Transport`` (``AioTransport``: aiohttp with the client configuration of
``api.client.KubeApi``), so the list/watch logic is unit-tested against a scripted one. It decodes list
pages and watch events without ``metadata.managedFields`` (``api.decode``: cut from the bytes first; no
LIST or WATCH option leaves them out, nothing here reads them, and they were most of a restart's
decoding time).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlencode

from ..api.client import KubeApi
from ..api.decode import decode, decode_list
from ..metrics import WATCH_RELISTS, WATCH_REQUESTS

log = logging.getLogger(__name__)

Handler = Callable[[str | None, dict[str, Any]], None]


class Gone(Exception):
    """410: a continue token or a resourceVersion is too old; the list starts again."""


class NotServed(Exception):
    """404 on the collection: the resource is not served (its CRD is not installed, or not yet)."""


class Refused(RuntimeError):
    """The apiserver answered a LIST or WATCH with an error: its status code and reason, never a body."""


@dataclass(frozen=True)
class Scope:
    """What one informer watches: a resource, optionally one namespace and server-side selectors."""

    resource: str
    namespace: str | None = None
    label_selector: str | None = None
    field_selector: str | None = None

    def query(self) -> dict[str, str]:
        q: dict[str, str] = {}
        if self.label_selector:
            q["labelSelector"] = self.label_selector
        if self.field_selector:
            q["fieldSelector"] = self.field_selector
        return q

    def describe(self) -> str:
        parts = [self.resource, f"in {self.namespace}" if self.namespace else "cluster-wide"]
        parts += [s for s in (self.label_selector, self.field_selector) if s]
        return " ".join(parts)


class Transport(Protocol):
    async def list_page(self, scope: Scope, limit: int, cont: str | None) -> dict[str, Any]: ...

    def watch(self, scope: Scope, resource_version: str, timeout: int) -> AsyncIterator[dict[str, Any]]: ...


def _key(obj: Mapping[str, Any]) -> tuple[str, str]:
    meta = obj.get("metadata") or {}
    return (str(meta.get("namespace") or ""), str(meta.get("name") or ""))


def _rv(obj: Mapping[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("resourceVersion") or "")


class Informer:
    """LIST then WATCH one scope forever, feeding ``handler``; see the module docstring."""

    def __init__(self, transport: Transport, scope: Scope, handler: Handler, *, kind: str, page_size: int = 500,
                 watch_timeout: int = 300, retry_delay: float = 2.0, known: dict[tuple[str, str], str] | None = None,
                 first_sight: bool = True) -> None:
        self.transport = transport
        self.scope = scope
        self.kind = kind  # list items carry no kind; handlers get it filled in
        self.handler = handler
        self.page_size = page_size
        self.watch_timeout = watch_timeout
        self.retry_delay = retry_delay
        self.synced = asyncio.Event()
        # (namespace, name) -> resourceVersion delivered; ``known`` seeds it with what the caller already
        # has (its first listing then reports only differences, a DELETED for what is gone)
        self.known: dict[tuple[str, str], str] = dict(known or {})
        self.first_sight = first_sight  # False: even the first listing reports ADDED/MODIFIED
        self.relists = 0
        self.not_served_delay = 30.0

    def _deliver(self, event_type: str | None, obj: dict[str, Any]) -> None:
        obj.setdefault("kind", self.kind)
        try:
            self.handler(event_type, obj)
        except Exception:
            log.exception("handler failed for a %s event of %s %s/%s", event_type or "listing", self.kind, *_key(obj))

    async def list_once(self) -> str:
        """One complete listing (restarted on 410); delivers what changed; returns its resourceVersion."""
        first = self.first_sight and not self.synced.is_set()
        while True:
            seen: set[tuple[str, str]] = set()
            cont: str | None = None
            try:
                while True:
                    page = await self.transport.list_page(self.scope, self.page_size, cont)
                    for obj in page.get("items") or []:
                        key, rv = _key(obj), _rv(obj)
                        seen.add(key)
                        old = self.known.get(key)
                        if old == rv:
                            continue
                        self.known[key] = rv
                        self._deliver(None if first else ("ADDED" if old is None else "MODIFIED"), obj)
                    meta = page.get("metadata") or {}
                    cont = meta.get("continue") or None
                    if cont is None:
                        list_rv = str(meta.get("resourceVersion") or "")
                        break
                    await asyncio.sleep(0)  # let the rest of the loop run between pages
            except Gone:
                self._relisted("continue token expired during the listing")
                continue
            for key in [k for k in self.known if k not in seen]:
                del self.known[key]
                self._deliver("DELETED", {"metadata": {"namespace": key[0] or None, "name": key[1]}})
            return list_rv

    async def watch_from(self, resource_version: str) -> str:
        """Watch until the server ends the stream; returns the last resourceVersion seen (raises Gone)."""
        rv = resource_version
        async for event in self.transport.watch(self.scope, rv, self.watch_timeout):
            etype, obj = str(event.get("type")), event.get("object") or {}
            if etype == "ERROR":
                if obj.get("code") == 410:
                    raise Gone(str(obj.get("message") or ""))
                raise Refused(f"watch error {obj.get('code')} {obj.get('reason')}")
            new_rv = _rv(obj)
            if new_rv:
                rv = new_rv
            if etype == "BOOKMARK":
                continue
            key = _key(obj)
            if etype == "DELETED":
                self.known.pop(key, None)
            else:
                if self.known.get(key) == new_rv:
                    continue
                self.known[key] = new_rv
            self._deliver(etype, obj)
        return rv

    def _relisted(self, why: str) -> None:
        self.relists += 1
        WATCH_RELISTS.labels(self.scope.resource).inc()
        log.info("relisting %s: %s", self.scope.describe(), why)

    async def run(self) -> None:
        """List, watch, relist on 410, retry other failures after ``retry_delay``; until cancelled."""
        rv: str | None = None
        while True:
            try:
                if rv is None:
                    rv = await self.list_once()
                    self.synced.set()
                rv = await self.watch_from(rv)
            except asyncio.CancelledError:
                raise
            except Gone:
                self._relisted("resourceVersion expired")
                rv = None
            except NotServed:
                # not served: nothing to cache, so not a reason to hold readiness; look again later
                if not self.synced.is_set():
                    log.warning("%s is not served by the apiserver (CRD not installed?); retrying every %.0fs",
                                self.scope.describe(), self.not_served_delay)
                self.synced.set()
                await asyncio.sleep(self.not_served_delay)
            except Exception as exc:  # noqa: BLE001 - network, apiserver restarts: retry, keep the cache
                # our own refusals say what the apiserver answered; other errors only by their type
                log.warning("watch of %s failed (%s); retrying in %.0fs", self.scope.describe(),
                            exc if isinstance(exc, Refused) else type(exc).__name__, self.retry_delay)
                await asyncio.sleep(self.retry_delay)


class AioTransport:
    """LIST and WATCH over aiohttp with the TLS and credentials of a ``KubeApi``, counted per verb."""

    def __init__(self, api: KubeApi) -> None:
        self.api = api
        self._session: Any = None

    def _client(self) -> Any:
        import aiohttp  # noqa: PLC0415 - kopf depends on aiohttp; imported where the loop runs

        if self._session is None:
            self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=self.api.ssl_context(), limit=0))
        return self._session

    def _url(self, scope: Scope, query: Mapping[str, str]) -> str:
        return f"{self.api.host}{KubeApi.path(scope.resource, scope.namespace)}?{urlencode(query)}"

    async def list_page(self, scope: Scope, limit: int, cont: str | None) -> dict[str, Any]:
        import aiohttp  # noqa: PLC0415

        query = {**scope.query(), "limit": str(limit), **({"continue": cont} if cont else {})}
        WATCH_REQUESTS.labels("list", scope.resource).inc()
        timeout = aiohttp.ClientTimeout(total=120, sock_connect=10)
        async with self._client().get(self._url(scope, query), headers={"Accept": "application/json", **self.api.auth_headers()},
                                      timeout=timeout) as resp:
            raw = await resp.read()
            if resp.status == 410:
                raise Gone("list continue token expired")
            if resp.status == 404:
                raise NotServed(scope.resource)
            if resp.status != 200:
                raise Refused(f"list {scope.describe()}: {resp.status} {resp.reason}")
        return decode_list(raw)

    async def watch(self, scope: Scope, resource_version: str, timeout: int) -> AsyncIterator[dict[str, Any]]:
        import aiohttp  # noqa: PLC0415

        query = {**scope.query(), "watch": "1", "resourceVersion": resource_version, "allowWatchBookmarks": "true",
                 "timeoutSeconds": str(timeout)}
        WATCH_REQUESTS.labels("watch", scope.resource).inc()
        client_timeout = aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=timeout + 30)
        async with self._client().get(self._url(scope, query), headers={"Accept": "application/json", **self.api.auth_headers()},
                                      timeout=client_timeout) as resp:
            if resp.status == 410:
                raise Gone("watch resourceVersion expired")
            if resp.status != 200:
                raise Refused(f"watch {scope.describe()}: {resp.status} {resp.reason}")
            buffer = bytearray()
            async for chunk in resp.content.iter_any():  # not readline(): its line limit is 64 KiB
                buffer += chunk
                start = 0
                while (end := buffer.find(b"\n", start)) >= 0:
                    if end > start:
                        yield decode(bytes(buffer[start:end]))
                    start = end + 1
                del buffer[:start]

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
