"""Rotation written back to a real HashiCorp Vault (KV v2, property inside a secret), and the signed HTTP
notification received by a real HTTP server. (Azure write-back: tests/integration/test_managedsecret_azure.py.)
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import pytest

from config_manager.k8s.api.client import KubeApi
from tests.helpers.operator_process import OperatorProcess, wait_for
from tests.helpers.vault_server import VaultServer, vault_server  # noqa: F401  (fixture)
from tests.integration.opkit import API, condition, events_for, secret_data, wait_ready
from tests.integration.test_managedsecret_vault import b64, vault_store
from tests.integration.test_rotation import annotate, op, rot_operator, rotation_status  # noqa: F401  (fixtures)

pytestmark = [pytest.mark.cluster, pytest.mark.vault]

RW_POLICY = """
path "secret/data/rot/*" { capabilities = ["create", "update", "read"] }
path "secret/metadata/rot/*" { capabilities = ["read", "list", "update"] }
"""


@pytest.fixture()
def receiver() -> Iterator[list[tuple[dict[str, str], bytes]]]:
    received: list[tuple[dict[str, str], bytes]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            received.append(({k.lower(): v for k, v in self.headers.items()},
                             self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    received.append(({"port": str(server.server_port)}, b""))
    yield received
    server.shutdown()


def test_vault_write_back_previous_in_property_and_signed_notification(
        kube: KubeApi, namespace: str, op: OperatorProcess, vault_server: VaultServer,  # noqa: F811
        receiver: list[tuple[dict[str, str], bytes]]) -> None:
    ns = namespace
    path = f"rot/{uuid.uuid4().hex[:8]}"
    initial = "vpw-" + uuid.uuid4().hex
    kv = vault_server.admin.secrets.kv.v2
    kv.create_or_update_secret(path=path, secret={"user": "svc", "password": initial}, mount_point="secret")
    vault_server.write_policy("rot-rw", RW_POLICY)
    token = vault_server.create_token(["rot-rw"])
    kube.create("secrets", ns, {"metadata": {"name": "vault-token"}, "data": {"token": b64(token)}})
    kube.create("secrets", ns, {"metadata": {"name": "hook"}, "data": {
        "url": b64(f"http://127.0.0.1:{receiver[0][0]['port']}/rotated"), "key": b64("hook-signing-key")}})
    vault_store(kube, ns, vault_server, {"tokenSecretRef": {"name": "vault-token", "key": "token"}})
    wait_for(lambda: condition(kube.get("secretstores", ns, "vault")).get("status") == "True", what="vault store Ready")
    kube.create("managedsecrets", ns, {
        "apiVersion": API, "kind": "ManagedSecret", "metadata": {"name": "vdb"},
        "spec": {"storeRef": {"name": "vault"}, "refreshInterval": "1h",
                 "data": [{"secretKey": "password", "remoteRef": {"key": path, "property": "password"}},
                          {"secretKey": "user", "remoteRef": {"key": path, "property": "user"}}],
                 "rotation": {"keys": ["password"], "keepPrevious": True, "generator": {"type": "token", "length": 32},
                              "restartWorkloads": {"mode": "None"},
                              "notify": {"urlSecretRef": {"name": "hook", "key": "url"},
                                         "hmacSecretRef": {"name": "hook", "key": "key"}}}}})
    wait_ready(kube, ns, "vdb")
    annotate(kube, ns, "vdb", "now")
    status = wait_for(lambda: (s := rotation_status(kube, ns, "vdb")).get("count") == 1 and not s.get("pending") and s,
                      what="rotation with Vault")
    stored = kv.read_secret_version(path=path, mount_point="secret", raise_on_deleted_version=True)["data"]
    assert stored["data"]["password"] != initial and len(stored["data"]["password"]) == 32
    assert stored["data"]["password_previous"] == initial and stored["data"]["user"] == "svc"
    assert status["history"][-1]["version"] == str(stored["metadata"]["version"])
    data = wait_for(lambda: (d := secret_data(kube, ns, "vdb")) and d["password"] == stored["data"]["password"] and d,
                    what="Secret with the Vault value")
    assert data["password_previous"] == initial and data["user"] == "svc"

    hooks = wait_for(lambda: receiver[1:], timeout=10, what="notification")
    headers, body = hooks[0]
    assert headers["x-configmanager-signature"] == "sha256=" + hmac.new(b"hook-signing-key", body, hashlib.sha256).hexdigest()
    payload = json.loads(body)
    assert payload["name"] == "vdb" and payload["keys"] == ["password"] and payload["trigger"] == "annotation"
    assert payload["versions"] == [str(stored["metadata"]["version"])]
    for value in (initial, stored["data"]["password"]):
        assert value.encode() not in body
        assert value not in op.log_text()
        assert all(value not in e["message"] for e in events_for(kube, ns, "vdb"))
