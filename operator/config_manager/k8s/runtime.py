"""Start-up and shutdown of the operator inside kopf: build the context, start the work queue.

Kept apart from ``__main__`` so that tests (or an embedding process) can run the same operator with
``kopf.operator()`` after calling ``install``.
"""

from __future__ import annotations

import logging
from typing import Any

import kopf

from . import handlers
from .rotation import triggers as _rotation_triggers  # noqa: F401 - registers the rotation trigger handler after ours
from .backoff import Backoff
from .cache import ClusterCache
from .context import Context
from .events import EventRecorder
from .kubeapi import KubeApi
from .providercache import ProviderCache
from .settings import OperatorConfig, configure_kopf
from .workqueue import WorkQueue

log = logging.getLogger(__name__)
_CONFIG: list[OperatorConfig] = []


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
        events=EventRecorder(api, window=config.event_window),
        config=config,
    )
    queue = WorkQueue(lambda key, reason: handlers.dispatch(key, reason), workers=config.workers)
    handlers.RT.ctx = ctx
    handlers.RT.queue = queue
    handlers.RT.known = set()
    await queue.start()
    log.info("config-manager operator started: %d workers, %s", config.workers,
             "namespaces " + ",".join(config.namespaces) if config.namespaces else "cluster-wide")


@kopf.on.cleanup()
async def cleanup(**_: Any) -> None:
    if handlers.RT.queue is not None:
        await handlers.RT.queue.stop()
    log.info("config-manager operator stopped")
