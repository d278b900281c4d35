"""An in-memory Kubernetes API for unit tests of our own logic: the real client over a dict, not a server.

``FakeKubeApi`` is a ``KubeApi`` whose transport is replaced: every request still goes through the counted
``request`` (so tests assert what a reconcile costs, as the integration tests do on a real apiserver), and
the paths the client builds are parsed back into (resource, namespace, name, subresource). It implements
what the operator uses: GET, LIST, POST (409 when it exists; TokenRequests answer a fake token), JSON merge
PATCH with a ``metadata.resourceVersion`` precondition and the status subresource, PUT and DELETE.
Integration tests never use it: they run against a real kube-apiserver.
"""

from __future__ import annotations

import copy
import itertools
import uuid
from collections.abc import Mapping
from typing import Any

from .client import ApiError, KubeApi
from .resources import GROUP, RESOURCES

_CUSTOM = {plural for plural, (group, _v, _p) in RESOURCES.items() if group == GROUP}


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch of ``patch`` onto ``target`` (a copy)."""
    if not isinstance(patch, Mapping):
        return copy.deepcopy(patch)
    out = dict(target) if isinstance(target, Mapping) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), value)
    return out


def selects(selector: str, obj: Mapping[str, Any]) -> bool:
    """An equality label selector (``a=b,c``: value equal, or label present), as the apiserver reads it."""
    labels = (obj.get("metadata") or {}).get("labels") or {}
    for term in filter(None, (t.strip() for t in selector.split(","))):
        label, _, value = term.partition("=")
        if label not in labels or ("=" in term and labels[label] != value):
            return False
    return True


class FakeKubeApi(KubeApi):
    """Objects in a dict keyed by (resource, namespace, name); resourceVersions from one counter."""

    def __init__(self) -> None:
        super().__init__(api_client=None)  # type: ignore[arg-type]  # no transport: ``request`` is ours
        self.objects: dict[tuple[str, str, str], dict[str, Any]] = {}
        self._versions = itertools.count(1)
        self.issuer = "https://kubernetes.default.svc"

    # -- test helpers ---------------------------------------------------------------------------------

    def put(self, resource: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """Store ``body`` as if someone else created it (not counted)."""
        meta = body.get("metadata") or {}
        stored = self._stamp(resource, copy.deepcopy(dict(body)))
        self.objects[(resource, str(meta.get("namespace") or ""), str(meta["name"]))] = stored
        return copy.deepcopy(stored)

    def stored(self, resource: str, namespace: str | None, name: str) -> dict[str, Any] | None:
        found = self.objects.get((resource, namespace or "", name))
        return copy.deepcopy(found) if found is not None else None

    def listed(self, resource: str, namespace: str | None = None) -> list[dict[str, Any]]:
        """Stored objects of ``resource`` (not counted)."""
        return [copy.deepcopy(o) for (r, ns, _n), o in sorted(self.objects.items())
                if r == resource and (namespace is None or ns == namespace)]

    # -- transport ------------------------------------------------------------------------------------

    def _stamp(self, resource: str, body: dict[str, Any]) -> dict[str, Any]:
        meta = body.setdefault("metadata", {})
        meta.setdefault("uid", str(uuid.uuid4()))
        meta.setdefault("creationTimestamp", "2026-01-01T00:00:00Z")
        if resource in _CUSTOM:
            meta.setdefault("generation", 1)
        meta["resourceVersion"] = str(next(self._versions))
        return body

    @staticmethod
    def _parse(path: str) -> tuple[str, str, str, str]:
        parts = path.strip("/").split("/")
        parts = parts[2:] if parts[0] == "api" else parts[3:]  # drop api/v1 or apis/<group>/<version>
        namespace = ""
        if parts[:1] == ["namespaces"] and len(parts) >= 3:
            namespace, parts = parts[1], parts[2:]
        resource = parts[0]
        name = parts[1] if len(parts) > 1 else ""
        sub = parts[2] if len(parts) > 2 else ""
        return resource, namespace, name, sub

    def request(self, verb: str, method: str, resource: str, path: str, *, body: Any = None,
                content_type: str = "application/json", query: Mapping[str, str] | None = None,
                timeout: float = 30.0, answer: bool = True) -> dict[str, Any]:
        self._count(verb, resource)
        plural, namespace, name, sub = self._parse(path)
        key = (plural, namespace, name)
        current = self.objects.get(key)
        if method == "GET" and not name:
            selector = (query or {}).get("labelSelector", "")
            return {"items": [copy.deepcopy(o) for (r, ns, _n), o in sorted(self.objects.items())
                              if r == plural and (not namespace or ns == namespace) and selects(selector, o)]}
        if method == "GET":
            if current is None:
                raise ApiError(404, "NotFound", f"{plural} {name!r} not found")
            return copy.deepcopy(current)
        if method == "POST":
            if sub == "token":
                return {"status": {"token": f"fake-token-for-{namespace}-{name}"}}
            created = copy.deepcopy(dict(body))
            meta = created.setdefault("metadata", {})
            if not meta.get("name") and meta.get("generateName"):
                meta["name"] = f"{meta['generateName']}{uuid.uuid4().hex[:5]}"
            new_name = str(meta.get("name"))
            if (plural, namespace, new_name) in self.objects:
                raise ApiError(409, "AlreadyExists", f"{plural} {new_name!r} already exists")
            created = self._stamp(plural, created)
            if namespace:
                created["metadata"]["namespace"] = namespace
            self.objects[(plural, namespace, new_name)] = created
            return copy.deepcopy(created)
        if current is None:
            raise ApiError(404, "NotFound", f"{plural} {name!r} not found")
        if method == "DELETE":
            precondition = ((body or {}).get("preconditions") or {}).get("resourceVersion")
            if precondition is not None and str(precondition) != current["metadata"]["resourceVersion"]:
                raise ApiError(409, "Conflict", "precondition failed: resourceVersion")
            del self.objects[key]
            return {}
        wanted = ((body or {}).get("metadata") or {}).get("resourceVersion")
        if wanted is not None and str(wanted) != current["metadata"]["resourceVersion"]:
            raise ApiError(409, "Conflict", "the object has been modified")
        if method == "PUT":
            updated = copy.deepcopy(dict(body))
        elif sub == "status":
            updated = {**current, "status": merge_patch(current.get("status"), (body or {}).get("status"))}
        else:
            patch = {k: v for k, v in (body or {}).items() if k != "status"}
            updated = merge_patch(current, patch)
            if plural in _CUSTOM and "spec" in patch:
                updated["metadata"]["generation"] = int(current["metadata"].get("generation") or 1) + 1
        updated["metadata"] = {**updated.get("metadata", {}), "uid": current["metadata"]["uid"]}
        self.objects[key] = self._stamp(plural, updated)
        return copy.deepcopy(self.objects[key])

    def get_text(self, path: str) -> str:
        if path == "/.well-known/openid-configuration":
            return '{"issuer": "%s"}' % self.issuer
        raise ApiError(404, "NotFound", path)
