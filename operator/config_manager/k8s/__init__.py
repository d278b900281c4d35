"""The Kubernetes operator: kopf watches feed in-memory caches, a bounded work queue runs reconciles.

The folders are the pipeline (docs/architecture.md draws it): ``watch`` (kopf registrations, the pure
triggers, the cache, the work queue) → ``reconcile`` (one reconciler per kind on one skeleton, the only
status writer) → ``stores`` (store reference → provider, through one binding per provider type, and
the shared read cache) and ``write`` (Secrets and ConfigMaps) → ``api`` (the counted client, the names
of everything). ``spec`` types what our objects ask for; ``rotation`` is the rotation engine the two
syncing reconcilers call in to. ``app`` holds the one ``Operator`` object, ``config`` the only
defaults, ``logs`` the redacting log setup, ``metrics`` every metric, ``context`` what a reconcile needs.

Why this shape (see also DESIGN.md, "Known costs and traps"):

- kopf is used for what it is good at — watch streams, per-object event ordering, pre-populated indices,
  health probes — but not for change detection: its create/update handlers would PATCH
  last-handled-configuration and progress annotations on every object (copying spec fields into an
  annotation) and daemons/timers would add a finalizer and one task per object. Our handlers are
  ``on.event`` + ``index`` only, so kopf itself never writes to our objects.
- Reconciles run on a small thread pool fed by one delayed work queue (jittered refreshes, per-store
  backoff, dedupe), so API concurrency is bounded by the pool size and every request is counted.
"""
