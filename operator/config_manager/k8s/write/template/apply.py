"""What ``spec.target.template`` makes of the fetched values: the Secret's data, labels and annotations.

Order, as in External Secrets: every ``templateFrom`` entry in turn, then ``data`` (its keys win), then
``metadata`` labels and annotations. Values reach labels and annotations only where the user templated
them there (``metadata``, or ``templateFrom`` with ``target: Labels|Annotations``); what lands there is
checked as Kubernetes checks labels, and keys under ``configmanager.io/`` stay reserved. ``mergePolicy``
Replace writes only what the template produced (the fetched keys when it produced no data), Merge the
fetched keys with the template's over them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ...spec.managedsecret import Template, TemplateFrom
from .encoding import f_fromYaml
from .errors import TemplateError
from .gofmt import as_bytes, from_bytes, text
from .sandbox import render

Sources = Mapping[tuple[str, str], Mapping[str, str]]  # (kind, name) -> the object's keys as text

_SECRET_KEY = re.compile(r"^[-._a-zA-Z0-9]{1,253}$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_LABEL_KEY = re.compile(r"^([a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")
RESERVED = "configmanager.io/"
_FIELD = {"Data": "data", "Labels": "labels", "Annotations": "annotations"}


@dataclass
class Rendered:
    data: dict[str, bytes] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    produced_data: bool = False


def text_values(data: Mapping[str, bytes]) -> dict[str, str]:
    """Fetched bytes as template values (bytes that are not UTF-8 kept as surrogates, as a Go string)."""
    return {k: from_bytes(v) for k, v in data.items()}


def apply_template(template: Template, data: Mapping[str, bytes], sources: Sources) -> Rendered:
    """The Secret data, labels and annotations the template asks for. Raises TemplateError."""
    values = text_values(data)
    out = Rendered()
    for i, entry in enumerate(template.template_from):
        _template_from(entry, f"spec.target.template.templateFrom[{i}]", values, sources, out)
    for key, source in template.data.items():
        _put(out, "Data", key, render(source, values, field=f"spec.target.template.data[{key}]"),
             f"spec.target.template.data[{key}]")
    for kind, entries in (("Labels", template.labels), ("Annotations", template.annotations)):
        for key, source in entries.items():
            where = f"spec.target.template.metadata.{_FIELD[kind]}[{key}]"
            _put(out, kind, key, render(source, values, field=where), where)
    if template.merge_policy == "Merge" or not out.produced_data:
        out.data = {**data, **out.data}
    return out


def _template_from(entry: TemplateFrom, path: str, values: Mapping[str, Any], sources: Sources, out: Rendered) -> None:
    if entry.literal is not None:
        _keys_and_values(entry.target, render(entry.literal, values, field=f"{path}.literal"), f"{path}.literal", out)
        return
    assert entry.kind is not None
    obj = sources.get((entry.kind, entry.name))
    where = f"{path}.{'configMap' if entry.kind == 'ConfigMap' else 'secret'}"
    if obj is None:
        raise TemplateError(f"{where}.name", f"{entry.kind} {entry.name!r} not found in this namespace")
    for j, item in enumerate(entry.items):
        field_path = f"{where}.items[{j}]"
        if item.key not in obj:
            raise TemplateError(f"{field_path}.key", f"{entry.kind} {entry.name!r} has no key {item.key!r}")
        rendered = render(obj[item.key], values, field=f"{field_path}[{item.key}]")
        if item.template_as == "KeysAndValues":
            _keys_and_values(entry.target, rendered, field_path, out)
        else:
            _put(out, entry.target, item.key, rendered, field_path)


def _keys_and_values(target: str, rendered: str, where: str, out: Rendered) -> None:
    try:
        parsed = f_fromYaml(rendered) if rendered.strip() else {}
    except Exception:  # noqa: BLE001 - the rendered text may hold values: say only that it is not YAML
        raise TemplateError(where, "renders to text that is not a YAML map of keys and values") from None
    if not isinstance(parsed, Mapping) or any(isinstance(v, (Mapping, list)) for v in parsed.values()):
        raise TemplateError(where, "must render to a YAML map of keys to plain values")
    for key, value in parsed.items():
        _put(out, target, text(key), text(value), where)


def _put(out: Rendered, target: str, key: str, value: str, where: str) -> None:
    """Store one rendered key, checked as the apiserver would check it (errors never show the value)."""
    if target == "Data":
        if not _SECRET_KEY.match(key):
            raise TemplateError(where, "produces a key that is not a valid Secret key")
        out.data[key] = as_bytes(value)
        out.produced_data = True
        return
    if key.startswith(RESERVED) or not _LABEL_KEY.match(key):
        raise TemplateError(where, f"produces a {target[:-1].lower()} key that is reserved or not valid")
    if target == "Labels":
        if len(value) > 63 or not _LABEL_VALUE.match(value):
            raise TemplateError(where, "produces a label value that is not valid (63 characters of [-_.A-Za-z0-9])")
        out.labels[key] = value
    else:
        out.annotations[key] = value
