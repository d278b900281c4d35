"""Reconcile one ConfigBundle: merge its sources in order, inject secrets, write a masked ConfigMap and a
Secret with the real values.

Source objects (ConfigMaps/Secrets of the bundle's namespace only) are read by GET, but only when their
resourceVersion in the watch cache differs from the one read last time: an idle refresh re-reads only
the store secrets (through the shared read cache). The watch on those objects triggers a re-sync when
one of them changes. What is secret — values from Secret sources, encrypted sources, ``spec.secrets``
and leaves whose names look secret (``masking.is_secret_path``) — is shown as ``[MASKED]`` in the
ConfigMap; the Secret holds the real document.

Rotation (``spec.rotation``, issue 6) runs through the same engine as a ManagedSecret's
(``rotation.engine``; look for "rotation hook"): rotated ``spec.secrets`` paths get new values written
back to the store before the sync reads it, the bundle's Secret is written as usual, then workloads that
use that Secret restart (debounced) and ``status.rotation`` records the rotation. With ``keepPrevious``
the previous value is written to the store beside the current one and shown in the config at
``<path>_previous`` (masked in the ConfigMap like every secret path).
"""

from __future__ import annotations

import base64
import logging
import threading
from collections.abc import Mapping, Sequence
from typing import Any

from ... import crypto, masking
from ...errors import ConfigManagerError, ConfigurationError, SecretNotFoundError, SecretsError
from ...sources import formats, tree
from .. import metrics
from ..context import Context
from ..stores.isolation import IsolationError
from .managedsecret import SyncFailure, jittered
from ..api.resources import ANN_FORCE_SYNC
from ..rotation import engine as rotation  # rotation hooks (issue 6): marked "rotation hook" below
from ..spec.rotation import bundle_previous_items
from ..spec.managedsecret import InvalidSpecError, RemoteRef, StoreRef, parse_remote_ref, parse_store_ref
from .status import now_iso, set_condition, status_patch
from ..stores.resolve import StoreNotReadyError, build_provider, decode_key_material, resolve_store
from ..write.values import extract_property
from ..spec.durations import parse_duration
from ..write.writer import Desired, WriteError, WriteOutcome, WriteResult, write

log = logging.getLogger(__name__)
KIND = "ConfigBundle"
_EXT = {"json": "json", "yaml": "yaml", "env": "env", "properties": "properties"}

# (namespace, kind, name) -> (resourceVersion, parsed body data) of source objects read last time
_SOURCE_MEMO: dict[tuple[str, str, str], tuple[str, dict[str, str]]] = {}
_MEMO_LOCK = threading.Lock()


def forget_source(namespace: str, kind: str, name: str) -> None:
    """Drop what was read from a source object that is gone."""
    with _MEMO_LOCK:
        _SOURCE_MEMO.pop((namespace, kind, name), None)


def _leaf_paths(data: Any, prefix: tuple[str, ...] = ()) -> set[str]:
    if isinstance(data, Mapping):
        out: set[str] = set()
        for k, v in data.items():
            out |= _leaf_paths(v, (*prefix, str(k)))
        return out
    return {".".join(prefix)} if prefix else set()


def _read_object(ctx: Context, namespace: str, kind: str, name: str, field: str, optional: bool) -> dict[str, str] | None:
    """Text values of a ConfigMap/Secret of the bundle's namespace (re-read only when its version changed)."""
    info = ctx.cache.get_object(kind, namespace, name)
    if info is None:
        if optional:
            return None
        raise SyncFailure("SourceError", f"{field}: {kind} {name!r} not found", 30.0)
    memo_key = (namespace, kind, name)
    with _MEMO_LOCK:
        memo = _SOURCE_MEMO.get(memo_key)
    if memo is not None and memo[0] == info.resource_version:
        return memo[1]
    body = ctx.api.get("secrets" if kind == "Secret" else "configmaps", namespace, name)
    if body is None:
        if optional:
            return None
        raise SyncFailure("SourceError", f"{field}: {kind} {name!r} not found", 30.0)
    if kind == "Secret":
        data = {k: base64.b64decode(v).decode(errors="replace") for k, v in (body.get("data") or {}).items()}
    else:
        data = {k: str(v) for k, v in (body.get("data") or {}).items()}
        data.update({k: base64.b64decode(v).decode(errors="replace") for k, v in (body.get("binaryData") or {}).items()})
    with _MEMO_LOCK:
        _SOURCE_MEMO[memo_key] = (str(body["metadata"].get("resourceVersion")), data)
    return data


def _parse(text: str, fmt: str | None, key: str, field: str) -> dict[str, Any]:
    fmt = fmt or formats.format_for_path(key) or "yaml"
    try:
        return formats.parse(text, fmt)
    except ConfigManagerError as exc:
        raise SyncFailure("SourceError", f"{field}: {exc}", None) from None


def _env_tree(values: Mapping[str, str], prefix: str, separator: str) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for name, value in values.items():
        if not name.startswith(prefix):
            continue
        parts = [p.lower() for p in name[len(prefix):].split(separator) if p]
        if parts:
            tree.set_path(result, parts, value)
    return result


def build_config(ctx: Context, body: Mapping[str, Any], extra_secrets: Sequence[tuple[str, StoreRef, RemoteRef]] = ()
                 ) -> tuple[dict[str, Any], set[str], list[dict[str, str]], int]:
    """The merged configuration, the paths that are secret, the sources read, and provider reads made.

    ``extra_secrets``: (path, store, reference) injected after ``spec.secrets`` (rotation's previous values)."""
    namespace = body["metadata"]["namespace"]
    spec = body.get("spec") or {}
    default_store = parse_store_ref(spec["storeRef"], "spec.storeRef") if spec.get("storeRef") else None
    config: dict[str, Any] = {}
    secret: set[str] = set()
    read: list[dict[str, str]] = []
    reads = 0
    for i, source in enumerate(spec.get("sources") or []):
        field = f"spec.sources[{i}]"
        part: dict[str, Any] = {}
        all_secret = False
        if "inline" in source:
            part = dict(source.get("inline") or {})
            read.append({"kind": "Inline", "name": f"sources[{i}]", "resourceVersion": ""})
        elif "configMap" in source or "secret" in source:
            kind, ref = ("ConfigMap", source["configMap"]) if "configMap" in source else ("Secret", source["secret"])
            data = _read_object(ctx, namespace, kind, ref["name"], f"{field}.{'configMap' if kind == 'ConfigMap' else 'secret'}", bool(ref.get("optional")))
            if data is not None:
                if ref["key"] not in data:
                    if not ref.get("optional"):
                        raise SyncFailure("SourceError", f"{field}: key {ref['key']!r} not found in {kind} {ref['name']!r}", 30.0)
                else:
                    part = _parse(data[ref["key"]], ref.get("format"), ref["key"], field)
                    all_secret = kind == "Secret"
                read.append(_seen(ctx, namespace, kind, ref["name"]))
        elif "env" in source:
            env = source["env"]
            kind, name = ("ConfigMap", env["configMapName"]) if env.get("configMapName") else ("Secret", env["secretName"])
            data = _read_object(ctx, namespace, kind, name, f"{field}.env", bool(env.get("optional")))
            if data is not None:
                part = _env_tree(data, env.get("prefix", ""), env.get("separator") or "__")
                all_secret = kind == "Secret"
                read.append(_seen(ctx, namespace, kind, name))
        elif "encrypted" in source:
            enc = source["encrypted"]
            store_ref = parse_store_ref(enc["storeRef"], f"{field}.encrypted.storeRef") if enc.get("storeRef") else default_store
            assert store_ref is not None  # CEL guarantees a store
            kind = enc.get("kind") or "Secret"
            data = _read_object(ctx, namespace, kind, enc["name"], f"{field}.encrypted", False)
            assert data is not None
            if enc["key"] not in data:
                raise SyncFailure("SourceError", f"{field}.encrypted: key {enc['key']!r} not found in {kind} {enc['name']!r}", 30.0)
            blob = _raw_blob(ctx, namespace, kind, enc["name"], enc["key"])
            plaintext = _decrypt(ctx, namespace, store_ref, blob, f"{field}.encrypted")
            part = _parse(plaintext, enc.get("format") or "json", enc["key"], field)
            all_secret = True
            read.append(_seen(ctx, namespace, kind, enc["name"]))
        if all_secret:
            secret |= _leaf_paths(part)
        config = tree.deep_merge(config, part)
    for i, item in enumerate(spec.get("secrets") or []):
        field = f"spec.secrets[{i}]"
        store_ref = parse_store_ref(item["storeRef"], f"{field}.storeRef") if item.get("storeRef") else default_store
        if store_ref is None:
            raise InvalidSpecError(f"{field}.storeRef", "is required when spec.storeRef is not set")
        remote = parse_remote_ref(item.get("remoteRef"), f"{field}.remoteRef")
        value, fetched = _fetch(ctx, namespace, store_ref, remote, field, fresh=_forced(body))
        reads += fetched
        tree.set_path(config, item["path"], value)
        secret.add(item["path"])
    for path, store_ref, remote in extra_secrets:
        value, fetched = _fetch(ctx, namespace, store_ref, remote, f"spec.rotation (previous value of {path})", fresh=False)
        reads += fetched
        tree.set_path(config, path, value)
        secret.add(path)
    return config, secret, read, reads


def _seen(ctx: Context, namespace: str, kind: str, name: str) -> dict[str, str]:
    info = ctx.cache.get_object(kind, namespace, name)
    return {"kind": kind, "name": name, "resourceVersion": info.resource_version if info else ""}


def _raw_blob(ctx: Context, namespace: str, kind: str, name: str, key: str) -> bytes:
    body = ctx.api.get("secrets" if kind == "Secret" else "configmaps", namespace, name) or {}
    if kind == "Secret":
        return base64.b64decode((body.get("data") or {}).get(key, ""))
    binary = (body.get("binaryData") or {}).get(key)
    return base64.b64decode(binary) if binary is not None else str((body.get("data") or {}).get(key, "")).encode()


def _decrypt(ctx: Context, namespace: str, ref: StoreRef, blob: bytes, field: str) -> str:
    from ..stores.resolve import _read_secret_key  # noqa: PLC0415
    from ..stores.isolation import credential_namespace  # noqa: PLC0415

    try:
        store = resolve_store(ref, namespace, ctx.cache)
    except (StoreNotReadyError, IsolationError) as exc:
        raise SyncFailure("StoreNotReady", f"{field}: {exc}", None) from None
    if store.provider_type != "local":
        raise SyncFailure("InvalidSpec", f"{field}.storeRef: an encrypted source needs a local store", None)
    spec = store.provider_spec
    try:
        if spec.get("keySecretRef"):
            r = spec["keySecretRef"]
            ns = credential_namespace(store.kind, store.namespace, r, "keySecretRef")
            key = decode_key_material(_read_secret_key(ctx.api, "Secret", ns, r["name"], r["key"], "keySecretRef"), "keySecretRef")
            return crypto.decrypt(blob, key=key).decode()
        r = spec["passphraseSecretRef"]
        ns = credential_namespace(store.kind, store.namespace, r, "passphraseSecretRef")
        phrase = _read_secret_key(ctx.api, "Secret", ns, r["name"], r["key"], "passphraseSecretRef").decode()
        return crypto.decrypt(blob, passphrase=phrase).decode()
    except (StoreNotReadyError, IsolationError) as exc:
        raise SyncFailure("StoreNotReady", f"{field}: {exc}", None) from None
    except ConfigManagerError as exc:
        raise SyncFailure("SourceError", f"{field}: cannot decrypt: {exc}", None) from None


def _forced(body: Mapping[str, Any]) -> bool:
    value = ((body.get("metadata") or {}).get("annotations") or {}).get(ANN_FORCE_SYNC)
    return value is not None and value != (body.get("status") or {}).get("forceSync")


def _fetch(ctx: Context, namespace: str, ref: StoreRef, remote: Any, field: str, *, fresh: bool) -> tuple[Any, int]:
    try:
        store = resolve_store(ref, namespace, ctx.cache)
        provider = ctx.providers.provider(store.key, store.fingerprint(ctx.cache), lambda: build_provider(store, ctx.api))
    except (StoreNotReadyError, IsolationError) as exc:
        raise SyncFailure("StoreNotReady", f"{field}: {exc}", None) from None
    try:
        value, fetched = ctx.providers.read(store.key, provider, remote, fresh=fresh)
        return extract_property(value.value, remote.property, remote.key), int(fetched)
    except SecretNotFoundError as exc:
        raise SyncFailure("ProviderError", f"{field}: {exc}", 30.0) from None
    except SecretsError as exc:
        waiting = max(1.0, ctx.providers.backoff.remaining(store.key))
        raise SyncFailure("ProviderError", f"{field}: {exc}", waiting) from None
    except ConfigurationError as exc:  # the provider refused the reference itself (path traversal, bad version)
        raise SyncFailure("InvalidSpec", f"{field}: {exc}", None) from None


def reconcile(ctx: Context, namespace: str, name: str, *, reason: str = "sync") -> float | None:
    """One pass over a ConfigBundle; returns the delay until the next pass, or None."""
    body = ctx.cache.bundles.get((namespace, name))
    if body is None:
        ctx.forget(KIND, namespace, name)
        return None
    meta = body["metadata"]
    spec = body.get("spec") or {}
    status: Mapping[str, Any] = body.get("status") or {}
    stats = ctx.stats_for(KIND, namespace, name, int((status.get("stats") or {}).get("providerReads") or 0))
    now = now_iso()
    output = spec.get("output") or {}
    fmt = output.get("format") or "yaml"
    key = output.get("key") or f"config.{_EXT[fmt]}"
    cm_spec = output.get("configMap") or {}
    sec_spec = output.get("secret") or {}
    cm_name = cm_spec.get("name") or name
    sec_name = sec_spec.get("name") or f"{name}-secret"
    delete = (output.get("deletionPolicy") or "Delete") == "Delete"
    try:
        refresh = parse_duration(str(spec.get("refreshInterval", "1h")), "spec.refreshInterval")
    except ConfigManagerError:
        refresh = 3600.0
    watched = [(namespace, "ConfigMap", cm_name), (namespace, "Secret", sec_name)]
    for source in spec.get("sources") or []:
        for kind, field in (("ConfigMap", "configMap"), ("Secret", "secret")):
            if field in source:
                watched.append((namespace, kind, source[field]["name"]))
        if "env" in source:
            env = source["env"]
            watched.append((namespace, "ConfigMap", env["configMapName"]) if env.get("configMapName") else (namespace, "Secret", env["secretName"]))
        if "encrypted" in source:
            watched.append((namespace, source["encrypted"].get("kind") or "Secret", source["encrypted"]["name"]))
    ctx.cache.set_watches((KIND, namespace, name), watched)
    next_delay = jittered(refresh, ctx.config.refresh_jitter) if refresh > 0 else None
    event: tuple[str, str, str] | None = None
    extra: dict[str, Any] = {}
    written = False
    rot: rotation.RotationPass | None = None
    secret_desired: Desired | None = None
    secret_outcome: WriteOutcome | None = None
    try:
        rot = rotation.before_sync_bundle(ctx, body, status, secret_name=sec_name, secret_key=key)  # rotation hook
        previous: list[tuple[str, StoreRef, RemoteRef]] = []
        if rot is not None:
            status = rot.status
            paths = [str(item.get("path")) for item in spec.get("secrets") or []]
            previous = [(path, rot.subject.store, ref) for path, ref in bundle_previous_items(rot.rotation, paths)]
        config, secret_paths, read, reads = build_config(ctx, body, previous)
        stats.reads += reads
        if reads:
            stats.last_read = now
        masked = masking.mask_tree(config, paths=secret_paths, detect=True)
        results = []
        if cm_spec.get("enabled", True):
            results.append(("ConfigMap", cm_name, write(ctx.api, ctx.cache, Desired(
                kind="ConfigMap", namespace=namespace, name=cm_name, data={key: formats.render(masked, fmt)},
                owner=body, policy="Owner", owner_reference=delete))))
        if sec_spec.get("enabled", True):
            secret_desired = Desired(
                kind="Secret", namespace=namespace, name=sec_name,
                data={key: base64.b64encode(formats.render(config, fmt).encode()).decode()},
                owner=body, policy="Owner", owner_reference=delete)
            secret_outcome = write(ctx.api, ctx.cache, secret_desired)
            results.append(("Secret", sec_name, secret_outcome))
        not_owned = [f"{k} {n!r}" for k, n, r in results if r.result is WriteResult.NOT_OWNED]
        written = any(r.result in (WriteResult.CREATED, WriteResult.UPDATED) for _, _, r in results)
        leaves = _leaf_paths(config)
        extra = {"sources": read, "stats": {"sources": len(spec.get("sources") or []), "keys": len(leaves),
                                              "secretKeys": len(leaves & _masked_paths(masked)),
                                              "providerReads": stats.reads, **({"lastRead": stats.last_read} if stats.last_read else {})}}
        if not_owned:
            ready = ("False", "NotOwned", f"{', '.join(not_owned)} exists and is not managed by this ConfigBundle")
            event = ("Warning", "NotOwned", ready[2])
        else:
            ready = ("True", "ConfigSynced", "outputs are in sync")
            if written:
                event = ("Normal", "Updated" if status.get("refreshTime") else "Created",
                         f"outputs written ({len(leaves)} keys, {len(leaves & _masked_paths(masked))} masked)")
    except SyncFailure as exc:
        ready = (("False", exc.reason, str(exc)))
        event = ("Warning", "SyncFailed", f"{exc.reason}: {exc}")
        if exc.retry is not None:
            next_delay = exc.retry
    except InvalidSpecError as exc:
        ready = ("False", "InvalidSpec", str(exc))
        event = ("Warning", "InvalidSpec", str(exc))
        next_delay = None
    except (WriteError, ConfigManagerError) as exc:
        ready = ("False", "SyncFailed", str(exc))
        event = ("Warning", "SyncFailed", str(exc))
        next_delay = 10.0
    metrics.record_sync(KIND, ready)
    desired: dict[str, Any] = dict(status)
    desired.update(extra)
    if rot is not None:  # rotation hook: restarts (debounced) and the completed rotation's status
        synced = ready[0] == "True"  # as for a ManagedSecret: a failed sync leaves the intent to the next pass
        desired["rotation"] = rotation.finish(ctx, rot, body, secret_desired, secret_outcome) if synced else rot.rotation_status
    desired["conditions"] = set_condition(status.get("conditions") or [], type_="Ready", status=ready[0], reason=ready[1],
                                          message=ready[2], generation=meta.get("generation"), now=now)
    desired["observedGeneration"] = meta.get("generation")
    force = (meta.get("annotations") or {}).get(ANN_FORCE_SYNC)
    if force is not None:
        desired["forceSync"] = force
    if written or not status.get("refreshTime"):
        desired["refreshTime"] = now
    patch = status_patch(_without_volatile_stats(dict(status)), _without_volatile_stats(desired),
                         flush_volatile=written or stats.flush_due(ctx.config.stats_flush))
    if patch is not None:
        if "stats" in desired:
            patch["stats"] = desired["stats"]
        try:
            updated = ctx.api.patch("configbundles", namespace, name, {"status": patch}, subresource="status")
            ctx.cache.update_body("configbundles", updated)
            stats.flushed_reads = stats.reads
        except Exception as exc:  # noqa: BLE001
            log.warning("status of ConfigBundle %s/%s not written: %s", namespace, name, exc)
    if event is not None:
        ctx.events.record(body, *event)
    if rot is not None:
        rotation.after_status(ctx, rot, body)  # rotation hook: Events, notification
    return rotation.next_delay(ctx, namespace, name, next_delay, kind=KIND)  # rotation hook: come back when due


def _masked_paths(masked: Any) -> set[str]:
    return {p for p in _leaf_paths(masked) if tree.get_path(masked, p) == masking.MASK}


def _without_volatile_stats(desired: dict[str, Any]) -> dict[str, Any]:
    """Compare stats without the read counters (they alone never justify a write)."""
    out = dict(desired)
    if "stats" in out:
        out["stats"] = {k: v for k, v in out["stats"].items() if k not in ("providerReads", "lastRead")}
    return out
