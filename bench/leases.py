"""``python -m bench.leases``: lease renewals per hour for N VaultDynamicSecrets, and Vault requests per renewal.

On a fresh local control plane, a dev Vault (1.14) with a file audit device and its database engine on a
throw-away PostgreSQL 15, it creates N VaultDynamicSecrets on one role (TTL ``--ttl``, max TTL
``--max-ttl``, default renewAt 2/3), lets the operator look after them for ``--window`` seconds and
reports, from the run:

- renewals and re-issues counted in the objects' status, scaled to one hour, next to the expected
  ``N × 3600 / (renewAt × TTL)``;
- the Vault requests the operator made, by path, from Vault's audit log (request entries with the
  operator's token accessor), per renewal.

Writes ``bench/results/leases.json``. Needs the built binaries (``make binaries``) and PostgreSQL
(``tools/install-test-deps.sh``).
"""

from __future__ import annotations

import argparse
import base64
import json
import subprocess
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from config_manager.devcluster import ControlPlaneSettings, LocalControlPlane
from config_manager.k8s.api.client import KubeApi
from tests.helpers.operator_process import OperatorProcess, wait_for
from tests.helpers.postgres import DB_CONNECTION, DB_MOUNT, VaultDatabase, start_postgres, stop_postgres
from tests.helpers.vault_server import start_vault

REPO = Path(__file__).resolve().parents[1]
NS = "bench-leases"
ROLE = "bench"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m bench.leases", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=20, help="VaultDynamicSecrets")
    parser.add_argument("--ttl", type=int, default=12, help="the role's default TTL, seconds")
    parser.add_argument("--max-ttl", type=int, default=3600, help="the role's max TTL, seconds")
    parser.add_argument("--window", type=float, default=120.0, help="seconds measured after all are issued")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "leases.json")
    args = parser.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="cm-bench-leases-"))
    plane = LocalControlPlane(ControlPlaneSettings(controller_manager=False))
    vault = start_vault(configure=False)
    pg = start_postgres()
    op: OperatorProcess | None = None
    try:
        plane.start()
        kubectl = str(REPO / ".venv" / "bin" / "kubectl")
        subprocess.run([kubectl, "--kubeconfig", str(plane.kubeconfig), "apply", "-f", str(REPO / "crds")],
                       check=True, capture_output=True)
        admin = vault.admin
        audit_file = work / "vault-audit.log"
        admin.sys.enable_audit_device("file", options={"file_path": str(audit_file), "hmac_accessor": "false"})
        admin.sys.enable_secrets_engine("database", path=DB_MOUNT)
        admin.secrets.database.configure(
            name=DB_CONNECTION, plugin_name="postgresql-database-plugin", mount_point=DB_MOUNT,
            connection_url=f"postgresql://{{{{username}}}}:{{{{password}}}}@127.0.0.1:{pg.port}/postgres?sslmode=disable",
            username=pg.superuser, password=pg.password, allowed_roles=["*"])
        db = VaultDatabase(vault=vault, pg=pg)
        db.create_role(ROLE, ttl=f"{args.ttl}s", max_ttl=f"{args.max_ttl}s")
        vault.write_policy("bench", f'path "database/creds/{ROLE}" {{ capabilities = ["read"] }}\n'
                                    'path "sys/leases/renew" { capabilities = ["update"] }\n'
                                    'path "sys/leases/revoke" { capabilities = ["update"] }\n')
        token_info = admin.auth.token.create(policies=["bench"], ttl="4h")["auth"]
        accessor = token_info["accessor"]
        kube = KubeApi.from_environment(str(plane.kubeconfig))
        kube.create("namespaces", None, {"metadata": {"name": NS}})
        wait_for(lambda: kube.list("vaultdynamicsecrets", NS) is not None, timeout=60, what="CRDs served")
        kube.create("secrets", NS, {"metadata": {"name": "vault-token"}, "data": {"token": b64(token_info["client_token"].encode())}})
        kube.create("secrets", NS, {"metadata": {"name": "vault-ca"}, "data": {"ca.crt": b64(vault.ca_file.read_bytes())}})
        kube.create("secretstores", NS, {"apiVersion": "configmanager.io/v1alpha1", "kind": "SecretStore",
                                         "metadata": {"name": "vault"},
                                         "spec": {"provider": {"vault": {
                                             "server": vault.url, "caProvider": {"type": "Secret", "name": "vault-ca", "key": "ca.crt"},
                                             "auth": {"tokenSecretRef": {"name": "vault-token", "key": "token"}}}}}})
        op = OperatorProcess(kubeconfig=plane.kubeconfig, log_path=work / "operator.log",
                             args=("--namespace", NS, "--standalone", "--log-level=info", "--workers=4"))
        op.start()
        for i in range(args.n):
            kube.create("vaultdynamicsecrets", NS, {
                "apiVersion": "configmanager.io/v1alpha1", "kind": "VaultDynamicSecret", "metadata": {"name": f"db-{i}"},
                "spec": {"storeRef": {"name": "vault"}, "path": f"database/creds/{ROLE}", "restartWorkloads": {"mode": "None"}}})

        def counts() -> tuple[int, int, int]:
            items = kube.list("vaultdynamicsecrets", NS)
            live = sum(1 for o in items if (o.get("status") or {}).get("leaseId"))
            return live, sum(int((o.get("status") or {}).get("renewals") or 0) for o in items), \
                sum(int((o.get("status") or {}).get("reissues") or 0) for o in items)

        wait_for(lambda: counts()[0] == args.n, timeout=120, what="every object issued")
        audit_start = len(audit_file.read_text().splitlines())
        _, renewals0, reissues0 = counts()
        started = time.monotonic()
        time.sleep(args.window)  # the measurement window itself (nothing to wait for: we count what happens in it)
        elapsed = time.monotonic() - started
        _, renewals1, reissues1 = counts()
        paths: Counter[str] = Counter()
        for line in audit_file.read_text().splitlines()[audit_start:]:
            entry = json.loads(line)
            if entry.get("type") == "request" and (entry.get("auth") or {}).get("accessor") == accessor:
                path = str((entry.get("request") or {}).get("path") or "")
                paths["database/creds/<role>" if path.startswith("database/creds/") else path] += 1
        renewals = renewals1 - renewals0
        reissues = reissues1 - reissues0
        # renewals counted in status reset on a re-issue; the renew requests are the true count
        renew_requests = paths.get("sys/leases/renew", 0)
        renew_at = 2 / 3
        result = {
            "n": args.n, "ttl_s": args.ttl, "max_ttl_s": args.max_ttl, "renew_at": round(renew_at, 4),
            "window_s": round(elapsed, 1), "renewals_in_status": renewals, "reissues": reissues,
            "renew_requests": renew_requests,
            "renewals_per_hour": round(renew_requests / elapsed * 3600),
            "expected_per_hour": round(args.n * 3600 / (renew_at * args.ttl)),
            "vault_requests_by_path": dict(paths),
            "vault_requests_per_renewal": round(sum(paths.values()) / renew_requests, 3) if renew_requests else None,
            "leases_live_at_end": len(db.leases(ROLE)),
        }
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n")
        print(json.dumps(result, indent=2))
        return result
    finally:
        if op is not None:
            op.stop()
        plane.stop()
        vault.stop()
        stop_postgres(pg)


if __name__ == "__main__":
    main()
