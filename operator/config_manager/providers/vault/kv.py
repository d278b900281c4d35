"""The two KV secrets engine versions behind one small interface.

KV v1 keeps one value per path and nothing else. KV v2 keeps versions, soft deletion and
``custom_metadata`` (string to string) per path, under ``<mount>/data/`` and ``<mount>/metadata/``.
The provider talks to ``KVEngine`` only; which version a mount runs is a constructor argument, checked
against the server by ``HashiCorpVaultSecrets.validate()``.

hvac errors propagate from here unchanged; the provider translates them, because only it knows the key,
the mount and which credentials to scrub.
"""

from __future__ import annotations

import builtins
import re
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import hvac  # type: ignore[import-untyped]
from hvac import exceptions as hvac_exc
from hvac.utils import format_url  # type: ignore[import-untyped]

from ...errors import UnsupportedOperationError
from ..base import MASK


@dataclass(frozen=True, repr=False)
class Entry:
    """What a read returned: the fields, and what Vault knows about this version."""

    data: dict[str, Any]
    version: str | None = None
    created_at: datetime | None = None
    custom_metadata: dict[str, str] = field(default_factory=dict)

    def __repr__(self) -> str:
        return f"Entry(data={MASK!r}, version={self.version!r})"


_FRACTION = re.compile(r"\.(\d+)")


def parse_time(text: str | None) -> datetime | None:
    """A Vault RFC 3339 timestamp (nanoseconds allowed) as an aware datetime; None for empty/zero."""
    if not text or text.startswith("0001-01-01"):
        return None
    text = _FRACTION.sub(lambda m: "." + m.group(1)[:6].ljust(6, "0"), text, count=1)
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        return None
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def _data(response: Any) -> dict[str, Any]:
    data = (response or {}).get("data")
    return dict(data) if isinstance(data, Mapping) else {}


class KVEngine(ABC):
    """One KV mount. Paths are relative to the mount, without leading or trailing slashes."""

    version: str = ""

    def __init__(self, client: hvac.Client, mount_point: str) -> None:
        self.client = client
        self.mount_point = mount_point

    @abstractmethod
    def read(self, path: str, version: str | None = None) -> Entry:
        """The fields at ``path`` (a given version on v2). InvalidPath when missing."""

    @abstractmethod
    def write(self, path: str, data: Mapping[str, Any]) -> Entry:
        """Store ``data`` (a new version on v2); the returned entry has no data, only the version."""

    @abstractmethod
    def delete(self, path: str) -> None:
        """Remove the path (on v2: every version and the metadata)."""

    @abstractmethod
    def exists(self, path: str) -> bool:
        """True when ``read(path)`` would find a value (on v2: the latest version is neither deleted nor destroyed)."""

    def present(self, path: str) -> bool:
        """True when anything is kept at ``path``, even only metadata or deleted versions (what delete removes)."""
        return self.exists(path)

    def list(self, folder: str) -> list[str]:
        """Direct children of ``folder`` ('' for the mount root); sub-folders end with '/'."""
        try:
            response = self._list(folder)
        except hvac_exc.InvalidPath:
            return []
        keys = _data(response).get("keys") or []
        return [str(k) for k in keys]

    @abstractmethod
    def _list(self, folder: str) -> Any: ...

    def versions(self, path: str) -> builtins.list[str]:
        raise UnsupportedOperationError(
            f"vault: KV v1 mount '{self.mount_point}' keeps no versions of '{path}'", "vault"
        )

    def custom_metadata(self, path: str) -> dict[str, str]:
        """The path's custom metadata ({} on v1, after checking that the path exists)."""
        if not self.exists(path):
            raise hvac_exc.InvalidPath(errors=None)
        return {}

    def set_custom_metadata(self, path: str, metadata: Mapping[str, str]) -> None:
        raise UnsupportedOperationError(
            f"vault: KV v1 mount '{self.mount_point}' cannot store metadata for '{path}'; use a KV v2 mount",
            "vault",
        )


class KVv1(KVEngine):
    """KV version 1: one value per path."""

    version = "v1"

    def read(self, path: str, version: str | None = None) -> Entry:
        if version is not None:
            raise UnsupportedOperationError(
                f"vault: KV v1 mount '{self.mount_point}' keeps no versions of '{path}'", "vault"
            )
        response = self.client.secrets.kv.v1.read_secret(path=path, mount_point=self.mount_point)
        return Entry(data=_data(response))

    def write(self, path: str, data: Mapping[str, Any]) -> Entry:
        self.client.secrets.kv.v1.create_or_update_secret(
            path=path, secret=dict(data), mount_point=self.mount_point
        )
        return Entry(data={})

    def delete(self, path: str) -> None:
        self.client.secrets.kv.v1.delete_secret(path=path, mount_point=self.mount_point)

    def exists(self, path: str) -> bool:
        try:
            self.client.secrets.kv.v1.read_secret(path=path, mount_point=self.mount_point)
        except hvac_exc.InvalidPath:
            return False
        return True

    def _list(self, folder: str) -> Any:
        return self.client.secrets.kv.v1.list_secrets(path=folder, mount_point=self.mount_point)


class KVv2(KVEngine):
    """KV version 2: versions, soft deletion and custom metadata."""

    version = "v2"

    def read(self, path: str, version: str | None = None) -> Entry:
        response = self.client.secrets.kv.v2.read_secret_version(
            path=path,
            version=int(version) if version is not None else None,
            mount_point=self.mount_point,
            raise_on_deleted_version=True,
        )
        body = _data(response)
        meta = body.get("metadata") or {}
        return Entry(
            data=dict(body.get("data") or {}),
            version=str(meta["version"]) if meta.get("version") is not None else None,
            created_at=parse_time(meta.get("created_time")),
            custom_metadata={str(k): str(v) for k, v in (meta.get("custom_metadata") or {}).items()},
        )

    def write(self, path: str, data: Mapping[str, Any]) -> Entry:
        response = self.client.secrets.kv.v2.create_or_update_secret(
            path=path, secret=dict(data), mount_point=self.mount_point
        )
        meta = _data(response)
        return Entry(
            data={},
            version=str(meta["version"]) if meta.get("version") is not None else None,
            created_at=parse_time(meta.get("created_time")),
        )

    def delete(self, path: str) -> None:
        self.client.secrets.kv.v2.delete_metadata_and_all_versions(path=path, mount_point=self.mount_point)

    def _metadata(self, path: str) -> dict[str, Any]:
        return _data(self.client.secrets.kv.v2.read_secret_metadata(path=path, mount_point=self.mount_point))

    def exists(self, path: str) -> bool:
        try:
            meta = self._metadata(path)
        except hvac_exc.InvalidPath:
            return False
        current = (meta.get("versions") or {}).get(str(meta.get("current_version"))) or {}
        return bool(current) and not current.get("deletion_time") and not current.get("destroyed")

    def present(self, path: str) -> bool:
        try:
            self._metadata(path)
        except hvac_exc.InvalidPath:
            return False
        return True

    def _list(self, folder: str) -> Any:
        return self.client.secrets.kv.v2.list_secrets(path=folder, mount_point=self.mount_point)

    def versions(self, path: str) -> builtins.list[str]:
        """Versions that can still be read (not deleted, not destroyed), oldest first."""
        meta = self._metadata(path)
        live = [
            int(number)
            for number, info in (meta.get("versions") or {}).items()
            if not (info or {}).get("destroyed") and not (info or {}).get("deletion_time")
        ]
        return [str(n) for n in sorted(live)]

    def custom_metadata(self, path: str) -> dict[str, str]:
        meta = self._metadata(path)
        return {str(k): str(v) for k, v in (meta.get("custom_metadata") or {}).items()}

    def set_custom_metadata(self, path: str, metadata: Mapping[str, str]) -> None:
        # POST only custom_metadata: Vault leaves max_versions, cas_required and delete_version_after as
        # they are (hvac's update_metadata would reset delete_version_after).
        url = format_url(
            "/v1/{mount_point}/metadata/{path}", mount_point=self.mount_point, path=path
        )
        self.client.adapter.post(url=url, json={"custom_metadata": dict(metadata)})


def engine_for(version: str, client: hvac.Client, mount_point: str) -> KVEngine:
    """The engine class for a normalised version ('v1' or 'v2')."""
    return (KVv1 if version == "v1" else KVv2)(client, mount_point)
