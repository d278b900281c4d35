"""From watch events to work: kopf registrations (``handlers``), the pure decisions of what to enqueue
(``triggers``), the watch-fed cache (``cache``) and workload index (``usage``), the delayed work queue
(``workqueue``), and how kopf itself is configured (``kopf_settings``)."""
