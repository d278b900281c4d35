"""Change-driven refresh: an authenticated HTTP receiver that force-syncs the objects using a changed key.

Polling costs provider calls and delays rotation; a store that can say "this key changed" lets the
operator re-read exactly that key for exactly the objects that reference it. The package is split by
job: ``auth`` (bearer token / HMAC-SHA256, constant-time), ``schemas`` (Azure Event Grid and the generic
``{store, key}`` body, parsed into ``Change`` signals), ``targets`` (signal -> the ManagedSecrets and
ConfigBundles referencing that store + key), ``limits`` (rate limit and per-key coalescing) and
``server`` (the aiohttp application on its own port, optional TLS). docs/change-signals.md explains how
each provider gets its signals.
"""
