"""``SecretsManager``: named providers behind one API, with caching, access tracking, rotation and audit.

This is the seed's ``SecretsManager``. It composes the small parts of this package: a TTL cache
(``cache``), read statistics (``stats``), a bounded audit trail (``audit``), the rotation schedule
(``rotation``) and a ``SecretRedactor`` that learns every value it hands out, so logs and displayed
configuration can mask them. Provider calls happen outside the manager's lock; its own state is guarded
by it, so one manager can be shared by threads.

Refresh callbacks ``callback(key, secret_value)`` run after a rotation (manual or scheduled) and when a
refresh of an expired cache entry finds a new version. ``revision`` goes up on every change the manager
makes or sees, so dependants (``SecretsConfigSource``) know when to reload.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from ..errors import (
    ConfigManagerError,
    ConfigurationError,
    SecretNotFoundError,
    SecretsError,
    UnsupportedOperationError,
)
from ..masking import SecretRedactor, default_redactor
from ..providers.base import SecretProvider, SecretValue, utcnow
from .audit import AuditEvent, AuditTrail
from .cache import SecretCache
from .rotation import RotationJob, RotationSchedule
from .stats import AccessTracker

log = logging.getLogger(__name__)

RefreshCallback = Callable[[str, SecretValue], Any]
MetadataArg = Mapping[str, Any] | None

DEFAULT_PROVIDER = "default"


def _error_name(exc: BaseException) -> str:
    return type(exc).__name__


class SecretsManager:
    """Secrets from one default provider and any number of named ones.

    ``SecretsManager(provider)`` registers ``provider`` as the default under the name ``"default"``.
    ``cache_ttl`` seconds of caching (0 turns the cache off), ``audit_size`` events kept.
    ``redactor`` learns every value handed out or stored (default: the process-wide
    ``masking.default_redactor()`` that ``SecretMaskingFilter`` reads).
    ``clock`` (wall time, UTC) and ``monotonic`` are injectable for tests.
    """

    def __init__(
        self,
        provider: SecretProvider | None = None,
        *,
        cache_ttl: float = 300.0,
        audit_size: int = 1000,
        redactor: SecretRedactor | None = None,
        clock: Callable[[], datetime] = utcnow,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._providers: dict[str, SecretProvider] = {}
        self._default: str | None = None
        self._lock = threading.RLock()
        self._cache = SecretCache(ttl=cache_ttl, clock=monotonic)
        self._tracker = AccessTracker()
        self._audit = AuditTrail(audit_size)
        self._schedule = RotationSchedule()
        self._callbacks: list[RefreshCallback] = []
        self._clock = clock
        self._revision = 0
        self.redactor = redactor if redactor is not None else default_redactor()
        if provider is not None:
            self.add_provider(DEFAULT_PROVIDER, provider, default=True)

    def __repr__(self) -> str:
        return f"SecretsManager(providers={list(self._providers)!r}, default={self._default!r})"

    # -- providers ---------------------------------------------------------------------------------

    def add_provider(self, name: str, provider: SecretProvider, *, default: bool = False) -> None:
        """Register ``provider`` as ``name``. The first provider added becomes the default."""
        if not name:
            raise ConfigurationError("provider name must be a non-empty string")
        if not isinstance(provider, SecretProvider):
            raise ConfigurationError(f"provider '{name}' must be a SecretProvider, got {type(provider).__name__}")
        with self._lock:
            self._providers[name] = provider
            self._cache.clear(name)
            if default or self._default is None:
                self._default = name

    @property
    def default_provider_name(self) -> str | None:
        return self._default

    @property
    def provider_names(self) -> list[str]:
        return list(self._providers)

    def provider(self, provider_name: str | None = None) -> SecretProvider:
        return self._resolve(provider_name)[1]

    def _resolve(self, provider_name: str | None) -> tuple[str, SecretProvider]:
        name = provider_name if provider_name is not None else self._default
        if name is None:
            raise ConfigurationError("no secrets provider configured: pass one to SecretsManager or add_provider()")
        provider = self._providers.get(name)
        if provider is None:
            raise ConfigurationError(f"unknown secrets provider '{name}'; known: {', '.join(self._providers) or 'none'}")
        return name, provider

    @property
    def cache_ttl(self) -> float:
        """Seconds a read value is served from the cache."""
        return self._cache.ttl

    @property
    def revision(self) -> int:
        """Goes up on every change made or observed; compare to know whether to reload."""
        return self._revision

    def _changed(self) -> None:
        with self._lock:
            self._revision += 1

    def _audit_event(self, action: str, key: str, provider: str, outcome: str, detail: str = "") -> None:
        self._audit.record(AuditEvent(self._clock(), action, key, provider, outcome, detail))

    # -- reading -----------------------------------------------------------------------------------

    def get_secret(self, key: str, provider_name: str | None = None, *, version: str | None = None) -> SecretValue | None:
        """The secret, or None when it does not exist. Cached for ``cache_ttl`` seconds.

        When a cached value has expired and the provider is unavailable, the last value is returned
        (and logged as stale) instead of failing; with nothing cached the error is raised.
        """
        name, provider = self._resolve(provider_name)
        cache_key = (name, key)
        cached: SecretValue | None = None
        if version is None:
            with self._lock:
                cached, fresh = self._cache.lookup(cache_key)
            if cached is not None and fresh:
                return self._handed_out(name, key, cached, "cache")
        try:
            secret = provider.get(key, version)
        except SecretNotFoundError:
            with self._lock:
                if version is None:
                    self._cache.invalidate(cache_key)
            self._audit_event("read", key, name, "not_found", f"version {version}" if version else "")
            return None
        except SecretsError as exc:  # unavailable, refused, undecryptable: keep the last good value
            if cached is None:
                self._audit_event("read", key, name, "error", _error_name(exc))
                raise
            log.warning("provider '%s' failed (%s) refreshing secret '%s'; serving the cached value",
                        name, _error_name(exc), key)
            self._tracker.count("stale_reads")
            self._audit_event("read", key, name, "stale", _error_name(exc))
            return self._handed_out(name, key, cached, "stale", audit=False)
        if version is None:
            with self._lock:
                self._cache.put(cache_key, secret)
            if cached is not None and self._is_new(cached, secret):
                self._changed()
                self._notify(key, secret)
        return self._handed_out(name, key, secret, "provider")

    @staticmethod
    def _is_new(old: SecretValue, new: SecretValue) -> bool:
        if old.version is not None and new.version is not None:
            return old.version != new.version
        return old.fingerprint() != new.fingerprint()

    def _handed_out(self, provider: str, key: str, secret: SecretValue, source: str, *, audit: bool = True) -> SecretValue:
        self.redactor.add(secret.value)
        self._tracker.record_read(provider, key, self._clock())
        if audit:
            detail = f"{source}, version {secret.version}" if secret.version else source
            self._audit_event("read", key, provider, "ok", detail)
        return secret

    # -- writing -----------------------------------------------------------------------------------

    @staticmethod
    def _split_args(provider_name: str | MetadataArg, metadata: MetadataArg) -> tuple[str | None, MetadataArg]:
        # The seed calls set_secret(key, value, {"tier": ...}): a mapping in the provider_name position
        # is the metadata.
        if isinstance(provider_name, Mapping):
            if metadata is not None:
                raise ConfigurationError("metadata given twice")
            return None, provider_name
        return provider_name, metadata

    def set_secret(
        self,
        key: str,
        value: Any,
        provider_name: str | Mapping[str, Any] | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> None:
        """Store ``value`` under ``key`` (a new version where the provider keeps versions).

        ``metadata`` replaces the key's metadata when given; it is shown by ``get_secret_info``, so it
        must not hold secrets. ``set_secret(key, value, {"tier": "critical"})`` also works.
        """
        name_arg, meta = self._split_args(provider_name, metadata)
        name, provider = self._resolve(name_arg)
        self.redactor.add(value)
        try:
            secret = provider.set(key, value, meta)
        except ConfigManagerError as exc:
            self._audit_event("write", key, name, "error", _error_name(exc))
            raise
        with self._lock:
            self._cache.put((name, key), secret)
        self._tracker.count("writes")
        self._changed()
        self._audit_event("write", key, name, "ok", f"version {secret.version}" if secret.version else "")

    def delete_secret(self, key: str, provider_name: str | None = None) -> bool:
        """Delete ``key``; True when it existed."""
        name, provider = self._resolve(provider_name)
        try:
            deleted = provider.delete(key)
        except ConfigManagerError as exc:
            self._audit_event("delete", key, name, "error", _error_name(exc))
            raise
        with self._lock:
            self._cache.invalidate((name, key))
        if deleted:
            self._tracker.count("deletes")
            self._changed()
        self._audit_event("delete", key, name, "ok" if deleted else "not_found")
        return deleted

    def list_secrets(self, provider_name: str | None = None) -> list[str]:
        """Keys (never values) of a provider, sorted."""
        return self._resolve(provider_name)[1].list()

    def get_secret_metadata(self, key: str, provider_name: str | None = None) -> dict[str, str] | None:
        """The key's metadata, or None when the key does not exist."""
        try:
            return self._resolve(provider_name)[1].metadata(key)
        except SecretNotFoundError:
            return None

    def refresh(self, key: str | None = None, provider_name: str | None = None) -> None:
        """Drop cached values (one key, or everything) so the next read goes to the provider."""
        with self._lock:
            if key is None:
                self._cache.clear(provider_name)
            else:
                self._cache.invalidate((self._resolve(provider_name)[0], key))

    # -- rotation ----------------------------------------------------------------------------------

    def rotate_secret(self, key: str, new_value: Any, provider_name: str | None = None) -> bool:
        """Replace an existing secret's value. True on success; False (logged, audited) otherwise.

        The previous value stays available as an older version where the provider keeps versions; the
        metadata gains ``rotated_at``. Refresh callbacks run after a successful rotation.
        """
        name, _ = self._resolve(provider_name)
        return self._rotate(name, key, new_value, create=False)

    def _rotate(self, name: str, key: str, new_value: Any, *, create: bool) -> bool:
        provider = self._providers[name]
        now = self._clock()
        self.redactor.add(new_value)
        try:
            try:
                previous = provider.metadata(key)
            except SecretNotFoundError:
                if not create:
                    raise
                previous = {}
            secret = provider.set(key, new_value, {**previous, "rotated_at": now.isoformat()})
        except SecretNotFoundError:
            log.warning("cannot rotate secret '%s' in provider '%s': it does not exist", key, name)
            self._tracker.count("rotation_failures")
            self._audit_event("rotate", key, name, "not_found")
            return False
        except ConfigManagerError as exc:
            log.error("rotation of secret '%s' in provider '%s' failed: %s", key, name, _error_name(exc))
            self._tracker.count("rotation_failures")
            self._audit_event("rotate", key, name, "error", _error_name(exc))
            return False
        with self._lock:
            self._cache.put((name, key), secret)
        self._tracker.count("rotations")
        self._changed()
        self._audit_event("rotate", key, name, "ok", f"version {secret.version}" if secret.version else "")
        self._notify(key, secret)
        return True

    def schedule_rotation(
        self,
        key: str,
        interval_hours: float,
        generator_func: Callable[[], Any],
        provider_name: str | None = None,
        *,
        cron: str | None = None,
    ) -> None:
        """Rotate ``key`` every ``interval_hours`` with values from ``generator_func()``.

        With ``cron`` (5 fields, UTC) the key follows that schedule instead, and ``interval_hours``
        only caps the retry backoff. Nothing runs by itself: call ``check_rotations()`` periodically.
        A key that does not exist yet is created at the next check.
        """
        name, provider = self._resolve(provider_name)
        if not isinstance(interval_hours, (int, float)) or interval_hours <= 0:
            raise ConfigurationError(f"rotation interval for '{key}' must be a positive number of hours")
        try:
            current_since = provider.get(key).created_at
            exists = True
        except SecretNotFoundError:
            current_since, exists = None, False
        self._schedule.schedule(key, name, timedelta(hours=interval_hours), generator_func,
                                now=self._clock(), exists=exists, current_since=current_since, cron=cron)
        self._audit_event("schedule", key, name, "ok", f"cron {cron}" if cron else f"every {interval_hours} h")

    def unschedule_rotation(self, key: str, provider_name: str | None = None) -> bool:
        return self._schedule.unschedule(key, self._resolve(provider_name)[0])

    def rotation_jobs(self) -> list[RotationJob]:
        return self._schedule.jobs()

    def check_rotations(self, now: datetime | None = None) -> list[str]:
        """Run every rotation that is due at ``now`` (default: the clock). Returns the keys rotated."""
        now = now if now is not None else self._clock()
        rotated: list[str] = []
        for job in self._schedule.due(now):
            try:
                value = job.generator()
            except Exception as exc:  # noqa: BLE001 - user code: record and carry on with the other jobs
                log.error("generator for secret '%s' failed: %s", job.key, _error_name(exc))
                self._tracker.count("rotation_failures")
                self._audit_event("rotate", job.key, job.provider, "error", f"generator {_error_name(exc)}")
                self._schedule.failed(job, now, _error_name(exc))
                continue
            if job.provider in self._providers and self._rotate(job.provider, job.key, value, create=True):
                self._schedule.succeeded(job, now)
                rotated.append(job.key)
            else:
                self._schedule.failed(job, now, "RotationFailed")
        return rotated

    # -- callbacks ---------------------------------------------------------------------------------

    def add_refresh_callback(self, callback: RefreshCallback) -> None:
        """``callback(key, secret_value)`` after each rotation or refreshed new version."""
        if not callable(callback):
            raise ConfigurationError("refresh callback must be callable")
        with self._lock:
            self._callbacks.append(callback)

    def remove_refresh_callback(self, callback: RefreshCallback) -> None:
        with self._lock:
            if callback in self._callbacks:
                self._callbacks.remove(callback)

    def _notify(self, key: str, secret: SecretValue) -> None:
        with self._lock:
            callbacks = list(self._callbacks)
        for callback in callbacks:
            try:
                callback(key, secret)
            except Exception as exc:  # noqa: BLE001 - one failing listener must not stop the others
                log.error("refresh callback %s failed for secret '%s': %s",
                          getattr(callback, "__qualname__", "?"), key, _error_name(exc))

    # -- monitoring --------------------------------------------------------------------------------

    def get_secret_info(self, key: str, provider_name: str | None = None) -> dict[str, Any] | None:
        """What is known about ``key`` without its value; None when it does not exist."""
        name, provider = self._resolve(provider_name)
        try:
            metadata = provider.metadata(key)
        except SecretNotFoundError:
            return None
        try:
            versions: list[str] | None = provider.versions(key)
        except (UnsupportedOperationError, SecretNotFoundError):
            versions = None
        access = self._tracker.get(name, key)
        with self._lock:
            cached = self._cache.peek((name, key))
        job = self._schedule.get(key, name)
        return {
            "key": key,
            "provider": name,
            "accessed_count": access.count,
            "first_accessed": access.first_accessed,
            "last_accessed": access.last_accessed,
            "metadata": metadata,
            "version": versions[-1] if versions else (cached.version if cached else None),
            "versions": versions,
            "cached": cached is not None,
            "rotation": job.summary() if job else None,
        }

    def get_stats(self) -> dict[str, Any]:
        """Counts across providers, cache, accesses, rotations and audit (no values, no keys' contents)."""
        default_count: int | None = 0
        if self._default is not None:
            try:
                default_count = len(self._providers[self._default].list())
            except ConfigManagerError as exc:
                log.warning("cannot count secrets of provider '%s': %s", self._default, _error_name(exc))
                default_count = None
        counters = self._tracker.counters
        with self._lock:
            cache_size, hits, misses = len(self._cache), self._cache.hits, self._cache.misses
        return {
            "providers": list(self._providers),
            "default_provider": self._default,
            "default_secrets_count": default_count,
            "cached_secrets": cache_size,
            "cache_hits": hits,
            "cache_misses": misses,
            "tracked_secrets": self._tracker.tracked(),
            "total_accesses": counters.reads,
            "writes": counters.writes,
            "deletes": counters.deletes,
            "stale_reads": counters.stale_reads,
            "scheduled_rotations": len(self._schedule),
            "rotations": counters.rotations,
            "rotation_failures": counters.rotation_failures,
            "refresh_callbacks": len(self._callbacks),
            "audit_events": len(self._audit),
            "revision": self._revision,
        }

    def audit_trail(self, *, key: str | None = None, action: str | None = None, limit: int | None = None) -> list[AuditEvent]:
        """Recent audit events, oldest first (bounded; values never recorded)."""
        return self._audit.events(key=key, action=action, limit=limit)

    def close(self) -> None:
        """Close every provider and drop cached values."""
        with self._lock:
            self._cache.clear()
            providers = list(self._providers.values())
        for provider in providers:
            provider.close()
