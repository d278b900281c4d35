"""Typed views of the custom resources' specs, with the checks a CRD schema cannot make.

The apiserver already refuses most bad input (schema + CEL, see crds/). What remains is checked here and
reported as ``InvalidSpecError`` naming the field, which ends up in status (reason InvalidSpec) and an
Event. Defaults are re-applied here too, so an object created before a default existed still works.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ...errors import ConfigurationError
from ..api.resources import FORBIDDEN_SECRET_TYPES
from .durations import parse_duration

_SECRET_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")
_DNS_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")


class InvalidSpecError(ConfigurationError):
    """A spec the operator cannot act on. ``field`` is the dotted path of the offending field."""

    def __init__(self, field_path: str, message: str) -> None:
        self.field = field_path
        super().__init__(f"{field_path}: {message}")


#: spec.refreshPolicy values, as in External Secrets.
REFRESH_POLICIES = ("Periodic", "OnChange", "CreatedOnce")


@dataclass(frozen=True)
class StoreRef:
    name: str
    kind: str = "SecretStore"


@dataclass(frozen=True)
class RemoteRef:
    key: str
    property: str | None = None
    version: str | None = None


@dataclass(frozen=True)
class DataItem:
    secret_key: str
    remote: RemoteRef


@dataclass(frozen=True)
class TemplateItem:
    key: str
    template_as: str = "Values"  # Values: the key's text is one template; KeysAndValues: it renders to YAML


@dataclass(frozen=True)
class TemplateFrom:
    """One ``templateFrom`` entry: a ConfigMap's / Secret's keys of this namespace, or a literal."""

    target: str = "Data"  # Data | Annotations | Labels
    kind: str | None = None  # ConfigMap | Secret; None for a literal
    name: str = ""
    items: tuple[TemplateItem, ...] = ()
    literal: str | None = None


@dataclass(frozen=True)
class Template:
    data: Mapping[str, str] = field(default_factory=dict)
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)
    merge_policy: str = "Replace"
    template_from: tuple[TemplateFrom, ...] = ()
    engine_version: str = "v2"

    def sources(self) -> list[tuple[str, str]]:
        """(kind, name) of the ConfigMaps and Secrets ``templateFrom`` reads (in the object's namespace)."""
        return sorted({(t.kind, t.name) for t in self.template_from if t.kind})


@dataclass(frozen=True)
class Target:
    name: str
    type: str = "Opaque"
    creation_policy: str = "Owner"
    deletion_policy: str = "Delete"
    immutable: bool = False
    template: Template | None = None
    masked_configmap: str | None = None  # name of the masked ConfigMap view, when enabled


@dataclass(frozen=True)
class ManagedSecretSpec:
    store: StoreRef
    refresh_seconds: float
    target: Target
    data: tuple[DataItem, ...]
    data_from: tuple[RemoteRef, ...]
    metadata: Mapping[str, Any]
    #: Periodic (every refresh_seconds), OnChange (spec changes) or CreatedOnce (once per object).
    refresh_policy: str = "Periodic"

    def remote_refs(self) -> list[RemoteRef]:
        """Every remote reference, dataFrom first (the order in which they are merged)."""
        return [*self.data_from, *(d.remote for d in self.data)]


def _str(obj: Mapping[str, Any], key: str, path: str, *, required: bool = False, default: str | None = None) -> str | None:
    value = obj.get(key, default)
    if value is None:
        if required:
            raise InvalidSpecError(f"{path}.{key}", "is required")
        return None
    if not isinstance(value, str):
        raise InvalidSpecError(f"{path}.{key}", f"must be a string, not {type(value).__name__}")
    return value


def parse_store_ref(raw: Any, path: str) -> StoreRef:
    """A storeRef from the spec; kind defaults to SecretStore."""
    if not isinstance(raw, Mapping):
        raise InvalidSpecError(path, "is required and must be an object")
    name = _str(raw, "name", path, required=True) or ""
    kind = _str(raw, "kind", path, default="SecretStore") or "SecretStore"
    if kind not in ("SecretStore", "ClusterSecretStore"):
        raise InvalidSpecError(f"{path}.kind", f"must be SecretStore or ClusterSecretStore, not {kind!r}")
    return StoreRef(name=name, kind=kind)


def parse_remote_ref(raw: Any, path: str) -> RemoteRef:
    """A remoteRef (or dataFrom[].extract)."""
    if not isinstance(raw, Mapping):
        raise InvalidSpecError(path, "must be an object")
    key = _str(raw, "key", path, required=True) or ""
    if not key.strip():
        raise InvalidSpecError(f"{path}.key", "must not be empty")
    return RemoteRef(key=key, property=_str(raw, "property", path), version=_str(raw, "version", path))


def secret_type_allowed(secret_type: str) -> bool:
    """False for Secret types that mint credentials (service-account and bootstrap tokens)."""
    return secret_type not in FORBIDDEN_SECRET_TYPES


def parse_managed_secret(name: str, spec: Mapping[str, Any]) -> ManagedSecretSpec:
    """Validate and type a ManagedSecret spec. Raises InvalidSpecError naming the field."""
    store = parse_store_ref(spec.get("storeRef"), "spec.storeRef")
    refresh = spec.get("refreshInterval", "1h")
    try:
        refresh_seconds = parse_duration(str(refresh), "spec.refreshInterval")
    except ConfigurationError as exc:
        raise InvalidSpecError("spec.refreshInterval", str(exc).split(": ", 1)[-1]) from None
    refresh_policy = str(spec.get("refreshPolicy") or "Periodic")
    if refresh_policy not in REFRESH_POLICIES:
        raise InvalidSpecError("spec.refreshPolicy", f"{refresh_policy!r} is not one of {', '.join(REFRESH_POLICIES)}")

    target_raw = spec.get("target") or {}
    if not isinstance(target_raw, Mapping):
        raise InvalidSpecError("spec.target", "must be an object")
    target_name = _str(target_raw, "name", "spec.target") or name
    if not _DNS_NAME.match(target_name) or len(target_name) > 253:
        raise InvalidSpecError("spec.target.name", f"{target_name!r} is not a valid Secret name")
    template_raw = target_raw.get("template")
    secret_type = _str(target_raw, "type", "spec.target") or (
        _str(template_raw, "type", "spec.target.template") if isinstance(template_raw, Mapping) else None
    ) or "Opaque"
    if not secret_type_allowed(secret_type):
        raise InvalidSpecError("spec.target.type", f"{secret_type} mints cluster credentials and cannot be managed")
    creation = _str(target_raw, "creationPolicy", "spec.target", default="Owner") or "Owner"
    deletion = _str(target_raw, "deletionPolicy", "spec.target", default="Delete") or "Delete"
    if creation not in ("Owner", "Merge", "Orphan"):
        raise InvalidSpecError("spec.target.creationPolicy", f"must be Owner, Merge or Orphan, not {creation!r}")
    if deletion not in ("Delete", "Retain"):
        raise InvalidSpecError("spec.target.deletionPolicy", f"must be Delete or Retain, not {deletion!r}")
    if deletion == "Delete" and creation != "Owner":
        raise InvalidSpecError("spec.target.deletionPolicy", "Delete needs creationPolicy Owner")

    template = _parse_template(template_raw) if template_raw is not None else None
    cm_raw = target_raw.get("configMap") or {}
    masked = None
    if isinstance(cm_raw, Mapping) and cm_raw.get("enabled"):
        masked = _str(cm_raw, "name", "spec.target.configMap") or f"{target_name}-masked"

    data: list[DataItem] = []
    seen: set[str] = set()
    for i, item in enumerate(spec.get("data") or []):
        path = f"spec.data[{i}]"
        if not isinstance(item, Mapping):
            raise InvalidSpecError(path, "must be an object")
        key = _str(item, "secretKey", path, required=True) or ""
        if not _SECRET_KEY.match(key) or len(key) > 253:
            raise InvalidSpecError(f"{path}.secretKey", f"{key!r} is not a valid Secret key")
        if key in seen:
            raise InvalidSpecError(f"{path}.secretKey", f"duplicate key {key!r}")
        seen.add(key)
        data.append(DataItem(secret_key=key, remote=parse_remote_ref(item.get("remoteRef"), f"{path}.remoteRef")))
    data_from = tuple(
        parse_remote_ref((item or {}).get("extract"), f"spec.dataFrom[{i}].extract")
        for i, item in enumerate(spec.get("dataFrom") or [])
    )
    if not data and not data_from and not spec.get("rotation"):
        raise InvalidSpecError("spec.data", "set at least one of data, dataFrom or rotation")
    metadata = spec.get("metadata") or {}
    return ManagedSecretSpec(
        store=store,
        refresh_seconds=refresh_seconds,
        refresh_policy=refresh_policy,
        target=Target(
            name=target_name,
            type=secret_type,
            creation_policy=creation,
            deletion_policy=deletion,
            immutable=bool(target_raw.get("immutable", False)),
            template=template,
            masked_configmap=masked,
        ),
        data=tuple(data),
        data_from=data_from,
        metadata=metadata if isinstance(metadata, Mapping) else {},
    )


def _parse_template(raw: Any) -> Template:
    if not isinstance(raw, Mapping):
        raise InvalidSpecError("spec.target.template", "must be an object")
    meta = raw.get("metadata") or {}
    data = raw.get("data") or {}
    for key in data:
        if not _SECRET_KEY.match(str(key)):
            raise InvalidSpecError(f"spec.target.template.data[{key}]", "is not a valid Secret key")
    annotations = dict(meta.get("annotations") or {})
    for key in annotations:
        if key.startswith("configmanager.io/"):
            raise InvalidSpecError(f"spec.target.template.metadata.annotations[{key}]", "is reserved for the operator")
    policy = raw.get("mergePolicy", "Replace")
    if policy not in ("Replace", "Merge"):
        raise InvalidSpecError("spec.target.template.mergePolicy", f"must be Replace or Merge, not {policy!r}")
    engine = str(raw.get("engineVersion") or "v2")
    if engine != "v2":
        raise InvalidSpecError("spec.target.template.engineVersion", f"only v2 (Go templates with Sprig functions) is supported, not {engine!r}")
    template_from = tuple(_parse_template_from(item, f"spec.target.template.templateFrom[{i}]")
                          for i, item in enumerate(raw.get("templateFrom") or []))
    return Template(
        data={str(k): str(v) for k, v in data.items()},
        labels={str(k): str(v) for k, v in (meta.get("labels") or {}).items()},
        annotations=annotations,
        merge_policy=policy,
        template_from=template_from,
        engine_version=engine,
    )


def _parse_template_from(raw: Any, path: str) -> TemplateFrom:
    if not isinstance(raw, Mapping):
        raise InvalidSpecError(path, "must be an object")
    target = str(raw.get("target") or "Data")
    if target not in ("Data", "Annotations", "Labels"):
        raise InvalidSpecError(f"{path}.target", f"must be Data, Annotations or Labels, not {target!r}")
    sources = [k for k in ("configMap", "secret", "literal") if raw.get(k) is not None]
    if len(sources) != 1:
        raise InvalidSpecError(path, "set exactly one of configMap, secret or literal")
    if sources[0] == "literal":
        return TemplateFrom(target=target, literal=str(raw["literal"]))
    ref = raw[sources[0]]
    where = f"{path}.{sources[0]}"
    if not isinstance(ref, Mapping):
        raise InvalidSpecError(where, "must be an object")
    name = _str(ref, "name", where, required=True) or ""
    if not _DNS_NAME.match(name):
        raise InvalidSpecError(f"{where}.name", f"{name!r} is not a valid name")
    items: list[TemplateItem] = []
    for j, item in enumerate(ref.get("items") or []):
        if not isinstance(item, Mapping):
            raise InvalidSpecError(f"{where}.items[{j}]", "must be an object")
        key = _str(item, "key", f"{where}.items[{j}]", required=True) or ""
        template_as = str(item.get("templateAs") or "Values")
        if template_as not in ("Values", "KeysAndValues"):
            raise InvalidSpecError(f"{where}.items[{j}].templateAs", f"must be Values or KeysAndValues, not {template_as!r}")
        items.append(TemplateItem(key=key, template_as=template_as))
    if not items:
        raise InvalidSpecError(f"{where}.items", "name at least one key")
    return TemplateFrom(target=target, kind="ConfigMap" if sources[0] == "configMap" else "Secret", name=name,
                        items=tuple(items))
