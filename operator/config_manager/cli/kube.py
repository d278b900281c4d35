"""``configmanager status``, ``operator run`` and ``cluster up``: the cluster-facing commands.

Why it exists: a team wants one command to see whether its ManagedSecrets and ConfigBundles are in sync
(and how often they were read and rotated) without remembering jsonpaths, and the two long-running
programs (the operator, the local control plane) reachable under the same name. ``status`` reads only
``status`` and a few ``spec`` fields of our own resources, which by design never hold secret values;
``operator run`` and ``cluster up`` hand over to the operator's and the devcluster's own entry points.
"""

from __future__ import annotations

import argparse
import importlib
import json
from datetime import datetime, timezone
from typing import Any

from ..k8s.api.resources import CONFIG_BUNDLE, GROUP, KIND_BY_PLURAL, MANAGED_SECRET, VERSION
from . import output
from .errors import CLUSTER, FAILED, USAGE, CliError

KINDS = {MANAGED_SECRET: KIND_BY_PLURAL[MANAGED_SECRET], CONFIG_BUNDLE: KIND_BY_PLURAL[CONFIG_BUNDLE]}


# --------------------------------------------------------------------------------------------- status

def _api(args: argparse.Namespace) -> Any:
    """A CustomObjectsApi for the current (or given) kubeconfig; exit code 5 when that fails."""
    try:
        from kubernetes import client, config
        from kubernetes.config.config_exception import ConfigException
    except ImportError as exc:  # the operator extra is not installed
        raise CliError("status needs the kubernetes client: pip install 'configmanagelib[operator]'", FAILED) from exc
    try:
        api_client = config.new_client_from_config(config_file=args.kubeconfig, context=args.context)  # type: ignore[no-untyped-call]
    except ConfigException as exc:
        raise CliError(f"no usable kubeconfig: {exc}", CLUSTER) from None
    except FileNotFoundError:
        raise CliError(f"kubeconfig '{args.kubeconfig}' does not exist", CLUSTER) from None
    return client.CustomObjectsApi(api_client)


def _list(api: Any, plural: str, namespace: str | None) -> list[dict[str, Any]]:
    from kubernetes.client.exceptions import ApiException
    from urllib3.exceptions import HTTPError

    try:
        if namespace:
            body = api.list_namespaced_custom_object(GROUP, VERSION, namespace, plural)
        else:
            body = api.list_cluster_custom_object(GROUP, VERSION, plural)
    except ApiException as exc:
        if exc.status == 404:
            raise CliError(f"{plural}.{GROUP} is not installed in this cluster (kubectl apply -f crds/)", CLUSTER) from None
        if exc.status in (401, 403):
            where = f"in namespace '{namespace}'" if namespace else "in all namespaces (try -n NAMESPACE)"
            raise CliError(f"not allowed to list {plural} {where} (HTTP {exc.status})", CLUSTER) from None
        raise CliError(f"listing {plural} failed: HTTP {exc.status} {exc.reason}", FAILED) from None
    except HTTPError as exc:
        raise CliError(f"cannot reach the cluster: {type(exc).__name__}", CLUSTER) from None
    items: list[dict[str, Any]] = body.get("items", [])
    return items


def _condition(obj: dict[str, Any], kind: str = "Ready") -> dict[str, Any]:
    for cond in obj.get("status", {}).get("conditions", []) or []:
        if cond.get("type") == kind:
            return dict(cond)
    return {}


def _age(stamp: str | None, now: datetime) -> str:
    if not stamp:
        return "-"
    try:
        then = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return stamp
    seconds = int((now - then).total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{max(seconds, 0)}s"


def summarise(obj: dict[str, Any]) -> dict[str, Any]:
    """The secret-free summary of one ManagedSecret or ConfigBundle, from its status."""
    meta = obj.get("metadata", {})
    status = obj.get("status", {}) or {}
    ready = _condition(obj)
    summary: dict[str, Any] = {
        "kind": obj.get("kind", ""),
        "namespace": meta.get("namespace", ""),
        "name": meta.get("name", ""),
        "ready": ready.get("status", "Unknown"),
        "reason": ready.get("reason", ""),
        "message": ready.get("message", ""),
        "refreshTime": status.get("refreshTime"),
        "observedGeneration": status.get("observedGeneration"),
        "generation": meta.get("generation"),
    }
    if obj.get("kind") == "ConfigBundle":
        stats = status.get("stats", {}) or {}
        summary.update({
            "sources": stats.get("sources", 0),
            "keys": stats.get("keys", 0),
            "secretKeys": stats.get("secretKeys", 0),
            "providerReads": stats.get("providerReads", 0),
            "lastRead": stats.get("lastRead"),
        })
    else:
        access = status.get("access", {}) or {}
        rotation = status.get("rotation", {}) or {}
        summary.update({
            "store": (obj.get("spec", {}).get("storeRef") or {}).get("name", ""),
            "providerReads": access.get("providerReads", 0),
            "lastRead": access.get("lastRead"),
            "consecutiveFailures": access.get("consecutiveFailures", 0),
            "usedBy": access.get("usedByCount", len(access.get("usedBy", []) or [])),
            "rotations": rotation.get("count", 0),
            "lastRotation": rotation.get("lastRotationTime"),
            "nextRotation": rotation.get("nextRotationTime"),
            "expiresAt": status.get("expiresAt"),
            "expiryKey": (status.get("expiry") or {}).get("key", ""),
            "expirySource": (status.get("expiry") or {}).get("source", ""),
        })
    return summary


def expiring(summaries: list[dict[str, Any]], within: float, now: datetime) -> list[tuple[float, dict[str, Any]]]:
    """(seconds left, summary) of the objects whose earliest expiry is within ``within`` seconds (or past),
    soonest first."""
    found: list[tuple[float, dict[str, Any]]] = []
    for summary in summaries:
        stamp = summary.get("expiresAt")
        if not stamp:
            continue
        try:
            left = (datetime.fromisoformat(str(stamp).replace("Z", "+00:00")) - now).total_seconds()
        except ValueError:
            continue
        if left <= within:
            found.append((left, summary))
    return sorted(found, key=lambda item: item[0])


def _left(seconds: float) -> str:
    """Time left as "3d", "5h", "12m", "40s", or "expired"."""
    if seconds <= 0:
        return "expired"
    whole = int(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if whole >= size:
            return f"{whole // size}{unit}"
    return f"{whole}s"


def cmd_status(args: argparse.Namespace) -> int:
    api = _api(args)
    namespace = None if args.all_namespaces else args.namespace
    if namespace is None and not args.all_namespaces:
        namespace = _current_namespace(args)
    kinds = [args.kind] if args.kind else list(KINDS)
    summaries = [summarise(item) for plural in kinds for item in _list(api, plural, namespace)]
    summaries.sort(key=lambda s: (s["kind"], s["namespace"], s["name"]))
    if args.output == "json":
        print(json.dumps(summaries, indent=2, sort_keys=True))
        return 0
    now = datetime.now(timezone.utc)
    secrets = [s for s in summaries if s["kind"] == "ManagedSecret"]
    bundles = [s for s in summaries if s["kind"] == "ConfigBundle"]
    where = "all namespaces" if namespace is None else f"namespace {namespace}"
    if not summaries:
        output.info(f"no ManagedSecrets or ConfigBundles in {where}")
        return 0
    if secrets:
        print("MANAGED SECRETS")
        output.table(
            [[s["namespace"], s["name"], s["store"], s["ready"], s["reason"], _age(s["refreshTime"], now),
              str(s["providerReads"]), str(s["consecutiveFailures"]), str(s["rotations"]), str(s["usedBy"])]
             for s in secrets],
            ["NAMESPACE", "NAME", "STORE", "READY", "REASON", "SYNCED", "READS", "FAILURES", "ROTATIONS", "USED-BY"],
        )
    if bundles:
        if secrets:
            print()
        print("CONFIG BUNDLES")
        output.table(
            [[s["namespace"], s["name"], s["ready"], s["reason"], _age(s["refreshTime"], now), str(s["sources"]),
              str(s["keys"]), str(s["secretKeys"]), str(s["providerReads"])] for s in bundles],
            ["NAMESPACE", "NAME", "READY", "REASON", "SYNCED", "SOURCES", "KEYS", "SECRET-KEYS", "READS"],
        )
    soon = expiring(secrets, _duration(args.expiring_within), now)
    if soon:
        print()
        print(f"EXPIRING WITHIN {args.expiring_within}")
        output.table([[s["namespace"], s["name"], s["expiryKey"], s["expirySource"], s["expiresAt"], _left(left)]
                      for left, s in soon], ["NAMESPACE", "NAME", "KEY", "SOURCE", "EXPIRES", "IN"])
    not_ready = [s for s in summaries if s["ready"] != "True"]
    if not_ready and args.verbose:
        print()
        for s in not_ready:
            print(f"{s['kind']} {s['namespace']}/{s['name']}: {s['reason'] or 'no Ready condition yet'}: {s['message']}")
    return 0


def _duration(text: str) -> float:
    from ..k8s.spec.durations import parse_duration

    try:
        return parse_duration(text, "--expiring-within")
    except ValueError as exc:
        raise CliError(str(exc), USAGE) from None


def _current_namespace(args: argparse.Namespace) -> str:
    """The namespace of the kubeconfig's current context ('default' when it names none)."""
    from kubernetes import config

    try:
        contexts, active = config.list_kube_config_contexts(config_file=args.kubeconfig)  # type: ignore[no-untyped-call]
    except Exception:  # noqa: BLE001 - the client reported the real problem already in _api
        return "default"
    chosen = next((c for c in contexts if c["name"] == args.context), active) if args.context else active
    return str((chosen or {}).get("context", {}).get("namespace") or "default")


# ------------------------------------------------------------------------------------ delegating commands

def _delegate(module_name: str, argv: list[str], what: str, extra: str) -> int:
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise CliError(f"{what} is not available: {exc} (pip install '{extra}')", FAILED) from exc
    entry = getattr(module, "main", None)
    if entry is None:
        raise CliError(f"{what} is not available in this version ({module_name}.main is missing)", FAILED)
    result = entry(argv)
    return int(result or 0)


def cmd_operator_run(args: argparse.Namespace) -> int:
    argv = list(args.operator_args)
    if argv[:1] == ["--"]:
        argv = argv[1:]
    return _delegate("config_manager.k8s.__main__", argv, "the operator", "configmanagelib[operator]")


def cmd_cluster_up(args: argparse.Namespace) -> int:
    argv: list[str] = []
    if args.kubeconfig_out:
        argv += ["--kubeconfig-out", args.kubeconfig_out]
    if args.keep_dir:
        argv.append("--keep-dir")
    if args.node:
        argv.append("--node")
    for image in args.image:
        argv += ["--image", image]
    what = "etcd, kube-apiserver, kube-controller-manager" + (", kube-scheduler and a node (containerd + kubelet)" if args.node else "")
    output.info(f"starting the local control plane ({what}); the first run builds them, which can take many minutes; "
                "Ctrl-C stops it")
    return _delegate("config_manager.devcluster.__main__", argv, "the local control plane", "configmanagelib[operator]")


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("status", help="ManagedSecrets and ConfigBundles with their statistics",
                              description="List ManagedSecrets and ConfigBundles from the cluster of the "
                                          "current kubeconfig, with readiness and statistics from their status.")
    p.add_argument("-n", "--namespace", default=None, help="namespace (default: the kubeconfig context's)")
    p.add_argument("-A", "--all-namespaces", action="store_true", help="every namespace")
    p.add_argument("--kind", choices=list(KINDS), default=None, help="only this kind")
    p.add_argument("--kubeconfig", default=None, help="kubeconfig file (default: $KUBECONFIG or ~/.kube/config)")
    p.add_argument("--context", default=None, help="kubeconfig context")
    p.add_argument("-o", "--output", choices=["table", "json"], default="table")
    p.add_argument("-v", "--verbose", action="store_true", help="explain every object that is not Ready")
    p.add_argument("--expiring-within", default="168h", metavar="DURATION",
                   help="list ManagedSecrets whose earliest value expiry (status.expiresAt) is this close (default 168h)")
    p.set_defaults(func=cmd_status)

    op = subparsers.add_parser("operator", help="run the operator")
    op_commands = op.add_subparsers(dest="operator_command", metavar="COMMAND", required=True)
    p = op_commands.add_parser("run", help="run the operator in the foreground (python -m config_manager.k8s)",
                               description="Run the operator; arguments after 'run' go to it unchanged.")
    p.add_argument("operator_args", nargs=argparse.REMAINDER, help="arguments for the operator (see --help after run)")
    p.set_defaults(func=cmd_operator_run)

    cl = subparsers.add_parser("cluster", help="the local Kubernetes control plane for development")
    cl_commands = cl.add_subparsers(dest="cluster_command", metavar="COMMAND", required=True)
    p = cl_commands.add_parser("up", help="start etcd + kube-apiserver + kube-controller-manager until Ctrl-C")
    p.add_argument("--kubeconfig-out", default=None, help="copy the admin kubeconfig here")
    p.add_argument("--keep-dir", action="store_true", help="keep logs and certificates after stop")
    p.add_argument("--node", action="store_true", help="add a node that runs Pods (kubelet + containerd; needs root)")
    p.add_argument("--image", action="append", default=[], metavar="ARCHIVE",
                   help="a docker-archive to import into the node (e.g. from tools/build-image.sh); repeatable")
    p.set_defaults(func=cmd_cluster_up)
