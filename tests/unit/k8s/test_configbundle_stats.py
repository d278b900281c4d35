"""``--stats-flush`` for ConfigBundles: statistics alone are written once the flush period has passed.

Found by issue 17: the bundle's reconcile never applied the flush (status.VOLATILE_FIELDS knew only the
ManagedSecret's ``access``), so ``status.stats.providerReads`` stayed at its first value for ever.
"""

from __future__ import annotations

from config_manager.k8s.reconcile import configbundle

from .kit import NS, Kit

BUNDLE = {"sources": [{"inline": {"app": {"name": "demo"}}}], "storeRef": {"name": "local"},
          "secrets": [{"path": "db.password", "remoteRef": {"key": "db/password"}}]}


def test_reads_alone_are_flushed_once_the_period_has_passed() -> None:
    kit = Kit({"db/password": "s3cret"}, stats_flush=0.0)
    kit.add("ConfigBundle", "cb", BUNDLE)
    configbundle.reconcile(kit.ctx, NS, "cb")
    assert kit.status("ConfigBundle", "cb")["stats"]["providerReads"] == 1
    kit.sync_cache()
    configbundle.reconcile(kit.ctx, NS, "cb")  # the read cache has expired (ttl 0): a second provider read
    assert kit.status("ConfigBundle", "cb")["stats"]["providerReads"] == 2


def test_reads_alone_are_not_written_within_the_period() -> None:
    kit = Kit({"db/password": "s3cret"}, stats_flush=3600.0)
    kit.add("ConfigBundle", "cb", BUNDLE)
    configbundle.reconcile(kit.ctx, NS, "cb")
    kit.sync_cache()
    before = kit.writes()
    configbundle.reconcile(kit.ctx, NS, "cb")
    assert kit.writes() == before  # nothing changed but a counter: no write
    assert kit.status("ConfigBundle", "cb")["stats"]["providerReads"] == 1
