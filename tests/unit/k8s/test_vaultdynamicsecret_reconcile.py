"""The VaultDynamicSecret reconciler on the in-memory API with a fake lease backend (our own logic only;
the real Vault and PostgreSQL are in tests/integration/test_vaultdynamicsecret.py)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import pytest

from config_manager.k8s.reconcile import leasestate, vaultdynamicsecret
from config_manager.k8s.rotation.plan import iso, parse_time
from config_manager.providers.base import SecretProvider, SecretValue
from config_manager.providers.leases import IssuedCredentials, Lease, LeaseInfo, LeaseRefusedError
from tests.unit.k8s.kit import NS, Kit


class FakeLeases:
    """Mints numbered users; renewal grants ``grant`` seconds (or refuses); records revocations."""

    def __init__(self) -> None:
        self.issued = 0
        self.live: set[str] = set()
        self.revoked: list[str] = []
        self.grant = 60
        self.refuse = False

    def issue(self, path: str, *, method: str = "GET", parameters: Mapping[str, Any] | None = None) -> IssuedCredentials:
        self.issued += 1
        lease_id = f"{path}/lease{self.issued}"
        self.live.add(lease_id)
        return IssuedCredentials({"username": f"u{self.issued}", "password": f"pw-{self.issued}-secret"},
                                 Lease(lease_id, 60, True))

    def renew(self, lease_id: str, increment: int | None = None) -> Lease:
        if self.refuse or lease_id not in self.live:
            raise LeaseRefusedError(f"renewal of lease '{lease_id}' refused", "vault")
        return Lease(lease_id, self.grant, True)

    def revoke(self, lease_id: str) -> None:
        self.live.discard(lease_id)
        self.revoked.append(lease_id)

    def lookup(self, lease_id: str) -> LeaseInfo | None:
        return LeaseInfo(lease_id, 10, True) if lease_id in self.live else None


class FakeVault(SecretProvider):
    provider_type = "vault"

    def __init__(self, leases: FakeLeases) -> None:
        self._leases = leases

    def leases(self) -> FakeLeases:
        return self._leases

    def get(self, key: str, version: str | None = None) -> SecretValue:
        raise NotImplementedError

    def set(self, key: str, value: Any, metadata: Mapping[str, str] | None = None) -> SecretValue:
        raise NotImplementedError

    def delete(self, key: str) -> bool:
        raise NotImplementedError

    def list(self, prefix: str = "") -> list[str]:
        return []

    def validate(self) -> None:
        return None


@pytest.fixture()
def kit() -> tuple[Kit, FakeLeases]:
    k = Kit()
    fake = FakeLeases()
    k.ctx.provider = lambda store: FakeVault(fake)  # type: ignore[method-assign]
    body = k.api.put("secretstores", {"apiVersion": "configmanager.io/v1alpha1", "kind": "SecretStore",
                                      "metadata": {"name": "vault", "namespace": NS},
                                      "spec": {"provider": {"vault": {"server": "https://vault:8200"}}}})
    k.cache.stores[(NS, "vault")] = body
    return k, fake


def add(k: Kit, name: str, **spec: Any) -> None:
    body = k.api.put("vaultdynamicsecrets", {"apiVersion": "configmanager.io/v1alpha1", "kind": "VaultDynamicSecret",
                                             "metadata": {"name": name, "namespace": NS, "generation": 1},
                                             "spec": {"storeRef": {"name": "vault"}, "path": "database/creds/app", **spec}})
    k.cache.dynamic_secrets[(NS, name)] = body


def run(k: Kit, name: str = "db") -> float | None:
    k.sync_cache()
    stored = k.api.stored("vaultdynamicsecrets", NS, name)
    if stored is None:
        k.cache.dynamic_secrets.pop((NS, name), None)
    else:
        k.cache.dynamic_secrets[(NS, name)] = stored
    delay = vaultdynamicsecret.reconcile(k.ctx, NS, name)
    k.sync_cache()
    return delay


def edit(k: Kit, name: str = "db") -> dict[str, Any]:
    """The stored object itself (changes to it are what the API holds)."""
    return k.api.objects[("vaultdynamicsecrets", NS, name)]


def age(k: Kit, seconds: float, name: str = "db") -> None:
    """Move the recorded times back by ``seconds`` (as if that much time had passed)."""
    status = edit(k, name)["status"]
    for field in ("issuedAt", "lastRenewal", "expiresAt"):
        if status.get(field):
            status[field] = iso(parse_time(status[field]) - timedelta(seconds=seconds))  # type: ignore[operator]
    for prev in status.get("previousLeases") or []:
        prev["revokeAt"] = iso(parse_time(prev["revokeAt"]) - timedelta(seconds=seconds))  # type: ignore[operator]


def test_issue_writes_secret_finalizer_and_status_without_values(kit: tuple[Kit, FakeLeases]) -> None:
    k, fake = kit
    add(k, "db")
    delay = run(k)
    status = k.status("VaultDynamicSecret", "db")
    assert status["leaseId"] == "database/creds/app/lease1" and status["leaseDuration"] == 60 and status["renewals"] == 0
    assert not status.get("pendingLease")
    assert k.secret_data("db") == {"username": "u1", "password": "pw-1-secret"}
    body = k.api.stored("vaultdynamicsecrets", NS, "db") or {}
    assert "configmanager.io/revoke-leases" in body["metadata"]["finalizers"]
    assert "pw-1-secret" not in json.dumps(body)
    assert delay is not None and 35 < delay < 45  # renewAt 2/3 of 60 s
    writes = k.writes()
    run(k)  # nothing due: no request at all
    assert k.writes() == writes and fake.issued == 1


def test_renewal_then_capped_renewal_reissues_and_overlap_then_revoke(kit: tuple[Kit, FakeLeases]) -> None:
    k, fake = kit
    add(k, "db", keepPrevious="30s")
    run(k)
    age(k, 41)
    run(k)
    status = k.status("VaultDynamicSecret", "db")
    assert status["renewals"] == 1 and status["leaseId"].endswith("lease1") and fake.issued == 1
    fake.grant = 10  # max TTL near: less than asked
    age(k, 41)
    run(k)
    status = k.status("VaultDynamicSecret", "db")
    assert status["leaseId"].endswith("lease2") and status["reissues"] == 1 and status["renewals"] == 0
    assert [p["leaseId"] for p in status["previousLeases"]] == ["database/creds/app/lease1"]
    assert fake.revoked == [] and k.secret_data("db")["username"] == "u2"
    age(k, 31)
    run(k)
    assert fake.revoked == ["database/creds/app/lease1"]
    assert not k.status("VaultDynamicSecret", "db").get("previousLeases")


def test_refused_renewal_reissues(kit: tuple[Kit, FakeLeases]) -> None:
    k, fake = kit
    add(k, "db")
    run(k)
    fake.refuse = True
    age(k, 45)
    run(k)
    assert k.status("VaultDynamicSecret", "db")["leaseId"].endswith("lease2")


def test_pending_lease_is_adopted_when_the_secret_holds_it_else_revoked(kit: tuple[Kit, FakeLeases]) -> None:
    k, fake = kit
    add(k, "db")
    run(k)
    body = edit(k)
    body["status"]["pendingLease"] = {"leaseId": "database/creds/app/orphan", "leaseDuration": 60, "issuedAt": iso(leasestate.utcnow())}
    fake.live.add("database/creds/app/orphan")
    run(k)
    assert "database/creds/app/orphan" in fake.revoked
    status = k.status("VaultDynamicSecret", "db")
    assert not status.get("pendingLease") and status["leaseId"].endswith("lease1")


def test_delete_revokes_every_lease_then_drops_the_finalizer(kit: tuple[Kit, FakeLeases]) -> None:
    k, fake = kit
    add(k, "db", keepPrevious="1h")
    run(k)
    k.api.delete("secrets", NS, "db")  # deleted Secret: new credentials (values cannot be restored)
    k.cache.drop_object("Secret", NS, "db")
    run(k)
    assert fake.issued == 2 and fake.revoked == []
    body = edit(k)
    body["metadata"]["deletionTimestamp"] = iso(leasestate.utcnow())
    run(k)
    assert sorted(fake.revoked) == ["database/creds/app/lease1", "database/creds/app/lease2"]
    after = k.api.stored("vaultdynamicsecrets", NS, "db")
    assert after is None or "configmanager.io/revoke-leases" not in (after["metadata"].get("finalizers") or [])


def test_delete_after_the_store_is_gone_lets_the_object_go_and_says_so(kit: tuple[Kit, FakeLeases]) -> None:
    k, fake = kit
    add(k, "db")
    run(k)
    del k.cache.stores[(NS, "vault")]  # e.g. the namespace is being deleted: nothing can revoke any more
    edit(k)["metadata"]["deletionTimestamp"] = iso(leasestate.utcnow())
    run(k)
    after = k.api.stored("vaultdynamicsecrets", NS, "db")
    assert after is None or "configmanager.io/revoke-leases" not in (after["metadata"].get("finalizers") or [])
    events = [e for e in k.api.listed("events", NS) if e.get("reason") == "RevokeImpossible"]
    assert events and "lease1" in events[0]["message"] and fake.revoked == []
