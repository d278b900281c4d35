"""``python -m config_manager.k8s``: run the operator (kopf) with our settings.

Flags: ``--namespace NS`` (repeatable) or ``--all-namespaces``; ``--leader-election`` (with
``--leader-election-namespace`` / ``--leader-election-id``) for more than one replica, ``--shards N`` to
split the namespaces across replicas (``api.shardleases``), ``--standalone``
(the default: this process always reconciles); ``--liveness URL`` (serves /healthz, /readyz and
Prometheus /metrics on that address; /readyz answers 503 until the informers' caches are synced); ``--webhook-address HOST:PORT`` with ``--webhook-token-file`` and/or
``--webhook-hmac-key-file`` (the change-event receiver, ``webhook``); ``--expiry-warning`` (lead time of
``SecretNearExpiry``); ``--log-level``, ``--log-format text|json``; tuning flags map onto
``config.OperatorConfig`` (which holds every default). The kubeconfig comes from ``$KUBECONFIG`` (or in-cluster configuration).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from typing import Any
from urllib.parse import urlparse

from ..errors import ConfigurationError
from .app import Operator
from .config import OperatorConfig
from .logs import setup_logging
from .spec.durations import parse_duration

log = logging.getLogger("config_manager.k8s")
DEFAULTS = OperatorConfig()


def parse_args(argv: list[str] | None = None) -> tuple[argparse.Namespace, OperatorConfig]:
    parser = argparse.ArgumentParser(prog="python -m config_manager.k8s", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    scope = parser.add_mutually_exclusive_group()
    scope.add_argument("--namespace", "-n", action="append", default=[], help="serve this namespace (repeatable)")
    scope.add_argument("--all-namespaces", "-A", action="store_true", help="serve every namespace (default)")
    ha = parser.add_mutually_exclusive_group()
    ha.add_argument("--standalone", action="store_true",
                    help="no leader election: this process always reconciles (the default; one replica only)")
    ha.add_argument("--leader-election", action="store_true",
                    help="reconcile only while holding the leader Lease (run this way with replicas > 1)")
    parser.add_argument("--leader-election-namespace", default="", metavar="NS",
                        help="namespace of the Lease (default: $POD_NAMESPACE, the in-cluster namespace, or default)")
    parser.add_argument("--leader-election-id", default=DEFAULTS.leader_election_id, metavar="NAME",
                        help="name of the Lease (one per installation)")
    parser.add_argument("--shards", type=int, default=DEFAULTS.shards, metavar="N",
                        help="split the namespaces into N shards across replicas, one Lease each (N > 1 implies "
                             "Lease-based election with the --leader-election-* settings)")
    parser.add_argument("--lease-duration", type=float, default=DEFAULTS.lease_duration,
                        help="seconds before a standby takes over an unrenewed Lease")
    parser.add_argument("--lease-renew-period", type=float, default=DEFAULTS.lease_renew_period, help="seconds between the leader's renewals")
    parser.add_argument("--lease-retry-period", type=float, default=DEFAULTS.lease_retry_period, help="seconds between a standby's checks")
    parser.add_argument("--liveness", metavar="URL", help="serve /healthz, /readyz and /metrics, e.g. http://0.0.0.0:8080/healthz")
    parser.add_argument("--log-level", default=os.environ.get("CONFIG_MANAGER_LOG_LEVEL", "info"))
    parser.add_argument("--log-format", choices=["text", "json"], default="text")
    parser.add_argument("--workers", type=int, default=DEFAULTS.workers, help="concurrent reconciles (= API concurrency bound)")
    parser.add_argument("--read-cache-ttl", type=float, default=DEFAULTS.read_cache_ttl, help="seconds a provider answer is shared")
    parser.add_argument("--max-find-results", type=int, default=DEFAULTS.max_find_results,
                        help="most keys one dataFrom[].find may select")
    parser.add_argument("--backoff-base", type=float, default=DEFAULTS.backoff_base)
    parser.add_argument("--backoff-cap", type=float, default=DEFAULTS.backoff_cap)
    parser.add_argument("--refresh-jitter", type=float, default=DEFAULTS.refresh_jitter)
    parser.add_argument("--startup-spread", type=float, default=DEFAULTS.startup_spread)
    parser.add_argument("--stats-flush", type=float, default=DEFAULTS.stats_flush, help="seconds between statistics-only status writes")
    parser.add_argument("--no-workload-tracking", action="store_true", help="do not watch Pods/Deployments for usage")
    parser.add_argument("--rotation-interval-scale", type=float, default=DEFAULTS.rotation_interval_scale,
                        help="testing only: multiply rotation intervals (e.g. 0.1667 turns 1m into 10s)")
    parser.add_argument("--expiry-warning", default=os.environ.get("CONFIG_MANAGER_EXPIRY_WARNING", "168h"),
                        metavar="DURATION", help="post SecretNearExpiry this long before a value expires (default 168h = 7d)")
    hook = parser.add_argument_group("change-event receiver (webhook)")
    hook.add_argument("--webhook-address", default=os.environ.get("CONFIG_MANAGER_WEBHOOK_ADDRESS", DEFAULTS.webhook_address),
                      metavar="HOST:PORT", help="serve POST /events here (off when empty)")
    hook.add_argument("--webhook-token-file", default=DEFAULTS.webhook_token_file, metavar="PATH",
                      help="file with the bearer token (mounted from a Secret)")
    hook.add_argument("--webhook-hmac-key-file", default=DEFAULTS.webhook_hmac_key_file, metavar="PATH",
                      help="file with the HMAC-SHA256 key for X-Signature-256 (mounted from a Secret)")
    hook.add_argument("--webhook-tls-cert-file", default=DEFAULTS.webhook_tls_cert_file, metavar="PATH")
    hook.add_argument("--webhook-tls-key-file", default=DEFAULTS.webhook_tls_key_file, metavar="PATH")
    hook.add_argument("--webhook-max-body", type=int, default=DEFAULTS.webhook_max_body, metavar="BYTES")
    hook.add_argument("--webhook-rate", type=float, default=DEFAULTS.webhook_rate, help="authenticated requests per second")
    hook.add_argument("--webhook-burst", type=float, default=DEFAULTS.webhook_burst)
    hook.add_argument("--webhook-coalesce", type=float, default=DEFAULTS.webhook_coalesce, metavar="SECONDS",
                      help="repeats of one change within this window cost one refresh")
    args = parser.parse_args(argv)
    if args.webhook_address and not (args.webhook_token_file or args.webhook_hmac_key_file):
        parser.error("--webhook-address needs --webhook-token-file or --webhook-hmac-key-file")
    try:
        expiry_warning = parse_duration(args.expiry_warning, "--expiry-warning")
    except ConfigurationError as exc:
        parser.error(str(exc))
    if args.shards < 1:
        parser.error("--shards must be 1 or more")
    if args.shards > 1 and args.standalone:
        parser.error("--shards > 1 needs Lease election: drop --standalone")
    if (args.leader_election or args.shards > 1) and not 0 < args.lease_renew_period < args.lease_duration:
        parser.error("--lease-renew-period must be positive and shorter than --lease-duration")
    config = OperatorConfig(
        namespaces=list(args.namespace),
        workers=max(1, args.workers),
        read_cache_ttl=args.read_cache_ttl,
        max_find_results=args.max_find_results,
        backoff_base=args.backoff_base,
        backoff_cap=args.backoff_cap,
        refresh_jitter=max(0.0, args.refresh_jitter),
        startup_spread=max(0.0, args.startup_spread),
        stats_flush=args.stats_flush,
        track_workloads=not args.no_workload_tracking,
        leader_election=bool(args.leader_election),
        shards=args.shards,
        leader_election_namespace=args.leader_election_namespace,
        leader_election_id=args.leader_election_id,
        lease_duration=args.lease_duration,
        lease_renew_period=args.lease_renew_period,
        lease_retry_period=args.lease_retry_period,
        rotation_interval_scale=args.rotation_interval_scale if args.rotation_interval_scale > 0 else 1.0,
        expiry_warning=expiry_warning,
        webhook_address=args.webhook_address,
        webhook_token_file=args.webhook_token_file,
        webhook_hmac_key_file=args.webhook_hmac_key_file,
        webhook_tls_cert_file=args.webhook_tls_cert_file,
        webhook_tls_key_file=args.webhook_tls_key_file,
        webhook_max_body=max(1024, args.webhook_max_body),
        webhook_rate=max(0.1, args.webhook_rate),
        webhook_burst=max(1.0, args.webhook_burst),
        webhook_coalesce=max(0.0, args.webhook_coalesce),
    )
    return args, config


async def _serve_health(url: str, operator: Operator) -> Any:
    """One small HTTP server for the liveness probe and the Prometheus scrape."""
    from aiohttp import web  # noqa: PLC0415 - kopf depends on aiohttp already
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest  # noqa: PLC0415

    parsed = urlparse(url)
    health_path = parsed.path or "/healthz"

    async def health(_: web.Request) -> web.Response:
        # A standby is alive and healthy (watching, ready to take over): leadership does not affect health.
        queue = operator.queue
        ok = queue is not None
        answer: dict[str, Any] = {"ok": ok, "leader": ok and operator.is_leader,
                                  "queued": len(queue) if queue is not None else 0}
        if operator.sharding is not None:
            answer["shards"] = sorted(operator.sharding.held)
        return web.json_response(answer, status=200 if ok else 503)

    async def ready(_: web.Request) -> web.Response:
        # Ready once every informer's first listing is complete: only then can this replica act (or take over).
        ok = operator.ready
        return web.json_response({"ready": ok, "leader": operator.is_leader, "syncSeconds": operator.sync_seconds},
                                 status=200 if ok else 503)

    async def metrics(_: web.Request) -> web.Response:
        return web.Response(body=generate_latest(), headers={"Content-Type": CONTENT_TYPE_LATEST})

    app = web.Application()
    app.router.add_get(health_path, health)
    app.router.add_get("/readyz", ready)
    app.router.add_get("/metrics", metrics)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, parsed.hostname or "0.0.0.0", parsed.port or 8080)
    await site.start()
    return runner


def main(argv: list[str] | None = None) -> int:
    args, config = parse_args(argv)
    setup_logging(args.log_level, json_format=args.log_format == "json")
    operator = Operator(config)
    health_runner: list[Any] = []

    async def run() -> None:
        if args.liveness:
            health_runner.append(await _serve_health(args.liveness, operator))
        try:
            await operator.run()
        finally:
            for runner in health_runner:
                await runner.cleanup()

    try:
        asyncio.run(run())
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
