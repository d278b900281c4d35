"""The typed ClusterManagedSecret spec: one ManagedSecret spec and the namespaces it goes into.

As External Secrets' ClusterExternalSecret: ``managedSecretSpec`` (checked here with the ManagedSecret
parser, so a bad field is named as ``spec.managedSecretSpec.<field>``), ``namespaceSelector`` (a label
selector) and/or ``namespaces`` (names), ``managedSecretName`` (default: the object's name).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .managedsecret import InvalidSpecError, parse_managed_secret

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")


@dataclass(frozen=True)
class ClusterManagedSecretSpec:
    managed_secret_spec: Mapping[str, Any]
    managed_secret_name: str
    namespaces: tuple[str, ...] = ()
    namespace_selector: Mapping[str, Any] | None = None


def parse_cluster_managed_secret(name: str, spec: Mapping[str, Any]) -> ClusterManagedSecretSpec:
    """Validate and type a ClusterManagedSecret spec. Raises InvalidSpecError naming the field."""
    inner = spec.get("managedSecretSpec")
    if not isinstance(inner, Mapping):
        raise InvalidSpecError("spec.managedSecretSpec", "is required and must be an object")
    ms_name = str(spec.get("managedSecretName") or name)
    if not _DNS_NAME.match(ms_name) or len(ms_name) > 253:
        raise InvalidSpecError("spec.managedSecretName", f"{ms_name!r} is not a valid object name")
    try:
        parse_managed_secret(ms_name, inner)
    except InvalidSpecError as exc:
        raise InvalidSpecError("spec.managedSecretSpec" + exc.field.removeprefix("spec"), str(exc).split(": ", 1)[-1]) from None
    namespaces = spec.get("namespaces") or []
    if not isinstance(namespaces, list) or not all(isinstance(n, str) and _DNS_LABEL.match(n) for n in namespaces):
        raise InvalidSpecError("spec.namespaces", "must be a list of namespace names")
    selector = spec.get("namespaceSelector")
    if selector is not None and not isinstance(selector, Mapping):
        raise InvalidSpecError("spec.namespaceSelector", "must be a label selector")
    if not namespaces and selector is None:
        raise InvalidSpecError("spec.namespaceSelector", "set namespaceSelector or namespaces")
    return ClusterManagedSecretSpec(managed_secret_spec=dict(inner), managed_secret_name=ms_name,
                                    namespaces=tuple(namespaces), namespace_selector=selector)
