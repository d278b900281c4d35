"""Start-up and shutdown of the operator inside kopf: build the context, start the work queue.

Kept apart from ``__main__`` so that tests (or an embedding process) can run the same operator with
``kopf.operator()`` after calling ``install``.

With leader election the work queue starts paused: every replica watches and schedules (its cache stays
warm), only the Lease holder runs reconciles — the only code that writes to the API. On shutdown the
leader stops taking work, lets running reconciles finish, then releases the Lease for a fast failover.
"""

from __future__ import annotations

import logging
from typing import Any

import kopf

from .watch import handlers
from . import metrics
from .watch import triggers as _rotation_triggers  # noqa: F401 - registers the rotation trigger handler after ours
from .stores.backoff import Backoff
from .watch.cache import ClusterCache
from .context import Context
from .api.events import EventRecorder
from .api.client import KubeApi
from .api.leader import LeaderElector, LeaseSettings, default_identity, default_namespace
from .stores.readcache import ProviderCache
from .config import OperatorConfig
from .watch.kopf_settings import configure_kopf
from .watch.workqueue import WorkQueue

log = logging.getLogger(__name__)
_CONFIG: list[OperatorConfig] = []


class Leadership:
    """Who leads in this process: the elector (None without leader election)."""

    elector: LeaderElector | None = None

    @property
    def is_leader(self) -> bool:
        return self.elector is None or self.elector.is_leader


LEADERSHIP = Leadership()


def install(config: OperatorConfig) -> None:
    """Remember the configuration and register the optional handlers (workload tracking)."""
    _CONFIG[:] = [config]
    if config.track_workloads:
        handlers.register_workload_tracking()


@kopf.on.startup()
async def startup(settings: kopf.OperatorSettings, **_: Any) -> None:
    config = _CONFIG[0] if _CONFIG else OperatorConfig()
    configure_kopf(settings, config)
    api = KubeApi.from_environment(pool_size=config.workers + 2)
    ctx = Context(
        api=api,
        cache=ClusterCache(),
        providers=ProviderCache(ttl=config.read_cache_ttl, backoff=Backoff(config.backoff_base, config.backoff_cap)),
        # with leader election, Events name the replica that posted them (its Lease identity)
        events=EventRecorder(api, instance=default_identity() if config.leader_election else "",
                             window=config.event_window),
        config=config,
    )
    queue = WorkQueue(lambda key, reason: handlers.dispatch(key, reason), workers=config.workers)
    handlers.RT.ctx = ctx
    handlers.RT.queue = queue
    handlers.RT.known = set()
    cache = ctx.cache
    metrics.initialise()
    metrics.watch_sizes({
        "ManagedSecret": lambda: len(cache.managed_secrets),
        "ConfigBundle": lambda: len(cache.bundles),
        "SecretStore": lambda: len(cache.stores),
        "ClusterSecretStore": lambda: len(cache.cluster_stores),
    })
    metrics.QUEUE_DEPTH.set_function(lambda: len(queue))
    if config.leader_election:
        lease = LeaseSettings(
            namespace=config.leader_election_namespace or default_namespace(),
            name=config.leader_election_id,
            lease_duration=config.lease_duration,
            renew_period=config.lease_renew_period,
            renew_deadline=(config.lease_renew_period + config.lease_duration) / 2,
            retry_period=config.lease_retry_period,
        )
        elector = LeaderElector(KubeApi.from_environment(pool_size=2), lease,
                                on_started=queue.resume, on_stopped=queue.pause)
        LEADERSHIP.elector = elector
        await queue.start(paused=True)
        elector.start()
    else:
        LEADERSHIP.elector = None
        metrics.LEADER.set(1)
        await queue.start()
    log.info("config-manager operator started: %d workers, %s", config.workers,
             "namespaces " + ",".join(config.namespaces) if config.namespaces else "cluster-wide")


@kopf.on.cleanup()
async def cleanup(**_: Any) -> None:
    queue = handlers.RT.queue
    elector = LEADERSHIP.elector
    if elector is not None:
        # stop taking work, let running reconciles finish, then hand the Lease over
        await elector.shutdown(before_release=(lambda: queue.drain(10.0)) if queue is not None else None)
    if queue is not None:
        await queue.stop()
    log.info("config-manager operator stopped")
