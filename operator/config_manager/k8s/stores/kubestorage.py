"""``BlobStorage`` over one key of a Kubernetes Secret or ConfigMap, for the ``local`` store kind.

The local provider encrypts its whole document and hands the bytes to a BlobStorage; in the cluster the
bytes live in a Secret (or a ConfigMap: the blob is encrypted, but a Secret is still the better home).
Writers are serialised with optimistic concurrency: ``read`` remembers the resourceVersion it saw and
``write`` sends it back as a precondition, so two operator replicas (or the CLI) writing at once cannot
silently lose an update — the loser gets a ProviderError and retries its read-modify-write.
"""

from __future__ import annotations

import base64
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from ...errors import ProviderError, ProviderUnavailableError
from ..api.client import ApiError, KubeApi
from ..api.resources import ANN_OWNER, LABEL_MANAGED_BY, MANAGED_BY_VALUE, data_plural


class KubeBlobStorage:
    """One blob in ``<kind>/<namespace>/<name>``'s data under ``key``."""

    def __init__(self, api: KubeApi, namespace: str, name: str, key: str = "secrets.enc", kind: str = "Secret") -> None:
        if kind not in ("Secret", "ConfigMap"):
            raise ValueError(f"kind must be Secret or ConfigMap, not {kind!r}")
        self.api = api
        self.namespace = namespace
        self.name = name
        self.key = key
        self.kind = kind
        self._resource = data_plural(kind)
        self._lock = threading.RLock()
        self._seen_version: str | None = None  # resourceVersion at our last read; None: did not exist

    def describe(self) -> str:
        return f"{self.kind} {self.namespace}/{self.name}[{self.key}]"

    def read(self) -> bytes | None:
        try:
            obj = self.api.get(self._resource, self.namespace, self.name)
        except ApiError as exc:
            raise ProviderUnavailableError(f"cannot read {self.describe()}: {exc.status} {exc.reason}", "local") from exc
        if obj is None:
            self._seen_version = None
            return None
        self._seen_version = obj["metadata"].get("resourceVersion")
        if self.kind == "Secret":
            encoded = (obj.get("data") or {}).get(self.key)
            return base64.b64decode(encoded) if encoded is not None else None
        binary = (obj.get("binaryData") or {}).get(self.key)
        if binary is not None:
            return base64.b64decode(binary)
        text = (obj.get("data") or {}).get(self.key)
        return text.encode() if text is not None else None

    def write(self, data: bytes) -> None:
        encoded = base64.b64encode(data).decode()
        field = "data" if self.kind == "Secret" else "binaryData"
        try:
            if self._seen_version is None:
                existing = self.api.get(self._resource, self.namespace, self.name)
                if existing is not None:
                    self._seen_version = existing["metadata"].get("resourceVersion")
            if self._seen_version is None:
                body = {
                    "apiVersion": "v1", "kind": self.kind,
                    "metadata": {"name": self.name, "namespace": self.namespace,
                                 "labels": {LABEL_MANAGED_BY: MANAGED_BY_VALUE},
                                 "annotations": {ANN_OWNER: "LocalStore/blob"}},
                    field: {self.key: encoded},
                }
                created = self.api.create(self._resource, self.namespace, body)
                self._seen_version = created["metadata"].get("resourceVersion")
                return
            patch = {"metadata": {"resourceVersion": self._seen_version}, field: {self.key: encoded}}
            updated = self.api.patch(self._resource, self.namespace, self.name, patch)
            self._seen_version = updated["metadata"].get("resourceVersion")
        except ApiError as exc:
            if exc.status == 409:
                self._seen_version = None
                raise ProviderError(
                    f"{self.describe()} was changed by someone else meanwhile; retry", "local"
                ) from exc
            raise ProviderUnavailableError(f"cannot write {self.describe()}: {exc.status} {exc.reason}", "local") from exc

    @contextmanager
    def lock(self) -> Iterator[object]:
        """In-process exclusion; across processes the resourceVersion precondition of ``write`` decides."""
        with self._lock:
            yield self
