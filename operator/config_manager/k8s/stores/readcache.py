"""One provider per store, one provider read per distinct remote key per window, backoff per store.

- Providers are built once per store *fingerprint* (store + credential resourceVersions) and reused. A
  provider replaced by a newer one (or forgotten) while a reconcile pass still uses it (``held``) is
  closed when the last such pass ends, not under its read in flight.
- Reads are single-flight: when 300 ManagedSecrets ask for the same remote key at once, one thread calls
  the provider and the others wait for its answer, so a burst (operator start, a store change) costs one
  read per distinct key.
- An answer is shared for the asker's refresh interval (``interval``; ``ttl`` when it has none or a
  shorter one): objects refreshing every minute on the same key cost one provider read per minute in
  all, without tuning, and no object is handed an answer older than its own interval. A store change
  (fingerprint, ``forget_store``) drops the store's answers; a force-sync reads afresh.
- ``find`` (listing with a filter) goes through the same single flight and window as a read.
- Failures are not cached; they feed a per-store ``Backoff``, and while a store is backing off, reads
  fail fast with the last error instead of calling the backend again.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from ...errors import ConfigurationError, ProviderUnavailableError, SecretNotFoundError, SecretsError
from ...providers import FindCriteria, SecretProvider, SecretValue
from .. import metrics
from ..spec.managedsecret import RemoteRef
from .backoff import Backoff

log = logging.getLogger(__name__)


@dataclass
class _Flight:
    done: threading.Event
    value: SecretValue | None = None
    error: BaseException | None = None
    fetched: float = 0.0


def _close(provider: SecretProvider | None) -> None:
    if provider is not None:
        try:
            provider.close()
        except Exception:  # noqa: BLE001 - closing an old client must not fail a sync
            pass


class ProviderCache:
    """Thread-safe cache of providers and of recent reads."""

    def __init__(self, ttl: float = 30.0, backoff: Backoff | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self._clock = clock  # monotonic seconds: answers expire ``ttl`` after they arrived
        self.backoff = backoff or Backoff()
        self._providers: dict[str, tuple[str, SecretProvider]] = {}
        self._flights: dict[tuple[str, str, str | None], _Flight] = {}
        self._last_error: dict[str, BaseException] = {}
        self._lock = threading.Lock()
        self._local = threading.local()  # ``held``: the providers the current pass on this thread was handed
        self._leases: dict[int, int] = {}  # id(provider) -> passes holding it
        self._retired: dict[int, SecretProvider] = {}  # replaced while held: closed when the last pass ends
        self.reads = 0  # provider calls made (cache hits and waiters excluded)

    # -- providers ------------------------------------------------------------------------------------

    def provider(self, store_key: str, fingerprint: str, build: Callable[[], SecretProvider],
                 built: Callable[[], str] | None = None) -> SecretProvider:
        """The provider for ``store_key``; rebuilt (and the store's cached reads dropped) when the fingerprint
        changes. ``built()``, called after ``build()``, is the fingerprint of what it was built from (default:
        ``fingerprint``). Inside ``held()`` the provider returned stays open until that pass ends."""
        with self._lock:
            current = self._providers.get(store_key)
            if current is not None and current[0] == fingerprint:
                return self._lease(current[1])
        provider = build()  # outside the lock: may do API calls
        if built is not None:
            fingerprint = built()
        with self._lock:
            old = self._providers.get(store_key)
            self._providers[store_key] = (fingerprint, provider)
            self._drop_reads(store_key)
            self._lease(provider)
            doomed = self._retire(old[1]) if old is not None and old[1] is not provider else None
        _close(doomed)
        return provider

    def forget_store(self, store_key: str) -> None:
        """Drop the provider and cached reads of a deleted or changed store (closed once no pass holds it)."""
        with self._lock:
            old = self._providers.pop(store_key, None)
            self._drop_reads(store_key)
            self._last_error.pop(store_key, None)
            doomed = self._retire(old[1]) if old is not None else None
        self.backoff.success(store_key)
        _close(doomed)

    @contextmanager
    def held(self) -> Iterator[None]:
        """One reconcile pass on this thread: every provider it is handed stays open until the pass ends,
        even when a newer one replaces it meanwhile (a credential cached or changed, the store edited) —
        closing it under a read in flight fails that read with whatever the closed client raises."""
        if getattr(self._local, "held", None) is not None:
            yield  # nested: the outer pass releases
            return
        held: list[SecretProvider] = []
        self._local.held = held
        try:
            yield
        finally:
            self._local.held = None
            doomed = []
            with self._lock:
                for provider in held:
                    count = self._leases.pop(id(provider)) - 1
                    if count:
                        self._leases[id(provider)] = count
                    elif self._retired.pop(id(provider), None) is not None:
                        doomed.append(provider)
            for provider in doomed:
                _close(provider)

    def _lease(self, provider: SecretProvider) -> SecretProvider:
        """Under the lock: count a use of ``provider`` by the current pass, if any."""
        held: list[SecretProvider] | None = getattr(self._local, "held", None)
        if held is not None:
            held.append(provider)
            self._leases[id(provider)] = self._leases.get(id(provider), 0) + 1
        return provider

    def _retire(self, provider: SecretProvider) -> SecretProvider | None:
        """Under the lock: a provider no longer handed out; returned to be closed now unless a pass holds it."""
        if self._leases.get(id(provider)):
            self._retired[id(provider)] = provider  # closed by the last pass that holds it
            return None
        return provider

    def invalidate(self, store_key: str) -> None:
        """Forget cached reads of a store (e.g. after a forced sync) but keep its provider."""
        with self._lock:
            self._drop_reads(store_key)

    def invalidate_key(self, store_key: str, remote_key: str) -> int:
        """Forget the cached answers for one remote key of a store (every version), so the next read goes
        to the backend: the store said the key changed (``webhook``). A read in flight is dropped too —
        it may have started before the change; its waiters still get its answer, later readers do not.
        Returns how many answers were dropped."""
        with self._lock:
            # the key's own answers, and the store's find listings (a new key may now be selected)
            keys = [k for k in self._flights if k[0] == store_key and k[1] in (remote_key, "\x00find")]
            for key in keys:
                del self._flights[key]
            return len(keys)

    def _drop_reads(self, store_key: str) -> None:
        for key in [k for k in self._flights if k[0] == store_key]:
            if self._flights[key].done.is_set():
                del self._flights[key]

    # -- reads ----------------------------------------------------------------------------------------

    def read(self, store_key: str, provider: SecretProvider, ref: RemoteRef, *, fresh: bool = False,
             interval: float = 0.0) -> tuple[SecretValue, bool]:
        """The secret at ``ref`` and whether this call made a provider read (False: cache or shared flight).

        ``fresh`` ignores a cached answer (but still joins a read in flight); ``interval`` is the asker's
        refresh interval: an answer younger than ``max(ttl, interval)`` is shared.
        """
        return self._through(store_key, (store_key, ref.key, ref.version), provider.provider_type, "get",
                             lambda: provider.get(ref.key, ref.version), fresh=fresh, max_age=max(self.ttl, interval))

    def find(self, store_key: str, provider: SecretProvider, criteria: FindCriteria, *,
             fresh: bool = False, interval: float = 0.0) -> tuple[list[str], bool]:
        """The keys ``criteria`` selects (``provider.find``), single-flight and shared like reads."""
        ident = json.dumps([criteria.name_regexp, sorted(criteria.tags.items()), criteria.path, criteria.limit])
        answer, fetched = self._through(
            store_key, (store_key, "\x00find", ident), provider.provider_type, "find",
            lambda: SecretValue(key="find", value=tuple(provider.find(criteria))), fresh=fresh,
            max_age=max(self.ttl, interval))
        return list(answer.value), fetched

    def _through(self, store_key: str, key: tuple[str, str, str | None], provider_type: str, operation: str,
                 call: Callable[[], SecretValue], *, fresh: bool, max_age: float) -> tuple[SecretValue, bool]:
        waiting = self.backoff.remaining(store_key)
        if waiting > 0:
            last = self._last_error.get(store_key)
            raise ProviderUnavailableError(
                f"store backing off for {waiting:.0f}s after: {last}" if last else f"store backing off for {waiting:.0f}s"
            )
        now = self._clock()
        with self._lock:
            flight = self._flights.get(key)
            leader = False
            if flight is None or (flight.done.is_set() and (fresh or now - flight.fetched >= max_age or flight.error is not None)):
                flight = _Flight(done=threading.Event())
                self._flights[key] = flight
                leader = True
        if not leader:
            flight.done.wait()
            if flight.error is not None:
                raise flight.error
            assert flight.value is not None
            return flight.value, False
        try:
            with metrics.provider_call(provider_type, operation):
                value = call()
        except (SecretNotFoundError, ConfigurationError) as exc:
            # a missing key, or a key/version the provider refuses to send ("../x", "/abs"), is an answer
            # about this reference, not a store failure: no store-wide backoff for the other objects
            flight.error = exc
            flight.done.set()
            raise
        except SecretsError as exc:
            flight.error = exc
            self._last_error[store_key] = exc
            self.backoff.failure(store_key)
            flight.done.set()
            raise
        except Exception as exc:  # a provider bug must not hang the waiters
            # the type and where it was raised, never its message or locals (they may hold a value)
            log.debug("%s: %s of %s raised %s at:\n%s", store_key, operation, provider_type, type(exc).__name__,
                      "".join(traceback.format_list(traceback.extract_tb(exc.__traceback__))))
            flight.error = ProviderUnavailableError(f"provider failed: {type(exc).__name__}")
            self._last_error[store_key] = flight.error
            self.backoff.failure(store_key)
            flight.done.set()
            raise flight.error from exc
        with self._lock:
            self.reads += 1
        self.backoff.success(store_key)
        self._last_error.pop(store_key, None)
        flight.value = value
        flight.fetched = self._clock()
        flight.done.set()
        return value, True
