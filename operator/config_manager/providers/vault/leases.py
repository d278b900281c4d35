"""Vault leases: read a dynamic secrets path (``database/creds/<role>``), renew, revoke, look up.

Dynamic engines answer a read with the credentials in ``data`` and a lease (``lease_id``,
``lease_duration``, ``renewable``) at the top level. Renewal is ``PUT sys/leases/renew``; Vault answers
with the TTL it granted, which is shorter than asked once the lease nears its max TTL — we report it as
Vault says it and never compute it ourselves. Revocation is ``PUT sys/leases/revoke``, lookup
``PUT sys/leases/lookup``. Every call goes through the provider's ``_call`` (token handling, and hvac /
requests errors translated at the boundary); the error messages name the path or the lease id (a lease
id names a lease, it grants nothing) and never a value.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import hvac  # type: ignore[import-untyped]
from hvac import exceptions as hvac_exc

from ...errors import ConfigurationError, ProviderError
from ..leases import IssuedCredentials, Lease, LeaseInfo, LeaseRefusedError

T = TypeVar("T")
Call = Callable[[str, "str | None", Callable[[], Any]], Any]
METHODS = ("GET", "POST")


def _check_path(path: str) -> str:
    text = path.strip()
    segments = text.split("/")
    if not text or text.startswith("/") or text.endswith("/") or any(s in ("", ".", "..") for s in segments):
        raise ConfigurationError(f"vault: dynamic secret path {path!r} must be a relative path such as database/creds/<role>")
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in text):
        raise ConfigurationError(f"vault: dynamic secret path {path!r} contains a control character")
    if text.startswith("sys/"):
        raise ConfigurationError(f"vault: dynamic secret path {path!r} is a system path, not a secrets engine")
    return text


def _lease_of(response: Mapping[str, Any], what: str) -> Lease:
    lease_id = str(response.get("lease_id") or "")
    if not lease_id:
        raise ProviderError(f"vault: {what} answered without a lease (not a dynamic secrets engine)", "vault")
    return Lease(lease_id=lease_id, duration=int(response.get("lease_duration") or 0),
                 renewable=bool(response.get("renewable")))


class VaultLeases:
    """Lease operations on one Vault client (the provider's, so its token and TLS settings apply)."""

    def __init__(self, client: hvac.Client, call: Call) -> None:
        self._client = client
        self._call = call

    def issue(self, path: str, *, method: str = "GET", parameters: Mapping[str, Any] | None = None) -> IssuedCredentials:
        where = _check_path(path)
        verb = method.upper()
        if verb not in METHODS:
            raise ConfigurationError(f"vault: method must be one of {', '.join(METHODS)}, got {method!r}")
        adapter = self._client.adapter
        body = dict(parameters or {})
        if verb == "GET":
            response = self._call("issuing", where, lambda: adapter.get(f"/v1/{where}", params=body or None))
        else:
            response = self._call("issuing", where, lambda: adapter.post(f"/v1/{where}", json=body))
        if not isinstance(response, Mapping):
            raise ProviderError(f"vault: issuing '{where}' answered without data", "vault")
        lease = _lease_of(response, f"issuing '{where}'")
        data = response.get("data")
        if not isinstance(data, Mapping) or not data:
            raise ProviderError(f"vault: issuing '{where}' answered without credentials", "vault")
        return IssuedCredentials(data=dict(data), lease=lease)

    def renew(self, lease_id: str, increment: int | None = None) -> Lease:
        def renew() -> Any:
            try:
                return self._client.sys.renew_lease(lease_id=lease_id, increment=increment)
            except hvac_exc.InvalidRequest as exc:  # 400: unknown, expired, revoked or not renewable
                detail = "; ".join(str(e) for e in (exc.errors or []))[:200]
                raise LeaseRefusedError(f"vault: renewal of lease '{lease_id}' refused: {detail or 'HTTP 400'}",
                                        "vault") from exc
        response = self._call("renewing lease", lease_id, renew)
        return _lease_of(response or {}, f"renewing lease '{lease_id}'")

    def revoke(self, lease_id: str) -> None:
        def revoke() -> Any:
            try:
                return self._client.sys.revoke_lease(lease_id=lease_id)
            except hvac_exc.InvalidRequest:  # 400: no such lease (expired or revoked already): it is gone
                return None
        self._call("revoking lease", lease_id, revoke)

    def lookup(self, lease_id: str) -> LeaseInfo | None:
        def read() -> Any:
            try:
                return self._client.sys.read_lease(lease_id=lease_id)
            except hvac_exc.InvalidRequest:  # 400 "invalid lease": expired or revoked
                return None
        response = self._call("looking up lease", lease_id, read)
        if not response:
            return None
        data = response.get("data") or {}
        return LeaseInfo(lease_id=str(data.get("id") or lease_id), ttl=int(data.get("ttl") or 0),
                         renewable=bool(data.get("renewable")), issue_time=data.get("issue_time"),
                         expire_time=data.get("expire_time"), last_renewal=data.get("last_renewal"))

    def list(self, prefix: str) -> list[str]:
        """Lease ids under ``prefix`` (``sys/leases/lookup/<prefix>/``; needs ``sudo`` there), [] when none."""
        folder = _check_path(prefix.rstrip("/"))

        def list_() -> Any:
            try:
                return self._client.sys.list_leases(prefix=folder + "/")
            except hvac_exc.InvalidPath:
                return None
        response = self._call("listing leases under", folder, list_)
        keys = ((response or {}).get("data") or {}).get("keys") or []
        return [f"{folder}/{k}" for k in keys if not str(k).endswith("/")]
