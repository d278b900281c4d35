"""The change-event receiver's own logic: authentication, schemas, target lookup, limits, and the
request pipeline through aiohttp's test server (no cluster: the targets are a recording fake)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from config_manager.k8s.config import OperatorConfig
from config_manager.k8s.stores.readcache import ProviderCache
from config_manager.k8s.watch.cache import ClusterCache
from config_manager.k8s.webhook.auth import Authenticator, SecretFile, sign
from config_manager.k8s.webhook.limits import Coalescer, TokenBucket
from config_manager.k8s.webhook.schemas import SchemaError, StoreChange, VaultChange, parse
from config_manager.k8s.webhook.server import Receiver
from config_manager.k8s.webhook.targets import ChangeTargets, Refresh, azure_stores, referencing


def ms(ns: str, name: str, store: str, *keys: str, kind: str = "SecretStore", extract: str | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"storeRef": {"name": store, "kind": kind},
                            "data": [{"secretKey": f"k{i}", "remoteRef": {"key": k}} for i, k in enumerate(keys)]}
    if extract:
        spec["dataFrom"] = [{"extract": {"key": extract}}]
    return {"metadata": {"namespace": ns, "name": name}, "spec": spec}


# -- auth ---------------------------------------------------------------------------------------------

def test_bearer_and_hmac(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("s3cret-token\n")
    (tmp_path / "key").write_text("hmac-key")
    auth = Authenticator(SecretFile(tmp_path / "token"), SecretFile(tmp_path / "key"))
    body = b'{"x": 1}'
    assert auth.check("Bearer s3cret-token", None, body) == 200
    assert auth.check("bearer s3cret-token", None, body) == 200
    assert auth.check("Bearer wrong", None, body) == 403
    assert auth.check(None, None, body) == 401
    assert auth.check("Basic abc", None, body) == 401
    assert auth.check(None, sign(b"hmac-key", body), body) == 200
    assert auth.check(None, sign(b"hmac-key", body + b" "), body) == 403  # signature of another body
    assert auth.check(None, sign(b"other", body), body) == 403


def test_token_file_reread_and_missing(tmp_path: Path) -> None:
    path = tmp_path / "token"
    auth = Authenticator(SecretFile(path))
    assert auth.check("Bearer anything", None, b"") == 403  # no file: nobody authenticates
    path.write_text("one")
    assert auth.check("Bearer one", None, b"") == 200
    path.write_text("second")
    assert auth.check("Bearer one", None, b"") == 403
    assert auth.check("Bearer second", None, b"") == 200


def test_empty_token_never_matches(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("")
    auth = Authenticator(SecretFile(tmp_path / "token"), None)
    assert auth.check("Bearer ", None, b"") == 403
    assert auth.check(None, sign(b"", b"x"), b"x") == 403  # no HMAC key configured


# -- schemas ------------------------------------------------------------------------------------------

def event_grid(event_type: str, name: str = "db-password", vault: str = "https://myvault.vault.azure.net") -> dict[str, Any]:
    return {"id": "1", "topic": "/subscriptions/x/resourceGroups/r/providers/Microsoft.KeyVault/vaults/myvault",
            "subject": name, "eventType": event_type, "eventTime": "2026-12-02T06:00:00Z", "dataVersion": "1",
            "data": {"Id": f"{vault}/secrets/{name}/abc", "VaultName": "myvault", "ObjectType": "Secret",
                     "ObjectName": name, "Version": "abc", "NBF": None, "EXP": None}}


def test_generic_schema() -> None:
    parsed = parse(json.dumps({"store": {"kind": "SecretStore", "name": "vault", "namespace": "team"}, "key": "app/db"}).encode())
    assert parsed.changes == [StoreChange("SecretStore", "vault", "team", "app/db")]
    parsed = parse(json.dumps([{"store": {"kind": "ClusterSecretStore", "name": "shared", "namespace": "x"}, "key": "k"}]).encode())
    assert parsed.changes == [StoreChange("ClusterSecretStore", "shared", None, "k")]


@pytest.mark.parametrize(("body", "field"), [
    (b"not json", "body"),
    (b"[]", "body"),
    (b"42", "body"),
    (b'{"store": {"name": "s"}, "key": "k"}', "body.store.namespace"),
    (b'{"store": {"kind": "Other", "name": "s"}, "key": "k"}', "body.store.kind"),
    (b'{"store": {"kind": "SecretStore", "namespace": "n"}, "key": "k"}', "body.store.name"),
    (b'{"store": {"name": "s", "namespace": "n"}}', "body.key"),
    (b'{"store": "s", "key": "k"}', "body.store"),
    (b'{"key": "k"}', "body"),
    (b'[{"eventType": "Microsoft.KeyVault.SecretNewVersionCreated", "data": {}}]', "[0].data.ObjectName"),
    (b'[{"eventType": "Microsoft.KeyVault.SecretNewVersionCreated"}]', "[0].data"),
])
def test_schema_errors_name_the_field(body: bytes, field: str) -> None:
    with pytest.raises(SchemaError) as err:
        parse(body)
    assert err.value.field == field


def test_event_grid_schema() -> None:
    parsed = parse(json.dumps([event_grid("Microsoft.KeyVault.SecretNewVersionCreated"),
                               event_grid("Microsoft.KeyVault.SecretNearExpiry", "tls"),
                               event_grid("Microsoft.KeyVault.KeyNewVersionCreated")]).encode())
    assert parsed.changes == [
        VaultChange("https://myvault.vault.azure.net", "myvault", "db-password", "Microsoft.KeyVault.SecretNewVersionCreated"),
        VaultChange("https://myvault.vault.azure.net", "myvault", "tls", "Microsoft.KeyVault.SecretNearExpiry"),
    ]
    assert parsed.ignored == 1
    cloud = {"specversion": "1.0", "type": "Microsoft.KeyVault.SecretNewVersionCreated", "source": "/x",
             "data": event_grid("x")["data"]}
    assert len(parse(json.dumps(cloud).encode()).changes) == 1


def test_validation_handshake() -> None:
    body = [{"id": "1", "eventType": "Microsoft.EventGrid.SubscriptionValidationEvent",
             "data": {"validationCode": "512d38b6-c7b8-40c8-89fe-f46f9e9622b6", "validationUrl": "https://x"}}]
    assert parse(json.dumps(body).encode()).validation_code == "512d38b6-c7b8-40c8-89fe-f46f9e9622b6"


# -- targets ------------------------------------------------------------------------------------------

def test_referencing_exactly_the_users_of_the_key() -> None:
    table = {("a", "one"): ms("a", "one", "vault", "app/db"), ("a", "two"): ms("a", "two", "vault", "app/other"),
             ("b", "three"): ms("b", "three", "vault", "app/db"), ("a", "four"): ms("a", "four", "local", "app/db"),
             ("a", "five"): ms("a", "five", "vault", extract="app/db"),
             ("c", "six"): ms("c", "six", "shared", "app/db", kind="ClusterSecretStore")}
    bundles = {("a", "cb"): {"spec": {"storeRef": {"name": "vault"}, "secrets": [{"path": "db.password", "remoteRef": {"key": "app/db"}}]}}}
    tables = [("ManagedSecret", table), ("ConfigBundle", bundles)]
    found = {k for k, _ in referencing(tables, "SecretStore", "vault", "a", "app/db")}
    assert found == {("ManagedSecret", "a", "one"), ("ManagedSecret", "a", "five"), ("ConfigBundle", "a", "cb")}
    assert {k for k, _ in referencing(tables, "ClusterSecretStore", "shared", None, "app/db")} == {("ManagedSecret", "c", "six")}
    assert referencing(tables, "SecretStore", "vault", "a", "APP/DB") == []
    assert {k for k, _ in referencing(tables, "SecretStore", "vault", "a", "APP/DB", fold_case=True)} == found


def test_find_users_are_refreshed_when_their_criteria_could_select_the_key() -> None:
    def finder(**find: Any) -> dict[str, Any]:
        return {"spec": {"storeRef": {"name": "vault"}, "dataFrom": [{"find": find}]}}

    table = {("a", "db-regexp"): finder(name={"regexp": "^db/"}),
             ("a", "other-regexp"): finder(name={"regexp": "^api/"}),
             ("a", "db-path"): finder(path="db"),
             ("a", "dbx-path"): finder(path="dbx"),
             ("a", "by-tags"): finder(tags={"team": "a"}),
             ("a", "other-store"): {"spec": {"storeRef": {"name": "local"}, "dataFrom": [{"find": {"path": "db"}}]}}}
    found = {k[2] for k, _ in referencing([("ManagedSecret", table)], "SecretStore", "vault", "a", "db/password")}
    assert found == {"db-regexp", "db-path", "by-tags"}


def test_invalidate_key_drops_that_key_and_the_stores_find_listings() -> None:
    import threading

    from config_manager.k8s.stores.readcache import _Flight

    cache = ProviderCache()
    for key in [("S/a/v", "db", None), ("S/a/v", "db", "3"), ("S/a/v", "other", None), ("S/a/v", "\x00find", "[]"),
                ("S/b/v", "db", None)]:
        cache._flights[key] = _Flight(done=threading.Event())
    assert cache.invalidate_key("S/a/v", "db") == 3
    assert sorted(cache._flights) == [("S/a/v", "other", None), ("S/b/v", "db", None)]


def test_azure_stores_by_origin_or_vault_name() -> None:
    stores = {("a", "kv"): {"spec": {"provider": {"azure": {"vaultUrl": "https://MyVault.vault.azure.net/"}}}},
              ("a", "other"): {"spec": {"provider": {"azure": {"vaultUrl": "https://other.vault.azure.net"}}}},
              ("a", "local"): {"spec": {"provider": {"local": {}}}}}
    cluster = {"shared": {"spec": {"provider": {"azure": {"vaultUrl": "https://127.0.0.1:8443"}}}}}
    change = VaultChange("https://myvault.vault.azure.net", "myvault", "x", "t")
    assert azure_stores(stores, cluster, change) == [("SecretStore", "a", "kv")]
    assert azure_stores(stores, cluster, VaultChange("", "myvault", "x", "t")) == [("SecretStore", "a", "kv")]
    assert azure_stores(stores, cluster, VaultChange("https://127.0.0.1:8443", "", "x", "t")) == [("ClusterSecretStore", None, "shared")]


def test_change_targets_drop_the_answer_and_enqueue() -> None:
    cache = ClusterCache()
    cache.managed_secrets[("a", "one")] = ms("a", "one", "kv", "db/password")
    cache.managed_secrets[("a", "two")] = ms("a", "two", "kv", "unrelated")
    cache.stores[("a", "kv")] = {"spec": {"provider": {"azure": {"vaultUrl": "https://v.vault.azure.net"}}}}
    providers = ProviderCache()
    dropped: list[tuple[str, str]] = []
    providers.invalidate_key = lambda s, k: dropped.append((s, k)) or 1  # type: ignore[method-assign]
    queued: list[Any] = []
    targets = ChangeTargets(cache, providers, queued.append, azure_key_of=lambda n: n.replace("--s", "/"))
    found = targets.find(VaultChange("https://v.vault.azure.net", "v", "DB--spassword", "t"))
    assert found == Refresh(frozenset({("SecretStore/a/kv", "db/password")}), frozenset({("ManagedSecret", "a", "one")}))
    targets.refresh(found)
    assert dropped == [("SecretStore/a/kv", "db/password")] and queued == [("ManagedSecret", "a", "one")]


# -- limits -------------------------------------------------------------------------------------------

def test_token_bucket() -> None:
    now = [0.0]
    bucket = TokenBucket(rate=2.0, burst=3.0, clock=lambda: now[0])
    assert [bucket.allow() for _ in range(4)] == [True, True, True, False]
    now[0] += 0.5
    assert bucket.allow() and not bucket.allow()


def test_coalescer_once_per_window() -> None:
    flushed: list[Any] = []

    async def run() -> None:
        co = Coalescer(flushed.append, window=0.05)
        assert co.add("k") and not co.add("k") and co.add("j")
        await asyncio.sleep(0.1)
        assert co.add("k")
        co.close()

    asyncio.run(run())
    assert sorted(flushed) == ["j", "k"]


# -- the request pipeline ---------------------------------------------------------------------------------

class FakeTargets:
    def __init__(self) -> None:
        self.found: list[Any] = []

    def find(self, change: Any) -> Refresh:
        self.found.append(change)
        return Refresh(frozenset(), frozenset({("ManagedSecret", "a", "x")}))

    def refresh(self, found: Refresh) -> None:
        pass


def test_request_pipeline(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("tok")
    config = OperatorConfig(webhook_address="127.0.0.1:0", webhook_token_file=str(tmp_path / "token"),
                            webhook_max_body=2048, webhook_coalesce=0.0, webhook_burst=3, webhook_rate=0.1)
    targets = FakeTargets()
    receiver = Receiver(config, targets)  # type: ignore[arg-type]
    good = json.dumps({"store": {"name": "s", "namespace": "n"}, "key": "k"}).encode()
    auth = {"Authorization": "Bearer tok", "Content-Type": "application/json"}

    async def run() -> list[int]:
        async with TestClient(TestServer(receiver.app())) as client:
            codes = []
            for headers, body in [
                ({"Content-Type": "application/json"}, good),  # no credentials
                ({**auth, "Authorization": "Bearer nope"}, good),
                (auth, b"x" * 4096),  # too large
                ({**auth, "Content-Type": "text/plain"}, good),
                (auth, b"{not json"),
                (auth, good),
                (auth, good),  # coalescing is off here: a second signal
                (auth, good),  # fourth authenticated request past the content-type check: burst of 3 used up
            ]:
                resp = await client.post("/events", data=body, headers=headers)
                codes.append(resp.status)
                text = await resp.text()
                assert "tok" not in text
            opt = await client.options("/events", headers={"WebHook-Request-Origin": "eventgrid.azure.net"})
            assert opt.headers["WebHook-Allowed-Origin"] == "eventgrid.azure.net"
            return codes

    codes = asyncio.run(run())
    assert codes == [401, 403, 413, 415, 400, 202, 202, 429]
    assert targets.found == [StoreChange("SecretStore", "s", "n", "k")] * 2
