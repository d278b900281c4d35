"""Generators of new secret values for rotation, and a registry so more can be plugged in.

Built in: ``password`` (length and character classes), ``urlsafe_token``, ``hex_token``, ``uuid4``,
and PEM private keys (``ed25519_private_key_pem``, ``rsa_private_key_pem``). For the operator's
generator kinds (External Secrets' ``Password`` and ``SSHKey``): ``counted_password`` (exact counts of
digits and symbols, optionally without repeats) and ``ssh_key_pair`` (OpenSSH private and public key). A generator is a
function of keyword options returning the new value; ``generator_from_spec({"type": "password",
"length": 24})`` turns declarative configuration (the operator's rotation spec) into a zero-argument
callable for ``schedule_rotation``. ``register_generator`` adds a plug-in type.

The operator's ``spec.rotation.generator`` uses the same function; its Kubernetes-style options are
accepted here too: ``length`` in characters for ``token`` / ``hex`` (bits for ``rsa``) and
``characterClasses`` (``lower``, ``upper``, ``digits``, ``symbols``) for ``password``.

Every generator draws from the operating system's CSPRNG (``secrets``).
"""

from __future__ import annotations

import inspect
import secrets
import string
import uuid
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

from ..errors import ConfigurationError

DEFAULT_SYMBOLS = "!#$%&()*+,-.:;<=>?@[]^_{|}~"


def password(
    length: int = 32,
    *,
    lowercase: bool = True,
    uppercase: bool = True,
    digits: bool = True,
    symbols: bool = True,
    symbol_set: str = DEFAULT_SYMBOLS,
    min_each: int = 1,
) -> str:
    """A random password with at least ``min_each`` characters of each enabled class."""
    classes = [chars for enabled, chars in (
        (lowercase, string.ascii_lowercase), (uppercase, string.ascii_uppercase),
        (digits, string.digits), (symbols, symbol_set),
    ) if enabled and chars]
    if not classes:
        raise ConfigurationError("password generator needs at least one character class")
    if length < max(1, len(classes) * min_each):
        raise ConfigurationError(f"password length {length} is too short for {len(classes)} classes x {min_each}")
    alphabet = "".join(classes)
    chars = [secrets.choice(chars) for chars in classes for _ in range(min_each)]
    chars += [secrets.choice(alphabet) for _ in range(length - len(chars))]
    secrets.SystemRandom().shuffle(chars)
    return "".join(chars)


#: External Secrets' Password generator defaults.
ESO_PASSWORD_LENGTH = 24
ESO_SYMBOL_CHARACTERS = "~!@#$%^&*()_+`-={}|[]\\:\"<>?,./"


def counted_password(
    length: int = ESO_PASSWORD_LENGTH,
    *,
    digits: int | None = None,
    symbols: int | None = None,
    symbol_characters: str = ESO_SYMBOL_CHARACTERS,
    no_upper: bool = False,
    allow_repeat: bool = False,
) -> str:
    """A password of exactly ``digits`` digits and ``symbols`` symbols (default a quarter of the length
    each), the rest letters (lower case only with ``no_upper``), in random order; without
    ``allow_repeat`` no character appears twice. As External Secrets' Password generator."""
    if length < 1:
        raise ConfigurationError(f"password length must be positive, got {length}")
    digits = int(length * 0.25) if digits is None else digits
    symbols = int(length * 0.25) if symbols is None else symbols
    if digits < 0 or symbols < 0:
        raise ConfigurationError("digits and symbols must not be negative")
    letters = length - digits - symbols
    if letters < 0:
        raise ConfigurationError(f"digits ({digits}) plus symbols ({symbols}) exceed the length ({length})")
    if symbols and not symbol_characters:
        raise ConfigurationError("symbols requested but symbolCharacters is empty")
    letter_set = string.ascii_lowercase if no_upper else string.ascii_letters
    groups = ((digits, string.digits, "digits"), (symbols, symbol_characters, "symbols"), (letters, letter_set, "letters"))
    chars: list[str] = []
    rng = secrets.SystemRandom()
    for count, alphabet, what in groups:
        if allow_repeat:
            chars += [secrets.choice(alphabet) for _ in range(count)]
            continue
        pool = sorted(set(alphabet) - set(chars))
        if count > len(pool):
            raise ConfigurationError(
                f"{count} {what} without repeats need more than the {len(pool)} characters available; set allowRepeat"
            )
        chars += rng.sample(pool, count)
    rng.shuffle(chars)
    return "".join(chars)


def ssh_key_pair(key_type: str = "rsa", bits: int | None = None, comment: str = "") -> tuple[str, str]:
    """A new SSH key pair: (private key in OpenSSH format, public key in ``authorized_keys`` format).

    ``key_type`` ``rsa`` (``bits`` >= 2048, default 2048 as in External Secrets) or ``ed25519``."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

    key: ed25519.Ed25519PrivateKey | rsa.RSAPrivateKey
    if key_type == "ed25519":
        if bits is not None:
            raise ConfigurationError("keySize applies to rsa keys only")
        key = ed25519.Ed25519PrivateKey.generate()
    elif key_type == "rsa":
        size = 2048 if bits is None else bits
        if size < 2048 or size > 8192:
            raise ConfigurationError(f"rsa keySize must be between 2048 and 8192, got {size}")
        key = rsa.generate_private_key(public_exponent=65537, key_size=size)
    else:
        raise ConfigurationError(f"SSH key type must be rsa or ed25519, not {key_type!r}")
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                                serialization.NoEncryption()).decode("ascii")
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode("ascii")
    return private, f"{public} {comment}".rstrip() + "\n"


def urlsafe_token(nbytes: int = 32) -> str:
    """``nbytes`` random bytes as URL-safe base64 text (43 characters for 32 bytes)."""
    return secrets.token_urlsafe(nbytes)


def hex_token(nbytes: int = 32) -> str:
    """``nbytes`` random bytes as hex text."""
    return secrets.token_hex(nbytes)


def uuid4() -> str:
    """A random UUID in its canonical text form."""
    return str(uuid.uuid4())


def ed25519_private_key_pem() -> str:
    """A new Ed25519 private key, PKCS#8 PEM."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    key = ed25519.Ed25519PrivateKey.generate()
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode("ascii")


def rsa_private_key_pem(bits: int = 3072) -> str:
    """A new RSA private key (``bits`` >= 2048), PKCS#8 PEM."""
    if bits < 2048:
        raise ConfigurationError("RSA keys must have at least 2048 bits")
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode("ascii")


_GENERATORS: dict[str, Callable[..., Any]] = {
    "password": password,
    "token": urlsafe_token,
    "urlsafe": urlsafe_token,
    "hex": hex_token,
    "uuid": uuid4,
    "ed25519": ed25519_private_key_pem,
    "rsa": rsa_private_key_pem,
}


def register_generator(name: str, generator: Callable[..., Any]) -> None:
    """Add (or replace) a generator type usable in ``generator_from_spec``."""
    if not name or not callable(generator):
        raise ConfigurationError("a generator needs a name and a callable")
    _GENERATORS[name] = generator


def generator_types() -> list[str]:
    return sorted(_GENERATORS)


_CLASS_FLAGS = {"lower": "lowercase", "upper": "uppercase", "digits": "digits", "symbols": "symbols"}


def _truncated(factory: Callable[..., str], length: int, **options: Any) -> str:
    return factory(**options)[:length]


def _normalise(kind: str, options: dict[str, Any]) -> tuple[Callable[..., Any], dict[str, Any]]:
    """Map the declarative (CRD) spelling of options onto the generator's own keyword arguments."""
    factory = _GENERATORS[kind]
    classes = options.pop("characterClasses", None)
    if classes is not None:
        if factory is not password:
            raise ConfigurationError(f"characterClasses applies to password generators, not {kind!r}")
        unknown = set(classes) - set(_CLASS_FLAGS)
        if unknown or not classes:
            raise ConfigurationError(f"characterClasses must name some of {sorted(_CLASS_FLAGS)}")
        for name, flag in _CLASS_FLAGS.items():
            options.setdefault(flag, name in classes)
    length = options.get("length")
    if length is not None and factory in (urlsafe_token, hex_token):
        options.pop("length")
        if not isinstance(length, int) or length < 1:
            raise ConfigurationError(f"length of a {kind!r} generator must be a positive integer")
        nbytes = -(-length * 3 // 4) if factory is urlsafe_token else -(-length // 2)
        return partial(_truncated, factory, length), {"nbytes": nbytes}
    if length is not None and factory is rsa_private_key_pem:
        options["bits"] = options.pop("length")
    return factory, options


def generator_from_spec(spec: str | Mapping[str, Any]) -> Callable[[], Any]:
    """A zero-argument generator from ``"uuid"`` or ``{"type": "password", "length": 24, ...}``."""
    options = {"type": spec} if isinstance(spec, str) else dict(spec)
    kind = options.pop("type", None)
    if kind not in _GENERATORS:
        raise ConfigurationError(f"unknown generator type {kind!r}; known: {', '.join(generator_types())}")
    factory, options = _normalise(str(kind), options)
    target = factory.func if isinstance(factory, partial) else factory
    if isinstance(factory, partial):
        target = factory.args[0]
    try:
        inspect.signature(target).bind(**options)  # fail now on unknown options, not at the first rotation
    except TypeError as exc:
        raise ConfigurationError(f"bad options for generator {kind!r}: {exc}") from None
    if target is rsa_private_key_pem and int(options.get("bits", 3072)) < 2048:
        raise ConfigurationError("RSA keys must have at least 2048 bits")
    return partial(factory, **options)
