"""A reconcile context on the in-memory API (``api.fake``): a namespace, a local store with values, and
helpers that add our objects to both the fake API and the watch cache, as the watches would."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

from config_manager.k8s.api.events import EventRecorder
from config_manager.k8s.api.fake import FakeKubeApi
from config_manager.k8s.config import OperatorConfig
from config_manager.k8s.context import Context
from config_manager.k8s.stores.backoff import Backoff
from config_manager.k8s.stores.kubestorage import KubeBlobStorage
from config_manager.k8s.stores.readcache import ProviderCache
from config_manager.k8s.watch.cache import ClusterCache
from config_manager.providers import registry

NS = "team"
KEY = bytes(range(32))
PLURALS = {"ManagedSecret": "managedsecrets", "ConfigBundle": "configbundles", "SecretStore": "secretstores",
           "VaultDynamicSecret": "vaultdynamicsecrets"}


class Kit:
    """One namespace ``team`` with a local SecretStore ``local`` holding ``values``."""

    def __init__(self, values: Mapping[str, Any] | None = None, **config: Any) -> None:
        self.api = FakeKubeApi()
        self.cache = ClusterCache()
        self.cache.namespaces[NS] = {"kubernetes.io/metadata.name": NS}
        self.ctx = Context(api=self.api, cache=self.cache,
                           providers=ProviderCache(ttl=config.pop("read_cache_ttl", 0.0), backoff=Backoff(1.0, 4.0)),
                           events=EventRecorder(self.api), config=OperatorConfig(**config))
        self.api.put("secrets", {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "store-key", "namespace": NS},
                                 "data": {"key": base64.b64encode(KEY).decode()}})
        provider = registry.create("local", storage=KubeBlobStorage(self.api, NS, "store-blob"), key=KEY)
        for key, value in (values or {}).items():
            provider.set(key, value)
        self.store = self.add("SecretStore", "local", {"provider": {"local": {
            "keySecretRef": {"name": "store-key", "key": "key"}, "storage": {"name": "store-blob"}}}})
        self.sync_cache()
        self.api._counts.clear()

    def add(self, kind: str, name: str, spec: Mapping[str, Any], **metadata: Any) -> dict[str, Any]:
        """Create one of our objects in the API and in the cache."""
        body = self.api.put(PLURALS[kind], {"apiVersion": "configmanager.io/v1alpha1", "kind": kind,
                                            "metadata": {"name": name, "namespace": NS, **metadata}, "spec": dict(spec)})
        self._cache_table(kind)[(NS, name) if kind != "ClusterSecretStore" else name] = body
        return body

    def _cache_table(self, kind: str) -> dict[Any, Any]:
        return {"ManagedSecret": self.cache.managed_secrets, "ConfigBundle": self.cache.bundles,
                "SecretStore": self.cache.stores, "ClusterSecretStore": self.cache.cluster_stores}[kind]

    def sync_cache(self) -> None:
        """What the watches would do: the cache sees every Secret, ConfigMap and our objects as stored."""
        for (resource, _ns, _name), body in list(self.api.objects.items()):
            if resource in ("secrets", "configmaps"):
                self.cache.put_object(body)
            elif resource in ("managedsecrets", "configbundles"):
                self.cache.update_body(resource, body)

    def status(self, kind: str, name: str) -> dict[str, Any]:
        return dict((self.api.stored(PLURALS[kind], NS, name) or {}).get("status") or {})

    def secret_data(self, name: str) -> dict[str, str]:
        body = self.api.stored("secrets", NS, name) or {}
        return {k: base64.b64decode(v).decode() for k, v in (body.get("data") or {}).items()}

    def set_value(self, key: str, value: Any) -> None:
        provider = registry.create("local", storage=KubeBlobStorage(self.api, NS, "store-blob"), key=KEY)
        provider.set(key, value)
        self.sync_cache()

    def writes(self) -> dict[tuple[str, str], int]:
        return {k: n for k, n in self.api.counts().items() if k[0].split("/")[0] in ("create", "patch", "update", "delete")}
