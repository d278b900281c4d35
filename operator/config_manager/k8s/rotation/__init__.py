"""Rotation of ManagedSecret and ConfigBundle values in the cluster: triggers, crash-safe intent, write-back, restarts.

Why a package of its own: the ManagedSecret reconcile (``..reconcile.managedsecret``) syncs store -> Secret; rotation
adds a step *before* that sync (make new values and write them back to the store, so the store stays the
source of truth) and steps *after* it (status, debounced restarts of the workloads that use the rotated
keys, Events, an HTTP notification). The reconcile calls in through ``engine`` at two clearly marked
places; everything else lives here:

- ``subjects``: the small per-kind adapter (which names rotate, their store, the output Secret, the
  Secret keys a rotation changes); the ConfigBundle reconcile calls in at the same two places;
- ``..spec.rotation``: the typed ``spec.rotation`` (generators come from the library's ``secrets.generators`` and the
  cadence from ``secrets.rotation.Cadence``: one engine for the library and the operator);
- ``plan``: pure decisions (which trigger fires, the intent record, recovery, history, debounce);
- ``restarts``: which keys each workload uses, the per-key hash, the pod-template annotation patch;
- ``notify``: the signed HTTP notification (names and versions, never values);
- ``faults``: named crash points for the crash-safety tests;
- ``..watch.triggers``: the pure decisions (called by the kopf watches) that turn the ``configmanager.io/rotate`` annotation and due times into
  work-queue entries.
"""
