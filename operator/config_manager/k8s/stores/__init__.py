"""From a store reference to a provider: resolution against the cache (``resolve``), the isolation rules
(``isolation``), credentials (``credentials``), one binding per provider type (``bindings``), the
single-flight read cache (``readcache``) with per-store ``backoff``, and the local store's blob in a
Secret (``kubestorage``)."""
