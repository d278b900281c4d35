"""A small, counted, synchronous Kubernetes API client for the operator's own requests.

Why not the generated ``kubernetes`` API classes: their model (de)serialisation is slow and different per
resource; we only need get / create / patch / list on a handful of resources as plain dicts. This takes
the configuration of the generated ``ApiClient`` (auth, TLS, kubeconfig handling), sends requests on the
light path of ``api.http`` (one serialisation, one keep-alive connection per thread) and adds:

- one code path for core, grouped, namespaced and cluster-scoped resources;
- a count of every request by verb and resource (``counts()`` and the Prometheus counter), so tests and
  benchmarks can say what each reconcile costs;
- errors translated into ``ApiError`` whose message carries the apiserver's reason, never a body we sent.

Reconciles run in worker threads; urllib3's pool is sized to the worker count, which bounds concurrency.
"""

from __future__ import annotations

import json
import ssl
import threading
from collections import Counter
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, urlencode

from kubernetes import client as k8s_client
from kubernetes import config as k8s_config

from ..metrics import API_REQUESTS
from .decode import decode
from .http import DirectHttp
from .resources import RESOURCES

PATCH_TYPES = {
    "merge": "application/merge-patch+json",
    "json": "application/json-patch+json",
    "apply": "application/apply-patch+yaml",
}


class ApiError(Exception):
    """A non-2xx answer. ``status`` is the HTTP code, ``reason`` the apiserver's reason (Conflict, ...)."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        self.status = status
        self.reason = reason
        super().__init__(f"{status} {reason}: {message}")


class KubeApi:
    """Plain-dict access to the API, counted per verb and resource."""

    def __init__(self, api_client: k8s_client.ApiClient, *, lean: bool = False) -> None:
        self._client = api_client
        self.lean = lean  # answers decoded without metadata.managedFields (api.decode): the operator's own
        self._counts: Counter[tuple[str, str]] = Counter()
        self._lock = threading.Lock()
        conf = api_client.configuration if api_client is not None else None  # None: api.fake's transport-less client
        # api.http: the light path for every request, unless the configuration needs what only the
        # kubernetes client does (a proxy, a TLS server name other than the host)
        self._direct = (None if conf is None or conf.proxy or conf.tls_server_name
                        else DirectHttp(self.host, self.ssl_context(), self.auth_headers))

    @classmethod
    def from_environment(cls, kubeconfig: str | None = None, pool_size: int = 8, *, lean: bool = False) -> KubeApi:
        """In-cluster config when running in a Pod, else the kubeconfig (``$KUBECONFIG``)."""
        configuration = k8s_client.Configuration()
        try:
            k8s_config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
        except k8s_config.ConfigException:
            k8s_config.load_kube_config(config_file=kubeconfig, client_configuration=configuration)  # type: ignore[no-untyped-call]
        configuration.connection_pool_maxsize = pool_size
        return cls(k8s_client.ApiClient(configuration), lean=lean)

    # -- the informers' transport -----------------------------------------------------------------------

    @property
    def host(self) -> str:
        """The apiserver's base URL (``https://host:port``)."""
        return str(self._client.configuration.host).rstrip("/")

    def ssl_context(self) -> ssl.SSLContext | bool:
        """TLS settings of the configuration (CA, client certificate) for an asyncio HTTP client."""
        conf = self._client.configuration
        if not self.host.startswith("https"):
            return False
        ctx = ssl.create_default_context(cafile=conf.ssl_ca_cert) if conf.ssl_ca_cert else ssl.create_default_context()
        if not conf.verify_ssl:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        if conf.cert_file:
            ctx.load_cert_chain(conf.cert_file, conf.key_file)
        return ctx

    def auth_headers(self) -> dict[str, str]:
        """The Authorization header as the configuration builds it now (tokens are refreshed by it)."""
        bearer = self._client.configuration.auth_settings().get("BearerToken")
        return {str(bearer["key"]): str(bearer["value"])} if bearer and bearer.get("value") else {}

    # -- accounting -----------------------------------------------------------------------------------

    def counts(self) -> dict[tuple[str, str], int]:
        """Requests made so far by (verb, resource)."""
        with self._lock:
            return dict(self._counts)

    def _count(self, verb: str, resource: str) -> None:
        with self._lock:
            self._counts[(verb, resource)] += 1
        API_REQUESTS.labels(verb, resource).inc()

    # -- paths ----------------------------------------------------------------------------------------

    @staticmethod
    def path(resource: str, namespace: str | None = None, name: str | None = None, sub: str | None = None) -> str:
        group, version, plural = RESOURCES[resource]
        base = f"/api/{version}" if not group else f"/apis/{group}/{version}"
        if namespace:
            base += f"/namespaces/{quote(namespace, safe='')}"
        base += f"/{plural}"
        if name:
            base += f"/{quote(name, safe='')}"
        if sub:
            base += f"/{sub}"
        return base

    # -- requests -------------------------------------------------------------------------------------

    def request(
        self,
        verb: str,
        method: str,
        resource: str,
        path: str,
        *,
        body: Any = None,
        content_type: str = "application/json",
        query: Mapping[str, str] | None = None,
        timeout: float = 30.0,
        answer: bool = True,
    ) -> dict[str, Any]:
        """One counted request; returns the parsed JSON answer (``answer=False``: {} unless it failed, for
        callers that do not read it, such as an Event's create) or raises ApiError."""
        self._count(verb, resource)
        url_path = path + (f"?{urlencode(query)}" if query else "")
        headers = {"Accept": "application/json", "Content-Type": content_type}
        if self._direct is not None:
            data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
            status, reason, raw = self._direct.request(method, url_path, data, headers, timeout)
        else:
            method_, url, headers_, body_, post = self._client.param_serialize(
                method, url_path, header_params=headers, body=body, auth_settings=["BearerToken"],
            )
            response = self._client.call_api(method_, url, headers_, body_, post, _request_timeout=timeout)
            raw = response.read()  # type: ignore[no-untyped-call]
            status, reason = response.status, str(response.reason)
        if answer is False and 200 <= status <= 299:
            return {}
        try:
            parsed: dict[str, Any] = (decode(raw) if self.lean else json.loads(raw)) if raw else {}
        except ValueError:
            parsed = {}
        if not 200 <= status <= 299:
            raise ApiError(status, str(parsed.get("reason") or reason), str(parsed.get("message") or ""))
        return parsed

    def get_text(self, path: str) -> str:
        """GET a raw document (the apiserver's /metrics, its OIDC discovery); not counted as a resource request."""
        method_, url, headers_, body_, post = self._client.param_serialize(
            "GET", path, header_params={"Accept": "text/plain, application/json;q=0.9, */*;q=0.8"},
            auth_settings=["BearerToken"])
        response = self._client.call_api(method_, url, headers_, body_, post, _request_timeout=30)
        data = response.read()  # type: ignore[no-untyped-call]
        if not 200 <= response.status <= 299:
            raise ApiError(response.status, str(response.reason), "")
        return data.decode(errors="replace") if isinstance(data, bytes) else str(data)

    def get(self, resource: str, namespace: str | None, name: str) -> dict[str, Any] | None:
        """The object, or None when it does not exist."""
        try:
            return self.request("get", "GET", resource, self.path(resource, namespace, name))
        except ApiError as exc:
            if exc.status == 404:
                return None
            raise

    def list(self, resource: str, namespace: str | None = None, label_selector: str | None = None) -> list[dict[str, Any]]:
        """Items of a list (one request; callers keep lists small or use the watch cache)."""
        query = {"labelSelector": label_selector} if label_selector else None
        answer = self.request("list", "GET", resource, self.path(resource, namespace), query=query)
        return list(answer.get("items") or [])

    def create(self, resource: str, namespace: str | None, body: Mapping[str, Any], *, answer: bool = True) -> dict[str, Any]:
        """POST the object (409 Conflict when it exists); ``answer=False``: the created object is not decoded."""
        return self.request("create", "POST", resource, self.path(resource, namespace), body=dict(body),
                            query={"fieldManager": "config-manager"}, answer=answer)

    def patch(
        self, resource: str, namespace: str | None, name: str, body: Any, *, patch_type: str = "merge",
        subresource: str | None = None, force: bool = False,
    ) -> dict[str, Any]:
        """PATCH (merge, json or server-side apply with our field manager)."""
        query = {"fieldManager": "config-manager"}
        if patch_type == "apply" and force:
            query["force"] = "true"
        verb = "patch" if subresource is None else f"patch/{subresource}"
        return self.request(verb, "PATCH", resource, self.path(resource, namespace, name, subresource),
                            body=body, content_type=PATCH_TYPES[patch_type], query=query)

    def replace(self, resource: str, namespace: str | None, name: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """PUT the whole object (optimistic concurrency through metadata.resourceVersion)."""
        return self.request("update", "PUT", resource, self.path(resource, namespace, name), body=dict(body),
                            query={"fieldManager": "config-manager"})

    def delete(self, resource: str, namespace: str | None, name: str) -> bool:
        """DELETE; False when it was already gone."""
        try:
            self.request("delete", "DELETE", resource, self.path(resource, namespace, name))
            return True
        except ApiError as exc:
            if exc.status == 404:
                return False
            raise
