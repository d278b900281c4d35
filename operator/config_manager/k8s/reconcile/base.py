"""What every reconcile shares: the two failure types, the one error mapping, refresh jitter.

A pass loads the object from the cache, parses its spec, does its work and finishes by writing status
(``status.write_status``) and posting an Event. How it fails says by its type what happens next, as in
kopf: ``TemporaryError`` — retried after ``delay`` seconds (None: at the next refresh); ``PermanentError``
— the spec must change first, not retried. ``failure_verdict`` is the one place that turns an exception
of a pass into its Ready condition, its Event and its next delay; ``provider_errors`` is the one place
that turns a provider's errors (ours, from ``config_manager.errors``) into those two types.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from ...errors import ConfigManagerError, ConfigurationError, SecretNotFoundError, SecretsError
from ..spec.managedsecret import InvalidSpecError
from ..stores.credentials import StoreNotReadyError
from ..stores.isolation import IsolationError
from ..write.values import ValueShapeError
from ..write.writer import WriteError

Ready = tuple[str, str, str]  # (status, reason, message) of the Ready condition
Event = tuple[str, str, str]  # (type, reason, message)


class TemporaryError(Exception):
    """A pass that failed for a reason that may go away; maps to the Ready condition, value-free message."""

    def __init__(self, reason: str, message: str, delay: float | None = None) -> None:
        self.reason = reason
        self.delay = delay
        super().__init__(message)


class PermanentError(Exception):
    """A pass that cannot succeed until the spec changes (reason InvalidSpec); not retried."""

    def __init__(self, reason: str, message: str) -> None:
        self.reason = reason
        super().__init__(message)


@dataclass(frozen=True)
class Verdict:
    """How a pass ended: its Ready condition, the Event to post, and when to run again (None: on events)."""

    ready: Ready
    event: Event | None
    delay: float | None


def failure_verdict(exc: BaseException, *, refresh: float | None, write_reason: str = "WriteFailed",
                    write_delay: float = 5.0) -> Verdict:
    """The verdict of a pass that raised ``exc`` (``refresh``: the delay a healthy pass would return)."""
    if isinstance(exc, TemporaryError):
        return Verdict(("False", exc.reason, str(exc)), ("Warning", "SyncFailed", f"{exc.reason}: {exc}"),
                       refresh if exc.delay is None else exc.delay)
    if isinstance(exc, (PermanentError, InvalidSpecError)):
        reason = exc.reason if isinstance(exc, PermanentError) else "InvalidSpec"
        return Verdict(("False", reason, str(exc)), ("Warning", reason, str(exc)), None)
    if isinstance(exc, (WriteError, ConfigManagerError)):
        event_reason = "SyncFailed"
        return Verdict(("False", write_reason, str(exc)), ("Warning", event_reason, str(exc)), write_delay)
    raise exc


#: The exceptions ``failure_verdict`` maps (anything else is a bug and propagates to the work queue).
FAILURES = (TemporaryError, PermanentError, InvalidSpecError, WriteError, ConfigManagerError)


@contextmanager
def store_errors(where: str, *, delay: float | None, secrets_prefix: str | None = None) -> Iterator[None]:
    """Resolving a store or building its provider: StoreNotReady, retried after ``delay``. With
    ``secrets_prefix``, a provider that fails to start (SecretsError) is StoreNotReady too."""
    try:
        yield
    except (StoreNotReadyError, IsolationError) as exc:
        raise TemporaryError("StoreNotReady", f"{where}{exc}", delay) from None
    except SecretsError as exc:
        if secrets_prefix is None:
            raise
        raise TemporaryError("StoreNotReady", f"{secrets_prefix}{exc}", delay) from None


@contextmanager
def provider_errors(where: str, *, retry: Callable[[], float], not_found: Callable[[], float] | None = None,
                    refused: Callable[[str], Exception]) -> Iterator[None]:
    """Reading from a provider: ProviderError, retried after ``retry()`` (``not_found()`` for a missing key);
    a reference the provider refuses (path traversal, bad version) becomes ``refused(message)``."""
    try:
        yield
    except (SecretNotFoundError, ValueShapeError) as exc:
        raise TemporaryError("ProviderError", f"{where}{exc}", (not_found or retry)()) from None
    except SecretsError as exc:
        raise TemporaryError("ProviderError", f"{where}{exc}", retry()) from None
    except ConfigurationError as exc:
        raise refused(f"{where}{exc}") from None


def jittered(interval: float, jitter: float, uniform: Callable[[float, float], float] = random.uniform) -> float:
    """``interval`` plus a random 0..jitter fraction of it, so refreshes spread out."""
    return interval * (1.0 + uniform(0.0, jitter)) if interval > 0 else interval
