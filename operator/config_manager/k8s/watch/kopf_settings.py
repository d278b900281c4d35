"""How kopf is configured so it stays cheap and never leaks a value.

kopf defaults that matter here, and what we do about them:

- ``last-handled-configuration`` (diff-base) annotation copies spec fields (a ConfigBundle's inline
  source, a template) into an annotation: we register no create/update handlers, so kopf never writes
  it, and in case one is added later the diff-base storage keeps only a SHA-256 of the essence.
- Progress storage and finalizers: only used by changing handlers and daemons/timers; we have neither,
  so kopf adds no finalizer (the operator being down never blocks a deletion) and no progress PATCHes.
- DEBUG logs print whole bodies and patches: ``..logs.BodyRedactingFilter`` rewrites those records.
- Event posting from log lines: disabled; our ``api.events.EventRecorder`` posts Events explicitly.
- No client-side limit on API concurrency in kopf: kopf only runs watches here (one per resource kind);
  all our requests go through ``api.client.KubeApi`` on ``workers`` threads, which is the bound.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from typing import Any

import kopf

from ..api.resources import GROUP
from ..config import OperatorConfig


class HashedDiffBaseStorage(kopf.AnnotationsDiffBaseStorage):
    """kopf's diff-base, but storing only a SHA-256 of the essence: changes are seen, values are not."""

    def build(self, *, body: Any, extra_fields: Iterable[Any] | None = None) -> Any:
        essence = super().build(body=body, extra_fields=extra_fields)
        digest = hashlib.sha256(json.dumps(essence, sort_keys=True, default=str).encode()).hexdigest()
        return {"sha256": digest}


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
