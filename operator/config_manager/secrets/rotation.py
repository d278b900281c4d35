"""The rotation schedule: which secrets are due for a new value, independent of threads and timers.

The caller drives it: ``due(now)`` lists the jobs to run, and the caller reports back with
``succeeded`` / ``failed``. ``SecretsManager.check_rotations`` drives it from application code; the
operator drives the same engine from its own timers. A failed rotation is retried with exponential
backoff (1 minute doubling, at most one hour and never beyond the job's interval); the previous value
stays in place meanwhile.

A job for a key that does not exist yet is due at once (its first value is generated); a job for an
existing key is due one interval after the key's current version was written (or after scheduling,
when the provider does not say when that was).

A job's cadence is an interval or a cron expression (5 fields, UTC, via ``croniter``): ``Cadence``
computes "next rotation after T" for both, and is what the operator's ManagedSecret rotation uses too,
so the library and the operator share one definition of when a rotation is due.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from typing import Any

from ..errors import ConfigurationError

RETRY_BASE = timedelta(minutes=1)
RETRY_MAX = timedelta(hours=1)

JobKey = tuple[str, str]  # (provider name, secret key)


@dataclass(frozen=True)
class Cadence:
    """How often a value is rotated: a fixed ``interval`` or a ``cron`` expression (UTC), exactly one."""

    interval: timedelta | None = None
    cron: str | None = None

    def __post_init__(self) -> None:
        if (self.interval is None) == (self.cron is None):
            raise ConfigurationError("a rotation cadence needs an interval or a cron schedule, not both")
        if self.interval is not None and self.interval <= timedelta(0):
            raise ConfigurationError("rotation interval must be positive")
        if self.cron is not None:
            from croniter import CroniterError, croniter  # type: ignore[import-untyped]  # noqa: PLC0415 - optional (operator extra)

            if len(self.cron.split()) != 5 or not croniter.is_valid(self.cron):
                raise ConfigurationError(f"rotation schedule {self.cron!r} is not a 5-field cron expression")
            try:  # croniter admits expressions that never fire ("0 0 31 2 *"): refuse them here, not later
                croniter(self.cron, datetime(2000, 1, 1, tzinfo=timezone.utc)).get_next(datetime)
            except (ValueError, KeyError, CroniterError) as exc:  # CroniterBadDateError and kin
                raise ConfigurationError(f"rotation schedule {self.cron!r} never fires") from exc

    def next_after(self, moment: datetime) -> datetime:
        """The first rotation time strictly after ``moment`` (timezone-aware; UTC for cron)."""
        if self.interval is not None:
            return moment + self.interval
        from croniter import croniter  # noqa: PLC0415

        utc = moment.astimezone(timezone.utc)
        nxt: datetime = croniter(self.cron, utc).get_next(datetime)
        return nxt if nxt.tzinfo else nxt.replace(tzinfo=timezone.utc)

    def typical_gap(self, around: datetime) -> timedelta:
        """The interval, or the gap between the next two cron firings (caps retry backoff)."""
        if self.interval is not None:
            return self.interval
        first = self.next_after(around)
        return self.next_after(first) - first


@dataclass(frozen=True)
class RotationJob:
    key: str
    provider: str
    interval: timedelta
    generator: Callable[[], Any]
    next_due: datetime
    last_rotated: datetime | None = None
    failures: int = 0
    rotations: int = 0
    last_error: str | None = None  # an error class name, never a message that could hold a value
    cron: str | None = None  # when set, the job follows this cron schedule (UTC) instead of ``interval``

    @property
    def cadence(self) -> Cadence:
        return Cadence(cron=self.cron) if self.cron else Cadence(interval=self.interval)

    @property
    def interval_hours(self) -> float:
        return self.interval.total_seconds() / 3600

    def summary(self) -> dict[str, Any]:
        """What status and stats show: no generator, no value."""
        return {
            "key": self.key,
            "provider": self.provider,
            "interval_hours": self.interval_hours,
            "cron": self.cron,
            "next_due": self.next_due.isoformat(),
            "last_rotated": self.last_rotated.isoformat() if self.last_rotated else None,
            "rotations": self.rotations,
            "failures": self.failures,
            "last_error": self.last_error,
        }


def retry_delay(failures: int, interval: timedelta) -> timedelta:
    """Backoff after ``failures`` consecutive failures: 1, 2, 4 ... minutes, capped at 1 h and the interval."""
    delay: timedelta = RETRY_BASE * (2 ** min(max(failures - 1, 0), 16))
    return min(delay, RETRY_MAX, interval)


class RotationSchedule:
    """Rotation jobs by (provider, key). Thread-safe; holds no values and starts nothing by itself."""

    def __init__(self) -> None:
        self._jobs: dict[JobKey, RotationJob] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._jobs)

    def schedule(
        self,
        key: str,
        provider: str,
        interval: timedelta,
        generator: Callable[[], Any],
        *,
        now: datetime,
        exists: bool,
        current_since: datetime | None = None,
        cron: str | None = None,
    ) -> RotationJob:
        """Add or replace the job for ``key``. See the module docstring for when it first falls due.

        With ``cron``, the job follows the cron schedule; ``interval`` then only caps retry backoff.
        """
        if interval <= timedelta(0):
            raise ConfigurationError(f"rotation interval for '{key}' must be positive")
        if not callable(generator):
            raise ConfigurationError(f"rotation generator for '{key}' must be callable")
        cadence = Cadence(cron=cron) if cron else Cadence(interval=interval)
        if not exists:
            next_due = now
        else:
            next_due = cadence.next_after(current_since or now)
        job = RotationJob(key=key, provider=provider, interval=interval, generator=generator,
                          next_due=next_due, last_rotated=current_since if exists else None, cron=cron)
        with self._lock:
            self._jobs[(provider, key)] = job
        return job

    def unschedule(self, key: str, provider: str) -> bool:
        with self._lock:
            return self._jobs.pop((provider, key), None) is not None

    def get(self, key: str, provider: str) -> RotationJob | None:
        with self._lock:
            return self._jobs.get((provider, key))

    def jobs(self) -> list[RotationJob]:
        with self._lock:
            return sorted(self._jobs.values(), key=lambda job: job.next_due)

    def due(self, now: datetime) -> list[RotationJob]:
        """Jobs whose time has come, earliest first."""
        return [job for job in self.jobs() if job.next_due <= now]

    def next_due(self) -> datetime | None:
        jobs = self.jobs()
        return jobs[0].next_due if jobs else None

    def succeeded(self, job: RotationJob, now: datetime) -> None:
        self._update(job, lambda current: replace(
            current, last_rotated=now, next_due=current.cadence.next_after(now), failures=0,
            rotations=current.rotations + 1, last_error=None))

    def failed(self, job: RotationJob, now: datetime, error: str) -> None:
        self._update(job, lambda current: replace(
            current, failures=current.failures + 1, last_error=error,
            next_due=now + retry_delay(current.failures + 1, current.interval)))

    def _update(self, job: RotationJob, change: Callable[[RotationJob], RotationJob]) -> None:
        with self._lock:
            current = self._jobs.get((job.provider, job.key))
            if current is not None:  # unscheduled meanwhile: nothing to record
                self._jobs[(job.provider, job.key)] = change(current)
