"""VaultDynamicSecret on the real control plane, a real Vault (1.14, database secrets engine) and a real
PostgreSQL 15: the issued user logs in, renewals extend the lease as Vault reports it, a re-issue near the
max TTL keeps the old user valid for the overlap and then revokes it, a refused renewal re-issues, delete
revokes (the user can no longer log in, ``sys/leases/lookup`` lists nothing), SIGKILL mid-issue leaves no
orphan lease, and no credential reaches status, Events or the operator's DEBUG log.

TTLs are a few seconds (Vault's minimum granularity is 1 s); every wait is on a condition.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

import pytest

from config_manager.k8s.api.client import ApiError, KubeApi
from tests.helpers.operator_process import OperatorProcess, wait_for
from tests.helpers.postgres import VaultDatabase, postgres, vault_database  # noqa: F401  (fixtures)
from tests.helpers.vault_server import VaultServer, vault_server  # noqa: F401  (fixtures)
from tests.integration.opkit import API, events_for, secret_data, wait_ready

pytestmark = [pytest.mark.cluster, pytest.mark.vault]
PLURAL = "vaultdynamicsecrets"


def b64(text: str | bytes) -> str:
    return base64.b64encode(text.encode() if isinstance(text, str) else text).decode()


def lease_policy(role: str) -> str:
    return f"""
path "database/creds/{role}" {{ capabilities = ["read"] }}
path "sys/leases/renew" {{ capabilities = ["update"] }}
path "sys/leases/revoke" {{ capabilities = ["update"] }}
"""


@pytest.fixture()
def role(vault_database: VaultDatabase) -> str:  # noqa: F811
    """A fresh database role name (its TTLs are set by the test with ``create_role``)."""
    return "r" + uuid.uuid4().hex[:8]


def setup_store(kube: KubeApi, ns: str, vault: VaultServer, role: str) -> None:
    vault.write_policy(f"dyn-{role}", lease_policy(role))
    token = vault.create_token([f"dyn-{role}"])
    kube.create("secrets", ns, {"metadata": {"name": "vault-token"}, "data": {"token": b64(token)}})
    kube.create("secrets", ns, {"metadata": {"name": "vault-ca"}, "data": {"ca.crt": b64(vault.ca_file.read_bytes())}})
    kube.create("secretstores", ns, {
        "apiVersion": API, "kind": "SecretStore", "metadata": {"name": "vault"},
        "spec": {"provider": {"vault": {"server": vault.url, "path": "secret", "version": "v2",
                                        "caProvider": {"type": "Secret", "name": "vault-ca", "key": "ca.crt"},
                                        "auth": {"tokenSecretRef": {"name": "vault-token", "key": "token"}}}}},
    })


def dynamic_secret(name: str, role: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": API, "kind": "VaultDynamicSecret", "metadata": {"name": name},
            "spec": {"storeRef": {"name": "vault"}, "path": f"database/creds/{role}", **spec}}


def status_of(kube: KubeApi, ns: str, name: str) -> dict[str, Any]:
    return ((kube.get(PLURAL, ns, name) or {}).get("status")) or {}


def creds(kube: KubeApi, ns: str, name: str) -> tuple[str, str]:
    data = secret_data(kube, ns, name) or {}
    return data["username"], data["password"]


def no_value_anywhere(kube: KubeApi, ns: str, name: str, op: OperatorProcess, passwords: list[str]) -> None:
    """No password in the object (status, annotations), its Events or the operator's DEBUG log."""
    body = json.dumps(kube.get(PLURAL, ns, name) or {})
    events = json.dumps(events_for(kube, ns, name))
    log = op.log_text()
    for password in passwords:
        assert password not in body and password not in events and password not in log


def deployment(name: str, *, secret: str) -> dict[str, Any]:
    container = {"name": "app", "image": "registry.invalid/app:1",
                 "env": [{"name": "DB_USER", "valueFrom": {"secretKeyRef": {"name": secret, "key": "username"}}},
                         {"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": secret, "key": "password"}}}]}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [container]}}}}


def checksum(kube: KubeApi, ns: str, workload: str, secret: str) -> str | None:
    """The restart annotation our debounced restarts write on the pod template (None: never restarted)."""
    body = kube.get("deployments", ns, workload) or {}
    annotations = (((body.get("spec") or {}).get("template") or {}).get("metadata") or {}).get("annotations") or {}
    return annotations.get(f"checksum.configmanager.io/{secret}")


def parse(text: str) -> datetime:
    return datetime.strptime(text[:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=timezone.utc)


@pytest.fixture()
def op(running_operator: OperatorProcess) -> OperatorProcess:
    return running_operator


def test_issue_login_renew_reissue_near_max_ttl_overlap_then_revoke_on_delete(
        kube: KubeApi, namespace: str, op: OperatorProcess, vault_database: VaultDatabase, role: str) -> None:  # noqa: F811
    ns, pg, vault = namespace, vault_database.pg, vault_database.vault
    vault_database.create_role(role, ttl="6s", max_ttl="20s")
    setup_store(kube, ns, vault, role)
    kube.create(PLURAL, ns, dynamic_secret("db", role, renewAt=0.5, keepPrevious="4s", restartWorkloads={"mode": "None"}))
    first = wait_ready(kube, ns, "db", plural=PLURAL, timeout=60)["status"]
    user1, pw1 = creds(kube, ns, "db")
    assert pg.can_log_in(user1, pw1), "the issued user logs in"
    assert vault_database.leases(role) == [first["leaseId"]], "exactly one lease, the one in status"
    assert first["leaseDuration"] == 6 and first["renewals"] == 0
    assert (kube.get("secrets", ns, "db") or {})["metadata"]["annotations"]["configmanager.io/lease-id"] == first["leaseId"]

    # renewal: status says what Vault says (duration granted, expiry as Vault's lookup reports it)
    renewed = wait_for(lambda: (s := status_of(kube, ns, "db")).get("renewals", 0) >= 1 and s, timeout=30, what="a renewal")
    assert renewed["leaseId"] == first["leaseId"] and renewed["leaseDuration"] <= 6
    lookup = vault.admin.sys.read_lease(lease_id=renewed["leaseId"])["data"]
    assert abs((parse(lookup["expire_time"]) - parse(renewed["expiresAt"])).total_seconds()) <= 2
    assert parse(renewed["expiresAt"]) > parse(first["expiresAt"]), "the renewal extended the lease"
    assert pg.can_log_in(user1, pw1)

    # max TTL near: Vault grants less than asked, the operator re-issues; the old user lives out the overlap
    reissued = wait_for(lambda: (s := status_of(kube, ns, "db")).get("reissues") == 1 and s, timeout=40,
                        interval=0.1, what="a re-issue near the max TTL")
    user2, pw2 = creds(kube, ns, "db")
    assert user2 != user1 and reissued["leaseId"] != first["leaseId"]
    assert [p["leaseId"] for p in reissued["previousLeases"]] == [first["leaseId"]]
    assert pg.can_log_in(user1, pw1), "the previous user still logs in during the overlap"
    assert pg.can_log_in(user2, pw2)
    wait_for(lambda: not status_of(kube, ns, "db").get("previousLeases"), timeout=20, what="previous lease revoked")
    assert not pg.can_log_in(user1, pw1), "the previous user is gone after the overlap"
    assert first["leaseId"] not in vault_database.leases(role)
    assert any(e.get("reason") == "MaxTTLNear" for e in events_for(kube, ns, "db"))

    # delete: every lease revoked before the object goes; the user can no longer log in
    current = status_of(kube, ns, "db")["leaseId"]
    user3, pw3 = creds(kube, ns, "db")
    kube.delete(PLURAL, ns, "db")
    wait_for(lambda: kube.get(PLURAL, ns, "db") is None, timeout=30, what="VaultDynamicSecret gone")
    assert vault_database.leases(role) == [], f"no lease left under database/creds/{role}/ (had {current})"
    assert not pg.can_log_in(user3, pw3) and not pg.role_exists(user3)
    no_value_anywhere(kube, ns, "db", op, [pw1, pw2, pw3])


def test_refused_renewal_and_a_deleted_secret_reissue_and_restart_the_workload(
        kube: KubeApi, namespace: str, op: OperatorProcess, vault_database: VaultDatabase, role: str) -> None:  # noqa: F811
    ns, pg, vault = namespace, vault_database.pg, vault_database.vault
    vault_database.create_role(role, ttl="6s", max_ttl="1h")
    setup_store(kube, ns, vault, role)
    kube.create("deployments", ns, deployment("web", secret="app"))
    kube.create(PLURAL, ns, dynamic_secret("app", role, keepPrevious="0s"))
    first = wait_ready(kube, ns, "app", plural=PLURAL, timeout=60)["status"]
    user1, pw1 = creds(kube, ns, "app")
    assert checksum(kube, ns, "web", "app") is None, "the first issue restarts nothing"
    vault.admin.sys.revoke_lease(lease_id=first["leaseId"])  # behind the operator's back: renewal will be refused
    again = wait_for(lambda: (s := status_of(kube, ns, "app")).get("reissues") == 1 and s, timeout=30, what="re-issue after refusal")
    assert again["leaseId"] != first["leaseId"]
    user2, pw2 = creds(kube, ns, "app")
    assert pg.can_log_in(user2, pw2) and not pg.can_log_in(user1, pw1)
    assert any(e.get("reason") == "RenewalRefused" for e in events_for(kube, ns, "app"))
    restarted = wait_for(lambda: checksum(kube, ns, "web", "app"), timeout=15, what="the Deployment restarted for new credentials")
    wait_for(lambda: vault_database.leases(role) == [again["leaseId"]], timeout=15, what="only the new lease left")

    kube.delete("secrets", ns, "app")  # its values cannot be restored from anywhere: new credentials
    third = wait_for(lambda: (s := status_of(kube, ns, "app")).get("reissues") == 2 and s, timeout=30, what="re-issue after delete")
    user3, pw3 = creds(kube, ns, "app")
    assert pg.can_log_in(user3, pw3)
    wait_for(lambda: checksum(kube, ns, "web", "app") not in (None, restarted), timeout=15, what="restarted again")
    wait_for(lambda: vault_database.leases(role) == [third["leaseId"]], timeout=15, what="old lease revoked (keepPrevious 0s)")
    kube.delete(PLURAL, ns, "app")
    wait_for(lambda: vault_database.leases(role) == [], timeout=30, what="no lease after delete")
    no_value_anywhere(kube, ns, "app", op, [pw1, pw2, pw3])


def test_renew_at_outside_zero_and_one_is_refused_at_admission(kube: KubeApi, namespace: str, crds: None) -> None:
    for bad in (0, 1, 1.5):
        with pytest.raises(ApiError) as err:
            kube.create(PLURAL, namespace, dynamic_secret("bad", "x", renewAt=bad))
        assert err.value.status == 422 and "renewAt" in str(err.value), str(err.value)


@pytest.fixture()
def crash_op(running_operator: OperatorProcess) -> Iterator[OperatorProcess]:
    """The session operator, which this test kills and restarts (left running normally afterwards)."""
    yield running_operator
    if running_operator.proc is None:
        running_operator.start()


@pytest.mark.parametrize("step", ["after-lease-recorded", "after-lease-secret-write"])
def test_sigkill_mid_issue_leaves_no_orphan_lease(kube: KubeApi, namespace: str, crash_op: OperatorProcess,
                                                  vault_database: VaultDatabase, role: str, step: str) -> None:  # noqa: F811
    ns, pg, vault = namespace, vault_database.pg, vault_database.vault
    vault_database.create_role(role, ttl="1h", max_ttl="2h")
    setup_store(kube, ns, vault, role)
    assert vault_database.leases(role) == []
    crash_op.stop()
    crash_op.start(env={"CONFIG_MANAGER_FAULT": step})
    kube.create(PLURAL, ns, dynamic_secret("crash", role, restartWorkloads={"mode": "None"}))
    assert crash_op.wait_exit(timeout=60) == -9, f"the operator was SIGKILLed at {step}"
    before = vault_database.leases(role)
    pending = status_of(kube, ns, "crash").get("pendingLease") or {}
    assert before == [pending.get("leaseId")], "the issued lease was on record before the kill"
    crash_op.start()
    ready = wait_ready(kube, ns, "crash", plural=PLURAL, timeout=60)["status"]
    assert not ready.get("pendingLease")
    after = wait_for(lambda: (leases := vault_database.leases(role)) == [ready["leaseId"]] and leases, timeout=15,
                     what="exactly the current lease under the prefix")
    user, pw = creds(kube, ns, "crash")
    assert pg.can_log_in(user, pw)
    if step == "after-lease-recorded":  # never delivered: revoked, and a new lease issued
        assert after != before and ready["leaseId"] != pending["leaseId"]
    else:  # the Secret already held it: adopted, nothing issued twice
        assert after == before and ready["leaseId"] == pending["leaseId"]
    kube.delete(PLURAL, ns, "crash")
    wait_for(lambda: vault_database.leases(role) == [], timeout=30, what="no lease after delete")
    no_value_anywhere(kube, ns, "crash", crash_op, [pw])
