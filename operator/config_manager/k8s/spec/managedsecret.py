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


#: dataFrom conversionStrategy / decodingStrategy values, as in External Secrets.
CONVERSION_STRATEGIES = ("Default", "Unicode")
DECODING_STRATEGIES = ("None", "Base64", "Base64URL", "Auto")
#: Generator kinds a dataFrom[].sourceRef.generatorRef (or rotation) may name.
GENERATOR_KINDS = ("Password", "SSHKey", "UUID")


@dataclass(frozen=True)
class Find:
    """dataFrom[].find: keys of the store selected by name regexp, tags and/or path."""

    name_regexp: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    path: str | None = None


@dataclass(frozen=True)
class Rewrite:
    """One dataFrom[].rewrite[] step: a Go-style regexp replace of key names, or a key template."""

    source: str | None = None  # regexp.source
    target: str = ""  # regexp.target ($1 / ${name} refer to groups)
    template: str | None = None  # transform.template, the key as {{ .value }}


@dataclass(frozen=True)
class GeneratorRef:
    kind: str
    name: str


@dataclass(frozen=True)
class DataFrom:
    """One dataFrom entry: exactly one of extract, find or generator, then its rewrites in order."""

    extract: RemoteRef | None = None
    find: Find | None = None
    generator: GeneratorRef | None = None
    rewrite: tuple[Rewrite, ...] = ()
    conversion: str | None = None  # None: not given (find defaults to Default, extract converts nothing)
    decoding: str = "None"


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
    data_from: tuple[DataFrom, ...]
    metadata: Mapping[str, Any]
    #: Periodic (every refresh_seconds), OnChange (spec changes) or CreatedOnce (once per object).
    refresh_policy: str = "Periodic"

    def remote_refs(self) -> list[RemoteRef]:
        """Every remote reference, dataFrom first (the order in which they are merged)."""
        return [*(d.extract for d in self.data_from if d.extract is not None), *(d.remote for d in self.data)]

    def generators(self) -> list[GeneratorRef]:
        """The generators the dataFrom entries name."""
        return [d.generator for d in self.data_from if d.generator is not None]


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
    data_from = tuple(parse_data_from(item, f"spec.dataFrom[{i}]") for i, item in enumerate(spec.get("dataFrom") or []))
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


def compile_regexp(pattern: str, path: str) -> re.Pattern[str]:
    """``pattern`` compiled, or InvalidSpecError naming ``path`` (the CRD's CEL catches RE2 errors first;
    Python's ``re`` refuses a few more, such as possessive quantifiers in old versions)."""
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise InvalidSpecError(path, f"{pattern!r} is not a valid regular expression: {exc}") from None


def _strategy(raw: Mapping[str, Any], key: str, path: str, allowed: tuple[str, ...]) -> str | None:
    value = _str(raw, key, path)
    if value is not None and value not in allowed:
        raise InvalidSpecError(f"{path}.{key}", f"{value!r} is not one of {', '.join(allowed)}")
    return value


def _parse_find(raw: Any, path: str) -> Find:
    if not isinstance(raw, Mapping):
        raise InvalidSpecError(path, "must be an object")
    name = raw.get("name") or {}
    if not isinstance(name, Mapping):
        raise InvalidSpecError(f"{path}.name", "must be an object")
    regexp = _str(name, "regexp", f"{path}.name")
    if regexp is not None:
        compile_regexp(regexp, f"{path}.name.regexp")
    tags = raw.get("tags") or {}
    if not isinstance(tags, Mapping) or not all(isinstance(v, str) for v in tags.values()):
        raise InvalidSpecError(f"{path}.tags", "must map tag names to strings")
    find_path = _str(raw, "path", path)
    if find_path is not None and (find_path.startswith("/") or ".." in find_path.split("/")):
        raise InvalidSpecError(f"{path}.path", f"{find_path!r} must be a relative path without '..'")
    if regexp is None and not tags and not find_path:
        raise InvalidSpecError(path, "set at least one of name.regexp, tags or path")
    return Find(name_regexp=regexp, tags={str(k): v for k, v in tags.items()}, path=find_path or None)


def _parse_rewrite(raw: Any, path: str) -> Rewrite:
    if not isinstance(raw, Mapping) or ("regexp" in raw) == ("transform" in raw):
        raise InvalidSpecError(path, "set exactly one of regexp or transform")
    if "regexp" in raw:
        rx = raw.get("regexp") or {}
        source = _str(rx, "source", f"{path}.regexp", required=True) or ""
        compile_regexp(source, f"{path}.regexp.source")
        target = _str(rx, "target", f"{path}.regexp", required=True) or ""
        return Rewrite(source=source, target=target)
    template = _str(raw.get("transform") or {}, "template", f"{path}.transform", required=True) or ""
    return Rewrite(template=template)


def parse_generator_ref(raw: Any, path: str) -> GeneratorRef:
    """A generatorRef ({apiVersion?, kind, name}) naming one of our generator kinds in this namespace."""
    if not isinstance(raw, Mapping):
        raise InvalidSpecError(path, "must be an object")
    kind = _str(raw, "kind", path, required=True) or ""
    if kind not in GENERATOR_KINDS:
        raise InvalidSpecError(f"{path}.kind", f"{kind!r} is not one of {', '.join(GENERATOR_KINDS)}")
    name = _str(raw, "name", path, required=True) or ""
    if not _DNS_NAME.match(name):
        raise InvalidSpecError(f"{path}.name", f"{name!r} is not a valid object name")
    return GeneratorRef(kind=kind, name=name)


def parse_data_from(raw: Any, path: str) -> DataFrom:
    """One dataFrom entry (extract, find or sourceRef.generatorRef, with rewrite)."""
    if not isinstance(raw, Mapping):
        raise InvalidSpecError(path, "must be an object")
    source_ref = raw.get("sourceRef")
    given = [k for k in ("extract", "find") if raw.get(k) is not None]
    if source_ref is not None:
        given.append("sourceRef")
    if len(given) != 1:
        raise InvalidSpecError(path, "set exactly one of extract, find or sourceRef.generatorRef")
    rewrites = raw.get("rewrite") or []
    if not isinstance(rewrites, list):
        raise InvalidSpecError(f"{path}.rewrite", "must be a list")
    rewrite = tuple(_parse_rewrite(item, f"{path}.rewrite[{j}]") for j, item in enumerate(rewrites))
    if source_ref is not None:
        if not isinstance(source_ref, Mapping) or source_ref.get("generatorRef") is None:
            raise InvalidSpecError(f"{path}.sourceRef", "needs generatorRef (a store per entry is not supported)")
        generator = parse_generator_ref(source_ref["generatorRef"], f"{path}.sourceRef.generatorRef")
        return DataFrom(generator=generator, rewrite=rewrite)
    part = "extract" if given == ["extract"] else "find"
    options = raw[part] if isinstance(raw[part], Mapping) else {}
    conversion = _strategy(options, "conversionStrategy", f"{path}.{part}", CONVERSION_STRATEGIES)
    decoding = _strategy(options, "decodingStrategy", f"{path}.{part}", DECODING_STRATEGIES) or "None"
    if part == "extract":
        return DataFrom(extract=parse_remote_ref(raw["extract"], f"{path}.extract"), rewrite=rewrite,
                        conversion=conversion, decoding=decoding)
    return DataFrom(find=_parse_find(raw["find"], f"{path}.find"), rewrite=rewrite,
                    conversion=conversion, decoding=decoding)
