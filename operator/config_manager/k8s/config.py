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
    lease_duration: float = 15.0
    """Seconds a Lease that stopped being renewed stays held; the failover time after a crash."""
    lease_renew_period: float = 5.0
    """Seconds between renewals by the leader."""
    lease_retry_period: float = 2.0
    """Seconds between a standby's looks at the Lease."""
    rotation_interval_scale: float = 1.0
    """Testing only: rotation intervals are multiplied by this (the CRD admits no interval under 1m)."""
