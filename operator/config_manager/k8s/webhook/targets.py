"""Which objects a change signal concerns, and how they are refreshed: the receiver's only contact with
the rest of the operator.

``referencing`` is pure (plain dict bodies in, keys out): the ManagedSecrets (``spec.data[].remoteRef``,
``spec.dataFrom[].extract``, and ``spec.dataFrom[].find`` whose name regexp and path could select the
key) and ConfigBundles (``spec.secrets[].remoteRef``) that read ``key`` through the named store. ``azure_stores`` maps a Key Vault event to the stores whose ``vaultUrl`` is that vault.

``ChangeTargets`` binds these to the running operator through three narrow operations: a snapshot of the
cached bodies (``ClusterCache`` tables), dropping the cached provider answer of one key
(``ProviderCache.invalidate_key``, so the next read goes to the store), and enqueueing a key in the work
queue. Dropping the answer *is* the force-sync: the pass reads that key afresh, writes the Secret if the
value changed, and writes nothing otherwise.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from ..stores.readcache import ProviderCache
from ..stores.resolve import store_key
from ..watch.cache import ClusterCache
from .schemas import StoreChange, VaultChange

log = logging.getLogger(__name__)

Key = tuple[str, str, str]  # (kind, namespace, name): a work-queue key
Tables = Iterable[tuple[str, Mapping[tuple[str, str], Mapping[str, Any]]]]


def _refs(kind: str, spec: Mapping[str, Any]) -> Iterable[tuple[Mapping[str, Any], str]]:
    """(storeRef, remote key) of every value an object reads from a store."""
    default = spec.get("storeRef") or {}
    if kind == "ManagedSecret":
        for item in spec.get("data") or []:
            yield default, str((item.get("remoteRef") or {}).get("key") or "")
        for item in spec.get("dataFrom") or []:
            yield default, str(((item or {}).get("extract") or {}).get("key") or "")
    else:
        for item in spec.get("secrets") or []:
            yield item.get("storeRef") or default, str((item.get("remoteRef") or {}).get("key") or "")


def _may_find(find: Mapping[str, Any], key: str, fold_case: bool) -> bool:
    """Whether ``dataFrom[].find`` could select ``key``: its name regexp and path are checked here; tags
    can only be checked by the store, so a find by tags alone counts as a possible match."""
    text = key.casefold() if fold_case else key
    regexp = (find.get("name") or {}).get("regexp")
    if regexp:
        try:
            if re.search(str(regexp), key, re.IGNORECASE if fold_case else 0) is None:
                return False
        except re.error:
            return True  # the object's own pass reports the bad pattern
    path = str(find.get("path") or "").strip("/")
    if path:
        folder = path.casefold() if fold_case else path
        return text == folder or text.startswith(folder + "/")
    return True


def referencing(tables: Tables, store_kind: str, store_name: str, namespace: str | None, key: str, *,
                fold_case: bool = False) -> list[tuple[Key, str]]:
    """(object key, the remote key as that object spells it) for each object reading ``key`` from the
    store. ``namespace`` None: a ClusterSecretStore (objects in any namespace); ``fold_case``: the store
    compares names case-insensitively (Azure)."""
    wanted = key.casefold() if fold_case else key
    found: list[tuple[Key, str]] = []
    for kind, table in tables:
        for (ns, name), body in table.items():
            if namespace is not None and ns != namespace:
                continue
            spec = body.get("spec") or {}
            for ref, remote in _refs(kind, spec):
                if ref.get("name") != store_name or (ref.get("kind") or "SecretStore") != store_kind:
                    continue
                if (remote.casefold() if fold_case else remote) == wanted:
                    found.append(((kind, ns, name), remote))
            default = spec.get("storeRef") or {}
            if kind == "ManagedSecret" and default.get("name") == store_name and (default.get("kind") or "SecretStore") == store_kind:
                for item in spec.get("dataFrom") or []:
                    find = (item or {}).get("find")
                    if isinstance(find, Mapping) and _may_find(find, key, fold_case):
                        found.append(((kind, ns, name), key))
    return found


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower(), (parts.hostname or "").split(".")[0].lower()


def azure_stores(stores: Mapping[tuple[str, str], Mapping[str, Any]], cluster_stores: Mapping[str, Mapping[str, Any]],
                 change: VaultChange) -> list[tuple[str, str | None, str]]:
    """(kind, namespace or None, name) of the Azure stores whose ``vaultUrl`` is the event's vault: the
    same origin as the secret's ``data.Id``, else the same first host label as ``data.VaultName``."""
    found: list[tuple[str, str | None, str]] = []
    every: list[tuple[str, str | None, str, Mapping[str, Any]]] = [
        ("SecretStore", ns, name, body) for (ns, name), body in stores.items()]
    every += [("ClusterSecretStore", None, name, body) for name, body in cluster_stores.items()]
    for kind, ns, name, body in every:
        url = str((((body.get("spec") or {}).get("provider") or {}).get("azure") or {}).get("vaultUrl") or "")
        if not url:
            continue
        origin, label = _origin(url)
        if (change.vault_origin and origin == change.vault_origin) or (not change.vault_origin and label == change.vault_name):
            found.append((kind, ns, name))
    return found


@dataclass(frozen=True)
class Refresh:
    """What one change signal refreshes: cached answers to drop and objects to enqueue."""

    answers: frozenset[tuple[str, str]]  # (store key, remote key)
    objects: frozenset[Key]


class ChangeTargets:
    """The receiver's view of the operator: find what a signal concerns, then refresh it."""

    def __init__(self, cache: ClusterCache, providers: ProviderCache, enqueue: Callable[[Key], None],
                 azure_key_of: Callable[[str], str] = lambda name: name) -> None:
        self._cache = cache
        self._providers = providers
        self._enqueue = enqueue
        self._azure_key_of = azure_key_of  # Azure secret name -> our key (the provider's name mapping)

    def _tables(self) -> list[tuple[str, Mapping[tuple[str, str], Mapping[str, Any]]]]:
        with self._cache.lock:
            return [("ManagedSecret", dict(self._cache.managed_secrets)), ("ConfigBundle", dict(self._cache.bundles))]

    def find(self, change: StoreChange | VaultChange) -> Refresh:
        tables = self._tables()
        hits: list[tuple[str, tuple[Key, str]]] = []
        if isinstance(change, StoreChange):
            skey = store_key(change.store_kind, change.namespace, change.store_name)
            hits = [(skey, hit) for hit in referencing(tables, change.store_kind, change.store_name, change.namespace, change.key)]
        else:
            with self._cache.lock:
                stores, cluster = dict(self._cache.stores), dict(self._cache.cluster_stores)
            key = self._azure_key_of(change.object_name)
            for kind, ns, name in azure_stores(stores, cluster, change):
                skey = store_key(kind, ns, name)
                for candidate in {key, change.object_name}:
                    hits += [(skey, hit) for hit in referencing(tables, kind, name, ns, candidate, fold_case=True)]
        return Refresh(frozenset((skey, remote) for skey, (_, remote) in hits), frozenset(obj for _, (obj, _) in hits))

    def refresh(self, found: Refresh) -> None:
        for skey, remote in found.answers:
            self._providers.invalidate_key(skey, remote)
        for obj in sorted(found.objects):
            self._enqueue(obj)
