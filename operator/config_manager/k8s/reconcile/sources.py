"""A ConfigBundle's configuration: its sources merged in order, its ``spec.secrets`` injected.

Source objects (ConfigMaps/Secrets of the bundle's namespace only) are read by GET, but only when their
resourceVersion in the watch cache differs from the one read last time (``context.SourceMemo``): an idle
refresh re-reads only the store secrets (through the shared read cache). What is secret — values from
Secret sources, encrypted sources, ``spec.secrets`` and rotation's previous values — is returned as a set
of paths, so the reconcile can mask them in the ConfigMap.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ... import crypto
from ...errors import ConfigManagerError
from ...sources import formats, tree
from ..api.resources import data_plural
from ..context import Context
from ..spec.managedsecret import InvalidSpecError, RemoteRef, StoreRef, parse_remote_ref, parse_store_ref
from ..spec.outputs import force_sync_pending
from ..stores.bindings.local import BINDING as LOCAL
from ..stores.credentials import StoreNotReadyError, read_key
from ..stores.resolve import resolve_store
from ..write.values import extract_property
from .base import TemporaryError, provider_errors, store_errors

SecretItem = tuple[str, StoreRef, RemoteRef]  # (config path, store, reference)


@dataclass
class BuiltConfig:
    """The merged configuration, the paths that are secret, the sources read, provider reads made."""

    config: dict[str, Any] = field(default_factory=dict)
    secret_paths: set[str] = field(default_factory=set)
    read: list[dict[str, str]] = field(default_factory=list)
    reads: int = 0


def leaf_paths(data: Any, prefix: tuple[str, ...] = ()) -> set[str]:
    """Dotted paths of every leaf of a configuration tree."""
    if isinstance(data, Mapping):
        out: set[str] = set()
        for k, v in data.items():
            out |= leaf_paths(v, (*prefix, str(k)))
        return out
    return {".".join(prefix)} if prefix else set()


def watched_objects(namespace: str, spec: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    """(namespace, kind, name) of the source objects whose changes re-sync the bundle."""
    watched: list[tuple[str, str, str]] = []
    for source in spec.get("sources") or []:
        for kind, key in (("ConfigMap", "configMap"), ("Secret", "secret")):
            if key in source:
                watched.append((namespace, kind, source[key]["name"]))
        if "env" in source:
            env = source["env"]
            watched.append((namespace, "ConfigMap", env["configMapName"]) if env.get("configMapName")
                           else (namespace, "Secret", env["secretName"]))
        if "encrypted" in source:
            watched.append((namespace, source["encrypted"].get("kind") or "Secret", source["encrypted"]["name"]))
    return watched


def _not_found(where: str, kind: str, name: str) -> TemporaryError:
    return TemporaryError("SourceError", f"{where}: {kind} {name!r} not found", 30.0)


def read_object(ctx: Context, namespace: str, kind: str, name: str, where: str, optional: bool) -> dict[str, str] | None:
    """Text values of a ConfigMap/Secret of the object's own namespace (re-read only when its version changed)."""
    info = ctx.cache.get_object(kind, namespace, name)
    if info is None:
        # not labelled by us: cached only once its watch by name (watch.targets) has listed it; ask
        found = ctx.api.get(data_plural(kind), namespace, name)
        info = ctx.cache.put_object(found) if found is not None else None
    if info is None:
        if optional:
            return None
        raise _not_found(where, kind, name)
    memo = ctx.sources.get(namespace, kind, name, info.resource_version)
    if memo is not None:
        return memo
    body = ctx.api.get(data_plural(kind), namespace, name)
    if body is None:
        if optional:
            return None
        raise _not_found(where, kind, name)
    if kind == "Secret":
        data = {k: base64.b64decode(v).decode(errors="replace") for k, v in (body.get("data") or {}).items()}
    else:
        data = {k: str(v) for k, v in (body.get("data") or {}).items()}
        data.update({k: base64.b64decode(v).decode(errors="replace") for k, v in (body.get("binaryData") or {}).items()})
    ctx.sources.put(namespace, kind, name, str(body["metadata"].get("resourceVersion")), data)
    return data


def _parse(text: str, fmt: str | None, key: str, where: str) -> dict[str, Any]:
    fmt = fmt or formats.format_for_path(key) or "yaml"
    try:
        return formats.parse(text, fmt)
    except ConfigManagerError as exc:
        raise TemporaryError("SourceError", f"{where}: {exc}", None) from None


def env_tree(values: Mapping[str, str], prefix: str, separator: str) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for name, value in values.items():
        if not name.startswith(prefix):
            continue
        parts = [p.lower() for p in name[len(prefix):].split(separator) if p]
        if parts:
            tree.set_path(result, parts, value)
    return result


def _seen(ctx: Context, namespace: str, kind: str, name: str) -> dict[str, str]:
    info = ctx.cache.get_object(kind, namespace, name)
    return {"kind": kind, "name": name, "resourceVersion": info.resource_version if info else ""}


def _decrypt(ctx: Context, namespace: str, ref: StoreRef, kind: str, name: str, key: str, where: str) -> str:
    """The plaintext of an encrypted source, with the key or passphrase of a local store."""
    with store_errors(f"{where}: ", delay=None):
        store = resolve_store(ref, namespace, ctx.cache)
    if store.provider_type != LOCAL.name:
        raise TemporaryError("InvalidSpec", f"{where}.storeRef: an encrypted source needs a local store", None)
    try:
        blob = read_key(ctx.api, kind, namespace, name, key, where)
    except StoreNotReadyError as exc:
        raise TemporaryError("SourceError", str(exc), None) from None
    with store_errors(f"{where}: ", delay=None):
        secret = LOCAL.decryption_key(store.provider_spec, store.credentials(ctx.api))
    try:
        return crypto.decrypt(blob, **secret).decode()
    except ConfigManagerError as exc:
        raise TemporaryError("SourceError", f"{where}: cannot decrypt: {exc}", None) from None


def _fetch(ctx: Context, namespace: str, ref: StoreRef, remote: RemoteRef, where: str, *, fresh: bool) -> tuple[Any, int]:
    """One value of a store for ``spec.secrets`` (through the shared read cache)."""
    with store_errors(f"{where}: ", delay=None):
        store = resolve_store(ref, namespace, ctx.cache)
        provider = ctx.provider(store)
    with provider_errors(f"{where}: ", not_found=lambda: 30.0,
                         retry=lambda: max(1.0, ctx.providers.backoff.remaining(store.key)),
                         refused=lambda message: TemporaryError("InvalidSpec", message, None)):
        value, fetched = ctx.providers.read(store.key, provider, remote, fresh=fresh)
        return extract_property(value.value, remote.property, remote.key), int(fetched)


def _source_part(ctx: Context, namespace: str, source: Mapping[str, Any], where: str,
                 default_store: StoreRef | None, built: BuiltConfig) -> tuple[dict[str, Any], bool]:
    """One source as a tree, and whether all of it is secret; records what was read."""
    if "inline" in source:
        built.read.append({"kind": "Inline", "name": where.removeprefix("spec."), "resourceVersion": ""})
        return dict(source.get("inline") or {}), False
    if "configMap" in source or "secret" in source:
        kind, ref = ("ConfigMap", source["configMap"]) if "configMap" in source else ("Secret", source["secret"])
        data = read_object(ctx, namespace, kind, ref["name"], f"{where}.{'configMap' if kind == 'ConfigMap' else 'secret'}",
                            bool(ref.get("optional")))
        if data is None:
            return {}, False
        built.read.append(_seen(ctx, namespace, kind, ref["name"]))
        if ref["key"] not in data:
            if not ref.get("optional"):
                raise TemporaryError("SourceError", f"{where}: key {ref['key']!r} not found in {kind} {ref['name']!r}", 30.0)
            return {}, False
        return _parse(data[ref["key"]], ref.get("format"), ref["key"], where), kind == "Secret"
    if "env" in source:
        env = source["env"]
        kind, name = ("ConfigMap", env["configMapName"]) if env.get("configMapName") else ("Secret", env["secretName"])
        data = read_object(ctx, namespace, kind, name, f"{where}.env", bool(env.get("optional")))
        if data is None:
            return {}, False
        built.read.append(_seen(ctx, namespace, kind, name))
        return env_tree(data, env.get("prefix", ""), env.get("separator") or "__"), kind == "Secret"
    if "encrypted" in source:
        enc = source["encrypted"]
        store_ref = parse_store_ref(enc["storeRef"], f"{where}.encrypted.storeRef") if enc.get("storeRef") else default_store
        assert store_ref is not None  # CEL guarantees a store
        kind = enc.get("kind") or "Secret"
        data = read_object(ctx, namespace, kind, enc["name"], f"{where}.encrypted", False)
        assert data is not None
        if enc["key"] not in data:
            raise TemporaryError("SourceError", f"{where}.encrypted: key {enc['key']!r} not found in {kind} {enc['name']!r}", 30.0)
        plaintext = _decrypt(ctx, namespace, store_ref, kind, enc["name"], enc["key"], f"{where}.encrypted")
        part = _parse(plaintext, enc.get("format") or "json", enc["key"], where)
        built.read.append(_seen(ctx, namespace, kind, enc["name"]))
        return part, True
    return {}, False


def build_config(ctx: Context, body: Mapping[str, Any], extra_secrets: Sequence[SecretItem] = ()) -> BuiltConfig:
    """The bundle's configuration. ``extra_secrets`` are injected after ``spec.secrets`` (rotation's
    previous values). Raises TemporaryError / InvalidSpecError naming the field."""
    namespace = body["metadata"]["namespace"]
    spec = body.get("spec") or {}
    default_store = parse_store_ref(spec["storeRef"], "spec.storeRef") if spec.get("storeRef") else None
    built = BuiltConfig()
    for i, source in enumerate(spec.get("sources") or []):
        part, all_secret = _source_part(ctx, namespace, source, f"spec.sources[{i}]", default_store, built)
        if all_secret:
            built.secret_paths |= leaf_paths(part)
        built.config = tree.deep_merge(built.config, part)

    def inject(where: str, path: str, store_ref: StoreRef, remote: RemoteRef, fresh: bool) -> None:
        value, fetched = _fetch(ctx, namespace, store_ref, remote, where, fresh=fresh)
        built.reads += fetched
        tree.set_path(built.config, path, value)
        built.secret_paths.add(path)

    for i, item in enumerate(spec.get("secrets") or []):
        where = f"spec.secrets[{i}]"
        store_ref = parse_store_ref(item["storeRef"], f"{where}.storeRef") if item.get("storeRef") else default_store
        if store_ref is None:
            raise InvalidSpecError(f"{where}.storeRef", "is required when spec.storeRef is not set")
        inject(where, item["path"], store_ref, parse_remote_ref(item.get("remoteRef"), f"{where}.remoteRef"),
               force_sync_pending(body))
    for path, store_ref, remote in extra_secrets:
        inject(f"spec.rotation (previous value of {path})", path, store_ref, remote, False)
    return built
