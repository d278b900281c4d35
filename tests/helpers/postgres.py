"""pytest fixtures for a real PostgreSQL (Debian's ``postgresql`` 15) and Vault's database engine on it.

``postgres`` (session): a throw-away cluster — ``initdb`` + ``pg_ctl`` run as the unprivileged user
``nobody`` (PostgreSQL refuses to run as root) in a temporary folder, listening on a free loopback port,
password (SCRAM) authentication, a superuser for Vault. ``vault_database`` (session): the ``database``
secrets engine of the session Vault configured against it with Vault's built-in
``postgresql-database-plugin``; ``create_role`` adds a role with the TTLs a test wants. ``can_log_in``
opens a real connection with pg8000 (the "the issued user can log in" check).

The packages come from ``tools/install-test-deps.sh`` (``make test`` runs it); a missing binary fails
the fixture with that hint.
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pg8000.dbapi
import pytest

from config_manager.devcluster.processes import free_port
from tests.helpers.vault_server import VaultServer

PG_BIN = Path("/usr/lib/postgresql/15/bin")
RUN_AS = "nobody"
START_TIMEOUT = 30.0
DB_MOUNT = "database"
DB_CONNECTION = "pg"


@dataclass
class Postgres:
    port: int
    superuser: str
    password: str
    folder: Path

    def connect(self, user: str, password: str, timeout: float = 5.0) -> pg8000.dbapi.Connection:
        return pg8000.dbapi.connect(user=user, password=password, host="127.0.0.1", port=self.port,
                                    database="postgres", timeout=timeout)

    def can_log_in(self, user: str, password: str) -> bool:
        """True when ``user`` can open a session and run a query right now."""
        try:
            conn = self.connect(user, password)
        except pg8000.dbapi.DatabaseError:
            return False
        try:
            cur = conn.cursor()
            cur.execute("SELECT 1")
            row = cur.fetchone()
            return row is not None and row[0] == 1
        finally:
            conn.close()

    def role_exists(self, user: str) -> bool:
        conn = self.connect(self.superuser, self.password)
        try:
            cur = conn.cursor()
            cur.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (user,))
            return cur.fetchone() is not None
        finally:
            conn.close()


def _run_as(user: pwd.struct_passwd, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), user=user.pw_uid, group=user.pw_gid, capture_output=True, text=True,
                          timeout=120, check=False, env={"PATH": "/usr/bin:/bin", "LC_ALL": "C"})


def start_postgres() -> Postgres:
    """initdb + pg_ctl start as ``nobody`` on a free loopback port (bounded in time)."""
    if not (PG_BIN / "initdb").exists():
        raise RuntimeError(f"PostgreSQL 15 is not installed ({PG_BIN}/initdb missing); run tools/install-test-deps.sh")
    user = pwd.getpwnam(RUN_AS)
    folder = Path(tempfile.mkdtemp(prefix="cm-pg-"))
    os.chown(folder, user.pw_uid, user.pw_gid)
    password = secrets.token_hex(16)
    pwfile = folder / "pw"
    pwfile.write_text(password + "\n")
    os.chown(pwfile, user.pw_uid, user.pw_gid)
    data = folder / "data"
    result = _run_as(user, str(PG_BIN / "initdb"), "-D", str(data), "-U", "vaultadmin", "--auth=scram-sha-256",
                     f"--pwfile={pwfile}", "-E", "UTF8", "--no-sync")
    if result.returncode != 0:
        shutil.rmtree(folder, ignore_errors=True)
        raise RuntimeError(f"initdb failed: {result.stderr[-1500:]}")
    port = free_port()
    result = _run_as(user, str(PG_BIN / "pg_ctl"), "-D", str(data), "-l", str(folder / "pg.log"), "-w",
                     "-t", str(int(START_TIMEOUT)), "-o", f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off",
                     "start")
    if result.returncode != 0:
        log = (folder / "pg.log").read_text(errors="replace")[-1500:] if (folder / "pg.log").exists() else ""
        shutil.rmtree(folder, ignore_errors=True)
        raise RuntimeError(f"pg_ctl start failed: {result.stderr[-800:]}\n{log}")
    pg = Postgres(port=port, superuser="vaultadmin", password=password, folder=folder)
    deadline = time.monotonic() + START_TIMEOUT
    while not pg.can_log_in(pg.superuser, pg.password):
        if time.monotonic() > deadline:
            stop_postgres(pg)
            raise RuntimeError("PostgreSQL did not accept a login in time")
        time.sleep(0.1)
    return pg


def stop_postgres(pg: Postgres) -> None:
    user = pwd.getpwnam(RUN_AS)
    _run_as(user, str(PG_BIN / "pg_ctl"), "-D", str(pg.folder / "data"), "-m", "immediate", "-w", "stop")
    shutil.rmtree(pg.folder, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    """A throw-away PostgreSQL 15 cluster on loopback for the whole session."""
    try:
        pg = start_postgres()
    except RuntimeError as exc:
        pytest.fail(f"postgres: {exc}", pytrace=False)
    try:
        yield pg
    finally:
        stop_postgres(pg)


@dataclass
class VaultDatabase:
    vault: VaultServer
    pg: Postgres
    mount: str = DB_MOUNT

    def create_role(self, name: str, *, ttl: str, max_ttl: str) -> str:
        """A database role that creates a login with a password valid for the lease; returns its creds path."""
        self.vault.admin.secrets.database.create_role(
            name=name, db_name=DB_CONNECTION, default_ttl=ttl, max_ttl=max_ttl, mount_point=self.mount,
            creation_statements=["CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}';"],
            revocation_statements=["REVOKE ALL PRIVILEGES ON DATABASE postgres FROM \"{{name}}\";",
                                   "DROP ROLE IF EXISTS \"{{name}}\";"],
        )
        return f"{self.mount}/creds/{name}"

    def leases(self, role: str) -> list[str]:
        """Lease ids Vault holds under ``<mount>/creds/<role>/`` (``sys/leases/lookup``), as an admin."""
        try:
            answer = self.vault.admin.sys.list_leases(prefix=f"{self.mount}/creds/{role}/")
        except Exception as exc:  # noqa: BLE001 - hvac raises InvalidPath when there are none
            if type(exc).__name__ == "InvalidPath":
                return []
            raise
        return sorted(f"{self.mount}/creds/{role}/{k}" for k in (answer.get("data") or {}).get("keys") or [])


@pytest.fixture(scope="session")
def vault_database(vault_server: VaultServer, postgres: Postgres) -> VaultDatabase:
    """Vault's database engine at ``database/`` with a connection ``pg`` to the session PostgreSQL."""
    admin = vault_server.admin
    if f"{DB_MOUNT}/" not in admin.sys.list_mounted_secrets_engines()["data"]:
        admin.sys.enable_secrets_engine("database", path=DB_MOUNT)
    admin.secrets.database.configure(
        name=DB_CONNECTION, plugin_name="postgresql-database-plugin", mount_point=DB_MOUNT,
        connection_url=f"postgresql://{{{{username}}}}:{{{{password}}}}@127.0.0.1:{postgres.port}/postgres?sslmode=disable",
        username=postgres.superuser, password=postgres.password, allowed_roles=["*"],
        verify_connection=True,
    )
    return VaultDatabase(vault=vault_server, pg=postgres)
