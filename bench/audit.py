"""Count apiserver requests from its audit log: by user, verb and resource, in windows of the run.

The operator and the bench use different client certificates (users), so every figure here is the
operator's own traffic as the apiserver saw it, watches and kopf's listings included. A window is a
byte range of the log: ``mark()`` before, ``since(mark)`` after.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

POLICY = """\
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
  - level: None
    resources: [{group: "coordination.k8s.io", resources: ["leases"]}]
  - level: Request
    verbs: ["create"]
    resources: [{group: "", resources: ["events"]}]
  - level: Metadata
"""

MUTATING = frozenset({"create", "update", "patch", "delete", "deletecollection"})


def apiserver_args(folder: Path) -> list[str]:
    """Flags that make the apiserver write a Metadata-level audit log into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    policy = folder / "audit-policy.yaml"
    policy.write_text(POLICY)
    return [f"--audit-policy-file={policy}", f"--audit-log-path={folder / 'audit.log'}", "--audit-log-maxsize=0"]


@dataclass(frozen=True)
class Request:
    """One audited request (only what the counts need). Bodies are logged for Event creates only (their messages are value-free by design), to tell whose Event it is.."""

    user: str
    verb: str
    resource: str  # "secrets", "managedsecrets/status", ...
    name: str
    about: str = ""  # for an Event: the name of the object it is about (from the request body)


class AuditLog:
    """Reads the JSON-lines audit log incrementally."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def mark(self) -> int:
        time.sleep(0.5)  # let requests in flight reach the log
        return self.path.stat().st_size if self.path.exists() else 0

    def since(self, mark: int, user: str) -> list[Request]:
        """Requests by ``user`` logged after ``mark`` (one per audit ID)."""
        time.sleep(1.0)
        seen: set[str] = set()
        out: list[Request] = []
        with self.path.open("rb") as handle:
            handle.seek(mark)
            for line in handle:
                try:
                    event = json.loads(line)
                except ValueError:
                    continue  # a line being written
                if event.get("user", {}).get("username") != user or event["auditID"] in seen:
                    continue
                seen.add(event["auditID"])
                ref = event.get("objectRef") or {}
                resource = str(ref.get("resource", event.get("requestURI", "?")))
                if ref.get("subresource"):
                    resource += "/" + ref["subresource"]
                about = ((event.get("requestObject") or {}).get("involvedObject") or {}).get("name", "")
                out.append(Request(user, str(event["verb"]), resource, str(ref.get("name", "")), str(about)))
        return out


def by_verb(requests: list[Request], keep: Callable[[Request], bool] = lambda r: True) -> dict[str, int]:
    """``{"patch managedsecrets/status": 3, ...}`` sorted by key."""
    counts = Counter(f"{r.verb} {r.resource}" for r in requests if keep(r))
    return dict(sorted(counts.items()))


def writes(requests: list[Request]) -> int:
    return sum(1 for r in requests if r.verb in MUTATING)
