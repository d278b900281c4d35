"""From a ``storeRef`` to a ready provider: resolution, isolation, the provider binding, the provider cache.

A reference is resolved against the watch cache (no API call), checked against the isolation rules, and
turned into a provider through its binding (``bindings``) and the registry — the operator never imports a
concrete provider. Building a provider reads its credentials (GETs of the referenced Secrets); that
happens once per store version: the provider cache keys providers by a fingerprint of the store's and its
credential objects' versions (the store's uid and generation, the credentials' resourceVersions), so a
changed spec or credential rebuilds the provider and nothing else does (not the store's status writes).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ...errors import ConfigurationError
from ...providers import SecretProvider, registry
from ..api.client import KubeApi
from ..spec.managedsecret import StoreRef
from ..watch.cache import ClusterCache
from .bindings import BINDINGS, PROVIDER_TYPES, Binding
from .credentials import SA_TOKEN_SECONDS, Credentials, StoreNotReadyError
from .isolation import IsolationError, check_store_access, credential_namespace
from .readcache import ProviderCache

__all__ = ["PROVIDER_TYPES", "ResolvedStore", "StoreNotReadyError", "build_provider", "provider_for",
           "resolve_own", "resolve_store", "store_from_body", "store_key"]


def store_key(kind: str, namespace: str | None, name: str) -> str:
    """Identity of a store for provider caching and backoff."""
    return f"{kind}/{namespace or ''}/{name}"


@dataclass(frozen=True)
class ResolvedStore:
    kind: str
    name: str
    namespace: str | None  # None for a ClusterSecretStore
    provider_type: str
    provider_spec: Mapping[str, Any]
    #: "uid/generation": changes with the spec or a re-creation, not with a status write (a store's own
    #: validation writes its status: a resourceVersion here rebuilt every provider after each one)
    version: str

    @property
    def key(self) -> str:
        return store_key(self.kind, self.namespace, self.name)

    @property
    def binding(self) -> Binding:
        return BINDINGS[self.provider_type]

    def credentials(self, api: KubeApi) -> Credentials:
        return Credentials(api, self.kind, self.namespace, self.key)

    def credential_refs(self) -> list[tuple[str, str, str, str]]:
        """(field path, kind, namespace, name) of every object holding a credential or the blob."""
        base = f"spec.provider.{self.provider_type}"
        refs: list[tuple[str, str, str, str]] = []
        for ref in self.binding.credential_refs(self.provider_spec):
            if isinstance(ref.ref, Mapping) and ref.ref.get("name"):
                path = f"{base}.{ref.field}"
                refs.append((path, ref.kind, credential_namespace(self.kind, self.namespace, ref.ref, path),
                             str(ref.ref["name"])))
        return refs

    def fingerprint(self, cache: ClusterCache, read: Mapping[tuple[str, str, str], Mapping[str, Any]] | None = None) -> str:
        """Changes when the store or any object it references changes (from the cache, no API call);
        with ``read``, the versions of the objects a provider was built from (``Credentials.seen``)."""
        parts = [self.version]
        if self.binding.expiring_credentials(self.provider_spec):
            parts.append(str(int(time.time() // (SA_TOKEN_SECONDS / 2))))  # a fresh token every half lifetime
        for _path, kind, ns, name in self.credential_refs():
            body = (read or {}).get((kind, ns, name))
            if body is not None:
                parts.append(str((body.get("metadata") or {}).get("resourceVersion") or "-"))
                continue
            info = cache.get_object(kind, ns, name)
            parts.append(info.resource_version if info else "-")
        return "|".join(parts)


def store_from_body(kind: str, name: str, namespace: str | None, body: Mapping[str, Any]) -> ResolvedStore | None:
    """The store a SecretStore/ClusterSecretStore body describes; None unless it names exactly one provider."""
    provider = (body.get("spec") or {}).get("provider") or {}
    types = [t for t in PROVIDER_TYPES if t in provider]
    if len(types) != 1:
        return None
    return ResolvedStore(kind=kind, name=name, namespace=namespace if kind == "SecretStore" else None,
                         provider_type=types[0], provider_spec=provider[types[0]] or {},
                         version=_version(body.get("metadata") or {}))


def _version(meta: Mapping[str, Any]) -> str:
    """What of a store's metadata its provider depends on (``ResolvedStore.version``)."""
    return f"{meta.get('uid') or ''}/{meta.get('generation') or meta.get('resourceVersion') or ''}"


def _one_provider(kind: str, name: str, body: Mapping[str, Any], namespace: str | None) -> ResolvedStore:
    store = store_from_body(kind, name, namespace, body)
    if store is None:
        raise StoreNotReadyError(f"spec.provider must set exactly one of {', '.join(PROVIDER_TYPES)}")
    return store


def resolve_store(ref: StoreRef, namespace: str, cache: ClusterCache) -> ResolvedStore:
    """The store an object in ``namespace`` means by ``ref``; StoreNotReadyError / IsolationError."""
    with cache.lock:
        if ref.kind == "SecretStore":
            body = cache.stores.get((namespace, ref.name))
        else:
            body = cache.cluster_stores.get(ref.name)
        ns_labels = cache.namespaces.get(namespace)
    if body is None:
        raise StoreNotReadyError(f"{ref.kind} {ref.name!r} not found" + (f" in namespace {namespace!r}" if ref.kind == "SecretStore" else ""))
    check_store_access(ref, namespace=namespace, store_spec=body.get("spec") or {}, ns_labels=ns_labels)
    try:
        return _one_provider(ref.kind, ref.name, body, namespace)
    except StoreNotReadyError as exc:
        raise StoreNotReadyError(f"{ref.kind} {ref.name!r}: {exc}") from None


def resolve_own(kind: str, namespace: str, name: str, cache: ClusterCache) -> ResolvedStore:
    """A store resolved for its own validation: a ClusterSecretStore in the context of no namespace."""
    if kind == "SecretStore":
        return resolve_store(StoreRef(name=name, kind=kind), namespace, cache)
    body = cache.cluster_stores.get(name)
    if body is None:
        raise StoreNotReadyError(f"ClusterSecretStore {name!r} not found")
    return _one_provider(kind, name, body, None)


def build_provider(store: ResolvedStore, api: KubeApi, creds: Credentials | None = None) -> SecretProvider:
    """A provider for ``store`` via its binding and the registry, credentials read from the referenced objects."""
    try:
        return registry.create(store.provider_type, **store.binding.provider_config(store.provider_spec, creds or store.credentials(api)))
    except IsolationError as exc:
        raise StoreNotReadyError(str(exc)) from None
    except ConfigurationError as exc:
        raise StoreNotReadyError(f"spec.provider.{store.provider_type}: {exc}") from exc


def provider_for(store: ResolvedStore, *, cache: ClusterCache, providers: ProviderCache, api: KubeApi) -> SecretProvider:
    """The cached provider of ``store``, rebuilt when the store or a credential object changed.

    A provider is kept under the versions of the credential objects it was built from, and an object read
    that the cache does not hold yet is cached (its projection): the by-name watch that starts for it then
    knows that version, so its first listing is news only if the object changed since, and the next pass
    finds the same fingerprint instead of rebuilding the provider (and dropping its reads) once the
    credential shows up in the cache."""
    creds = store.credentials(api)

    def build() -> SecretProvider:
        creds.seen.clear()
        return build_provider(store, api, creds)

    def built() -> str:
        for (kind, _ns, _name), body in creds.seen.items():
            cache.put_object({**body, "kind": kind}, if_absent=True)
        fingerprint = store.fingerprint(cache, read=creds.seen)
        creds.seen.clear()  # the bodies hold the credentials: not kept
        return fingerprint

    return providers.provider(store.key, store.fingerprint(cache), build, built=built)
