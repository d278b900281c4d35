"""What a ManagedSecret or ConfigBundle writes, and whether it asks for a forced sync: one spelling each.

The reconcilers write these objects and the watch handlers check, after a restart, that they still hold
what was written (``watch.triggers``); both derive the names here, from the spec as stored.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..api.resources import ANN_FORCE_SYNC

#: The file extension of each output format of a ConfigBundle (the default key is ``config.<ext>``).
BUNDLE_FORMATS = {"json": "json", "yaml": "yaml", "env": "env", "properties": "properties"}


def managed_secret_target(name: str, spec: Mapping[str, Any]) -> str:
    """The Secret a ManagedSecret named ``name`` writes (``spec.target.name``, else its own name)."""
    target = spec.get("target") or {}
    return str((target.get("name") if isinstance(target, Mapping) else None) or name)


@dataclass(frozen=True)
class BundleOutputs:
    """The two outputs of a ConfigBundle: a masked ConfigMap and a Secret, each optional."""

    format: str
    key: str  # the data key both outputs hold the rendered document under
    configmap: str
    secret: str
    configmap_enabled: bool
    secret_enabled: bool
    owner_reference: bool  # deletionPolicy Delete: the outputs go with the bundle

    def objects(self) -> list[tuple[str, str]]:
        """(kind, name) of the enabled outputs."""
        out = [("ConfigMap", self.configmap)] if self.configmap_enabled else []
        return out + ([("Secret", self.secret)] if self.secret_enabled else [])


def bundle_outputs(name: str, spec: Mapping[str, Any]) -> BundleOutputs:
    """The outputs of the ConfigBundle ``name`` (defaults: ConfigMap ``name``, Secret ``name-secret``)."""
    output = spec.get("output") or {}
    fmt = str(output.get("format") or "yaml")
    cm = output.get("configMap") or {}
    sec = output.get("secret") or {}
    return BundleOutputs(
        format=fmt,
        key=str(output.get("key") or f"config.{BUNDLE_FORMATS.get(fmt, fmt)}"),
        configmap=str(cm.get("name") or name),
        secret=str(sec.get("name") or f"{name}-secret"),
        configmap_enabled=bool(cm.get("enabled", True)),
        secret_enabled=bool(sec.get("enabled", True)),
        owner_reference=(output.get("deletionPolicy") or "Delete") == "Delete",
    )


def output_objects(body: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(kind, name) of what a ManagedSecret (its Secret) or a ConfigBundle (its outputs) writes."""
    name = str((body.get("metadata") or {}).get("name"))
    spec = body.get("spec") or {}
    if body.get("kind") == "ConfigBundle":
        return bundle_outputs(name, spec).objects()
    return [("Secret", managed_secret_target(name, spec))]


def force_sync_value(body: Mapping[str, Any]) -> str | None:
    """The value of the force-sync annotation, if set."""
    value = ((body.get("metadata") or {}).get("annotations") or {}).get(ANN_FORCE_SYNC)
    return None if value is None else str(value)


def force_sync_pending(body: Mapping[str, Any]) -> bool:
    """True when the force-sync annotation carries a value status has not acknowledged yet."""
    value = force_sync_value(body)
    return value is not None and value != (body.get("status") or {}).get("forceSync")
