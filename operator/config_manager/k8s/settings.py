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
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import kopf

from .. import masking
from .names import GROUP

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
    peering: str | None = None
    """kopf peering name for HA (None: standalone)."""
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


def setup_logging(level: str = "INFO", json_format: bool = False) -> None:
    """Root logging with the redaction filters on every handler (kopf's loggers included)."""
    handler = logging.StreamHandler()
    if json_format:
        handler.setFormatter(logging.Formatter(
            '{"time":"%(asctime)s","level":"%(levelname)s","logger":"%(name)s","message":%(message)r}'))
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
    if config.peering:
        settings.peering.name = config.peering
        settings.peering.standalone = False
        settings.peering.mandatory = True
    else:
        settings.peering.standalone = True
