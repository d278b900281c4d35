"""The Kubernetes operator: kopf watches feed in-memory caches, a bounded work queue runs reconciles.

Why this shape (see also DESIGN.md, "Known costs and traps"):

- kopf is used for what it is good at — watch streams, per-object event ordering, pre-populated indices,
  peering, health probes — but not for change detection: its create/update handlers would PATCH
  last-handled-configuration and progress annotations on every object (copying spec fields into an
  annotation) and daemons/timers would add a finalizer and one task per object. Our handlers are
  ``on.event`` + ``index`` only, so kopf itself never writes to our objects.
- Reconciles run on a small thread pool fed by one delayed work queue (jittered refreshes, per-store
  backoff, dedupe), so API concurrency is bounded by the pool size and every request is counted.

Modules, by job: ``names`` (API groups, labels, annotations), ``durations``, ``hashing``, ``spec``
(typed, validated specs), ``isolation`` (who may use which store), ``template``, ``conditions`` and
``status`` (status building and diffing), ``backoff``, ``kubeapi`` (the counted API client),
``kubestorage`` (BlobStorage over a Secret/ConfigMap), ``stores`` (store → provider),
``providercache`` (per-store providers, single-flight read cache), ``cache`` (watch-fed state),
``workqueue``, ``writer`` (Secrets/ConfigMaps), ``events``, ``managedsecret``, ``configbundle``,
``secretstore``, ``usage`` (which workloads reference a Secret), ``handlers`` (kopf registrations),
``settings`` and ``__main__``.
"""
