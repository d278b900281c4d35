"""Restarting the workloads that use a Secret, only when a key they use changed, at most once per change.

Each Deployment / StatefulSet / DaemonSet that uses the Secret gets one pod-template annotation,
``checksum.configmanager.io/<secret>``: an HMAC-SHA256 (keyed with the Secret's uid, so the annotation,
which more people can read than the Secret, cannot be used to test guesses of a value) over the names and
values of exactly the keys that workload uses (env ``secretKeyRef`` keys, ``items`` of secret and
projected volumes; all keys for ``envFrom`` and whole-Secret volumes). Changing the annotation is what
makes the controller roll the pods.

- A workload whose hash already matches is not touched: a restart is idempotent, so a retried or
  recovered rotation never restarts anything twice.
- A workload without the annotation is restarted only when it uses a key that changed.
- The annotation is written with a JSON merge patch under our field manager. A GitOps tool applying the
  workload (server-side apply, or client-side apply) does not own that field and so leaves it alone; and
  we only write when a Secret changes, never in reaction to a workload change: no restart loop.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ..api.client import ApiError, KubeApi
from ..api.resources import WORKLOAD_PLURALS as PLURALS
from ..watch.usage import pod_spec_of, referenced_secrets

log = logging.getLogger(__name__)

ANN_PREFIX = "checksum.configmanager.io/"


def annotation_key(secret_name: str) -> str:
    """The pod-template annotation for ``secret_name`` (the name part of a key is at most 63 characters)."""
    if len(secret_name) <= 63:
        return ANN_PREFIX + secret_name
    digest = hashlib.sha256(secret_name.encode()).hexdigest()[:8]
    return ANN_PREFIX + secret_name[:54].rstrip("-.") + "-" + digest


def used_keys(body: Mapping[str, Any], secret_name: str, all_keys: Iterable[str]) -> set[str]:
    """The keys of ``secret_name`` that the workload's pod template uses (empty: it does not use it)."""
    spec = pod_spec_of(body) or {}
    every = set(all_keys)
    used: set[str] = set()
    volumes = list(spec.get("volumes") or [])
    for volume in volumes:
        secret = volume.get("secret")
        if secret and secret.get("secretName") == secret_name:
            items = secret.get("items")
            used |= {i.get("key") for i in items if i.get("key")} if items else every
        for source in (volume.get("projected") or {}).get("sources") or []:
            ref = source.get("secret")
            if ref and ref.get("name") == secret_name:
                items = ref.get("items")
                used |= {i.get("key") for i in items if i.get("key")} if items else every
    for field in ("initContainers", "containers", "ephemeralContainers"):
        for container in spec.get(field) or []:
            for env in container.get("env") or []:
                ref = (env.get("valueFrom") or {}).get("secretKeyRef")
                if ref and ref.get("name") == secret_name and ref.get("key"):
                    used.add(ref["key"])
            for env_from in container.get("envFrom") or []:
                ref = env_from.get("secretRef")
                if ref and ref.get("name") == secret_name:
                    used |= every
    return used


def keys_hash(secret_uid: str, data_b64: Mapping[str, str], keys: Iterable[str]) -> str:
    """HMAC over the (name, value) pairs of ``keys``; a key missing from the Secret counts as absent."""
    mac = hmac.new(secret_uid.encode(), digestmod=hashlib.sha256)
    for key in sorted(set(keys)):
        mac.update(key.encode() + b"\0" + str(data_b64.get(key, "\x00absent")).encode() + b"\0")
    return mac.hexdigest()[:32]


@dataclass(frozen=True)
class Decision:
    kind: str
    name: str
    restart: bool
    hash: str
    why: str


def decide(body: Mapping[str, Any], secret_name: str, secret_uid: str, data_b64: Mapping[str, str],
           changed: Iterable[str], *, explicit: bool = False) -> Decision:
    """Whether this workload must restart for the Secret's current content (pure)."""
    meta = body.get("metadata") or {}
    kind, name = str(body.get("kind")), str(meta.get("name"))
    used = used_keys(body, secret_name, data_b64)
    if not used and explicit:
        used = set(data_b64)  # a named target that gets the Secret some other way: all keys
    if not used:
        return Decision(kind, name, False, "", "does not use the Secret")
    digest = keys_hash(secret_uid, data_b64, used)
    template_ann = ((((body.get("spec") or {}).get("template") or {}).get("metadata") or {}).get("annotations") or {})
    current = template_ann.get(annotation_key(secret_name))
    if current == digest:
        return Decision(kind, name, False, digest, "already has the current keys")
    changed_set = set(changed)
    if current is None and "*" not in changed_set and not (used & changed_set):
        return Decision(kind, name, False, digest, "uses no changed key")
    return Decision(kind, name, True, digest, "uses " + ", ".join(sorted(used & changed_set) or sorted(used)))


def candidates(api: KubeApi, cache_users: list[tuple[str, str]] | None, namespace: str, secret_name: str,
               mode: str, targets: Iterable[tuple[str, str]]) -> list[dict[str, Any]]:
    """The workload bodies to consider: named targets, or those that reference the Secret."""
    bodies: list[dict[str, Any]] = []
    if mode == "Explicit":
        for kind, name in targets:
            body = api.get(PLURALS[kind], namespace, name) if kind in PLURALS else None
            if body is not None:
                bodies.append({**body, "kind": kind})
        return bodies
    if cache_users is not None:
        for kind, name in cache_users:
            if kind in PLURALS:
                body = api.get(PLURALS[kind], namespace, name)
                if body is not None:
                    bodies.append({**body, "kind": kind})
        return bodies
    for kind, plural in PLURALS.items():  # no usage tracking: one list per kind
        for body in api.list(plural, namespace):
            body = {**body, "kind": kind}
            if secret_name in referenced_secrets(body):
                bodies.append(body)
    return bodies


def restart(api: KubeApi, body: Mapping[str, Any], secret_name: str, digest: str) -> dict[str, Any] | None:
    """Write the annotation (one PATCH); returns the updated workload, None if it vanished."""
    kind = str(body.get("kind"))
    meta = body.get("metadata") or {}
    patch = {"spec": {"template": {"metadata": {"annotations": {annotation_key(secret_name): digest}}}}}
    try:
        updated = api.patch(PLURALS[kind], meta.get("namespace"), str(meta.get("name")), patch)
    except ApiError as exc:
        if exc.status == 404:
            return None
        raise
    return {**updated, "kind": kind, "apiVersion": "apps/v1"}
