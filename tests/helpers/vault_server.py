"""pytest fixtures for a real Vault-compatible server: a dev-mode Vault started from the built binary.

The binary is HashiCorp Vault (MPL release; OpenBao is not served by the Go module proxy here), built
once by ``tools/build-binaries.sh vault`` into the version cache; the fixture builds it when missing.

Fixtures:

- ``vault_server`` (session): a dev server over TLS on a free loopback port, with the KV v2 mount
  ``secret``, a KV v1 mount ``kv1``, AppRole at ``approle`` and the Kubernetes auth method enabled at
  ``kubernetes`` (configured against the local apiserver by ``vault_kubernetes_auth``);
- ``vault_kubernetes_auth`` (session): configures that method against the ``cluster`` fixture's
  apiserver (TokenReview with a reviewer ServiceAccount bound to ``system:auth-delegator``);
- ``disposable_vault`` (function): a server of its own that a test may stop, freeze or kill.

Every start is bounded in time; a failure names the missing piece (binary not built, port not ready,
process exited, with the tail of its log). Processes are stopped and their folders removed.
"""

from __future__ import annotations

import os
import secrets
import socket
import ssl
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hvac
import pytest

from config_manager.devcluster.binaries import BUILD_SCRIPT, cache_dir, read_versions
from tests.helpers.server_process import ServerProcess

START_TIMEOUT = 60.0
STOP_TIMEOUT = 10.0
KV2_MOUNT = "secret"
KV1_MOUNT = "kv1"
APPROLE_MOUNT = "approle"
KUBERNETES_MOUNT = "kubernetes"

#: A policy for application tests: read and list under app/ on both mounts, nothing else.
APP_POLICY = f"""
path "{KV2_MOUNT}/data/app/*" {{ capabilities = ["read"] }}
path "{KV2_MOUNT}/metadata/app/*" {{ capabilities = ["read", "list"] }}
path "{KV1_MOUNT}/app/*" {{ capabilities = ["read", "list"] }}
"""


class VaultStartError(RuntimeError):
    """The Vault server could not be started; the message names the missing piece."""


def vault_binary(build_missing: bool = True) -> Path:
    """The cached Vault binary at the pinned version, built with tools/build-binaries.sh when missing."""
    override = os.environ.get("CONFIG_MANAGER_VAULT_BIN")
    if override:
        if not os.access(override, os.X_OK):
            raise VaultStartError(f"CONFIG_MANAGER_VAULT_BIN={override} is not an executable")
        return Path(override)
    version = read_versions()["VAULT_VERSION"]
    path = cache_dir() / "bin" / f"vault-{version}"
    if os.access(path, os.X_OK):
        return path
    if not build_missing or not BUILD_SCRIPT.exists():
        raise VaultStartError(f"the Vault binary is not built (expected {path}); run tools/build-binaries.sh vault")
    started = time.monotonic()
    result = subprocess.run(
        [str(BUILD_SCRIPT), "vault"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        timeout=3600, check=False,
    )
    if result.returncode != 0 or not os.access(path, os.X_OK):
        raise VaultStartError(
            f"building Vault {version} failed (exit {result.returncode}) after {time.monotonic() - started:.0f}s; "
            f"it needs Go 1.26 and the Go module proxy:\n{result.stderr[-2000:]}"
        )
    return path


def free_port_pair() -> int:
    """A loopback port P such that P and P+1 (Vault's cluster port) are both free right now."""
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = int(probe.getsockname()[1])
        if port >= 65535:
            continue
        try:
            with socket.socket() as second:
                second.bind(("127.0.0.1", port + 1))
        except OSError:
            continue
        return port
    raise VaultStartError("no free pair of loopback ports found for Vault")


@dataclass
class VaultServer(ServerProcess):
    """A running dev-mode Vault: where it is, how to trust it, and admin helpers for tests."""

    url: str
    root_token: str
    ca_file: Path
    folder: Path
    process: subprocess.Popen[bytes]
    log_file: Path
    started_in: float
    kv2_mount: str = KV2_MOUNT
    kv1_mount: str = KV1_MOUNT
    approle_mount: str = APPROLE_MOUNT
    kubernetes_mount: str = KUBERNETES_MOUNT
    _admin: hvac.Client | None = field(default=None, repr=False)

    @property
    def admin(self) -> hvac.Client:
        """An hvac client with the root token (for test set-up only)."""
        if self._admin is None:
            self._admin = hvac.Client(url=self.url, token=self.root_token, verify=str(self.ca_file), timeout=10)
        return self._admin

    def write_policy(self, name: str, rules: str) -> None:
        self.admin.sys.create_or_update_policy(name=name, policy=rules)

    def create_token(self, policies: list[str], ttl: str = "1h") -> str:
        """A token with these policies plus Vault's ``default`` policy (which allows lookup-self)."""
        response = self.admin.auth.token.create(policies=policies, ttl=ttl, no_default_policy=False)
        return str(response["auth"]["client_token"])

    def create_approle(self, role: str, policies: list[str], token_ttl: str = "1h") -> tuple[str, str]:
        """(role_id, secret_id) of a new AppRole role."""
        self.admin.auth.approle.create_or_update_approle(
            role_name=role, token_policies=policies, token_ttl=token_ttl, mount_point=self.approle_mount
        )
        role_id = self.admin.auth.approle.read_role_id(role_name=role, mount_point=self.approle_mount)
        secret = self.admin.auth.approle.generate_secret_id(role_name=role, mount_point=self.approle_mount)
        return str(role_id["data"]["role_id"]), str(secret["data"]["secret_id"])

    def kill(self) -> None:
        """Kill the process at once (SIGKILL), keeping its folder (the CA file stays readable)."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(STOP_TIMEOUT)

    def stop(self) -> None:
        """Stop the server (idempotent) and remove its folder."""
        if self._admin is not None:
            self._admin.adapter.close()
            self._admin = None
        super().stop()


def _get(url: str, context: ssl.SSLContext, timeout: float = 2.0) -> int:
    try:
        with urllib.request.urlopen(url, context=context, timeout=timeout) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def start_vault(*, configure: bool = True, timeout: float = START_TIMEOUT) -> VaultServer:
    """Start a dev-mode Vault over TLS on a free loopback port; bounded by ``timeout`` seconds."""
    binary = vault_binary()
    folder = Path(tempfile.mkdtemp(prefix="cm-vault-"))
    port = free_port_pair()
    root_token = "root-" + secrets.token_hex(12)
    log_file = folder / "vault.log"
    env = {
        "HOME": str(folder),  # the token helper must not touch the real ~/.vault-token
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "VAULT_LOG_LEVEL": "warn",
    }
    started = time.monotonic()
    with log_file.open("wb") as log:
        process = subprocess.Popen(
            [
                str(binary), "server", "-dev", "-dev-tls", f"-dev-tls-cert-dir={folder}",
                f"-dev-listen-address=127.0.0.1:{port}", f"-dev-root-token-id={root_token}",
                "-dev-no-store-token",
            ],
            stdout=log, stderr=subprocess.STDOUT, env=env, cwd=folder, start_new_session=True,
        )
    server = VaultServer(
        url=f"https://127.0.0.1:{port}", root_token=root_token, ca_file=folder / "vault-ca.pem",
        folder=folder, process=process, log_file=log_file, started_in=0.0,
    )
    try:
        deadline = started + timeout
        while True:
            if process.poll() is not None:
                raise VaultStartError(
                    f"Vault exited with code {process.returncode} during start-up; log tail:\n{server.log_tail()}"
                )
            if server.ca_file.exists():
                context = ssl.create_default_context(cafile=str(server.ca_file))
                try:
                    if _get(f"{server.url}/v1/sys/health", context) == 200:
                        break
                except (OSError, ssl.SSLError):
                    pass
            if time.monotonic() > deadline:
                raise VaultStartError(
                    f"Vault did not become ready on {server.url} within {timeout:.0f}s; log tail:\n{server.log_tail()}"
                )
            time.sleep(0.1)
        server.started_in = time.monotonic() - started
        if configure:
            admin = server.admin
            admin.sys.enable_secrets_engine("kv", path=KV1_MOUNT, options={"version": "1"})
            admin.sys.enable_auth_method("approle", path=APPROLE_MOUNT)
            admin.sys.enable_auth_method("kubernetes", path=KUBERNETES_MOUNT)
            server.write_policy("app-read", APP_POLICY)
    except BaseException:
        server.stop()
        raise
    return server


@pytest.fixture(scope="session")
def vault_server() -> Iterator[VaultServer]:
    """A dev Vault for the whole session (KV v2 at secret/, KV v1 at kv1/, AppRole, Kubernetes auth)."""
    try:
        server = start_vault()
    except VaultStartError as exc:
        pytest.fail(f"vault_server: {exc}", pytrace=False)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture()
def disposable_vault() -> Iterator[VaultServer]:
    """A Vault of the test's own, which it may freeze, stop or kill."""
    try:
        server = start_vault(configure=False)
    except VaultStartError as exc:
        pytest.fail(f"disposable_vault: {exc}", pytrace=False)
    try:
        yield server
    finally:
        server.stop()


@dataclass(frozen=True)
class KubernetesAuthSetup:
    """The Kubernetes auth method configured against the test cluster."""

    mount_point: str
    reviewer_namespace: str
    reviewer_service_account: str


@pytest.fixture(scope="session")
def vault_kubernetes_auth(vault_server: VaultServer, cluster: Any) -> Iterator[KubernetesAuthSetup]:
    """Configure auth/kubernetes to validate ServiceAccount tokens with the cluster's TokenReview API."""
    from kubernetes import client as k8s

    api_client = cluster.api_client()
    core = k8s.CoreV1Api(api_client)
    rbac = k8s.RbacAuthorizationV1Api(api_client)
    ns, sa = "cm-vault-auth", "vault-token-reviewer"
    binding = f"{ns}-{sa}"
    try:
        core.create_namespace({"metadata": {"name": ns}})
    except k8s.ApiException as exc:
        if exc.status != 409:
            raise
    try:
        core.create_namespaced_service_account(ns, {"metadata": {"name": sa}})
    except k8s.ApiException as exc:
        if exc.status != 409:
            raise
    try:
        rbac.create_cluster_role_binding({
            "metadata": {"name": binding},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "system:auth-delegator"},
            "subjects": [{"kind": "ServiceAccount", "name": sa, "namespace": ns}],
        })
    except k8s.ApiException as exc:
        if exc.status != 409:
            raise
    reviewer_jwt = core.create_namespaced_service_account_token(
        sa, ns, {"spec": {"expirationSeconds": 7200}}
    ).status.token
    ca_pem = Path(cluster.ca_file).read_text() if cluster.ca_file else None
    vault_server.admin.auth.kubernetes.configure(
        kubernetes_host=cluster.server,
        kubernetes_ca_cert=ca_pem,
        token_reviewer_jwt=reviewer_jwt,
        disable_local_ca_jwt=True,
        mount_point=vault_server.kubernetes_mount,
    )
    try:
        yield KubernetesAuthSetup(vault_server.kubernetes_mount, ns, sa)
    finally:
        for call in (
            lambda: rbac.delete_cluster_role_binding(binding),
            lambda: core.delete_namespace(ns),
        ):
            try:
                call()
            except Exception:  # noqa: BLE001 - best-effort clean-up of a cluster that may be going away
                pass
        api_client.close()
