#!/usr/bin/env python3
"""Generate docs/reference.md from the CRD schemas in crds/ (the one source of the API's documentation).

Why a script: the reference must say exactly what the apiserver enforces (types, required fields,
defaults, enums, patterns, CEL rules and their messages), and hand-written field tables drift. Every
field's description comes from the CRD itself.

    tools/gen-crd-docs.py            write docs/reference.md
    tools/gen-crd-docs.py --check    exit 1 when docs/reference.md is out of date
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
CRDS = ROOT / "crds"
OUT = ROOT / "docs" / "reference.md"
ORDER = ["SecretStore", "ClusterSecretStore", "ManagedSecret", "ConfigBundle", "VaultDynamicSecret", "Password", "SSHKey", "UUID"]
SKIP_TOP = {"apiVersion", "kind", "metadata"}


def cell(text: Any) -> str:
    """Text made safe for one Markdown table cell."""
    return " ".join(str(text).split()).replace("|", "\\|")


def type_of(schema: dict[str, Any]) -> str:
    kind = schema.get("type")
    if kind == "array":
        return f"[]{type_of(schema.get('items', {}))}"
    if kind == "object" and "additionalProperties" in schema and not schema.get("properties"):
        inner = schema["additionalProperties"]
        return f"map[string]{type_of(inner) if isinstance(inner, dict) else 'any'}"
    if schema.get("x-kubernetes-int-or-string"):
        return "int-or-string"
    if kind is None and schema.get("x-kubernetes-preserve-unknown-fields"):
        return "any"
    return str(kind or "any")


def constraints(schema: dict[str, Any]) -> list[str]:
    notes: list[str] = []
    if "default" in schema:
        notes.append(f"default `{json.dumps(schema['default'])}`")
    if "enum" in schema:
        notes.append("one of " + ", ".join(f"`{v}`" for v in schema["enum"]))
    for key, label in (("minLength", "min length"), ("maxLength", "max length"), ("minimum", "min"),
                       ("maximum", "max"), ("minItems", "min items"), ("maxItems", "max items"),
                       ("maxProperties", "max properties"), ("format", "format")):
        if key in schema:
            notes.append(f"{label} {schema[key]}")
    if "pattern" in schema:
        notes.append(f"pattern `{schema['pattern']}`")
    if schema.get("x-kubernetes-list-type"):
        notes.append(f"list type {schema['x-kubernetes-list-type']}")
    for rule in schema.get("x-kubernetes-validations", []) or []:
        notes.append(f"rule: {rule.get('message') or rule['rule']}")
    return notes


def walk(schema: dict[str, Any], path: str, required: bool) -> Iterator[tuple[str, str, bool, str, list[str]]]:
    """(path, type, required, description, constraints) for a field and everything under it."""
    yield path, type_of(schema), required, schema.get("description", ""), constraints(schema)
    target = schema
    suffix = ""
    if schema.get("type") == "array" and isinstance(schema.get("items"), dict):
        target, suffix = schema["items"], "[]"
    elif isinstance(schema.get("additionalProperties"), dict) and not schema.get("properties"):
        target, suffix = schema["additionalProperties"], ".*"
    if target is not schema:
        item_notes = constraints(target)
        if item_notes and not target.get("properties"):
            yield f"{path}{suffix}", type_of(target), False, target.get("description", ""), item_notes
    needed = set(target.get("required", []))
    for name, child in (target.get("properties") or {}).items():
        yield from walk(child, f"{path}{suffix}.{name}", name in needed)


def document(crd: dict[str, Any]) -> str:
    spec = crd["spec"]
    names = spec["names"]
    lines: list[str] = []
    for version in spec["versions"]:
        schema = version["schema"]["openAPIV3Schema"]
        lines += [f"## {names['kind']}", ""]
        lines.append(f"`{spec['group']}/{version['name']}` · {spec['scope']}-scoped · plural `{names['plural']}`"
                     + (f" · short names {', '.join(f'`{s}`' for s in names.get('shortNames', []))}" if names.get("shortNames") else "")
                     + (" · status subresource" if "status" in (version.get("subresources") or {}) else ""))
        lines.append("")
        if schema.get("description"):
            lines += [" ".join(schema["description"].split()), ""]
        for rule in schema.get("x-kubernetes-validations", []) or []:
            lines.append(f"- Object rule: {rule.get('message') or rule['rule']}")
        columns = version.get("additionalPrinterColumns") or []
        if columns:
            lines += ["", "`kubectl get` columns: " + ", ".join(f"{c['name']} (`{c['jsonPath']}`)" for c in columns), ""]
        needed = set(schema.get("required", []))
        for top in ("spec", "status"):
            if top not in (schema.get("properties") or {}):
                continue
            lines += [f"### {names['kind']}.{top}", "", "| Field | Type | Required | Description | Constraints |",
                      "|---|---|---|---|---|"]
            for path, kind, req, desc, notes in walk(schema["properties"][top], top, top in needed):
                lines.append(f"| `{path}` | {cell(kind)} | {'yes' if req else ''} | {cell(desc)} | {cell('; '.join(notes))} |")
            lines.append("")
        other = [k for k in (schema.get("properties") or {}) if k not in SKIP_TOP | {"spec", "status"}]
        if other:
            lines += [f"Other top-level fields: {', '.join(other)}", ""]
    return "\n".join(lines)


def render() -> str:
    crds = []
    for path in sorted(CRDS.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and doc.get("kind") == "CustomResourceDefinition":
                crds.append((path.name, doc))
    crds.sort(key=lambda item: ORDER.index(item[1]["spec"]["names"]["kind"]) if item[1]["spec"]["names"]["kind"] in ORDER else 99)
    head = [
        "# API reference (configmanager.io/v1alpha1)",
        "",
        "<!-- Generated by tools/gen-crd-docs.py from crds/*.yaml. Do not edit by hand: change the CRD and re-run. -->",
        "",
        "Every field below is what the apiserver enforces at admission (OpenAPI schema and CEL rules). "
        "Install the CRDs with `kubectl apply --server-side -f crds/` or the Helm chart.",
        "",
        "Contents: " + ", ".join(f"[{d['spec']['names']['kind']}](#{d['spec']['names']['kind'].lower()})" for _, d in crds)
        + " (source files: " + ", ".join(f"`crds/{name}`" for name, _ in crds) + ")",
        "",
    ]
    return "\n".join(head + [document(doc) for _, doc in crds]).rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="fail when docs/reference.md is out of date")
    parser.add_argument("--output", type=Path, default=OUT)
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        current = args.output.read_text() if args.output.exists() else ""
        if current != text:
            print(f"{args.output} is out of date: run tools/gen-crd-docs.py", file=sys.stderr)
            return 1
        return 0
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text)
    print(f"wrote {args.output.relative_to(ROOT) if args.output.is_relative_to(ROOT) else args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
