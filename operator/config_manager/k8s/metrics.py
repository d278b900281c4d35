"""Every Prometheus metric the operator exports, in one place, with low-cardinality labels only.

Why one module: the names, help texts and label sets are the operator's monitoring contract (listed in
docs/metrics.md); keeping them together makes it easy to see that no label carries a namespace, an
object name, a remote key or anything derived from a value (cardinality, and no secret in a label).
Label values are taken from small fixed sets: kinds of our resources, provider types, operation names,
and the ``reason`` strings of Ready conditions that the code itself chooses. The one exception, asked
for by users of every peer, is ``SECRET_EXPIRY``: one series per object that has an expiry (namespace,
kind, name — never a key or value).

Other modules record through the helpers below (``record_sync``, ``provider_call``, ...) or increment the
counters directly (``ROTATIONS``, ``WORKLOAD_RESTARTS`` for the rotation engine).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from prometheus_client import Counter, Gauge, Histogram, disable_created_metrics

disable_created_metrics()  # type: ignore[no-untyped-call]  # no ``*_created`` series next to every counter: half the series, no information

#: Kubernetes API requests made by the operator's own client (reconciles, leader election).
API_REQUESTS = Counter(
    "configmanager_api_requests_total", "Kubernetes API requests made by the operator's reconciles",
    ["verb", "resource"],
)

#: One per finished reconcile pass of a ManagedSecret, ConfigBundle, SecretStore or ClusterSecretStore.
SYNCS = Counter(
    "configmanager_syncs_total",
    "Reconcile passes that reached a Ready verdict, by resource kind and result (success or error)",
    ["kind", "result"],
)

#: The failed passes of ``SYNCS`` again, by the Ready condition's reason (StoreNotReady, ProviderError, ...).
SYNC_ERRORS = Counter(
    "configmanager_sync_errors_total",
    "Reconcile passes that ended with Ready=False, by resource kind and condition reason",
    ["kind", "reason"],
)

#: Latency of calls into a provider backend (cache hits are not calls and are not observed).
PROVIDER_LATENCY = Histogram(
    "configmanager_provider_request_duration_seconds",
    "Duration of provider backend calls, by provider type (local, vault, azure, env) and operation",
    ["provider", "operation"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)

#: Provider calls that raised, by provider type and operation (not-found answers included).
PROVIDER_ERRORS = Counter(
    "configmanager_provider_errors_total",
    "Provider backend calls that failed, by provider type and operation",
    ["provider", "operation"],
)

#: Rotations of ManagedSecret keys. ``trigger``: schedule, manual, recovery (an interrupted one resumed);
#: ``result``: success or error. For the rotation engine to increment.
ROTATIONS = Counter(
    "configmanager_rotations_total",
    "Secret rotations performed, by trigger and result",
    ["trigger", "result"],
)

#: Workload restarts requested after a Secret changed. ``kind``: Deployment, StatefulSet, DaemonSet.
WORKLOAD_RESTARTS = Counter(
    "configmanager_workload_restarts_total",
    "Workload rollouts triggered because a Secret they use changed, by workload kind",
    ["kind"],
)

#: LIST and WATCH requests of the operator's informers (``watch.informer``), apart from the reconciles' requests.
WATCH_REQUESTS = Counter(
    "configmanager_watch_requests_total", "LIST/WATCH requests of the operator's informers, by verb and resource",
    ["verb", "resource"],
)

#: Restarts of an informer's LIST after its continue token or its watch's resourceVersion expired (410 Gone).
WATCH_RELISTS = Counter(
    "configmanager_watch_relists_total", "Informer relists after 410 Gone, by resource", ["resource"],
)

#: Objects the operator currently knows, by kind (read from its watch cache at scrape time).
MANAGED_OBJECTS = Gauge(
    "configmanager_managed_objects",
    "ManagedSecrets, ConfigBundles, SecretStores and ClusterSecretStores the operator watches",
    ["kind"],
)

#: 1 while this process is the leader (always 1 without leader election), 0 on a standby.
LEADER = Gauge("configmanager_leader", "1 when this replica holds the leader lease and reconciles, else 0")

#: Times this process became leader (with leader election).
LEADER_TRANSITIONS = Counter(
    "configmanager_leader_acquisitions_total", "Times this replica acquired the leader lease",
)

#: With ``--shards``: 1 for each shard whose Lease this replica holds (and whose objects it reconciles).
SHARD_HELD = Gauge("configmanager_shard_held", "1 while this replica holds the shard's Lease and reconciles its namespaces", ["shard"])

#: Times this replica acquired a shard Lease.
SHARD_ACQUISITIONS = Counter("configmanager_shard_acquisitions_total", "Times this replica acquired a shard Lease")

#: Items waiting in the work queue (due now or later).
QUEUE_DEPTH = Gauge("configmanager_workqueue_depth", "Keys scheduled in the operator's work queue")

#: Requests to the change-event receiver, by HTTP status code (202 accepted, 401/403/413/415/400 refused, 429).
WEBHOOK_REQUESTS = Counter(
    "configmanager_webhook_requests_total", "Requests to the change-event receiver, by HTTP status code", ["code"],
)

#: Objects enqueued for a fresh read because a change event named a key they use.
WEBHOOK_REFRESHES = Counter(
    "configmanager_webhook_refreshes_total", "Objects refreshed because a change event named a key they read",
)

#: The earliest expiry among an object's values (store-reported expiry, certificates' notAfter), as a Unix
#: time. The one metric with object labels (namespace, kind, name): one series per object that has an
#: expiry, removed when it has none or is deleted. Kubernetes labels of the object are not copied.
SECRET_EXPIRY = Gauge(
    "configmanager_secret_expiry_timestamp_seconds",
    "Earliest expiry (Unix time) among the values an object synced, per object",
    ["namespace", "kind", "name"],
)

RESULTS = ("success", "error")
MANAGED_KINDS = ("ManagedSecret", "ConfigBundle", "SecretStore", "ClusterSecretStore", "PushSecret", "ClusterManagedSecret")


def record_sync(kind: str, ready: tuple[str, str, str] | None) -> None:
    """Count one reconcile pass from its Ready verdict (status, reason, message); None counts nothing."""
    if ready is None:
        return
    if ready[0] == "True":
        SYNCS.labels(kind, "success").inc()
    else:
        SYNCS.labels(kind, "error").inc()
        SYNC_ERRORS.labels(kind, ready[1]).inc()


@contextmanager
def provider_call(provider_type: str, operation: str) -> Iterator[None]:
    """Time one provider backend call; a raising call counts in ``PROVIDER_ERRORS`` too."""
    start = time.perf_counter()
    try:
        yield
    except BaseException:
        PROVIDER_ERRORS.labels(provider_type, operation).inc()
        raise
    finally:
        PROVIDER_LATENCY.labels(provider_type, operation).observe(time.perf_counter() - start)


def watch_sizes(sizes: dict[str, Callable[[], int]]) -> None:
    """Make ``MANAGED_OBJECTS{kind}`` read ``sizes[kind]()`` at every scrape."""
    for kind, size in sizes.items():
        MANAGED_OBJECTS.labels(kind).set_function(size)


def initialise() -> None:
    """Create the label children that should show 0 before the first event (so rates work from start)."""
    for kind in MANAGED_KINDS:
        for result in RESULTS:
            SYNCS.labels(kind, result)
