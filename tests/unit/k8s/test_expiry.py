"""Expiry tracking: certificates' notAfter from PEM values, and the one verdict per pass (status fields,
gauge, a SecretNearExpiry Event once per expiry date, the wake-up time)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from prometheus_client import REGISTRY

from config_manager.k8s import expiry

NOW = datetime(2026, 12, 2, 6, 0, tzinfo=timezone.utc)
DAY = 86400.0


def self_signed(not_after: datetime, cn: str = "test") -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(not_after - timedelta(days=30))
            .not_valid_after(not_after).sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM)


def gauge(namespace: str, name: str) -> float | None:
    return REGISTRY.get_sample_value("configmanager_secret_expiry_timestamp_seconds",
                                     {"namespace": namespace, "kind": "ManagedSecret", "name": name})


def test_earliest_certificate_in_a_bundle() -> None:
    soon, later = NOW + timedelta(hours=3), NOW + timedelta(days=90)
    bundle = self_signed(later) + b"\n" + self_signed(soon)
    assert expiry.certificate_expiry(bundle) == soon
    assert expiry.certificate_expiry(bundle.decode()) == soon
    assert expiry.certificate_expiry(b"just a password") is None
    assert expiry.certificate_expiry(b"-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----") is None


def test_warns_once_per_expiry_and_sets_the_gauge() -> None:
    at = NOW + timedelta(hours=3)
    first = expiry.observe("ns", "ManagedSecret", "tls", expiry.Expiry(at, "tls.crt", "certificate"), previous={},
                           lead=7 * DAY, now=NOW)
    assert first.fields == {"expiresAt": "2026-12-02T09:00:00Z", "expiry": {"key": "tls.crt", "source": "certificate", "warned": True}}
    assert first.event is not None and first.event[:2] == ("Warning", "SecretNearExpiry")
    assert "tls.crt" in first.event[2] and "2026-12-02T09:00:00Z" in first.event[2]
    assert gauge("ns", "tls") == at.timestamp()
    again = expiry.observe("ns", "ManagedSecret", "tls", expiry.Expiry(at, "tls.crt", "certificate"),
                           previous=first.fields, lead=7 * DAY, now=NOW + timedelta(hours=1))
    assert again.event is None and again.fields == first.fields  # unchanged status: no write
    renewed = expiry.observe("ns", "ManagedSecret", "tls", expiry.Expiry(at + timedelta(days=1), "tls.crt", "certificate"),
                             previous=first.fields, lead=7 * DAY, now=NOW)
    assert renewed.event is not None  # a new expiry date warns again


def test_far_expiry_wakes_at_the_lead_time() -> None:
    verdict = expiry.observe("ns", "ManagedSecret", "far", NOW + timedelta(days=30), lead=7 * DAY, now=NOW)
    assert verdict.event is None and verdict.fields["expiry"]["warned"] is False
    assert verdict.wake_in == 23 * DAY


def test_no_expiry_clears_status_and_gauge() -> None:
    expiry.observe("ns", "ManagedSecret", "gone", NOW + timedelta(days=1), now=NOW)
    assert gauge("ns", "gone") is not None
    verdict = expiry.observe("ns", "ManagedSecret", "gone", None)
    assert gauge("ns", "gone") is None
    status = {"expiresAt": "x", "expiry": {}, "other": 1}
    expiry.apply(status, verdict)
    assert status == {"other": 1}


def test_expired_and_from_status() -> None:
    verdict = expiry.observe("ns", "ManagedSecret", "old", expiry.Expiry(NOW - timedelta(hours=1), "db", "store"), now=NOW)
    assert verdict.event is not None and "expired at" in verdict.event[2]
    back = expiry.from_status(verdict.fields)
    assert back == expiry.Expiry(NOW - timedelta(hours=1), "db", "store")
    assert expiry.from_status({}) is None
    assert expiry.earliest([None, back, expiry.Expiry(NOW)]) == back


def test_reconcile_records_a_certificate_expiry_once_and_idles_without_writes() -> None:
    from config_manager.k8s.reconcile import managedsecret

    from .kit import NS, Kit

    not_after = (datetime.now(timezone.utc) + timedelta(hours=5)).replace(microsecond=0)
    kit = Kit({"tls": self_signed(not_after).decode(), "plain": "x"}, expiry_warning=DAY)
    kit.add("ManagedSecret", "web", {"storeRef": {"name": "local"}, "refreshInterval": "1h",
                                     "data": [{"secretKey": "tls.crt", "remoteRef": {"key": "tls"}},
                                              {"secretKey": "other", "remoteRef": {"key": "plain"}}]})
    delay = managedsecret.reconcile(kit.ctx, NS, "web")
    status = kit.status("ManagedSecret", "web")
    assert status["expiresAt"] == not_after.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert status["expiry"] == {"key": "tls.crt", "source": "certificate", "warned": True}
    events = [e for e in kit.api.listed("events") if e["reason"] == "SecretNearExpiry"]
    assert len(events) == 1 and events[0]["type"] == "Warning" and "BEGIN" not in events[0]["message"]
    assert gauge(NS, "web") == not_after.timestamp()
    assert delay is not None and delay > 3000  # the refresh; the warning is already out
    kit.sync_cache()
    before = kit.writes()
    managedsecret.reconcile(kit.ctx, NS, "web")
    assert kit.writes() == before  # same expiry, already warned: no status write, no Event
    kit.ctx.forget("ManagedSecret", NS, "web")
    assert gauge(NS, "web") is None


def test_reconcile_comes_back_when_the_warning_falls_due() -> None:
    from config_manager.k8s.reconcile import managedsecret

    from .kit import NS, Kit

    not_after = datetime.now(timezone.utc) + timedelta(days=2)
    kit = Kit({"tls": self_signed(not_after).decode()}, expiry_warning=DAY)
    kit.add("ManagedSecret", "later", {"storeRef": {"name": "local"}, "refreshInterval": "0",
                                       "data": [{"secretKey": "tls.crt", "remoteRef": {"key": "tls"}}]})
    delay = managedsecret.reconcile(kit.ctx, NS, "later")
    assert delay is not None and abs(delay - DAY) < 120  # no refresh timer, but back for the warning in ~1 day
    assert kit.status("ManagedSecret", "later")["expiry"]["warned"] is False
    assert not [e for e in kit.api.listed("events") if e["reason"] == "SecretNearExpiry"]


def test_gauge_follows_status_from_the_watch() -> None:
    status = {"expiresAt": "2026-12-05T06:00:00Z", "expiry": {"key": "k", "source": "store", "warned": False}}
    expiry.gauge_from_status("ns", "ManagedSecret", "watched", status)
    assert gauge("ns", "watched") == datetime(2026, 12, 5, 6, 0, tzinfo=timezone.utc).timestamp()
    expiry.gauge_from_status("ns", "ManagedSecret", "watched", {})
    assert gauge("ns", "watched") is None
