"""A reversible mapping between our secret keys and the names Azure Key Vault accepts.

Azure secret names are 1 to 127 characters of ``0-9 a-z A-Z -`` only, and are case-insensitive. Our
keys are paths such as ``database/production`` or ``api_key``. The mapping:

1. A key that is already a valid Azure name and contains no ``--`` is used as it is, so secrets created
   in Azure directly (``storage-account-key``) keep their names.
2. Any other key is escaped, character by character. Letters and digits stay; every other character
   becomes ``--`` followed by a code:

   ====================  ======================
   character             escape
   ====================  ======================
   ``/``                 ``--s``
   ``_``                 ``--u``
   ``.``                 ``--d``
   ``-``                 ``--h``
   anything else         ``--x`` + two lower-case hex digits per UTF-8 byte (``:`` → ``--x3a``)
   ====================  ======================

   ``database/prod_db`` → ``database--sprod--udb``; ``a--b`` → ``a--h--hb``.

An escaped name always contains ``--`` and a plain one never does, and the escapes form a prefix code,
so the mapping is injective and ``decode(encode(k)) == k`` for every key. ``decode`` reads escape codes
in either case, and returns names that are not valid escapes (a secret someone named ``a--b`` in Azure)
unchanged, so listing never fails on a foreign name. A foreign name that happens to spell a valid
escape (``my--secret`` reads as ``my/ecret``) is read as one: no mapping onto Azure's alphabet can
avoid that; names with a single hyphen, the common case, are never affected.

Azure compares names case-insensitively: keys that differ only in letter case name the same secret.
"""

from __future__ import annotations

import re

from ...errors import ConfigurationError

#: Azure's limit on a secret name's length.
MAX_NAME_LENGTH = 127

_PLAIN = re.compile(r"[0-9A-Za-z-]+")
_ESCAPES = {"/": "s", "_": "u", ".": "d", "-": "h"}
_UNESCAPES = {code: char for char, code in _ESCAPES.items()}
_HEX = set("0123456789abcdefABCDEF")


def is_plain(key: str) -> bool:
    """True when ``key`` is used as its own Azure name."""
    return bool(_PLAIN.fullmatch(key)) and "--" not in key


def encode(key: str) -> str:
    """The Azure secret name for ``key``; ``ConfigurationError`` when empty or too long once encoded."""
    if not key:
        raise ConfigurationError("azure: a secret key must not be empty")
    if is_plain(key):
        name = key
    else:
        parts: list[str] = []
        for char in key:
            if char.isascii() and char.isalnum():
                parts.append(char)
            elif char in _ESCAPES:
                parts.append("--" + _ESCAPES[char])
            else:
                parts.append("".join(f"--x{byte:02x}" for byte in char.encode("utf-8")))
        name = "".join(parts)
    if len(name) > MAX_NAME_LENGTH:
        raise ConfigurationError(
            f"azure: secret key {key!r} maps to a {len(name)}-character name; Azure allows {MAX_NAME_LENGTH}"
        )
    return name


def decode(name: str) -> str:
    """The key for an Azure secret name (the inverse of ``encode``; foreign names come back unchanged)."""
    if "--" not in name:
        return name
    out = bytearray()
    i = 0
    n = len(name)
    while i < n:
        char = name[i]
        if char != "-":
            if not (char.isascii() and char.isalnum()):
                return name
            out += char.encode()
            i += 1
            continue
        if name[i : i + 2] != "--" or i + 2 >= n:
            return name  # a lone '-' never appears in an escaped name: not one of ours
        code = name[i + 2].lower()
        if code in _UNESCAPES:
            out += _UNESCAPES[code].encode()
            i += 3
        elif code == "x" and i + 5 <= n and set(name[i + 3 : i + 5]) <= _HEX:
            out.append(int(name[i + 3 : i + 5], 16))
            i += 5
        else:
            return name
    try:
        key = out.decode("utf-8")
    except UnicodeDecodeError:
        return name
    canonical = encode_or_none(key)
    # Only the canonical spelling is ours ('--x2f' is not how we write '/'): anything else is foreign.
    return key if canonical is not None and canonical.lower() == name.lower() else name


def encode_or_none(key: str) -> str | None:
    """``encode(key)``, or None when the key cannot be mapped."""
    try:
        return encode(key)
    except ConfigurationError:
        return None
