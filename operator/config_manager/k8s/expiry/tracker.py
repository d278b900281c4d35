"""One decision per pass: what status says about expiry, the gauge, and whether to warn.

``observe(namespace, kind, name, expiry, previous=status, lead=seconds)`` for the earliest expiry of an
object (or None):

- status: ``expiresAt`` (RFC 3339) and ``expiry`` {``key``, ``source``, ``warned``} — the key name and
  where the date came from, never a value; unchanged fields, so an idle pass writes nothing;
- the gauge ``configmanager_secret_expiry_timestamp_seconds{namespace,kind,name}`` (removed without expiry);
- a Warning Event ``SecretNearExpiry`` once per expiry date, when it is within ``lead`` seconds (or past);
  ``expiry.warned`` in status remembers it across operator restarts;
- ``wake_in``: seconds until the warning falls due, so the caller can come back for it (no timer here).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from .. import metrics
from ..api.conditions import parse_iso

REASON = "SecretNearExpiry"


@dataclass(frozen=True)
class Expiry:
    """When a value stops working: ``at`` (UTC), the ``key`` it belongs to, and its ``source``
    (``store``: the store's expiry attribute; ``certificate``: a certificate's notAfter; ``lease``)."""

    at: datetime
    key: str = ""
    source: str = "store"


@dataclass(frozen=True)
class ExpiryVerdict:
    fields: dict[str, Any]  # status fields to set; a None value means "remove the field"
    event: tuple[str, str, str] | None  # (type, reason, message) to post, or None
    wake_in: float | None  # seconds until the warning is due, or None


def earliest(found: Iterable[Expiry | None]) -> Expiry | None:
    """The soonest of ``found`` (None entries skipped)."""
    items = [e for e in found if e is not None]
    return min(items, key=lambda e: e.at) if items else None


def _iso(at: datetime) -> str:
    return at.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _in(seconds: float) -> str:
    seconds = int(seconds)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    return f"{days}d{hours}h" if days else f"{hours}h{rest // 60}m"


def observe(namespace: str, kind: str, name: str, expiry: Expiry | datetime | None, *,
            previous: Mapping[str, Any] | None = None, lead: float = 7 * 86400.0,
            now: datetime | None = None) -> ExpiryVerdict:
    """Set the gauge and decide status and the Warning Event for an object's earliest expiry."""
    if expiry is None:
        forget(namespace, kind, name)
        return ExpiryVerdict({"expiresAt": None, "expiry": None}, None, None)
    if isinstance(expiry, datetime):
        expiry = Expiry(expiry)
    at = expiry.at if expiry.at.tzinfo else expiry.at.replace(tzinfo=timezone.utc)
    _set_series(namespace, kind, name, at.timestamp())
    iso = _iso(at)
    prev = previous or {}
    warned = bool(prev.get("expiresAt") == iso and (prev.get("expiry") or {}).get("warned"))
    remaining = (at - (now or datetime.now(timezone.utc))).total_seconds()
    event = None
    wake_in = None
    if remaining <= lead and not warned:
        what = f"key {expiry.key!r} ({expiry.source})" if expiry.key else f"a value ({expiry.source})"
        when = f"expired at {iso}" if remaining <= 0 else f"expires at {iso} (in {_in(remaining)})"
        event = ("Warning", REASON, f"{what} {when}")
        warned = True
    elif not warned:
        wake_in = remaining - lead
    return ExpiryVerdict({"expiresAt": iso, "expiry": {"key": expiry.key, "source": expiry.source, "warned": warned}},
                         event, wake_in)


def from_status(status: Mapping[str, Any]) -> Expiry | None:
    """The expiry a previous pass recorded in status (for passes that read no values)."""
    text = status.get("expiresAt")
    if not text:
        return None
    try:
        at = parse_iso(str(text))
    except ValueError:
        return None
    info = status.get("expiry") or {}
    return Expiry(at, str(info.get("key") or ""), str(info.get("source") or "store"))


def gauge_from_status(namespace: str, kind: str, name: str, status: Mapping[str, Any] | None) -> None:
    """Keep the gauge in step with what status says (a watch event): after an operator restart the series
    is back at once, not only at each object's next pass. Posts nothing."""
    found = from_status(status or {})
    if found is None:
        forget(namespace, kind, name)
    else:
        _set_series(namespace, kind, name, found.at.timestamp())


def apply(status: dict[str, Any], verdict: ExpiryVerdict) -> None:
    """Merge a verdict's fields into a desired status (removing those it clears)."""
    for key, value in verdict.fields.items():
        if value is None:
            status.pop(key, None)
        else:
            status[key] = value


#: The objects that have a gauge series: ``forget`` of one without (most objects, on every watch event)
#: costs a set lookup instead of the client's locked ``remove`` and its KeyError (3% of a burst's CPU).
_SERIES: set[tuple[str, str, str]] = set()
_SERIES_LOCK = threading.Lock()  # reconcile threads and the watch handlers set and forget concurrently


def _set_series(namespace: str, kind: str, name: str, timestamp: float) -> None:
    with _SERIES_LOCK:
        metrics.SECRET_EXPIRY.labels(namespace, kind, name).set(timestamp)
        _SERIES.add((namespace, kind, name))


def forget(namespace: str, kind: str, name: str) -> None:
    """Drop the object's gauge series (no expiry any more, or the object is gone)."""
    key = (namespace, kind, name)
    if key not in _SERIES:
        return
    with _SERIES_LOCK:
        if key in _SERIES:
            _SERIES.discard(key)
            metrics.SECRET_EXPIRY.remove(namespace, kind, name)
