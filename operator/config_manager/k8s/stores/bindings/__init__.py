"""One binding per provider type: what ``spec.provider.<type>`` of a store means for that provider.

A binding says which objects the store spec references (so their changes rebuild the provider), whether
its credentials expire on their own (ServiceAccount tokens), and how the spec becomes the keyword
arguments of ``providers.registry.create(<type>, ...)``. The operator never imports a concrete provider.

Adding a provider type: one module in this package defining ``BINDING`` (discovered here), the provider
package under ``config_manager/providers/`` registered with the registry, and its schema in crds/.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from ..credentials import Credentials


@dataclass(frozen=True)
class CredentialRef:
    """A reference in the store spec to an object holding a credential or the store's data."""

    field: str  # path under spec.provider.<type>, e.g. "auth.tokenSecretRef"
    kind: str  # Secret | ConfigMap
    ref: Mapping[str, Any]  # {name, key?, namespace?}


class Binding(Protocol):
    """What the operator needs to know about one provider type."""

    @property
    def name(self) -> str:
        """The key under ``spec.provider`` and in the provider registry."""

    @property
    def order(self) -> int:
        """Position in messages that list the types."""

    def credential_refs(self, spec: Mapping[str, Any]) -> list[CredentialRef]:
        """The objects ``spec`` references (changes to them rebuild the provider)."""

    def expiring_credentials(self, spec: Mapping[str, Any]) -> bool:
        """True when the credentials are short-lived tokens the operator must renew."""

    def provider_config(self, spec: Mapping[str, Any], creds: Credentials) -> dict[str, Any]:
        """The keyword arguments of ``registry.create(name, ...)``; reads credentials through ``creds``."""


def _discover() -> dict[str, Binding]:
    found: list[Binding] = []
    for module in pkgutil.iter_modules(__path__):
        binding = getattr(importlib.import_module(f"{__name__}.{module.name}"), "BINDING", None)
        if binding is not None:
            found.append(binding)
    return {b.name: b for b in sorted(found, key=lambda b: b.order)}


#: Every provider type a store may name, in message order.
BINDINGS: dict[str, Binding] = _discover()
PROVIDER_TYPES: tuple[str, ...] = tuple(BINDINGS)
