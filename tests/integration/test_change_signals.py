"""Change-driven refresh and expiry on the real control plane, with the operator process and the Key
Vault test server (tools/azure-keyvault) on the wire.

- a generic ``{store, key}`` event (an Azure store, and a Vault KV v2 store on the real Vault) and an
  Azure Event Grid ``SecretNewVersionCreated`` event, each authenticated, refresh exactly the
  ManagedSecrets that read the changed key (refreshInterval 1h, so nothing else would); the unrelated
  ones are not even reconciled;
- 100 unauthenticated, forged, oversized and malformed requests are refused (401/403/413/400) and cause
  no provider read and no write;
- a self-signed certificate expiring in 3 hours and an Azure secret with ``expires`` in 2 hours, with a
  24h lead time: status.expiresAt / status.expiry, the gauge, one SecretNearExpiry Event, and
  ``configmanager status`` listing them.

The event -> Secret latency is printed (a figure for docs/performance.md), not asserted.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from azure.keyvault.secrets import SecretClient

from config_manager.devcluster.processes import free_port
from config_manager.k8s.api.client import KubeApi
from config_manager.k8s.webhook.auth import sign
from config_manager.providers.azure import AzureKeyVaultSecrets, names
from tests.helpers.azure_server import AzureVault, KeyVaultServer
from tests.helpers.operator_process import _SESSION_OPERATORS, REPO, OperatorProcess, wait_for
from tests.helpers.vault_server import VaultServer, vault_server  # noqa: F401  (fixture)
from tests.integration.opkit import events_for, secret_data, wait_ready
from tests.integration.test_managedsecret_azure import ms, service_principal_store, store_ready
from tests.integration.test_managedsecret_vault import b64, vault_store
from tests.unit.k8s.test_expiry import self_signed

pytestmark = [pytest.mark.cluster, pytest.mark.azure]

TOKEN = "test-webhook-token-" + uuid.uuid4().hex
HMAC_KEY = uuid.uuid4().hex.encode()


@pytest.fixture(scope="module")
def kv(azure_vault: AzureVault) -> KeyVaultServer:
    if not isinstance(azure_vault, KeyVaultServer):
        pytest.skip(f"needs tools/azure-keyvault's identity endpoints; this session runs on {azure_vault.kind}")
    return azure_vault


class Hook:
    """The tests' side of the receiver: where it listens and how to post to it."""

    def __init__(self, port: int) -> None:
        self.url = f"http://127.0.0.1:{port}/events"

    def post(self, body: bytes, headers: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
        request = urllib.request.Request(self.url, data=body, method="POST",
                                         headers={"Content-Type": "application/json", **(headers or {})})
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"{}")

    def event(self, doc: Any) -> tuple[int, dict[str, Any]]:
        return self.post(json.dumps(doc).encode(), {"Authorization": f"Bearer {TOKEN}"})


@pytest.fixture(scope="module")
def hooked(cluster: Any, crds: None, kv: KeyVaultServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[OperatorProcess, Hook]]:
    """An operator with the receiver on (token and HMAC key in files, as the chart mounts them from a
    Secret), a 24h expiry lead time, trusting the Key Vault server's CA. The session operator is stopped
    meanwhile (it would reconcile these stores without that trust)."""
    for proc in _SESSION_OPERATORS:
        proc.stop()
    folder = tmp_path_factory.mktemp("hook-op")
    (folder / "token").write_text(TOKEN + "\n")
    (folder / "hmac").write_bytes(HMAC_KEY)
    port = free_port()
    own = OperatorProcess(kubeconfig=Path(cluster.kubeconfig), log_path=folder / "operator.log")
    own.start(f"--webhook-address=127.0.0.1:{port}", f"--webhook-token-file={folder / 'token'}",
              f"--webhook-hmac-key-file={folder / 'hmac'}", "--webhook-max-body=4096", "--webhook-burst=500",
              "--webhook-coalesce=0.2", "--expiry-warning=24h",
              env={"REQUESTS_CA_BUNDLE": str(kv.ca_file)})
    try:
        yield own, Hook(port)
    finally:
        own.stop()


@pytest.fixture()
def vault(kv: KeyVaultServer) -> Iterator[AzureKeyVaultSecrets]:
    client = AzureKeyVaultSecrets(kv.vault_url, kv.credential, purge_on_delete=True, **kv.client_kwargs)
    yield client
    client.close()


def provider_gets(op: OperatorProcess) -> float:
    """configmanager_provider_request_duration_seconds_count{provider="azure",operation="get"}."""
    with urllib.request.urlopen(f"http://127.0.0.1:{op.port}/metrics", timeout=5) as resp:
        text = resp.read().decode()
    m = re.search(r'^configmanager_provider_request_duration_seconds_count\{operation="get",provider="azure"\} (\S+)$', text, re.M)
    return float(m.group(1)) if m else 0.0


def metric_lines(op: OperatorProcess, name: str) -> list[str]:
    with urllib.request.urlopen(f"http://127.0.0.1:{op.port}/metrics", timeout=5) as resp:
        return [line for line in resp.read().decode().splitlines() if line.startswith(name)]


def settled(op: OperatorProcess, ns: str, *names: str) -> None:
    """Wait until each object's first pass has logged its end (the Secret and status come before that line)."""
    for name in names:
        op.wait_passes("ManagedSecret", ns, name, 0, 1)


def wait_value(kube: KubeApi, ns: str, name: str, key: str, value: str, timeout: float = 20.0) -> float:
    """Seconds until the Secret holds ``value`` at ``key`` (polled every 20 ms)."""
    start = time.monotonic()
    wait_for(lambda: (secret_data(kube, ns, name) or {}).get(key) == value, timeout=timeout, interval=0.02,
             what=f"Secret {name} to get the new {key}")
    return time.monotonic() - start


def test_generic_event_refreshes_exactly_the_objects_reading_the_key(
        kube: KubeApi, namespace: str, hooked: tuple[OperatorProcess, Hook], kv: KeyVaultServer,
        vault: AzureKeyVaultSecrets) -> None:
    op, hook = hooked
    ns, p = namespace, f"g{uuid.uuid4().hex[:8]}"
    changed, other = f"{p}/db/password", f"{p}/api-key"
    vault.set(changed, "pw-1")
    vault.set(other, "api-1")
    service_principal_store(kube, kv, ns)
    store_ready(kube, ns, "azure")
    kube.create("managedsecrets", ns, ms("reader-a", "azure", [("password", changed, None)]))
    kube.create("managedsecrets", ns, ms("reader-b", "azure", [("pw", changed, None), ("api", other, None)]))
    kube.create("managedsecrets", ns, ms("unrelated", "azure", [("api", other, None)]))
    for name in ("reader-a", "reader-b", "unrelated"):
        wait_ready(kube, ns, name)
    settled(op, ns, "reader-a", "reader-b", "unrelated")
    unrelated_rv = kube.get("secrets", ns, "unrelated")["metadata"]["resourceVersion"]
    unrelated_passes = op.passes("ManagedSecret", ns, "unrelated")

    a_passes = op.passes("ManagedSecret", ns, "reader-a")
    vault.set(changed, "pw-2")
    vault.set(other, "api-2")  # changed too, but no event names it: nobody may pick it up before its 1h refresh
    sent = time.monotonic()
    code, answer = hook.event({"store": {"kind": "SecretStore", "name": "azure", "namespace": ns}, "key": changed})
    assert (code, answer["accepted"]) == (202, 1), answer
    wait_value(kube, ns, "reader-a", "password", "pw-2")
    wait_value(kube, ns, "reader-b", "pw", "pw-2")
    latency = time.monotonic() - sent
    print(f"\nfigure: generic event -> both Secrets updated in {latency * 1000:.0f} ms (coalescing window 200 ms)")
    # the unrelated object was not reconciled at all; reader-b's other key keeps its cached answer
    assert op.passes("ManagedSecret", ns, "unrelated") == unrelated_passes
    assert kube.get("secrets", ns, "unrelated")["metadata"]["resourceVersion"] == unrelated_rv
    assert secret_data(kube, ns, "unrelated") == {"api": "api-1"}
    # repeats within the window cost one refresh: the same change three times in one delivery
    passes = op.wait_passes("ManagedSecret", ns, "reader-a", a_passes, 1)  # the first event's pass has ended
    change = {"store": {"kind": "SecretStore", "name": "azure", "namespace": ns}, "key": changed}
    code, answer = hook.event([change, change, change])
    assert (code, answer["accepted"], answer["coalesced"]) == (202, 1, 2), answer
    op.wait_passes("ManagedSecret", ns, "reader-a", passes, 1)
    # positive marker for "no second pass": a later event for the other key reaches its objects...
    code, _ = hook.event({"store": {"kind": "SecretStore", "name": "azure", "namespace": ns}, "key": other})
    wait_value(kube, ns, "unrelated", "api", "api-2")
    assert op.passes("ManagedSecret", ns, "reader-a") == passes + 1  # ...and reader-a ran once for the three
    log = op.log_text()
    for secret in ("pw-1", "pw-2", "api-1", "api-2", TOKEN):
        assert secret not in log


def test_generic_event_for_a_vault_key(kube: KubeApi, namespace: str, hooked: tuple[OperatorProcess, Hook],
                                       vault_server: VaultServer) -> None:  # noqa: F811
    """Vault sends no notifications of its own: a generic event from whoever wrote the key (a CI job, an
    audit-device forwarder) refreshes the reader of that path and nobody else."""
    op, hook = hooked
    ns, path, other = namespace, f"app/hook-{uuid.uuid4().hex[:8]}", f"app/hook-{uuid.uuid4().hex[:8]}-other"
    kv2 = vault_server.admin.secrets.kv.v2
    kv2.create_or_update_secret(path=path, secret={"password": "v-1"}, mount_point="secret")
    kv2.create_or_update_secret(path=other, secret={"password": "o-1"}, mount_point="secret")
    kube.create("secrets", ns, {"metadata": {"name": "vault-token"}, "data": {"token": b64(vault_server.create_token(["app-read"]))}})
    vault_store(kube, ns, vault_server, {"tokenSecretRef": {"name": "vault-token", "key": "token"}})
    store_ready(kube, ns, "vault")
    kube.create("managedsecrets", ns, ms("reader", "vault", [("pw", path, "password")]))
    kube.create("managedsecrets", ns, ms("other", "vault", [("pw", other, "password")]))
    wait_ready(kube, ns, "reader")
    wait_ready(kube, ns, "other")
    settled(op, ns, "reader", "other")
    other_passes = op.passes("ManagedSecret", ns, "other")
    kv2.create_or_update_secret(path=path, secret={"password": "v-2"}, mount_point="secret")
    kv2.create_or_update_secret(path=other, secret={"password": "o-2"}, mount_point="secret")
    body = json.dumps({"store": {"kind": "SecretStore", "name": "vault", "namespace": ns}, "key": path}).encode()
    sent = time.monotonic()
    assert hook.post(body, {"X-Signature-256": sign(HMAC_KEY, body)})[0] == 202
    wait_value(kube, ns, "reader", "pw", "v-2")
    print(f"\nfigure: generic event (Vault KV v2) -> Secret updated in {(time.monotonic() - sent) * 1000:.0f} ms")
    assert op.passes("ManagedSecret", ns, "other") == other_passes
    assert secret_data(kube, ns, "other") == {"pw": "o-1"}


def test_event_grid_secret_new_version_refreshes_the_azure_object(
        kube: KubeApi, namespace: str, hooked: tuple[OperatorProcess, Hook], kv: KeyVaultServer,
        vault: AzureKeyVaultSecrets) -> None:
    op, hook = hooked
    ns, p = namespace, f"e{uuid.uuid4().hex[:8]}"
    key = f"{p}/conn_string"  # '/' and '_' make the Azure name an escaped one
    vault.set(key, "conn-1")
    vault.set(f"{p}-other", "other-1")
    service_principal_store(kube, kv, ns)
    store_ready(kube, ns, "azure")
    kube.create("managedsecrets", ns, ms("app", "azure", [("conn", key, None)]))
    kube.create("managedsecrets", ns, ms("bystander", "azure", [("o", f"{p}-other", None)]))
    wait_ready(kube, ns, "app")
    wait_ready(kube, ns, "bystander")
    settled(op, ns, "app", "bystander")
    bystander = op.passes("ManagedSecret", ns, "bystander")
    handshake = [{"id": "v1", "topic": "/subscriptions/x", "subject": "", "eventType": "Microsoft.EventGrid.SubscriptionValidationEvent",
                  "eventTime": "2026-12-02T06:00:00Z", "dataVersion": "2", "metadataVersion": "1",
                  "data": {"validationCode": "5a1d0c83-0c44-4e6e-9f0b-4dd1e0a7c3d1", "validationUrl": "https://example.invalid"}}]
    assert hook.event(handshake) == (200, {"validationResponse": "5a1d0c83-0c44-4e6e-9f0b-4dd1e0a7c3d1"})

    props = vault.set(key, "conn-2")
    name = names.encode(key).upper()  # as Azure may spell it: names are case-insensitive there
    event = [{"id": uuid.uuid4().hex, "topic": "/subscriptions/x/resourceGroups/r/providers/Microsoft.KeyVault/vaults/test",
              "subject": name, "eventType": "Microsoft.KeyVault.SecretNewVersionCreated", "eventTime": "2026-12-02T06:00:00Z",
              "dataVersion": "1", "metadataVersion": "1",
              "data": {"Id": f"{kv.vault_url}/secrets/{name}/{props.version}", "VaultName": "test", "ObjectType": "Secret",
                       "ObjectName": name, "Version": props.version, "NBF": None, "EXP": None}}]
    body = json.dumps(event).encode()
    sent = time.monotonic()
    code, answer = hook.post(body, {"X-Signature-256": sign(HMAC_KEY, body)})  # HMAC this time
    assert (code, answer["accepted"]) == (202, 1), answer
    wait_value(kube, ns, "app", "conn", "conn-2")
    print(f"\nfigure: Event Grid SecretNewVersionCreated -> Secret updated in {(time.monotonic() - sent) * 1000:.0f} ms")
    assert op.passes("ManagedSecret", ns, "bystander") == bystander


def test_refused_requests_cause_no_read_and_no_write(
        kube: KubeApi, namespace: str, hooked: tuple[OperatorProcess, Hook], kv: KeyVaultServer,
        vault: AzureKeyVaultSecrets) -> None:
    op, hook = hooked
    ns, p = namespace, f"r{uuid.uuid4().hex[:8]}"
    key = f"{p}-target"
    vault.set(key, "t-1")
    service_principal_store(kube, kv, ns)
    store_ready(kube, ns, "azure")
    kube.create("managedsecrets", ns, ms("target", "azure", [("k", key, None)]))
    wait_ready(kube, ns, "target")
    settled(op, ns, "target")
    vault.set(key, "t-2")  # a change a refused request must not deliver
    before_rv = kube.get("secrets", ns, "target")["metadata"]["resourceVersion"]
    before_ms = kube.get("managedsecrets", ns, "target")["metadata"]["resourceVersion"]
    passes, gets = op.passes("ManagedSecret", ns, "target"), provider_gets(op)
    kv.requests(reset=True)
    good = json.dumps({"store": {"kind": "SecretStore", "name": "azure", "namespace": ns}, "key": key}).encode()
    codes: dict[str, list[int]] = {"unauthenticated": [], "forged": [], "oversized": [], "malformed": []}
    for i in range(25):
        codes["unauthenticated"].append(hook.post(good)[0] if i % 2 else hook.post(good, {"Authorization": "Basic eDp5"})[0])
        forged = {"Authorization": f"Bearer {TOKEN[:-1]}x"} if i % 2 else {"X-Signature-256": sign(b"not-the-key", good)}
        codes["forged"].append(hook.post(good, forged)[0])
        padded = json.dumps({"store": {"kind": "SecretStore", "name": "azure", "namespace": ns}, "key": key, "pad": "x" * 5000}).encode()
        codes["oversized"].append(hook.post(padded, {"Authorization": f"Bearer {TOKEN}"})[0])
        malformed = [b"{not json", b'{"store": {"name": "azure"}, "key": "k"}', b'[{"eventType": "Microsoft.KeyVault.SecretNewVersionCreated"}]',
                     b"[]", json.dumps({"store": {"kind": "Vault", "name": "azure", "namespace": ns}, "key": key}).encode()][i % 5]
        codes["malformed"].append(hook.post(malformed, {"Authorization": f"Bearer {TOKEN}"})[0])
    assert set(codes["unauthenticated"]) == {401}
    assert set(codes["forged"]) == {403}
    assert set(codes["oversized"]) == {413}
    assert set(codes["malformed"]) == {400}
    assert kube.get("secrets", ns, "target")["metadata"]["resourceVersion"] == before_rv
    assert kube.get("managedsecrets", ns, "target")["metadata"]["resourceVersion"] == before_ms
    # the positive marker: an accepted event afterwards is served (so the receiver was alive and routing)
    assert hook.event(json.loads(good))[0] == 202
    wait_value(kube, ns, "target", "k", "t-2")
    op.wait_passes("ManagedSecret", ns, "target", passes, 1)
    assert op.passes("ManagedSecret", ns, "target") == passes + 1  # only the accepted event's pass
    assert provider_gets(op) == gets + 1 and kv.requests().get("Client.GetSecret") == 1
    counted = {line.split('"')[1]: float(line.split()[-1]) for line in metric_lines(op, "configmanager_webhook_requests_total{")}
    assert {c: counted.get(c, 0) >= 25 for c in ("401", "403", "413", "400")} == dict.fromkeys(("401", "403", "413", "400"), True)


def test_expiring_certificate_and_azure_expires_show_in_status_metric_event_and_cli(
        cluster: Any, kube: KubeApi, namespace: str, hooked: tuple[OperatorProcess, Hook], kv: KeyVaultServer,
        vault: AzureKeyVaultSecrets) -> None:
    op, hook = hooked
    ns, p = namespace, f"x{uuid.uuid4().hex[:8]}"
    now = datetime.now(timezone.utc).replace(microsecond=0)
    cert_expiry, value_expiry = now + timedelta(hours=3), now + timedelta(hours=2)
    vault.set(f"{p}-tls", self_signed(cert_expiry).decode())
    client = SecretClient(kv.vault_url, kv.credential, verify_challenge_resource=False, connection_verify=str(kv.ca_file))
    client.set_secret(f"{p}-db", "db-secret-value", expires_on=value_expiry)
    vault.set(f"{p}-forever", "no-expiry")
    service_principal_store(kube, kv, ns)
    store_ready(kube, ns, "azure")
    kube.create("managedsecrets", ns, ms("tls", "azure", [("tls.crt", f"{p}-tls", None)]))
    kube.create("managedsecrets", ns, ms("db", "azure", [("password", f"{p}-db", None), ("crt", f"{p}-tls", None)]))
    kube.create("managedsecrets", ns, ms("plain", "azure", [("v", f"{p}-forever", None)]))
    for name in ("tls", "db", "plain"):
        wait_ready(kube, ns, name)
    settled(op, ns, "tls", "db", "plain")

    def status_of(name: str) -> dict[str, Any]:
        return dict(kube.get("managedsecrets", ns, name).get("status") or {})

    tls = wait_for(lambda: status_of("tls") if status_of("tls").get("expiresAt") else None, what="tls expiresAt")
    assert tls["expiresAt"] == cert_expiry.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert tls["expiry"] == {"key": "tls.crt", "source": "certificate", "warned": True}
    db = wait_for(lambda: status_of("db") if status_of("db").get("expiresAt") else None, what="db expiresAt")
    assert db["expiresAt"] == value_expiry.strftime("%Y-%m-%dT%H:%M:%SZ")  # the earlier of the two
    assert db["expiry"] == {"key": f"{p}-db", "source": "store", "warned": True}
    assert "expiresAt" not in status_of("plain") and "expiry" not in status_of("plain")

    gauges = {line.split("{")[1].split("}")[0]: float(line.split()[-1])
              for line in metric_lines(op, "configmanager_secret_expiry_timestamp_seconds{")}
    assert gauges[f'kind="ManagedSecret",name="tls",namespace="{ns}"'] == cert_expiry.timestamp()
    assert gauges[f'kind="ManagedSecret",name="db",namespace="{ns}"'] == value_expiry.timestamp()
    assert not [k for k in gauges if 'name="plain"' in k and ns in k]

    def near(name: str) -> list[dict[str, Any]]:
        return [e for e in events_for(kube, ns, name) if e.get("reason") == "SecretNearExpiry"]

    warned = wait_for(lambda: near("db"), what="SecretNearExpiry Event for db")
    assert warned[0]["type"] == "Warning" and f"{p}-db" in warned[0]["message"] and "db-secret-value" not in warned[0]["message"]
    wait_for(lambda: near("tls"), what="SecretNearExpiry Event for tls")
    # once per expiry: another pass (a change event for the key) posts no second Event and writes no status
    status_rv = kube.get("managedsecrets", ns, "db")["metadata"]["resourceVersion"]
    passes = op.passes("ManagedSecret", ns, "db")
    assert hook.event({"store": {"kind": "SecretStore", "name": "azure", "namespace": ns}, "key": f"{p}-db"})[0] == 202
    op.wait_passes("ManagedSecret", ns, "db", passes, 1)
    assert len(near("db")) == 1 and int(near("db")[0].get("count") or 1) == 1
    assert kube.get("managedsecrets", ns, "db")["metadata"]["resourceVersion"] == status_rv

    configmanager = Path(sys.executable).parent / "configmanager"  # the console script, as a user runs it
    out = subprocess.run([str(configmanager), "status", "-n", ns, "--kubeconfig", str(cluster.kubeconfig)],
                         capture_output=True, text=True, timeout=60, cwd=REPO, check=True).stdout
    section = out.split("EXPIRING WITHIN 168h", 1)[1]
    rows = [line.split() for line in section.strip().splitlines()[1:]]
    assert [(r[1], r[2], r[3]) for r in rows] == [("db", f"{p}-db", "store"), ("tls", "tls.crt", "certificate")]
    assert "db-secret-value" not in out and "BEGIN CERTIFICATE" not in out
    log = op.log_text()
    assert "db-secret-value" not in log
