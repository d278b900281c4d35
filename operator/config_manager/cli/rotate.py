"""``configmanager rotate NAMESPACE/NAME``: ask the operator for one rotation of a ManagedSecret now.

Why it exists: a manual rotation (a leaked credential, an audit) should not need kubectl and an
annotation's exact spelling. The command sets ``configmanager.io/rotate`` to a fresh value (a new value
means exactly one rotation; the operator records the value it honoured in ``status.rotation``), and with
``--wait`` follows status until that rotation is done, printing the rotation count and store version,
never a value.
"""

from __future__ import annotations

import argparse
import time
import uuid
from datetime import datetime, timezone
from typing import Any

from . import output
from .errors import CLUSTER, FAILED, NOT_FOUND, USAGE, CliError
from .kube import GROUP, VERSION, _api

ANN_ROTATE = f"{GROUP}/rotate"


def parse_target(text: str, default_namespace: str | None) -> tuple[str, str]:
    """``ns/name`` or ``name`` (with -n) -> (namespace, name)."""
    if "/" in text:
        namespace, _, name = text.partition("/")
    else:
        namespace, name = default_namespace or "", text
    if not namespace or not name or "/" in name:
        raise CliError(f"name the ManagedSecret as NAMESPACE/NAME, not {text!r}", USAGE)
    return namespace, name


def trigger_value() -> str:
    """A new, unique annotation value (time first, so it sorts and reads well)."""
    return datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ") + "-" + uuid.uuid4().hex[:6]


def cmd_rotate(args: argparse.Namespace) -> int:
    from kubernetes.client.exceptions import ApiException

    namespace, name = parse_target(args.target, args.namespace)
    api: Any = _api(args)
    value = trigger_value()
    patch = {"metadata": {"annotations": {ANN_ROTATE: value}}}
    try:
        api.patch_namespaced_custom_object(GROUP, VERSION, namespace, "managedsecrets", name, patch)
    except ApiException as exc:
        if exc.status == 404:
            raise CliError(f"ManagedSecret {namespace}/{name} not found", NOT_FOUND) from None
        if exc.status in (401, 403):
            raise CliError(f"not allowed to annotate ManagedSecret {namespace}/{name} (HTTP {exc.status})", CLUSTER) from None
        raise CliError(f"annotating ManagedSecret {namespace}/{name} failed: HTTP {exc.status} {exc.reason}", FAILED) from None
    output.info(f"rotation requested for ManagedSecret {namespace}/{name} ({ANN_ROTATE}={value})")
    if not args.wait:
        return 0
    deadline = time.monotonic() + args.timeout
    while time.monotonic() < deadline:
        obj = api.get_namespaced_custom_object(GROUP, VERSION, namespace, "managedsecrets", name)
        rotation = (obj.get("status") or {}).get("rotation") or {}
        if rotation.get("manualTrigger") == value and not rotation.get("pending"):
            last = (rotation.get("history") or [{}])[-1]
            print(f"rotated {namespace}/{name}: rotation {last.get('id')}, count {rotation.get('count')}, "
                  f"store version {last.get('version') or 'n/a'}")
            return 0
        if rotation.get("lastError"):
            output.error(f"rotation not done yet: {rotation['lastError']}")
        time.sleep(1.0)
    raise CliError(f"rotation of {namespace}/{name} not confirmed within {args.timeout:.0f}s (is the operator running?)", FAILED)


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("rotate", help="rotate a ManagedSecret now (sets the configmanager.io/rotate annotation)",
                              description="Ask the operator for one rotation of a ManagedSecret's generated keys.")
    p.add_argument("target", metavar="NAMESPACE/NAME", help="the ManagedSecret")
    p.add_argument("-n", "--namespace", default=None, help="namespace when TARGET is a bare name")
    p.add_argument("--wait", action="store_true", help="wait until the operator reports the rotation done")
    p.add_argument("--timeout", type=float, default=60.0, help="seconds to wait with --wait")
    p.add_argument("--kubeconfig", default=None, help="kubeconfig file (default: $KUBECONFIG or ~/.kube/config)")
    p.add_argument("--context", default=None, help="kubeconfig context")
    p.set_defaults(func=cmd_rotate)
