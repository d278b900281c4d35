"""Reconcile one ConfigBundle: merge its sources in order, inject secrets, write a masked ConfigMap and a
Secret with the real values.

The configuration comes from ``sources.build_config``. What is secret — values from Secret sources,
encrypted sources, ``spec.secrets`` and leaves whose names look secret (``masking.is_secret_path``) — is
shown as ``[MASKED]`` in the ConfigMap; the Secret holds the real document.

Rotation (``spec.rotation``) runs through the same engine as a ManagedSecret's (``rotation.engine``; look
for "rotation hook"): rotated ``spec.secrets`` paths get new values written back to the store before the
sync reads it, the bundle's Secret is written as usual, then workloads that use that Secret restart
(debounced) and ``status.rotation`` records the rotation. With ``keepPrevious`` the previous value is
written to the store beside the current one and shown in the config at ``<path>_previous`` (masked in
the ConfigMap like every secret path).
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ... import masking
from ...errors import ConfigManagerError
from ...sources import formats, tree
from .. import metrics
from ..api.conditions import now_iso, set_condition
from ..context import Context
from ..rotation import engine as rotation
from ..spec.durations import parse_duration
from ..spec.outputs import BundleOutputs, bundle_outputs, force_sync_value
from ..spec.rotation import bundle_previous_items
from ..write.writer import Desired, WriteOutcome, WriteResult, write
from .base import FAILURES, Event, Ready, failure_verdict, jittered
from .sources import BuiltConfig, SecretItem, build_config, leaf_paths, watched_objects
from .status import patch_status, write_status

log = logging.getLogger(__name__)
KIND = "ConfigBundle"


@dataclass
class Written:
    """What one pass wrote: the Secret output (for rotation's restarts), and whether anything changed."""

    secret: Desired | None = None
    secret_outcome: WriteOutcome | None = None
    changed: bool = False


def _refresh(spec: Mapping[str, Any]) -> float:
    try:
        return parse_duration(str(spec.get("refreshInterval", "1h")), "spec.refreshInterval")
    except ConfigManagerError:
        return 3600.0


def reconcile(ctx: Context, namespace: str, name: str, *, reason: str = "sync") -> float | None:
    """One pass over a ConfigBundle; returns the delay until the next pass, or None."""
    body = ctx.cache.bundles.get((namespace, name))
    if body is None:
        ctx.forget(KIND, namespace, name)
        return None
    spec = body.get("spec") or {}
    status: Mapping[str, Any] = body.get("status") or {}
    stats = ctx.stats_for(KIND, namespace, name, int((status.get("stats") or {}).get("providerReads") or 0))
    now = now_iso()
    outputs = bundle_outputs(name, spec)
    ctx.cache.set_watches((KIND, namespace, name), [(namespace, "ConfigMap", outputs.configmap),
                                                    (namespace, "Secret", outputs.secret),
                                                    *watched_objects(namespace, spec)])
    refresh = _refresh(spec)
    next_delay = jittered(refresh, ctx.config.refresh_jitter) if refresh > 0 else None
    extra: dict[str, Any] = {}
    written = Written()
    rot: rotation.RotationPass | None = None
    event: Event | None = None
    ready: Ready
    try:
        rot = rotation.before_sync_bundle(ctx, body, status, lambda patch: patch_status(ctx, KIND, body, patch),  # rotation hook
                                         secret_name=outputs.secret, secret_key=outputs.key)
        previous: list[SecretItem] = []
        if rot is not None:
            status = rot.status
            paths = [str(item.get("path")) for item in spec.get("secrets") or []]
            previous = [(path, rot.subject.store, ref) for path, ref in bundle_previous_items(rot.rotation, paths)]
        built = build_config(ctx, body, previous)
        stats.read(built.reads, now)
        masked = masking.mask_tree(built.config, paths=built.secret_paths, detect=True)
        written, not_owned = _write_outputs(ctx, body, outputs, built, masked)
        leaves = leaf_paths(built.config)
        secret_keys = len(leaves & _masked_paths(masked))
        extra = {"sources": built.read, "stats": {"sources": len(spec.get("sources") or []), "keys": len(leaves),
                                                   "secretKeys": secret_keys, **stats.counters()}}
        if not_owned:
            ready = ("False", "NotOwned", f"{', '.join(not_owned)} exists and is not managed by this ConfigBundle")
            event = ("Warning", "NotOwned", ready[2])
        else:
            ready = ("True", "ConfigSynced", "outputs are in sync")
            if written.changed:
                event = ("Normal", "Updated" if status.get("refreshTime") else "Created",
                         f"outputs written ({len(leaves)} keys, {secret_keys} masked)")
    except FAILURES as exc:
        verdict = failure_verdict(exc, refresh=next_delay, write_reason="SyncFailed", write_delay=10.0)
        ready, event, next_delay = verdict.ready, verdict.event, verdict.delay
    metrics.record_sync(KIND, ready)
    desired = _desired_status(body, status, extra, ready, now)
    if rot is not None:  # rotation hook: restarts (debounced) and the completed rotation's status
        synced = ready[0] == "True"  # as for a ManagedSecret: a failed sync leaves the intent to the next pass
        desired["rotation"] = (rotation.finish(ctx, rot, body, written.secret, written.secret_outcome) if synced
                               else rot.rotation_status)
    if written.changed or not status.get("refreshTime"):
        desired["refreshTime"] = now
    write_status(ctx, KIND, body, desired, current=status, stats=stats, force_write=written.changed)
    if event is not None:
        ctx.events.record(body, *event)
    if rot is not None:
        rotation.after_status(ctx, rot, body)  # rotation hook: Events, notification
    return rotation.next_delay(ctx, namespace, name, next_delay, kind=KIND)  # rotation hook: come back when due


def _write_outputs(ctx: Context, body: Mapping[str, Any], outputs: BundleOutputs, built: BuiltConfig,
                   masked: Any) -> tuple[Written, list[str]]:
    """Write the enabled outputs; returns what was written and the outputs someone else owns."""
    namespace = body["metadata"]["namespace"]
    results: list[tuple[str, str, WriteOutcome]] = []
    written = Written()
    if outputs.configmap_enabled:
        results.append(("ConfigMap", outputs.configmap, write(ctx.api, ctx.cache, Desired(
            kind="ConfigMap", namespace=namespace, name=outputs.configmap,
            data={outputs.key: formats.render(masked, outputs.format)},
            owner=body, policy="Owner", owner_reference=outputs.owner_reference))))
    if outputs.secret_enabled:
        written.secret = Desired(
            kind="Secret", namespace=namespace, name=outputs.secret,
            data={outputs.key: base64.b64encode(formats.render(built.config, outputs.format).encode()).decode()},
            owner=body, policy="Owner", owner_reference=outputs.owner_reference)
        written.secret_outcome = write(ctx.api, ctx.cache, written.secret)
        results.append(("Secret", outputs.secret, written.secret_outcome))
    written.changed = any(r.result in (WriteResult.CREATED, WriteResult.UPDATED) for _, _, r in results)
    return written, [f"{k} {n!r}" for k, n, r in results if r.result is WriteResult.NOT_OWNED]


def _desired_status(body: Mapping[str, Any], status: Mapping[str, Any], extra: Mapping[str, Any], ready: Ready,
                    now: str) -> dict[str, Any]:
    generation = body["metadata"].get("generation")
    desired: dict[str, Any] = {**status, **extra}
    desired["conditions"] = set_condition(status.get("conditions") or [], type_="Ready", status=ready[0], reason=ready[1],
                                          message=ready[2], generation=generation, now=now)
    desired["observedGeneration"] = generation
    force = force_sync_value(body)
    if force is not None:
        desired["forceSync"] = force
    return desired


def _masked_paths(masked: Any) -> set[str]:
    return {p for p in leaf_paths(masked) if tree.get_path(masked, p) == masking.MASK}
