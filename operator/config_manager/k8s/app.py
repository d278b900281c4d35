"""The running operator as one object: its context, work queue, leader elector and kopf registry.

``Operator`` builds everything at kopf's start-up (``startup``): the informers of ``watch.handlers.feeds``
(phases 0 and 1 listed at once; first sights held until phase 0 and the by-name watches of
``watch.targets`` it asks for have listed, fan-outs until every listing has) and the work queue, which runs
only once every first listing is complete (``ready``, served as /readyz). ``dispatch`` routes each work-queue
key to its reconciler. Nothing lives in module globals, so ``__main__`` and a test can each run their own
operator. kopf is the frame that runs it (login, start-up, shutdown); no kopf handler watches a resource.

With leader election every replica lists, watches and schedules (its cache stays warm), only the Lease
holder runs reconciles — the only code that writes to the API. On shutdown the
leader stops taking work, lets running reconciles finish, then releases the Lease for a fast failover.
With ``--shards N`` each replica runs only the keys of the shards whose Leases it holds (the work queue's
filter, ``api.shardleases``); it joins the shard plan once its caches are synced.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from typing import Any

import kopf

from ..errors import ConfigurationError
from ..providers import registry
from . import metrics
from .api.client import KubeApi
from .api.events import EventRecorder
from .api.leader import LeaderElector, LeaseSettings, default_identity, default_namespace
from .api.shardleases import ShardCoordinator, ShardLeasesSeen, ShardSet, pod_owner
from .api.shards import shard_of
from .config import OperatorConfig
from .context import Context
from .reconcile import clustermanagedsecret, configbundle, managedsecret, pushsecret, secretstore, vaultdynamicsecret
from .stores.backoff import Backoff
from .stores.readcache import ProviderCache
from .watch import kinds
from .watch.cache import ClusterCache
from .watch.handlers import Watched, feeds, object_handler
from .watch.informer import AioTransport, Informer
from .watch.kopf_settings import configure_kopf
from .watch.targets import NamedWatches, Owner
from .watch.triggers import Key
from .watch.workqueue import WorkQueue
from .webhook.server import Receiver
from .webhook.targets import ChangeTargets

log = logging.getLogger(__name__)


def azure_key_of(name: str) -> str:
    """Our key for an Azure Key Vault secret name (the Azure provider's reversible mapping), through the
    registry; the name itself when the Azure extra is not installed."""
    try:
        factory = registry.get_factory("azure")
    except ConfigurationError:
        return name
    key_of = getattr(factory, "key_for_name", None)
    return str(key_of(name)) if callable(key_of) else name


class Operator:
    """One operator process: config in, kopf registry out; state created by ``startup``."""

    def __init__(self, config: OperatorConfig) -> None:
        self.config = config
        self.watched = Watched()
        self.elector: LeaderElector | None = None
        self.sharding: ShardCoordinator | None = None
        self.receiver: Receiver | None = None
        self.registry = kopf.OperatorRegistry()
        kopf.on.login(registry=self.registry)(kopf.login_via_client)  # kubeconfig or in-cluster, as kopf's default
        self.informers: list[Informer] = []
        self.named: NamedWatches | None = None
        self.ready = False  # every informer's first listing is complete (readiness)
        self.sync_seconds: float | None = None
        self._transport: AioTransport | None = None
        self._tasks: list[asyncio.Task[None]] = []
        kopf.on.startup(registry=self.registry)(self.startup)
        kopf.on.cleanup(registry=self.registry)(self.cleanup)

    @property
    def ctx(self) -> Context | None:
        return self.watched.ctx

    @property
    def queue(self) -> WorkQueue | None:
        return self.watched.queue

    @property
    def is_leader(self) -> bool:
        """This replica reconciles: it leads, holds a shard, or runs without election."""
        if self.sharding is not None:
            return bool(self.sharding.held)
        return self.elector is None or self.elector.is_leader

    def _shard_of_key(self, key: Any) -> int:
        namespace = key[1] if isinstance(key, tuple) and len(key) == 3 else ""
        return shard_of(str(namespace), self.config.shards)

    def _runs_here(self, key: Any) -> bool:
        return self.sharding is not None and self._shard_of_key(key) in self.sharding.held

    def _shards_changed(self, _held: ShardSet) -> None:
        if self.queue is not None:
            self.queue.reconsider()

    async def _drain_shard(self, index: int) -> None:
        if self.queue is not None:
            await self.queue.drain(10.0, keys=lambda key: self._shard_of_key(key) == index)

    def _body_of(self, owner: Owner) -> Mapping[str, Any] | None:
        ctx = self.watched.ctx
        assert ctx is not None
        table = {"ManagedSecret": ctx.cache.managed_secrets, "ConfigBundle": ctx.cache.bundles}.get(owner[0])
        return table.get((owner[1], owner[2])) if table is not None else None

    def _gate(self) -> None:
        """Run reconciles when the caches are synced and this replica leads (either may come first)."""
        queue = self.queue
        if queue is None or not self.ready:
            return
        if self.sharding is not None:
            if not self.sharding.started:  # join the shard plan once, when the caches are synced
                self.sharding.start()
            queue.resume()  # its filter runs only the keys of the shards held
        elif self.is_leader:
            queue.resume()

    def _spawn(self, informer: Informer) -> None:
        self._tasks.append(asyncio.create_task(informer.run(), name=f"informer {informer.scope.describe()}"))

    async def _sync(self, ctx: Context) -> None:
        """List every phase at once; first sights wait for phase 0 and the by-name watches it asks for, fan-outs
        over our objects for every listing; then open the gate."""
        started = time.monotonic()
        self._transport = transport = AioTransport(ctx.api)
        all_feeds = feeds(self.watched, self.config.namespaces, track_workloads=self.config.track_workloads)
        all_feeds += kinds.feeds(self.watched, self.config.namespaces)  # PushSecret, ClusterManagedSecret
        self.named = NamedWatches(transport, ctx.cache, lambda kind: object_handler(self.watched, kind), self._body_of)
        self.watched.hold()
        phases = {phase: [Informer(transport, f.scope, f.handler, kind=f.kind) for f in all_feeds if f.phase == phase]
                  for phase in (0, 1)}
        for batch in phases.values():
            self.informers += batch
            for informer in batch:
                self._spawn(informer)
        await asyncio.gather(*(i.synced.wait() for i in phases[0]))
        await self.named.sync()
        decided = self.watched.decide_first_sights()  # the Secret/ConfigMap caches are complete
        phase0_seconds = time.monotonic() - started
        await asyncio.gather(*(i.synced.wait() for i in phases[1]))
        self.watched.replay_fan_outs()  # the tables of our objects are complete
        await self.named.sync()
        self._tasks.append(asyncio.create_task(self.named.run(), name="named watches"))
        self.sync_seconds = time.monotonic() - started
        self.ready = True
        cache = ctx.cache
        log.info("caches synced in %.1fs (Secrets and ConfigMaps in %.1fs, %d first sights held until then): "
                 "%d ManagedSecrets, %d ConfigBundles, %d Secrets, %d ConfigMaps, %d watched by name",
                 self.sync_seconds, phase0_seconds, decided, len(cache.managed_secrets), len(cache.bundles),
                 len(cache.secrets), len(cache.configmaps), len(self.named.informers))
        self._gate()

    def dispatch(self, key: Key, reason: str) -> float | None:
        """Run the reconcile for ``key`` (called on a worker thread). The providers it is handed stay open
        until it returns, even when a newer one replaces them meanwhile (``ProviderCache.held``)."""
        ctx = self.watched.ctx
        assert ctx is not None
        with ctx.providers.held():
            return self._reconcile(ctx, key, reason)

    @staticmethod
    def _reconcile(ctx: Context, key: Key, reason: str) -> float | None:
        kind, namespace, name = key
        if kind == "ManagedSecret":
            return managedsecret.reconcile(ctx, namespace, name, reason=reason)
        if kind == "ConfigBundle":
            return configbundle.reconcile(ctx, namespace, name, reason=reason)
        if kind in ("SecretStore", "ClusterSecretStore"):
            return secretstore.reconcile(ctx, kind, namespace, name)
        if kind == "PushSecret":
            return pushsecret.reconcile(ctx, namespace, name, reason=reason)
        if kind == "ClusterManagedSecret":
            return clustermanagedsecret.reconcile(ctx, name)
        if kind == "VaultDynamicSecret":
            return vaultdynamicsecret.reconcile(ctx, namespace, name, reason=reason)
        return None

    def _context(self) -> Context:
        config = self.config
        api = KubeApi.from_environment(pool_size=config.workers + 2, lean=True)  # nothing here reads managedFields
        return Context(
            api=api,
            cache=ClusterCache(),
            providers=ProviderCache(ttl=config.read_cache_ttl, backoff=Backoff(config.backoff_base, config.backoff_cap)),
            # with leader election, Events name the replica that posted them (its Lease identity)
            events=EventRecorder(api, instance=default_identity() if config.leader_election or config.shards > 1 else "",
                                 window=config.event_window),
            config=config,
        )

    def _watch_metrics(self, ctx: Context, queue: WorkQueue) -> None:
        cache = ctx.cache
        metrics.initialise()
        metrics.watch_sizes({
            "ManagedSecret": lambda: len(cache.managed_secrets),
            "ConfigBundle": lambda: len(cache.bundles),
            "SecretStore": lambda: len(cache.stores),
            "ClusterSecretStore": lambda: len(cache.cluster_stores),
            "PushSecret": lambda: len(cache.push_secrets),
            "ClusterManagedSecret": lambda: len(cache.cluster_managed_secrets),
            "VaultDynamicSecret": lambda: len(cache.dynamic_secrets),
        })
        metrics.QUEUE_DEPTH.set_function(lambda: len(queue))

    def _lease_settings(self) -> LeaseSettings:
        config = self.config
        return LeaseSettings(
            namespace=config.leader_election_namespace or default_namespace(),
            name=config.leader_election_id,
            lease_duration=config.lease_duration,
            renew_period=config.lease_renew_period,
            renew_deadline=(config.lease_renew_period + config.lease_duration) / 2,
            retry_period=config.lease_retry_period,
        )

    async def startup(self, settings: kopf.OperatorSettings, **_: Any) -> None:
        config = self.config
        configure_kopf(settings, config)
        ctx = self._context()
        queue = WorkQueue(self.dispatch, workers=config.workers)
        self.watched.ctx, self.watched.queue, self.watched.known = ctx, queue, set()
        self._watch_metrics(ctx, queue)
        if config.webhook_address:
            self.receiver = Receiver(config, ChangeTargets(ctx.cache, ctx.providers, lambda key: queue.add(key, 0.0, "changed"),
                                                           azure_key_of=azure_key_of))
            await self.receiver.start()
        if config.shards > 1:
            self.elector = None
            lease = self._lease_settings()
            self.sharding = ShardCoordinator(KubeApi.from_environment(pool_size=2), lease, config.shards,
                                             on_change=self._shards_changed, before_release=self._drain_shard,
                                             owner=pod_owner(lease.namespace))
            metrics.LEADER.set(0)
            queue.set_filter(self._runs_here)
            await queue.start(paused=True)
        elif config.leader_election:
            lease = self._lease_settings()
            lease_api = KubeApi.from_environment(pool_size=2)
            self.elector = LeaderElector(lease_api, lease, on_started=self._gate, on_stopped=queue.pause,
                                         blocked=ShardLeasesSeen(lease_api, lease))
            await queue.start(paused=True)
            self.elector.start()
        else:
            self.elector = None
            metrics.LEADER.set(1)
            await queue.start(paused=True)
        self._tasks.append(asyncio.create_task(self._sync(ctx), name="informers' first listing"))
        log.info("config-manager operator started: %d workers, %s%s", config.workers,
                 "namespaces " + ",".join(config.namespaces) if config.namespaces else "cluster-wide",
                 f", {config.shards} shards" if config.shards > 1 else "")

    async def cleanup(self, **_: Any) -> None:
        queue = self.queue
        if self.receiver is not None:
            await self.receiver.stop()
        drain = (lambda: queue.drain(10.0)) if queue is not None else None
        if self.elector is not None:
            # stop taking work, let running reconciles finish, then hand the Lease over
            await self.elector.shutdown(before_release=drain)
        if self.sharding is not None:
            await self.sharding.shutdown(before_release=drain)
        if queue is not None:
            # A replica alone (no elector, no shards) drains too: a pass cut between its Secret write and
            # its status write would leave the status to be written again by the next process.
            queue.pause()
            await queue.drain(10.0)
            await queue.stop()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._transport is not None:
            await self._transport.close()
        log.info("config-manager operator stopped")

    async def run(self) -> None:
        """Run kopf with our registry until it stops (no kopf peering: replicas use the leader Lease)."""
        await kopf.operator(registry=self.registry, standalone=True, clusterwide=not self.config.namespaces,
                            namespaces=self.config.namespaces)
