"""``configmanager rotate NAMESPACE/NAME``: ask the operator for one rotation of a ManagedSecret or ConfigBundle now.

Why it exists: a manual rotation (a leaked credential, an audit) should not need kubectl and an
annotation's exact spelling. The command sets ``configmanager.io/rotate`` to a fresh value (a new value
means exactly one rotation; the operator records the value it honoured in ``status.rotation``), and with
``--wait`` follows status until that rotation is done, printing the rotation count and store version,
never a value.

The kind is ``--kind ManagedSecret|ConfigBundle`` (short names ``ms``/``cb`` too); without it the command
annotates the ManagedSecret of that name and, if there is none, the ConfigBundle (``find_kind``).
"""

from __future__ import annotations

import argparse
import time
import uuid
from datetime import datetime, timezone
from typing import Any

from ..k8s.api.resources import GROUP, PLURAL_BY_KIND, SYNCED_KINDS, VERSION
from . import output
from .errors import CLUSTER, FAILED, NOT_FOUND, USAGE, CliError
from .kube import _api

ANN_ROTATE = f"{GROUP}/rotate"
KINDS = {kind: PLURAL_BY_KIND[kind] for kind in SYNCED_KINDS}
ALIASES = {"managedsecret": "ManagedSecret", "managedsecrets": "ManagedSecret", "ms": "ManagedSecret",
           "configbundle": "ConfigBundle", "configbundles": "ConfigBundle", "cb": "ConfigBundle", "cfgb": "ConfigBundle"}


def parse_kind(text: str | None) -> list[str]:
    """The kinds to try, in order: the one named by ``--kind``, or both (ManagedSecret first)."""
    if not text:
        return list(KINDS)
    kind = ALIASES.get(text.lower())
    if kind is None:
        raise CliError(f"--kind must be ManagedSecret or ConfigBundle, not {text!r}", USAGE)
    return [kind]


def parse_target(text: str, default_namespace: str | None) -> tuple[str, str]:
    """``ns/name`` or ``name`` (with -n) -> (namespace, name)."""
    if "/" in text:
        namespace, _, name = text.partition("/")
    else:
        namespace, name = default_namespace or "", text
    if not namespace or not name or "/" in name:
        raise CliError(f"name the ManagedSecret or ConfigBundle as NAMESPACE/NAME, not {text!r}", USAGE)
    return namespace, name


def trigger_value() -> str:
    """A new, unique annotation value (time first, so it sorts and reads well)."""
    return datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ") + "-" + uuid.uuid4().hex[:6]


def cmd_rotate(args: argparse.Namespace) -> int:
    from kubernetes.client.exceptions import ApiException

    namespace, name = parse_target(args.target, args.namespace)
    kinds = parse_kind(getattr(args, "kind", None))
    api: Any = _api(args)
    value = trigger_value()
    patch = {"metadata": {"annotations": {ANN_ROTATE: value}}}
    kind = ""
    for kind in kinds:
        try:
            api.patch_namespaced_custom_object(GROUP, VERSION, namespace, KINDS[kind], name, patch)
            break
        except ApiException as exc:
            if exc.status == 404:
                continue
            if exc.status in (401, 403):
                raise CliError(f"not allowed to annotate {kind} {namespace}/{name} (HTTP {exc.status})", CLUSTER) from None
            raise CliError(f"annotating {kind} {namespace}/{name} failed: HTTP {exc.status} {exc.reason}", FAILED) from None
    else:
        raise CliError(f"{' or '.join(kinds)} {namespace}/{name} not found", NOT_FOUND)
    output.info(f"rotation requested for {kind} {namespace}/{name} ({ANN_ROTATE}={value})")
    if not args.wait:
        return 0
    deadline = time.monotonic() + args.timeout
    while time.monotonic() < deadline:
        obj = api.get_namespaced_custom_object(GROUP, VERSION, namespace, KINDS[kind], name)
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
    p = subparsers.add_parser("rotate", help="rotate a ManagedSecret or ConfigBundle now (sets the configmanager.io/rotate annotation)",
                              description="Ask the operator for one rotation of a ManagedSecret's or ConfigBundle's generated values.")
    p.add_argument("target", metavar="NAMESPACE/NAME", help="the ManagedSecret or ConfigBundle")
    p.add_argument("--kind", default=None,
                   help="ManagedSecret or ConfigBundle (ms, cb); default: the ManagedSecret of that name, else the ConfigBundle")
    p.add_argument("-n", "--namespace", default=None, help="namespace when TARGET is a bare name")
    p.add_argument("--wait", action="store_true", help="wait until the operator reports the rotation done")
    p.add_argument("--timeout", type=float, default=60.0, help="seconds to wait with --wait")
    p.add_argument("--kubeconfig", default=None, help="kubeconfig file (default: $KUBECONFIG or ~/.kube/config)")
    p.add_argument("--context", default=None, help="kubeconfig context")
    p.set_defaults(func=cmd_rotate)
