"""The operator's tunables and their defaults: the only place a default value is written.

Command-line flags (``__main__``) map onto ``OperatorConfig`` and take their defaults from it; kopf's
own settings are applied from it by ``watch.kopf_settings``.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class OperatorConfig:
    """Tunables of the operator (command-line flags map onto these)."""

    namespaces: list[str] = field(default_factory=list)
    """Namespaces to serve; empty means cluster-wide."""
    workers: int = 8
    """Reconcile threads; also the bound on concurrent API requests made by reconciles."""
    read_cache_ttl: float = 30.0
    """Seconds a provider answer is shared by every object asking for the same remote key."""
    max_find_results: int = 500
    """Most keys one ManagedSecret ``dataFrom[].find`` may select; more is refused naming the field."""
    backoff_base: float = 2.0
    """First retry delay after a store failure (doubles per failure)."""
    backoff_cap: float = 300.0
    """Longest retry delay after store failures."""
    refresh_jitter: float = 0.1
    """Each refresh is delayed by a random fraction (0..jitter) of the interval."""
    startup_spread: float = 10.0
    """Reconciles due at start-up are spread over this many seconds."""
    stats_flush: float = 900.0
    """Access statistics alone are written to status at most this often."""
    track_workloads: bool = True
    """Watch Pods/Deployments/StatefulSets/DaemonSets to report which workloads use each Secret."""
    event_window: float = 600.0
    """Identical Events for one object are posted at most once per window."""
    leader_election: bool = False
    """Reconcile only while holding the leader Lease (replicas > 1); off: this process always leads."""
    leader_election_namespace: str = ""
    """Namespace of the Lease (empty: the pod's namespace, see ``leader.default_namespace``)."""
    leader_election_id: str = "config-manager"
    """Name of the Lease; replicas of one installation share it, separate installations must not."""
    shards: int = 1
    """Shards the namespaces are split into across replicas, each held through its own Lease
    (``api.shardleases``); 1: no sharding (one leader, or standalone)."""
    lease_duration: float = 15.0
    """Seconds a Lease that stopped being renewed stays held; the failover time after a crash."""
    lease_renew_period: float = 5.0
    """Seconds between renewals by the leader."""
    lease_retry_period: float = 2.0
    """Seconds between a standby's looks at the Lease."""
    rotation_interval_scale: float = 1.0
    """Testing only: rotation intervals are multiplied by this (the CRD admits no interval under 1m)."""
    expiry_warning: float = 7 * 86400.0
    """Seconds before a value's expiry (store-reported or a certificate's notAfter) that the Warning Event
    ``SecretNearExpiry`` is posted (once per expiry)."""
    webhook_address: str = ""
    """``host:port`` of the change-event receiver (``webhook``); empty: no receiver."""
    webhook_token_file: str = ""
    """File holding the bearer token senders present (mounted from a Secret; re-read when it changes)."""
    webhook_hmac_key_file: str = ""
    """File holding the HMAC-SHA256 key for ``X-Signature-256`` (mounted from a Secret)."""
    webhook_tls_cert_file: str = ""
    """PEM certificate (chain) of the receiver; empty: plain HTTP (behind a TLS-terminating Ingress)."""
    webhook_tls_key_file: str = ""
    """PEM private key of the receiver's certificate."""
    webhook_max_body: int = 65536
    """Largest request body in bytes (413 beyond)."""
    webhook_rate: float = 20.0
    """Authenticated requests per second admitted on average (429 beyond)."""
    webhook_burst: float = 40.0
    """Authenticated requests admitted at once before the rate applies."""
    webhook_coalesce: float = 0.5
    """Seconds a change signal waits for repeats of itself before its objects are refreshed once."""
