"""Which Secrets a workload's pod template references (volumes, projected volumes, env, envFrom,
imagePullSecrets), so status can list the workloads that use a managed Secret and warn when none does.

Pods owned by a controller are skipped: their Deployment/StatefulSet/DaemonSet/Job is what people look
for, and counting its Pods would make the list churn on every rollout.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet")


def pod_spec_of(body: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The pod spec of a Pod or of a workload's template; None for controller-owned Pods."""
    kind = body.get("kind")
    if kind == "Pod":
        owners = (body.get("metadata") or {}).get("ownerReferences") or []
        if any(o.get("controller") for o in owners):
            return None
        return body.get("spec") or {}
    return ((body.get("spec") or {}).get("template") or {}).get("spec") or {}


def _containers(spec: Mapping[str, Any]) -> Iterable[Mapping[str, Any]]:
    for field in ("initContainers", "containers", "ephemeralContainers"):
        yield from spec.get(field) or []


def referenced_secrets(body: Mapping[str, Any]) -> set[str]:
    """Names of the Secrets (in the workload's namespace) that its pod spec references."""
    spec = pod_spec_of(body)
    if spec is None:
        return set()
    names: set[str] = set()
    for volume in spec.get("volumes") or []:
        secret = volume.get("secret")
        if secret and secret.get("secretName"):
            names.add(secret["secretName"])
        for source in (volume.get("projected") or {}).get("sources") or []:
            ref = source.get("secret")
            if ref and ref.get("name"):
                names.add(ref["name"])
    for container in _containers(spec):
        for env in container.get("env") or []:
            ref = (env.get("valueFrom") or {}).get("secretKeyRef")
            if ref and ref.get("name"):
                names.add(ref["name"])
        for env_from in container.get("envFrom") or []:
            ref = env_from.get("secretRef")
            if ref and ref.get("name"):
                names.add(ref["name"])
    for pull in spec.get("imagePullSecrets") or []:
        if pull.get("name"):
            names.add(pull["name"])
    return names
