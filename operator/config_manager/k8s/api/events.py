"""Kubernetes Events about our objects: what happened, never a secret value, never a flood.

Messages are built by the reconcilers from names, reasons and error texts (our errors never carry
values; see errors.py). The recorder drops repeats of the same (object, reason, message) inside a
window, so a store that stays down produces one SyncFailed Event per window, not one per retry.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from .client import ApiError, KubeApi
from .conditions import now_iso
from .resources import COMPONENT, EVENTS

log = logging.getLogger(__name__)


class EventRecorder:
    """Posts core/v1 Events with de-duplication. Thread-safe."""

    def __init__(self, api: KubeApi, instance: str = "", window: float = 600.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.api = api
        self._clock = clock  # monotonic seconds: identical Events are posted once per ``window``
        self.instance = instance or f"{COMPONENT}-{uuid.uuid4().hex[:8]}"
        self.window = window
        self._recent: dict[tuple[str, str, str], float] = {}
        self._prune_at = 10000
        self._lock = threading.Lock()
        self.posted = 0

    def record(self, obj: Mapping[str, Any], type_: str, reason: str, message: str) -> bool:
        """Post an Event about ``obj`` unless the same one was posted within the window."""
        meta = obj.get("metadata") or {}
        key = (str(meta.get("uid")), reason, message)
        now = self._clock()
        with self._lock:
            if now - self._recent.get(key, -1e18) < self.window:
                return False
            self._recent[key] = now
            if len(self._recent) > self._prune_at:
                cutoff = now - self.window
                self._recent = {k: t for k, t in self._recent.items() if t > cutoff}
                # next prune when the survivors have doubled: with more than 10,000 Events in one window
                # (a burst) a prune per Event would cost the whole dict each time
                self._prune_at = max(10000, 2 * len(self._recent))
        namespace = meta.get("namespace") or "default"
        stamp = now_iso()
        body = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"generateName": f"{meta.get('name', 'object')}.", "namespace": namespace},
            "involvedObject": {
                "apiVersion": obj.get("apiVersion"),
                "kind": obj.get("kind"),
                "name": meta.get("name"),
                "namespace": meta.get("namespace"),
                "uid": meta.get("uid"),
                "resourceVersion": meta.get("resourceVersion"),
            },
            "type": type_,
            "reason": reason,
            "message": message[:1024],
            "source": {"component": COMPONENT},
            "reportingComponent": COMPONENT,
            "reportingInstance": self.instance,
            "firstTimestamp": stamp,
            "lastTimestamp": stamp,
            "count": 1,
        }
        try:
            self.api.create(EVENTS, namespace, body, answer=False)  # the created Event is not read
        except ApiError as exc:
            log.warning("could not post Event %s for %s/%s: %s", reason, namespace, meta.get("name"), exc.reason)
            return False
        with self._lock:
            self.posted += 1
        return True
