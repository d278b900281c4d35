"""The generator kinds (``Password``, ``SSHKey``, ``UUID``): typed specs, their keys, one ``generate``.

A ManagedSecret names one with ``dataFrom[].sourceRef.generatorRef{kind,name}`` (as External Secrets
does), and rotation with ``spec.rotation.generatorRef``. Values come from the library's generators
(``secrets.generators``: the operating system's CSPRNG, keys from ``cryptography``). What a generator
makes is kept by the reconcile, not made again at each refresh (``reconcile/generated.py``).

Keys written, as External Secrets names them: ``password``; ``privateKey`` and ``publicKey``; ``uuid``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ...errors import ConfigurationError
from ...secrets import generators as lib
from .managedsecret import InvalidSpecError

#: The keys each kind writes, in order (the first is what rotation uses as its single value).
KEYS: Mapping[str, tuple[str, ...]] = {
    "Password": ("password",),
    "SSHKey": ("privateKey", "publicKey"),
    "UUID": ("uuid",),
}


@dataclass(frozen=True)
class GeneratorSpec:
    """A parsed generator object: its kind, and a function making a fresh set of its keys."""

    kind: str
    name: str
    make: Callable[[], dict[str, str]]

    @property
    def keys(self) -> tuple[str, ...]:
        return KEYS[self.kind]

    def generate(self) -> dict[str, str]:
        return self.make()


def _int(spec: Mapping[str, Any], key: str, path: str) -> int | None:
    value = spec.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidSpecError(f"{path}.{key}", f"must be an integer, not {type(value).__name__}")
    return value


def _password(spec: Mapping[str, Any], path: str) -> Callable[[], dict[str, str]]:
    options: dict[str, Any] = {
        "length": _int(spec, "length", path) or lib.ESO_PASSWORD_LENGTH,
        "digits": _int(spec, "digits", path),
        "symbols": _int(spec, "symbols", path),
        "symbol_characters": str(spec.get("symbolCharacters", lib.ESO_SYMBOL_CHARACTERS)),
        "no_upper": bool(spec.get("noUpper", False)),
        "allow_repeat": bool(spec.get("allowRepeat", False)),
    }
    try:
        lib.counted_password(**options)  # refuse impossible options now, naming the object
    except ConfigurationError as exc:
        raise InvalidSpecError(path, str(exc)) from None
    return lambda: {"password": lib.counted_password(**options)}


def _ssh_key(spec: Mapping[str, Any], path: str) -> Callable[[], dict[str, str]]:
    key_type = str(spec.get("keyType") or "rsa")
    bits = _int(spec, "keySize", path)
    comment = str(spec.get("comment") or "")
    if key_type not in ("rsa", "ed25519"):
        raise InvalidSpecError(f"{path}.keyType", f"must be rsa or ed25519, not {key_type!r}")
    if key_type == "rsa" and bits is not None and not 2048 <= bits <= 8192:
        raise InvalidSpecError(f"{path}.keySize", f"must be between 2048 and 8192, got {bits}")
    if key_type == "ed25519" and bits is not None:
        raise InvalidSpecError(f"{path}.keySize", "applies to rsa keys only")

    def make() -> dict[str, str]:
        private, public = lib.ssh_key_pair(key_type, bits, comment)
        return {"privateKey": private, "publicKey": public}

    return make


def parse_generator(kind: str, body: Mapping[str, Any]) -> GeneratorSpec:
    """A generator object's spec, checked; ``InvalidSpecError`` names ``<Kind>/<name>.spec.<field>``."""
    name = str((body.get("metadata") or {}).get("name") or "")
    spec = body.get("spec") or {}
    path = f"{kind} {name!r} spec"
    if not isinstance(spec, Mapping):
        raise InvalidSpecError(path, "must be an object")
    if kind == "Password":
        make = _password(spec, path)
    elif kind == "SSHKey":
        make = _ssh_key(spec, path)
    elif kind == "UUID":
        make = lambda: {"uuid": lib.uuid4()}  # noqa: E731 - one line says it best
    else:
        raise InvalidSpecError("generatorRef.kind", f"{kind!r} is not a generator kind")
    return GeneratorSpec(kind=kind, name=name, make=make)
