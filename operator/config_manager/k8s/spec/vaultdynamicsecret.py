"""The typed view of a VaultDynamicSecret spec: where credentials are issued, where they go, lease timing.

The CRD refuses most bad input at admission (schema and CEL); ``parse_vault_dynamic_secret`` checks the
rest and raises ``InvalidSpecError`` naming the field, so an object written before a rule existed (or
through a client that skips validation) is reported in status, never acted on half-way.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ...errors import ConfigurationError
from .durations import parse_duration
from .managedsecret import InvalidSpecError, StoreRef

#: renewAt when the spec leaves it out: renew after two thirds of the lease, as Vault Secrets Operator does.
DEFAULT_RENEW_AT = 2.0 / 3.0
DEFAULT_KEEP_PREVIOUS = "1m"
METHODS = ("GET", "POST")
RESTART_MODES = ("Discover", "Explicit", "None")
WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet")


@dataclass(frozen=True)
class VaultDynamicSecretSpec:
    store: StoreRef
    path: str
    method: str
    parameters: Mapping[str, Any]
    target_name: str
    target_labels: Mapping[str, str]
    target_annotations: Mapping[str, str]
    renew_at: float
    keep_previous: float
    restart_mode: str
    debounce: float
    restart_targets: tuple[tuple[str, str], ...] = field(default=())


def _duration(raw: Any, default: str, path: str) -> float:
    try:
        return parse_duration(str(raw if raw is not None else default), path)
    except ConfigurationError as exc:
        raise InvalidSpecError(path, str(exc).split(": ", 1)[-1]) from None


def _strings(raw: Any, path: str) -> dict[str, str]:
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise InvalidSpecError(path, "must be a map of strings")
    return {str(k): str(v) for k, v in raw.items()}


def parse_vault_dynamic_secret(name: str, spec: Mapping[str, Any]) -> VaultDynamicSecretSpec:
    """The typed spec; InvalidSpecError naming the field when it cannot be acted on."""
    ref = spec.get("storeRef") or {}
    if not isinstance(ref, Mapping) or not ref.get("name"):
        raise InvalidSpecError("spec.storeRef.name", "is required")
    kind = str(ref.get("kind") or "SecretStore")
    if kind not in ("SecretStore", "ClusterSecretStore"):
        raise InvalidSpecError("spec.storeRef.kind", "must be SecretStore or ClusterSecretStore")
    path = str(spec.get("path") or "").strip()
    segments = path.split("/")
    if not path or path.startswith("/") or path.endswith("/") or any(s in ("", ".", "..") for s in segments):
        raise InvalidSpecError("spec.path", "must be a relative Vault path such as database/creds/<role>")
    if path.startswith("sys/"):
        raise InvalidSpecError("spec.path", "must name a secrets engine path, not sys/")
    method = str(spec.get("method") or "GET").upper()
    if method not in METHODS:
        raise InvalidSpecError("spec.method", f"must be one of {', '.join(METHODS)}")
    parameters = spec.get("parameters") or {}
    if not isinstance(parameters, Mapping):
        raise InvalidSpecError("spec.parameters", "must be an object")
    target = spec.get("target") or {}
    renew_raw = spec.get("renewAt", DEFAULT_RENEW_AT)
    try:
        renew_at = float(renew_raw)
    except (TypeError, ValueError):
        raise InvalidSpecError("spec.renewAt", "must be a number between 0 and 1") from None
    if not 0.0 < renew_at < 1.0:
        raise InvalidSpecError("spec.renewAt", "must be a fraction of the lease between 0 and 1 (exclusive)")
    restart = spec.get("restartWorkloads") or {}
    mode = str(restart.get("mode") or "Discover")
    if mode not in RESTART_MODES:
        raise InvalidSpecError("spec.restartWorkloads.mode", f"must be one of {', '.join(RESTART_MODES)}")
    targets = tuple((str(t.get("kind")), str(t.get("name"))) for t in restart.get("targets") or [])
    if any(k not in WORKLOAD_KINDS for k, _ in targets):
        raise InvalidSpecError("spec.restartWorkloads.targets", f"kind must be one of {', '.join(WORKLOAD_KINDS)}")
    if mode == "Explicit" and not targets:
        raise InvalidSpecError("spec.restartWorkloads.targets", "mode Explicit needs at least one target")
    return VaultDynamicSecretSpec(
        store=StoreRef(name=str(ref["name"]), kind=kind),
        path=path,
        method=method,
        parameters=dict(parameters),
        target_name=str(target.get("name") or name),
        target_labels=_strings(target.get("labels"), "spec.target.labels"),
        target_annotations=_strings(target.get("annotations"), "spec.target.annotations"),
        renew_at=renew_at,
        keep_previous=_duration(spec.get("keepPrevious"), DEFAULT_KEEP_PREVIOUS, "spec.keepPrevious"),
        restart_mode=mode,
        debounce=_duration(restart.get("debounce"), "0s", "spec.restartWorkloads.debounce"),
        restart_targets=targets,
    )
