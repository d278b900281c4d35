"""The lease decisions of a VaultDynamicSecret (reconcile/leasestate.py) and its spec parsing, on plain dicts."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from config_manager.k8s.reconcile import leasestate as ls
from config_manager.k8s.rotation.plan import iso
from config_manager.k8s.spec.managedsecret import InvalidSpecError
from config_manager.k8s.spec.vaultdynamicsecret import DEFAULT_RENEW_AT, parse_vault_dynamic_secret

T0 = datetime(2026, 12, 2, 6, 0, 0, tzinfo=timezone.utc)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def issued(duration: int = 60, **extra: object) -> dict[str, object]:
    return {**ls.issued_fields("database/creds/app/abc", duration, True, T0), **extra}


def test_no_lease_issues_and_a_pending_lease_is_recovered_first() -> None:
    assert ls.next_step(ls.Recorded.from_status({}), 0.5, T0) == ls.ISSUE
    pending = {**issued(), "pendingLease": {"leaseId": "database/creds/app/new", "issuedAt": iso(T0)}}
    assert ls.next_step(ls.Recorded.from_status(pending), 0.5, T0) == ls.RECOVER


def test_renewal_is_due_at_the_fraction_of_the_granted_duration() -> None:
    rec = ls.Recorded.from_status(issued(60))
    assert ls.next_step(rec, 2 / 3, at(39)) == ls.NONE
    assert ls.next_step(rec, 2 / 3, at(40)) == ls.RENEW
    assert ls.wait_seconds(rec, 2 / 3, at(10)) == pytest.approx(30)


def test_a_renewal_counts_from_itself_with_the_ttl_vault_granted() -> None:
    rec = ls.Recorded.from_status(issued(60))
    status = {**issued(60), **ls.renewed_fields(rec, 60, True, 0, at(40))}
    assert status["renewals"] == 1 and status["expiresAt"] == iso(at(100)) and status["maxTtlReached"] is False
    after = ls.Recorded.from_status(status)
    assert ls.next_step(after, 2 / 3, at(79)) == ls.NONE
    assert ls.next_step(after, 2 / 3, at(80)) == ls.RENEW


def test_a_capped_renewal_means_reissue_at_once() -> None:
    rec = ls.Recorded.from_status(issued(60))
    status = {**issued(60), **ls.renewed_fields(rec, 12, True, 3, at(40))}
    assert status["maxTtlReached"] is True and status["leaseDuration"] == 12 and status["renewals"] == 4
    assert ls.next_step(ls.Recorded.from_status(status), 0.5, at(41)) == ls.REISSUE


def test_not_renewable_or_expired_reissues() -> None:
    assert ls.next_step(ls.Recorded.from_status(issued(60, renewable=False)), 0.5, at(30)) == ls.REISSUE
    assert ls.next_step(ls.Recorded.from_status(issued(60)), 0.99, at(61)) == ls.REISSUE


def test_previous_lease_is_kept_for_the_overlap_but_not_past_its_expiry() -> None:
    kept = ls.with_previous((), "old-1", at(100), 30, T0)
    assert kept == [{"leaseId": "old-1", "revokeAt": iso(at(30))}]
    capped = ls.with_previous((), "old-2", at(10), 30, T0)
    assert capped == [{"leaseId": "old-2", "revokeAt": iso(at(10))}]
    rec = ls.Recorded.from_status({**issued(600), "previousLeases": kept})
    assert ls.previous_due(rec, at(29)) == [] and ls.previous_due(rec, at(30)) == ["old-1"]
    assert ls.wait_seconds(rec, 0.5, at(20)) == pytest.approx(10)


def test_spec_defaults_and_refusals_name_the_field() -> None:
    spec = parse_vault_dynamic_secret("db", {"storeRef": {"name": "vault"}, "path": "database/creds/app"})
    assert (spec.target_name, spec.method, spec.renew_at, spec.keep_previous) == ("db", "GET", DEFAULT_RENEW_AT, 60.0)
    bad = [({"path": "database/creds/app"}, "spec.storeRef.name"),
           ({"storeRef": {"name": "v"}, "path": "sys/leases"}, "spec.path"),
           ({"storeRef": {"name": "v"}, "path": "a/../b"}, "spec.path"),
           ({"storeRef": {"name": "v"}, "path": "a/b", "renewAt": 1.0}, "spec.renewAt"),
           ({"storeRef": {"name": "v"}, "path": "a/b", "method": "DELETE"}, "spec.method"),
           ({"storeRef": {"name": "v"}, "path": "a/b", "keepPrevious": "soon"}, "spec.keepPrevious"),
           ({"storeRef": {"name": "v"}, "path": "a/b", "restartWorkloads": {"mode": "Explicit"}}, "spec.restartWorkloads.targets")]
    for raw, field in bad:
        with pytest.raises(InvalidSpecError) as err:
            parse_vault_dynamic_secret("db", raw)
        assert err.value.field == field, raw
