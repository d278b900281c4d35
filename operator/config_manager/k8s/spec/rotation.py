"""The typed ``spec.rotation`` of a ManagedSecret or a ConfigBundle, and the sync spec it implies.

Rotation reuses the library's engine: generators come from ``secrets.generators.generator_from_spec``
(plug-ins registered there work here) and the cadence is a ``secrets.rotation.Cadence`` (interval or
cron). A rotated key that ``spec.data`` does not map is kept in the store under its own name; with
``keepPrevious`` the previous value lives in the store beside it (``<remote key><previousSuffix>``), so
the ordinary store -> Secret sync carries both and a restart of the operator loses neither.

Both kinds share one parser (``parse_rotation_refs``): the caller passes the names that may rotate and
where each lives in the store (a ManagedSecret's ``spec.data`` secret keys; a ConfigBundle's
``spec.secrets`` config paths). A ConfigBundle's previous value appears in its config at
``<path><previousSuffix>`` (``bundle_previous_items``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

from ...errors import ConfigurationError
from ...secrets.generators import generator_from_spec
from ...secrets.rotation import Cadence
from .durations import parse_duration
from .managedsecret import DataItem, InvalidSpecError, ManagedSecretSpec, RemoteRef


@dataclass(frozen=True)
class Target:
    kind: str
    name: str


@dataclass(frozen=True)
class SecretKeyRef:
    name: str
    key: str


@dataclass(frozen=True)
class RotatedKey:
    secret_key: str
    remote: RemoteRef  # where the value lives in the store
    previous: RemoteRef | None  # where the previous value lives (keepPrevious)
    previous_secret_key: str | None
    generator: Callable[[], Any]


@dataclass(frozen=True)
class RotationSpec:
    enabled: bool
    cadence: Cadence | None
    keys: tuple[RotatedKey, ...]
    write_back: bool
    keep_previous: bool
    previous_suffix: str
    restart_mode: str  # Discover | Explicit | None
    debounce: float
    targets: tuple[Target, ...]
    notify_url: str | None
    notify_url_ref: SecretKeyRef | None
    notify_hmac_ref: SecretKeyRef | None

    @property
    def key_names(self) -> list[str]:
        return [k.secret_key for k in self.keys]


def _ref(raw: Any, path: str) -> SecretKeyRef | None:
    if raw is None:
        return None
    if not isinstance(raw, Mapping) or not raw.get("name") or not raw.get("key"):
        raise InvalidSpecError(path, "needs name and key")
    return SecretKeyRef(str(raw["name"]), str(raw["key"]))


def parse_rotation(raw: Mapping[str, Any], spec: ManagedSecretSpec, *, interval_scale: float = 1.0,
                   default_generator: Callable[[], Any] | None = None) -> RotationSpec:
    """Validate a ManagedSecret's ``spec.rotation`` against its ``spec.data``. Raises InvalidSpecError naming the field.

    A rotated key that ``spec.data`` does not map lives in the store under its own name."""
    refs = {item.secret_key: item.remote for item in spec.data}
    return parse_rotation_refs(raw, refs, unmapped=True, interval_scale=interval_scale, default_generator=default_generator)


def parse_rotation_refs(raw: Mapping[str, Any], refs: Mapping[str, RemoteRef], *, unmapped: bool,
                        what: str = "spec.data", interval_scale: float = 1.0,
                        default_generator: Callable[[], Any] | None = None) -> RotationSpec:
    """Validate ``spec.rotation`` given ``refs`` (rotatable name -> store reference, in spec order).

    ``unmapped``: a name in ``keys`` that ``refs`` lacks is stored under its own name (ManagedSecret), or
    is an error naming ``what`` (ConfigBundle: every rotated path must be one of its ``spec.secrets``).
    ``default_generator``: what ``spec.rotation.generatorRef`` resolved to (it replaces ``generator``;
    ``generators`` still override it per key)."""
    path = "spec.rotation"
    interval, cron = raw.get("interval"), raw.get("schedule")
    if interval and cron:
        raise InvalidSpecError(path, "set interval or schedule, not both")
    cadence: Cadence | None = None
    try:
        if interval:
            seconds = parse_duration(str(interval), f"{path}.interval") * interval_scale
            cadence = Cadence(interval=timedelta(seconds=max(seconds, 1.0)))
        elif cron:
            cadence = Cadence(cron=str(cron))
    except ConfigurationError as exc:
        raise InvalidSpecError(f"{path}.schedule" if cron else f"{path}.interval", str(exc).split(": ", 1)[-1]) from None
    if raw.get("writeBack", True) is False:
        raise InvalidSpecError(f"{path}.writeBack", "false is not supported: the store is the source of truth of rotated values")
    keep_previous = bool(raw.get("keepPrevious", False))
    suffix = str(raw.get("previousSuffix") or "_previous")
    names = [str(k) for k in raw.get("keys") or []] or list(refs)
    if not names:
        raise InvalidSpecError(f"{path}.keys", f"name the keys to rotate ({what} is empty)")
    if not unmapped:
        for name in names:
            if name not in refs:
                raise InvalidSpecError(f"{path}.keys", f"{name!r} is not one of {what}")
    if len(set(names)) != len(names):
        raise InvalidSpecError(f"{path}.keys", "duplicate key")
    default_gen = raw.get("generator") or {}
    per_key = raw.get("generators") or {}
    for name in per_key:
        if name not in names:
            raise InvalidSpecError(f"{path}.generators[{name}]", "is not one of the rotated keys")
    keys: list[RotatedKey] = []
    for name in names:
        gen_raw = dict(per_key.get(name) or default_gen)
        gen_raw.setdefault("type", "password")
        try:
            generator = default_generator if default_generator is not None and name not in per_key \
                else generator_from_spec(gen_raw)
        except ConfigurationError as exc:
            field = f"{path}.generators[{name}]" if name in per_key else f"{path}.generator"
            raise InvalidSpecError(field, str(exc)) from None
        remote = refs.get(name) or RemoteRef(key=name)
        if remote.version:
            raise InvalidSpecError(f"{path}.keys", f"{name!r} is pinned to store version {remote.version}; a pinned key cannot rotate")
        previous = RemoteRef(key=remote.key + suffix, property=remote.property) if keep_previous else None
        if remote.property:
            previous = RemoteRef(key=remote.key, property=remote.property + suffix) if keep_previous else None
        keys.append(RotatedKey(name, remote, previous, name + suffix if keep_previous else None, generator))
    restart = raw.get("restartWorkloads") or {}
    mode = str(restart.get("mode") or "Discover")
    try:
        debounce = parse_duration(str(restart.get("debounce") or "30s"), f"{path}.restartWorkloads.debounce")
    except ConfigurationError as exc:
        raise InvalidSpecError(f"{path}.restartWorkloads.debounce", str(exc).split(": ", 1)[-1]) from None
    targets = tuple(Target(str(t.get("kind")), str(t.get("name"))) for t in restart.get("targets") or [])
    if mode == "Explicit" and not targets:
        raise InvalidSpecError(f"{path}.restartWorkloads.targets", "mode Explicit needs at least one target")
    notify = raw.get("notify") or {}
    return RotationSpec(
        enabled=bool(raw.get("enabled", True)),
        cadence=cadence,
        keys=tuple(keys),
        write_back=True,
        keep_previous=keep_previous,
        previous_suffix=suffix,
        restart_mode=mode,
        debounce=debounce,
        targets=targets,
        notify_url=str(notify["url"]) if notify.get("url") else None,
        notify_url_ref=_ref(notify.get("urlSecretRef"), f"{path}.notify.urlSecretRef"),
        notify_hmac_ref=_ref(notify.get("hmacSecretRef"), f"{path}.notify.hmacSecretRef"),
    )


def sync_spec(spec: ManagedSecretSpec, rotation: RotationSpec) -> ManagedSecretSpec:
    """``spec`` with data items for rotated keys it does not map and for their previous values."""
    present = {item.secret_key for item in spec.data}
    extra: list[DataItem] = []
    for key in rotation.keys:
        if key.secret_key not in present:
            extra.append(DataItem(key.secret_key, key.remote))
        if key.previous is not None and key.previous_secret_key and key.previous_secret_key not in present:
            extra.append(DataItem(key.previous_secret_key, key.previous))
    return replace(spec, data=spec.data + tuple(extra)) if extra else spec


def bundle_previous_items(rotation: RotationSpec, present: Iterable[str]) -> list[tuple[str, RemoteRef]]:
    """(config path, store reference) of the previous values a ConfigBundle shows (``keepPrevious``):
    ``<path><previousSuffix>`` for each rotated path, unless the bundle already maps that path itself."""
    taken = set(present)
    return [(k.previous_secret_key, k.previous) for k in rotation.keys
            if k.previous is not None and k.previous_secret_key and k.previous_secret_key not in taken]
