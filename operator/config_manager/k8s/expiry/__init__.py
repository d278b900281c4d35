"""Expiry in the open: the earliest expiry of what an object synced, in its status, a gauge and an Event.

Any reconciler that knows when its values stop working (a store's expiry attribute, a certificate's
notAfter, a lease's TTL) calls ``tracker.observe`` once per pass with the earliest one; ``certs`` finds
certificates in PEM values. Nothing here reads or writes the API: the caller merges the status fields
and posts the Event the verdict carries.
"""

from .certs import certificate_expiry
from .tracker import Expiry, ExpiryVerdict, apply, earliest, forget, from_status, gauge_from_status, observe

__all__ = ["Expiry", "ExpiryVerdict", "apply", "certificate_expiry", "earliest", "forget", "from_status", "gauge_from_status", "observe"]
