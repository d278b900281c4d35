"""The operator's own settings, and how kopf is configured so it stays cheap and never leaks a value.

kopf defaults that matter here, and what we do about them:

- ``last-handled-configuration`` (diff-base) annotation copies spec fields (a ConfigBundle's inline
  source, a template) into an annotation: we register no create/update handlers, so kopf never writes
  it, and in case one is added later the diff-base storage keeps only a SHA-256 of the essence.
- Progress storage and finalizers: only used by changing handlers and daemons/timers; we have neither,
  so kopf adds no finalizer (the operator being down never blocks a deletion) and no progress PATCHes.
- DEBUG logs print whole bodies and patches ("... is in progress: {body!r}", "Patching with: ..."):
  ``BodyRedactingFilter`` rewrites those records on every kopf logger.
- Event posting from log lines: disabled; our ``EventRecorder`` posts Events explicitly.
- No client-side limit on API concurrency in kopf: kopf only runs watches here (one per resource kind);
  all our requests go through ``KubeApi`` on ``workers`` threads, which is the bound.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from datetime import datetime, timezone
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import kopf

from .. import masking
from .api.resources import GROUP

#: Values the operator has fetched; any log line containing one is masked (defence in depth).
REDACTOR = masking.SecretRedactor()


@dataclass
class OperatorConfig:
    """Tunables of the operator (command-line flags map onto these)."""

    namespaces: list[str] = field(default_factory=list)
    """Namespaces to serve; empty means cluster-wide."""
    workers: int = 8
    """Reconcile threads; also the bound on concurrent API requests made by reconciles."""
    read_cache_ttl: float = 30.0
    """Seconds a provider answer is shared by every object asking for the same remote key."""
    backoff_base: float = 2.0
    """First retry delay after a store failure (doubles per failure)."""
    backoff_cap: float = 300.0
    """Longest retry delay after store failures."""
    refresh_jitter: float = 0.1
    """Each refresh is delayed by a random fraction (0..jitter) of the interval."""
    startup_spread: float = 10.0
    """Reconciles due at start-up are spread over this many seconds."""
    stats_flush: float = 900.0
    """Access statistics alone are written to status at most this often."""
    track_workloads: bool = True
    """Watch Pods/Deployments/StatefulSets/DaemonSets to report which workloads use each Secret."""
    event_window: float = 600.0
    """Identical Events for one object are posted at most once per window."""
    leader_election: bool = False
    """Reconcile only while holding the leader Lease (replicas > 1); off: this process always leads."""
    leader_election_namespace: str = ""
    """Namespace of the Lease (empty: the pod's namespace, see ``leader.default_namespace``)."""
    leader_election_id: str = "config-manager"
    """Name of the Lease; replicas of one installation share it, separate installations must not."""
    lease_duration: float = 15.0
    """Seconds a Lease that stopped being renewed stays held; the failover time after a crash."""
    lease_renew_period: float = 5.0
    """Seconds between renewals by the leader."""
    lease_retry_period: float = 2.0
    """Seconds between a standby's looks at the Lease."""
    rotation_interval_scale: float = 1.0
    """Testing only: rotation intervals are multiplied by this (the CRD admits no interval under 1m)."""


class HashedDiffBaseStorage(kopf.AnnotationsDiffBaseStorage):
    """kopf's diff-base, but storing only a SHA-256 of the essence: changes are seen, values are not."""

    def build(self, *, body: Any, extra_fields: Iterable[Any] | None = None) -> Any:
        essence = super().build(body=body, extra_fields=extra_fields)
        digest = hashlib.sha256(json.dumps(essence, sort_keys=True, default=str).encode()).hexdigest()
        return {"sha256": digest}


_BODY_PATTERNS = re.compile(
    r"(is in progress: |diff: |Patching the resource with: |Patching the status with: |patching the resource with: |"
    r"patching the status with: |Merge-patching the resource with: |Merge-patching the status with: |"
    r"JSON-patching the resource with: |JSON-patching the status with: )(.*)$",
    re.DOTALL,
)


class BodyRedactingFilter(logging.Filter):
    """Drops object bodies, diffs and patches from kopf log records (they may hold secret values)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a broken record is dropped rather than risked
            return False
        match = _BODY_PATTERNS.search(message)
        if match:
            record.msg = message[: match.start(2)] + "<redacted>"
            record.args = None
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, the object kopf names, exception text.

    kopf's per-object loggers attach ``k8s_ref`` (kind, namespace, name, ...) to their records; it is
    reported as ``object`` (our modules may pass the same ``extra={"k8s_ref": {...}}``). The redaction
    filters run on the handler before this formatter, so message and exception text are masked.
    """

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        ref = getattr(record, "k8s_ref", None)
        if isinstance(ref, dict):
            entry["object"] = {k: ref[k] for k in ("kind", "namespace", "name") if ref.get(k)}
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = record.stack_info
        return json.dumps(entry, ensure_ascii=False, default=str)


def setup_logging(level: str = "INFO", json_format: bool = False) -> None:
    """Root logging with the redaction filters on every handler (kopf's loggers included)."""
    handler = logging.StreamHandler()
    if json_format:
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    handler.addFilter(BodyRedactingFilter())
    for extra in _library_filters():
        handler.addFilter(extra)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("urllib3", "kubernetes", "asyncio", "aiohttp"):
        logging.getLogger(noisy).setLevel(max(logging.INFO, root.level))
    # kopf logs "Handler ... succeeded" at INFO for every watch event of every Secret: keep that for DEBUG.
    if root.level > logging.DEBUG:
        logging.getLogger("kopf.objects").setLevel(logging.WARNING)


def _library_filters() -> list[logging.Filter]:
    """The package-wide filter that masks known secret values (the operator feeds ``REDACTOR``)."""
    return [masking.SecretMaskingFilter(REDACTOR)]


def configure_kopf(settings: kopf.OperatorSettings, config: OperatorConfig) -> None:
    """Apply our choices to kopf's settings (called from the startup handler)."""
    settings.persistence.diffbase_storage = HashedDiffBaseStorage(prefix=GROUP, key="last-handled-hash")
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=GROUP)
    settings.persistence.finalizer = f"{GROUP}/finalizer"
    settings.posting.enabled = False  # Events are posted by our recorder, explicitly
    settings.posting.loggers = False
    settings.watching.chunk_size = 500
    settings.watching.connect_timeout = 10
    settings.watching.server_timeout = 600
    settings.networking.request_timeout = 60
    settings.networking.connect_timeout = 10
    settings.execution.max_workers = 2  # kopf runs no sync handlers of ours
    # settings.queueing.worker_limit stays None (unbounded): with index handlers, every object's kopf worker
    # waits until *all* objects are indexed, so a limit below the object count deadlocks the start-up
    # (found by bench/managedsecrets.py: a restart over 3,000 objects never got past indexing).
    # Our event handlers only touch memory; the bound on API concurrency is OperatorConfig.workers.
    # kopf peering stays off: it pauses replicas by priority and freezes them all when priorities are
    # equal. Replicas coordinate through our Lease (leader.py); every replica's kopf runs standalone.
    settings.peering.standalone = True
