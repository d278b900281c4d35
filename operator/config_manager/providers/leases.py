"""Dynamic credentials with leases, as a capability a provider may offer beside the key/value interface.

A secrets engine that mints credentials per request (Vault's database, AWS, PKI engines) answers with
the values and a lease: an id, a duration and whether it can be renewed. The operator looks after such
leases (issue, renew, revoke, look up) without importing a concrete provider: it asks
``lease_operations(provider)`` for this interface and gets an error naming the store when the provider
has none. Values live only in ``IssuedCredentials.data``, whose repr is masked; a ``Lease`` holds no value.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from ..errors import ConfigurationError, ProviderError
from .base import MASK, SecretProvider


class LeaseRefusedError(ProviderError):
    """The backend refused to renew a lease (unknown, expired, revoked or not renewable): issue anew."""


@dataclass(frozen=True)
class Lease:
    """A lease as the backend reports it: id, duration in seconds from now, renewable."""

    lease_id: str
    duration: int
    renewable: bool


@dataclass(frozen=True)
class LeaseInfo:
    """What a lookup says about a lease (no value): remaining TTL and times as the backend spells them."""

    lease_id: str
    ttl: int
    renewable: bool
    issue_time: str | None = None
    expire_time: str | None = None
    last_renewal: str | None = None


@dataclass(frozen=True)
class IssuedCredentials:
    """Values minted by the backend and the lease that keeps them valid."""

    data: Mapping[str, Any] = field(repr=False)
    lease: Lease

    def __repr__(self) -> str:
        return f"IssuedCredentials(keys={sorted(self.data)!r}, data={MASK!r}, lease={self.lease!r})"


@runtime_checkable
class LeaseOperations(Protocol):
    """Issue, renew, revoke and look up leased credentials."""

    def issue(self, path: str, *, method: str = "GET", parameters: Mapping[str, Any] | None = None) -> IssuedCredentials:
        """Read (GET) or write (POST) ``path`` and return the minted values with their lease."""
        ...

    def renew(self, lease_id: str, increment: int | None = None) -> Lease:
        """Renew ``lease_id``; the answer carries the new duration as the backend granted it.
        ``LeaseRefusedError`` when the backend will not renew it."""
        ...

    def revoke(self, lease_id: str) -> None:
        """Revoke ``lease_id`` now (a lease that is already gone counts as revoked)."""
        ...

    def lookup(self, lease_id: str) -> LeaseInfo | None:
        """The lease as the backend knows it, None when it is gone (expired or revoked)."""
        ...


@runtime_checkable
class SupportsLeases(Protocol):
    """A provider whose backend can mint leased credentials."""

    def leases(self) -> LeaseOperations: ...


def lease_operations(provider: SecretProvider) -> LeaseOperations:
    """The lease interface of ``provider``; ConfigurationError when its backend has none."""
    if isinstance(provider, SupportsLeases):
        return provider.leases()
    raise ConfigurationError(f"{provider.describe()} cannot issue dynamic credentials (no leases)")
