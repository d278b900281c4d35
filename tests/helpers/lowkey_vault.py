"""Lowkey Vault, an Azure Key Vault emulator (a Spring Boot jar), for users who have its jar.

Used by ``tests/helpers/azure_server.py`` instead of our own server (``tools/azure-keyvault``) when
``LOWKEY_VAULT_JAR`` names the jar (``lowkey-vault-app``, Lowkey Vault 5+ needs Java 25). Nothing fetches
it: the jar is not served by the Maven mirror these machines use, so it is the user's to provide.

The emulator runs on free loopback ports (HTTPS API, HTTP token/metadata port); its certificate is
exported as a PEM file for TLS trust and a ``TokenCredential`` gets tokens from its token endpoint.
Every start is bounded in time and a failure names the missing piece (jar, java, port not ready).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import ssl
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from azure.core.credentials import AccessToken
from cryptography.hazmat.primitives.serialization import Encoding, pkcs12

from config_manager.devcluster.processes import free_port
from tests.helpers.server_process import ServerProcess

START_TIMEOUT = 180.0  # a Spring Boot start on two busy cores
#: Lowkey Vault 5 and later are built for Java 25.
JAVA_MAJOR_NEEDED = 25
JAVA_CANDIDATES = ("/usr/lib/jvm/temurin-25-jdk-amd64/bin/java",)
#: API version of the Key Vault REST API that the emulator serves (the SDK's newest may be ahead of it).
API_VERSION = "7.6"


class EmulatorStartError(RuntimeError):
    """The emulator is there but could not be started; the message names the missing piece."""


def lowkey_jar() -> Path:
    """The Lowkey Vault jar named by LOWKEY_VAULT_JAR."""
    override = os.environ.get("LOWKEY_VAULT_JAR", "")
    if not Path(override).is_file():
        raise EmulatorStartError(f"LOWKEY_VAULT_JAR={override!r} is not a file")
    return Path(override)


def _java_major(java: str) -> int | None:
    try:
        out = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=30, check=False).stderr
    except OSError:
        return None
    found = re.search(r'version "(\d+)', out)
    return int(found.group(1)) if found else None


def find_java() -> str:
    """A java of at least JAVA_MAJOR_NEEDED: CONFIG_MANAGER_JAVA, JAVA_HOME, the Temurin JDK, PATH."""
    candidates = [os.environ.get("CONFIG_MANAGER_JAVA", "")]
    if os.environ.get("JAVA_HOME"):
        candidates.append(str(Path(os.environ["JAVA_HOME"]) / "bin" / "java"))
    candidates += [*JAVA_CANDIDATES, shutil.which("java") or ""]
    seen: list[str] = []
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK):
            major = _java_major(candidate)
            seen.append(f"{candidate} ({major})")
            if major is not None and major >= JAVA_MAJOR_NEEDED:
                return candidate
    raise EmulatorStartError(
        f"java {JAVA_MAJOR_NEEDED} or newer not found (Lowkey Vault needs it); tried: {', '.join(seen) or 'none'}; "
        "set CONFIG_MANAGER_JAVA or JAVA_HOME"
    )



class EmulatorTokenCredential:
    """A TokenCredential that asks the emulator's token endpoint for a token (as a managed identity would)."""

    def __init__(self, token_url: str) -> None:
        self.token_url = token_url
        self.calls = 0

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        resource = (scopes[0] if scopes else "https://vault.azure.net").removesuffix("/.default")
        url = f"{self.token_url}?{urllib.parse.urlencode({'resource': resource, 'api-version': '2019-08-01'})}"
        with urllib.request.urlopen(url, timeout=10) as response:
            body = json.load(response)
        self.calls += 1
        expires = int(body.get("expires_on") or time.time() + 3600)
        return AccessToken(str(body["access_token"]), expires)

    def __repr__(self) -> str:
        return f"EmulatorTokenCredential({self.token_url!r})"


@dataclass
class LowkeyVault(ServerProcess):
    """A running Lowkey Vault: where it is, how to trust it, how to get a token."""

    vault_url: str
    token_url: str
    metadata_url: str
    ca_file: Path
    folder: Path
    process: subprocess.Popen[bytes]
    log_file: Path
    started_in: float = 0.0
    credential: EmulatorTokenCredential = field(init=False)
    #: Which server this is, for the tests' output; Lowkey has none of our server's test knobs.
    kind = "Lowkey Vault (LOWKEY_VAULT_JAR)"
    has_knobs = False

    def __post_init__(self) -> None:
        self.credential = EmulatorTokenCredential(self.token_url)

    @property
    def client_kwargs(self) -> dict[str, Any]:
        """What ``AzureKeyVaultSecrets`` / ``SecretClient`` need to talk to the emulator."""
        return {"connection_verify": str(self.ca_file), "api_version": API_VERSION}

    def managed_identity_env(self) -> dict[str, str]:
        """Environment that makes azure-identity's managed-identity credential ask the emulator."""
        return {"IDENTITY_ENDPOINT": self.token_url, "IMDS_ENDPOINT": self.metadata_url.rsplit("/metadata", 1)[0],
                "REQUESTS_CA_BUNDLE": str(self.ca_file)}


def _http(url: str, timeout: float = 3.0, context: ssl.SSLContext | None = None) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout, context=context) as response:
            return int(response.status), response.read()
    except urllib.error.HTTPError as exc:
        return int(exc.code), b""


def start_lowkey_vault(timeout: float = START_TIMEOUT) -> LowkeyVault:
    """Start Lowkey Vault on free loopback ports, export its certificate; bounded by ``timeout``."""
    jar = lowkey_jar()
    java = find_java()
    folder = Path(tempfile.mkdtemp(prefix="cm-lowkey-"))
    port, token_port = free_port(), free_port()
    log_file = folder / "lowkey.log"
    started = time.monotonic()
    with log_file.open("wb") as log:
        process = subprocess.Popen(
            [
                java, "-Xmx512m", "-jar", str(jar), f"--server.port={port}", f"--app.token.port={token_port}",
                "--LOWKEY_VAULT_RELAXED_PORTS=true", "--server.address=127.0.0.1",
            ],
            stdout=log, stderr=subprocess.STDOUT, cwd=folder, start_new_session=True,
        )
    meta = f"http://127.0.0.1:{token_port}/metadata"
    server = LowkeyVault(
        vault_url=f"https://localhost:{port}", token_url=f"{meta}/identity/oauth2/token", metadata_url=meta,
        ca_file=folder / "lowkey-vault-ca.pem", folder=folder, process=process, log_file=log_file,
    )
    try:
        deadline = started + timeout
        password: bytes | None = None
        while password is None:
            if process.poll() is not None:
                raise EmulatorStartError(f"Lowkey Vault exited with code {process.returncode}; log tail:\n{server.log_tail()}")
            try:
                status, body = _http(f"{meta}/default-cert/password")
                if status == 200:
                    password = body.strip()
            except OSError:
                pass
            if password is None:
                if time.monotonic() > deadline:
                    raise EmulatorStartError(
                        f"Lowkey Vault's metadata port {token_port} did not answer within {timeout:.0f}s; "
                        f"log tail:\n{server.log_tail()}"
                    )
                time.sleep(0.5)
        status, p12 = _http(f"{meta}/default-cert/lowkey-vault.p12")
        if status != 200:
            raise EmulatorStartError(f"Lowkey Vault did not serve its certificate (HTTP {status})")
        _, cert, extra = pkcs12.load_key_and_certificates(p12, password or None)
        if cert is None:
            raise EmulatorStartError("Lowkey Vault's PKCS#12 holds no certificate")
        server.ca_file.write_bytes(b"".join(c.public_bytes(Encoding.PEM) for c in [cert, *(extra or [])]))
        context = ssl.create_default_context(cafile=str(server.ca_file))
        while True:
            try:
                if _http(f"https://localhost:{port}/ping", context=context)[0] == 200:
                    break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise EmulatorStartError(
                    f"Lowkey Vault's HTTPS port {port} was not ready (trusting its exported certificate) within "
                    f"{timeout:.0f}s; log tail:\n{server.log_tail()}"
                )
            time.sleep(0.5)
        server.started_in = time.monotonic() - started
    except BaseException:
        server.stop()
        raise
    return server
