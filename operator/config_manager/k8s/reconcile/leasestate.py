"""A VaultDynamicSecret's lease as recorded in its status, and the pure decision of what to do next.

Status is the record: ``leaseId`` / ``leaseDuration`` / ``issuedAt`` / ``lastRenewal`` / ``expiresAt`` of
the credentials in the target Secret, ``pendingLease`` for credentials issued but not yet confirmed
there (written *before* the Secret, so a restart can adopt or revoke them), ``previousLeases`` kept
valid for the overlap. ``next_step`` turns that record and the time into one step; ``wait_seconds`` into
the delay of the next pass. No I/O here: the reconciler does the calls, these functions decide.

Renewal is due at ``renewAt`` × the duration Vault last granted, counted from the last issue or renewal.
A renewal that grants less than asked means the lease nears its max TTL: the next due step is a
re-issue at once, not another renewal (as it is for a lease Vault says is not renewable, or one that expired
while the operator was away).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from ..rotation.plan import iso, parse_time

ISSUE, RECOVER, RENEW, REISSUE, NONE = "issue", "recover", "renew", "reissue", "none"


@dataclass(frozen=True)
class Recorded:
    """The lease fields of a status (no value ever lives in them)."""

    lease_id: str | None
    duration: int
    issued_duration: int
    renewable: bool
    issued_at: datetime | None
    last_renewal: datetime | None
    expires_at: datetime | None
    max_ttl_reached: bool
    pending: Mapping[str, Any] | None
    previous: tuple[Mapping[str, Any], ...]

    @classmethod
    def from_status(cls, status: Mapping[str, Any]) -> Recorded:
        pending = status.get("pendingLease")
        return cls(
            lease_id=str(status["leaseId"]) if status.get("leaseId") else None,
            duration=int(status.get("leaseDuration") or 0),
            issued_duration=int(status.get("issuedDuration") or status.get("leaseDuration") or 0),
            renewable=bool(status.get("renewable", True)),
            issued_at=parse_time(status.get("issuedAt")),
            last_renewal=parse_time(status.get("lastRenewal")),
            expires_at=parse_time(status.get("expiresAt")),
            max_ttl_reached=bool(status.get("maxTtlReached")),
            pending=pending if isinstance(pending, Mapping) and pending.get("leaseId") else None,
            previous=tuple(p for p in status.get("previousLeases") or [] if isinstance(p, Mapping) and p.get("leaseId")),
        )


def renew_due(rec: Recorded, renew_at: float) -> datetime | None:
    """When the next renewal (or re-issue) is due, None without a lease."""
    base = rec.last_renewal or rec.issued_at
    if rec.lease_id is None or base is None:
        return None
    return base + timedelta(seconds=renew_at * rec.duration)


def next_step(rec: Recorded, renew_at: float, now: datetime) -> str:
    """What this pass must do about the current lease."""
    if rec.pending is not None:
        return RECOVER
    if rec.lease_id is None:
        return ISSUE
    if rec.max_ttl_reached or (rec.expires_at is not None and rec.expires_at <= now):
        return REISSUE  # capped by its max TTL (a re-issue that failed is retried), or expired meanwhile
    due = renew_due(rec, renew_at)
    if due is None or due > now:
        return NONE
    return RENEW if rec.renewable else REISSUE


def previous_due(rec: Recorded, now: datetime) -> list[str]:
    """Lease ids of earlier credentials whose overlap has ended."""
    out: list[str] = []
    for prev in rec.previous:
        at = parse_time(prev.get("revokeAt"))
        if at is None or at <= now:
            out.append(str(prev["leaseId"]))
    return out


def wait_seconds(rec: Recorded, renew_at: float, now: datetime, *, restart_due: datetime | None = None) -> float | None:
    """Seconds until the next step (renewal, overlap end, debounced restart), None when nothing is due."""
    moments = [renew_due(rec, renew_at), restart_due, *(parse_time(p.get("revokeAt")) for p in rec.previous)]
    found = [(m - now).total_seconds() for m in moments if m is not None]
    if not found:
        return None
    return max(0.0, min(found))


def issued_fields(lease_id: str, duration: int, renewable: bool, now: datetime) -> dict[str, Any]:
    """The status fields of freshly issued (or adopted) credentials."""
    return {"leaseId": lease_id, "leaseDuration": duration, "issuedDuration": duration, "renewable": renewable,
            "issuedAt": iso(now), "expiresAt": iso(now + timedelta(seconds=duration)), "renewals": 0,
            "lastRenewal": None, "maxTtlReached": False}


def renewed_fields(rec: Recorded, granted: int, renewable: bool, renewals: int, now: datetime) -> dict[str, Any]:
    """The status fields after a renewal Vault granted ``granted`` seconds for."""
    return {"leaseDuration": granted, "renewable": renewable, "lastRenewal": iso(now),
            "expiresAt": iso(now + timedelta(seconds=granted)), "renewals": renewals + 1,
            "maxTtlReached": granted < rec.issued_duration}


def with_previous(previous: tuple[Mapping[str, Any], ...], lease_id: str | None, expires_at: datetime | None,
                  keep: float, now: datetime) -> list[dict[str, Any]]:
    """``previous`` plus ``lease_id`` kept for ``keep`` seconds (never past its own expiry)."""
    out = [dict(p) for p in previous]
    if lease_id:
        at = now + timedelta(seconds=keep)
        if expires_at is not None and expires_at < at:
            at = expires_at
        out.append({"leaseId": lease_id, "revokeAt": iso(at)})
    return out[-16:]


def utcnow() -> datetime:
    return datetime.now(timezone.utc)
