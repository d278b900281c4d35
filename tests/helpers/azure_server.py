"""pytest fixtures for a Key Vault server on the wire: ours (``tools/azure-keyvault``), or Lowkey Vault.

Our server is the Azure SDK for Go's generated fake (``azsecrets/fake``) behind a listener, store, token
endpoints and fault knobs of ours, built by ``tools/build-binaries.sh azure-keyvault`` into the binary
cache (the fixture builds it when missing). It is not Azure: docs/providers/azure.md lists what it does
not model. When ``LOWKEY_VAULT_JAR`` names a Lowkey Vault jar, that emulator is used instead; tests that
need our server's knobs (faults, principals, token checks, request counts) are then skipped, saying so.
The server in use is printed in pytest's header.

Credentials are real azure-identity code: ``ClientSecretCredential`` against the server's token endpoint
(authority host = the server, instance discovery off), ``ManagedIdentityCredential`` through
``IDENTITY_ENDPOINT`` / ``IDENTITY_HEADER``, and federated client assertions checked against a JWKS the
test registers (the apiserver's service-account keys in the operator tests).

Fixtures:

- ``azure_vault`` (session): the running server, with ``credential``, ``client_kwargs``, ``freeze()``;
- ``azure_knobs`` (function): ``azure_vault`` when it is ours (skips on Lowkey), with faults cleared and
  request counters reset before and after the test.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import ssl
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import pytest
from azure.core.credentials import AccessToken, TokenCredential

from config_manager.devcluster.binaries import BUILD_SCRIPT, TOOLS_DIR, cache_dir
from tests.helpers.lowkey_vault import EmulatorStartError, start_lowkey_vault
from tests.helpers.server_process import ServerProcess

START_TIMEOUT = 20.0
SOURCE_DIR = TOOLS_DIR / "azure-keyvault"
#: The service principal the tests' own clients use (all permissions).
TEST_CLIENT_ID = "config-manager-tests"


class KeyVaultStartError(RuntimeError):
    """The Key Vault test server could not be built or started; the message names the missing piece."""


def source_hash() -> str:
    """The cache tag of our server: a hash of its module files, computed as tools/build-binaries.sh does."""
    files = [SOURCE_DIR / "go.mod", SOURCE_DIR / "go.sum", *sorted(SOURCE_DIR.glob("*.go"), key=lambda p: p.name)]
    return hashlib.sha256(b"".join(f.read_bytes() for f in files)).hexdigest()[:12]


def server_binary(build_missing: bool = True) -> Path:
    """Our server's binary for the current source, built with tools/build-binaries.sh when missing."""
    path = cache_dir() / "bin" / f"azure-keyvault-src-{source_hash()}"
    if os.access(path, os.X_OK):
        return path
    if not build_missing:
        raise KeyVaultStartError(f"the Key Vault test server is not built (expected {path}); run tools/build-binaries.sh azure-keyvault")
    result = subprocess.run([str(BUILD_SCRIPT), "azure-keyvault"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True, timeout=1800, check=False)
    if result.returncode != 0 or not os.access(path, os.X_OK):
        raise KeyVaultStartError(f"tools/build-binaries.sh azure-keyvault failed (exit {result.returncode}): {result.stderr[-1500:]}")
    return path


class RefusingCredential:
    """A TokenCredential whose identity provider says no (as azure-identity does)."""

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        from azure.core.exceptions import ClientAuthenticationError

        raise ClientAuthenticationError("refused by the identity provider")


class AzureVault(Protocol):
    """What the Azure tests use of either server."""

    kind: str
    has_knobs: bool
    vault_url: str
    ca_file: Path
    credential: Any

    @property
    def client_kwargs(self) -> dict[str, Any]: ...

    def managed_identity_env(self) -> dict[str, str]: ...


@dataclass
class KeyVaultServer(ServerProcess):
    """Our running server: where it is, how to trust it, and its test knobs (``/_admin``)."""

    vault_url: str
    authority_host: str
    tenant_id: str
    identity_endpoint: str
    identity_header: str
    admin_token: str
    ca_file: Path
    folder: Path
    process: subprocess.Popen[bytes]
    log_file: Path
    started_in: float = 0.0
    credential: Any = field(init=False)
    kind = "config-manager Key Vault test server (tools/azure-keyvault, on azsecrets/fake)"
    has_knobs = True

    def __post_init__(self) -> None:
        self.add_principal(TEST_CLIENT_ID, secret=self.admin_token)
        self.credential = self.client_secret_credential(TEST_CLIENT_ID, self.admin_token)

    @property
    def client_kwargs(self) -> dict[str, Any]:
        """What ``AzureKeyVaultSecrets`` / ``SecretClient`` need to talk to the server."""
        return {"connection_verify": str(self.ca_file)}

    def client_secret_credential(self, client_id: str, secret: str) -> TokenCredential:
        """azure-identity's ClientSecretCredential, pointed at this server's authority."""
        from azure.identity import ClientSecretCredential

        return ClientSecretCredential(self.tenant_id, client_id, secret, authority=self.authority_host,
                                      disable_instance_discovery=True, connection_verify=str(self.ca_file))

    def managed_identity_env(self) -> dict[str, str]:
        """The App Service-style variables that make ManagedIdentityCredential ask this server."""
        return {"IDENTITY_ENDPOINT": self.identity_endpoint, "IDENTITY_HEADER": self.identity_header,
                "REQUESTS_CA_BUNDLE": str(self.ca_file)}

    # ------------------------------------------------------------------ knobs

    def admin(self, method: str, path: str, body: Any = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(f"{self.vault_url}/_admin/{path}", data=data, method=method,
                                         headers={"X-Admin-Token": self.admin_token, "Content-Type": "application/json"})
        context = ssl.create_default_context(cafile=str(self.ca_file))
        try:
            with urllib.request.urlopen(request, timeout=10, context=context) as response:
                raw = response.read()
        except urllib.error.HTTPError as exc:
            raise KeyVaultStartError(f"admin {method} {path}: HTTP {exc.code} {exc.read()[:300]!r}") from exc
        return json.loads(raw) if raw else None

    def add_principal(self, client_id: str, *, secret: str = "", managed: bool = False,
                      federated: list[dict[str, Any]] | None = None, permissions: list[str] | None = None) -> None:
        """Register an application (secret or federated credentials) or a managed identity."""
        self.admin("POST", "principals", {"clientId": client_id, "secret": secret, "managed": managed,
                                          "federated": federated or [], "permissions": permissions or []})

    def set_faults(self, *rules: dict[str, Any]) -> None:
        """Replace the fault rules: {"operation", "status", "code", "retryAfter", "delayMs", "times"}."""
        self.admin("PUT", "faults", list(rules))

    def clear_faults(self) -> None:
        self.admin("DELETE", "faults")

    def settings(self, *, page_size: int = 0, token_lifetime_seconds: int = 0) -> None:
        self.admin("PUT", "settings", {"pageSize": page_size, "tokenLifetimeSeconds": token_lifetime_seconds})

    def requests(self, reset: bool = False) -> dict[str, int]:
        """Requests served since the last reset, by operation ("Client.GetSecret", "Token", ...)."""
        return dict(self.admin("GET", "requests?reset=1" if reset else "requests"))


def start_key_vault_server(timeout: float = START_TIMEOUT, extra_hosts: tuple[str, ...] = ()) -> KeyVaultServer:
    """Start our server on a free loopback port; bounded by ``timeout``."""
    binary = server_binary()
    folder = Path(tempfile.mkdtemp(prefix="cm-azure-kv-"))
    log_file = folder / "server.log"
    ready = folder / "ready.json"
    started = time.monotonic()
    args = [str(binary), "-state-dir", str(folder)]
    for host in extra_hosts:
        args += ["-host", host]
    with log_file.open("wb") as log:
        process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    while not ready.exists():
        if process.poll() is not None or time.monotonic() - started > timeout:
            tail = log_file.read_text(errors="replace")[-1500:]
            if process.poll() is None:
                process.kill()
            shutil.rmtree(folder, ignore_errors=True)
            raise KeyVaultStartError(f"azure-keyvault did not become ready within {timeout:.0f}s (exit {process.poll()}); log:\n{tail}")
        time.sleep(0.05)
    info = json.loads(ready.read_text())
    try:
        server = KeyVaultServer(
            vault_url=info["vault_url"], authority_host=info["authority_host"], tenant_id=info["tenant_id"],
            identity_endpoint=info["identity_endpoint"], identity_header=info["identity_header"],
            admin_token=info["admin_token"], ca_file=Path(info["ca_file"]), folder=folder, process=process,
            log_file=log_file, started_in=time.monotonic() - started,
        )
    except BaseException:
        process.kill()
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return server


def pytest_report_header(config: pytest.Config) -> str:
    jar = os.environ.get("LOWKEY_VAULT_JAR")
    if jar:
        return f"azure tests: Lowkey Vault from LOWKEY_VAULT_JAR={jar} (tests needing our server's knobs are skipped)"
    return "azure tests: config-manager Key Vault test server (tools/azure-keyvault, the SDK's azsecrets/fake + our endpoints)"


@pytest.fixture(scope="session")
def azure_vault() -> Iterator[AzureVault]:
    """The Key Vault server for the session: Lowkey Vault when LOWKEY_VAULT_JAR is set, else ours."""
    server: AzureVault
    try:
        server = start_lowkey_vault() if os.environ.get("LOWKEY_VAULT_JAR") else start_key_vault_server()
    except (EmulatorStartError, KeyVaultStartError) as exc:
        pytest.fail(f"azure_vault: {exc}", pytrace=False)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture()
def azure_knobs(azure_vault: AzureVault) -> Iterator[KeyVaultServer]:
    """Our server with clean faults and counters; skipped (saying why) when the session runs on Lowkey Vault."""
    if not isinstance(azure_vault, KeyVaultServer):
        pytest.skip(f"needs the test knobs of tools/azure-keyvault; this session runs on {azure_vault.kind}")
    azure_vault.clear_faults()
    azure_vault.requests(reset=True)
    try:
        yield azure_vault
    finally:
        azure_vault.clear_faults()
        azure_vault.settings(page_size=25, token_lifetime_seconds=3600)


@pytest.fixture()
def managed_identity_env(azure_vault: AzureVault, monkeypatch: pytest.MonkeyPatch) -> AzureVault:
    """Environment for DefaultAzureCredential's managed-identity path pointing at the server."""
    for name in ("AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET", "AZURE_TENANT_ID", "AZURE_FEDERATED_TOKEN_FILE",
                 "AZURE_AUTHORITY_HOST", "MSI_ENDPOINT", "MSI_SECRET", "IMDS_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    for name, value in azure_vault.managed_identity_env().items():
        monkeypatch.setenv(name, value)
    if isinstance(azure_vault, KeyVaultServer):
        azure_vault.add_principal("system-assigned", managed=True)
    return azure_vault
