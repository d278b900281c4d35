"""Small helpers shared by the operator integration tests (plain functions, no fixtures)."""

from __future__ import annotations

import base64
from typing import Any

from config_manager.k8s.api.client import KubeApi
from tests.helpers.operator_process import wait_for

API = "configmanager.io/v1alpha1"


def managed_secret(name: str, *, store: str = "local", data: dict[str, str] | None = None, refresh: str = "1h",
                   target: dict[str, Any] | None = None, **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "apiVersion": API, "kind": "ManagedSecret", "metadata": {"name": name},
        "spec": {"storeRef": {"name": store}, "refreshInterval": refresh,
                 "data": [{"secretKey": k, "remoteRef": {"key": v}} for k, v in (data or {}).items()], **spec},
    }
    if target is not None:
        body["spec"]["target"] = target
    if not body["spec"]["data"]:
        del body["spec"]["data"]
    return body


def condition(obj: dict[str, Any] | None, type_: str = "Ready") -> dict[str, Any]:
    for cond in ((obj or {}).get("status") or {}).get("conditions") or []:
        if cond.get("type") == type_:
            return cond  # type: ignore[no-any-return]
    return {}


def wait_ready(kube: KubeApi, ns: str, name: str, plural: str = "managedsecrets", status: str = "True",
               reason: str | None = None, timeout: float = 30.0, generation: int | None = None) -> dict[str, Any]:
    def check() -> dict[str, Any] | None:
        obj = kube.get(plural, ns, name)
        cond = condition(obj)
        if cond.get("status") != status or (reason and cond.get("reason") != reason):
            return None
        if generation is not None and (obj or {}).get("status", {}).get("observedGeneration") != generation:
            return None
        return obj
    return wait_for(check, timeout=timeout, what=f"{plural} {ns}/{name} Ready={status} {reason or ''}")


def secret_data(kube: KubeApi, ns: str, name: str) -> dict[str, str] | None:
    obj = kube.get("secrets", ns, name)
    if obj is None:
        return None
    return {k: base64.b64decode(v).decode() for k, v in (obj.get("data") or {}).items()}


def events_for(kube: KubeApi, ns: str, name: str) -> list[dict[str, Any]]:
    return [e for e in kube.list("events", ns) if e.get("involvedObject", {}).get("name") == name]
