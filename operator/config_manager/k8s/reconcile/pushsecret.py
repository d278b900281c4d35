"""Reconcile one PushSecret: the keys of a Secret in its namespace written to one or more stores.

A pass GETs the source Secret (its values are not in the watch cache), then for each store resolves the
reference with the isolation rules of every other kind (a SecretStore of this namespace, a
ClusterSecretStore only when its conditions admit the namespace) and pushes each mapped key through
``stores.push`` — which reads the remote first, so nothing is written when the store already holds the
value and ``updatePolicy: IfNotExists`` never overwrites. Status lists every (store, key) with whether it
is in sync, whether we wrote it (``pushed``: only those are ours to delete) and the last error, never a
value. With ``deletionPolicy: Delete`` a finalizer makes sure what we pushed is removed when the
PushSecret goes; a key that leaves the spec is removed at the next pass.

Woken by: its own spec changes, the source Secret's watch events (``cache.set_watches``), its refresh.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Mapping
from typing import Any

from ...errors import ConfigurationError, SecretsError
from .. import metrics
from ..api.client import ApiError
from ..api.conditions import now_iso, set_condition
from ..api.resources import FINALIZER_PUSH, SECRETS
from ..context import Context
from ..logs import REDACTOR
from ..spec.managedsecret import InvalidSpecError, StoreRef
from ..spec.pushsecret import PushSecretSpec, parse_push_secret
from ..stores.credentials import StoreNotReadyError
from ..stores.isolation import IsolationError
from ..stores.push import Pushed, push_value, remove_value
from ..stores.resolve import ResolvedStore, resolve_store
from .base import jittered
from .status import write_status

log = logging.getLogger(__name__)
KIND = "PushSecret"
RETRY = 15.0  # seconds before a failed push is tried again


def store_id(ref: StoreRef) -> str:
    return f"{ref.kind}/{ref.name}"


def _store_ref(store_id_: str) -> StoreRef:
    kind, _, name = store_id_.partition("/")
    return StoreRef(name=name, kind=kind)


def reconcile(ctx: Context, namespace: str, name: str, *, reason: str = "sync") -> float | None:
    """One pass over a PushSecret. Returns the delay until the next pass, or None."""
    body = ctx.cache.push_secrets.get((namespace, name))
    if body is None:
        ctx.cache.set_watches((KIND, namespace, name), [])
        return None
    return _Pass(ctx, body).run()


class _Pass:
    def __init__(self, ctx: Context, body: Mapping[str, Any]) -> None:
        self.ctx = ctx
        self.body = body
        meta = body["metadata"]
        self.namespace, self.name = str(meta["namespace"]), str(meta["name"])
        self.status: Mapping[str, Any] = body.get("status") or {}
        self.previous = [dict(e) for e in self.status.get("keys") or [] if isinstance(e, Mapping)]
        self.now = now_iso()
        self._providers: dict[str, Any] = {}

    # -- the pass ---------------------------------------------------------------------------------------

    def run(self) -> float | None:
        meta = self.body["metadata"]
        if meta.get("deletionTimestamp"):
            return self.finalize()
        try:
            spec = parse_push_secret(self.body.get("spec") or {})
        except InvalidSpecError as exc:
            self.finish(("False", "InvalidSpec", str(exc)), ("Warning", "InvalidSpec", str(exc)), self.previous)
            return None
        if not self.set_finalizer(spec.deletion_policy == "Delete"):
            return 1.0
        self.ctx.cache.set_watches((KIND, self.namespace, self.name), [(self.namespace, "Secret", spec.source)])
        source = self.source(spec.source)
        if source is None:
            message = f"spec.selector.secret.name: Secret {spec.source!r} not found in namespace {self.namespace!r}"
            self.finish(("False", "SourceNotFound", message), ("Warning", "SourceNotFound", message), self.previous)
            return None  # its creation wakes us (watched)
        return self.push(spec, source)

    def source(self, name: str) -> tuple[str, dict[str, str]] | None:
        """(resourceVersion, text values) of the source Secret, or None when it does not exist."""
        if self.ctx.cache.get_object("Secret", self.namespace, name) is None:
            return None
        body = self.ctx.api.get(SECRETS, self.namespace, name)
        if body is None:
            return None
        values: dict[str, str] = {}
        for key, encoded in (body.get("data") or {}).items():
            raw = base64.b64decode(str(encoded))
            try:
                values[key] = raw.decode()
            except UnicodeDecodeError:
                continue  # reported per item: not text
            REDACTOR.add(values[key])
        return str(body["metadata"].get("resourceVersion") or ""), values

    def push(self, spec: PushSecretSpec, source: tuple[str, dict[str, str]]) -> float | None:
        version, values = source
        entries: list[dict[str, Any]] = []
        written = 0
        failures: list[tuple[str, str]] = []  # (reason, message)
        old = {(e.get("store"), e.get("remoteKey"), e.get("property")): e for e in self.previous}
        for index, ref in enumerate(spec.stores):
            sid = store_id(ref)
            where = f"spec.secretStoreRefs[{index}]"
            provider, refused = self.provider(ref, where)
            for item_index, item in enumerate(spec.data):
                previous = old.get((sid, item.remote_key, item.property)) or {}
                entry: dict[str, Any] = {"store": sid, "secretKey": item.secret_key, "remoteKey": item.remote_key,
                                         **({"property": item.property} if item.property else {}),
                                         "synced": False, "pushed": bool(previous.get("pushed"))}
                entries.append(entry)
                if refused is not None:
                    entry["error"] = refused[1]
                    failures.append(refused)
                    continue
                if item.secret_key not in values:
                    entry["error"] = (f"spec.data[{item_index}].match.secretKey: key {item.secret_key!r} is not a text key "
                                      f"of Secret {spec.source!r}")
                    failures.append(("SourceKeyMissing", entry["error"]))
                    continue
                try:
                    result = push_value(provider, item.remote_key, item.property, values[item.secret_key],
                                        if_not_exists=spec.update_policy == "IfNotExists")
                except (SecretsError, ConfigurationError) as exc:
                    entry["error"] = f"{sid}: {exc}"
                    failures.append(("PushFailed", entry["error"]))
                    continue
                entry["synced"] = True
                if result is Pushed.WRITTEN:
                    entry["pushed"] = True
                    written += 1
                    self.ctx.providers.invalidate(self.resolved_key(ref))
                elif result is Pushed.KEPT:
                    entry["detail"] = "exists in the store; updatePolicy IfNotExists leaves it"
        entries += self.remove_dropped(spec, entries, failures)
        if failures:
            reason, message = failures[0]
            more = f" (and {len(failures) - 1} more)" if len(failures) > 1 else ""
            self.finish(("False", reason, message + more), ("Warning", reason, message + more), entries,
                        synced_version=None)
            return RETRY
        event = ("Normal", "Pushed", f"{written} value(s) written to {len(spec.stores)} store(s)") if written else None
        self.finish(("True", "Pushed", f"{len(spec.data)} key(s) in sync in {len(spec.stores)} store(s)"), event,
                    entries, synced_version=version, wrote=bool(written))
        return jittered(spec.refresh_seconds, self.ctx.config.refresh_jitter) if spec.refresh_seconds > 0 else None

    def remove_dropped(self, spec: PushSecretSpec, entries: list[dict[str, Any]],
                       failures: list[tuple[str, str]]) -> list[dict[str, Any]]:
        """Keys we pushed that left the spec: removed with deletionPolicy Delete (else forgotten).
        Returns the entries that could not be removed yet (kept in status, so we try again)."""
        wanted = {(e["store"], e["remoteKey"], e.get("property")) for e in entries}
        kept: list[dict[str, Any]] = []
        for entry in self.previous:
            key = (entry.get("store"), entry.get("remoteKey"), entry.get("property"))
            if key in wanted or not entry.get("pushed") or spec.deletion_policy != "Delete":
                continue
            error = self.remove(entry)
            if error is not None:
                kept.append({**entry, "synced": False, "error": error})
                failures.append(("DeleteFailed", error))
        return kept

    # -- stores -----------------------------------------------------------------------------------------

    def provider(self, ref: StoreRef, where: str) -> tuple[Any, tuple[str, str] | None]:
        """The provider of ``ref`` for this namespace, or the (reason, message) why it may not be used."""
        try:
            store = resolve_store(ref, self.namespace, self.ctx.cache)
        except IsolationError as exc:
            return None, ("StoreRefused", f"{where}: {exc}; nothing pushed to it")
        except StoreNotReadyError as exc:
            return None, ("StoreNotReady", f"{where}: {exc}")
        try:
            provider = self.ctx.provider(store)
        except (StoreNotReadyError, IsolationError, SecretsError) as exc:
            return None, ("StoreNotReady", f"{where}: {store.kind} {store.name!r}: {exc}")
        self._providers[store_id(ref)] = store
        return provider, None

    def resolved_key(self, ref: StoreRef) -> str:
        store: ResolvedStore = self._providers[store_id(ref)]
        return store.key

    def remove(self, entry: Mapping[str, Any]) -> str | None:
        """Remove one value we pushed; None when done (or nothing to remove), else the error."""
        sid = str(entry.get("store"))
        provider, refused = self.provider(_store_ref(sid), f"store {sid}")
        if refused is not None:
            return refused[1]
        try:
            remove_value(provider, str(entry.get("remoteKey")), entry.get("property"))
        except (SecretsError, ConfigurationError) as exc:
            return f"{sid}: removing {entry.get('remoteKey')!r}: {exc}"
        self.ctx.providers.invalidate(self.resolved_key(_store_ref(sid)))
        return None

    # -- finalizer --------------------------------------------------------------------------------------

    def set_finalizer(self, wanted: bool) -> bool:
        """Add or drop our finalizer; False when the object changed under us (try again)."""
        meta = self.body["metadata"]
        finalizers = list(meta.get("finalizers") or [])
        if (FINALIZER_PUSH in finalizers) == wanted:
            return True
        finalizers = [*finalizers, FINALIZER_PUSH] if wanted else [f for f in finalizers if f != FINALIZER_PUSH]
        try:
            updated = self.ctx.api.patch("pushsecrets", self.namespace, self.name, {"metadata": {
                "finalizers": finalizers, "resourceVersion": meta.get("resourceVersion")}})
        except ApiError as exc:
            if exc.status in (404, 409):
                return False
            raise
        self.ctx.cache.update_body("pushsecrets", updated)
        self.body = updated
        return True

    def finalize(self) -> float | None:
        """The PushSecret is being deleted: remove what we pushed, then let it go."""
        finalizers = list(self.body["metadata"].get("finalizers") or [])
        if FINALIZER_PUSH not in finalizers:
            return None
        errors = []
        left = []
        for entry in self.previous:
            if not entry.get("pushed"):
                continue
            if not self._store_exists(entry):
                continue  # the store itself is gone: nothing we could remove
            error = self.remove(entry)
            if error is not None:
                errors.append(error)
                left.append({**entry, "error": error})
        if errors:
            message = f"cannot remove what was pushed: {errors[0]}"
            self.finish(("False", "DeleteFailed", message), ("Warning", "DeleteFailed", message), left)
            return RETRY
        if self.set_finalizer(False):
            log.info("PushSecret %s/%s: removed what it pushed", self.namespace, self.name)
            return None
        return 1.0

    def _store_exists(self, entry: Mapping[str, Any]) -> bool:
        ref = _store_ref(str(entry.get("store")))
        cache = self.ctx.cache
        with cache.lock:
            if ref.kind == "SecretStore":
                return (self.namespace, ref.name) in cache.stores
            return ref.name in cache.cluster_stores

    # -- status -----------------------------------------------------------------------------------------

    def finish(self, ready: tuple[str, str, str], event: tuple[str, str, str] | None, entries: list[dict[str, Any]],
               *, synced_version: str | None = None, wrote: bool = False) -> None:
        metrics.record_sync(KIND, ready)
        generation = self.body["metadata"].get("generation")
        desired: dict[str, Any] = dict(self.status)
        desired["conditions"] = set_condition(list(self.status.get("conditions") or []), type_="Ready",
                                              status=ready[0], reason=ready[1], message=ready[2],
                                              generation=generation, now=self.now)
        desired["observedGeneration"] = generation
        desired["keys"] = entries
        if synced_version is not None:
            desired["syncedResourceVersion"] = synced_version
        if wrote or not self.status.get("refreshTime"):
            desired["refreshTime"] = self.now
        write_status(self.ctx, KIND, self.body, desired, current=self.status, force_write=wrote)
        if event is not None:
            self.ctx.events.record(self.body, *event)
