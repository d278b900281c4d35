"""Our own objects' cached bodies kept as ``marshal`` bytes, decoded when read.

A ManagedSecret body decoded from JSON is about 5.5 KB of Python objects (20-odd dicts and lists and
their strings) when it came in a listing page, 7.7 KB when it came alone in a watch event; the same body
packed by ``marshal`` is about 1.1 KB. At 10,000 ManagedSecrets the bodies were most of the operator's
memory, so the cache keeps them packed: ``marshal.dumps`` costs ~2 µs, ``marshal.loads`` ~6 µs per body,
against a reconcile of ~1.5 ms that reads its body once. ``marshal`` is only ever given bytes this process
made itself (it is not for data from outside; nothing here is).

``PackedBodies`` is a ``MutableMapping`` of (namespace, name) to body: every read returns a fresh dict, so
a caller that edits what it was given can never change the cache (the dict tables it replaces handed out
shared objects).
"""

from __future__ import annotations

import marshal
from collections.abc import Iterator, Mapping, MutableMapping, Sequence
from typing import Any, TypeVar

K = TypeVar("K")


def _plain(value: Any) -> Any:
    """``value`` with every Mapping made a dict and every non-string Sequence a list (what marshal takes)."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, Sequence) and not isinstance(value, (str, bytes)):
        return [_plain(v) for v in value]
    return value


def pack(body: Mapping[str, Any]) -> bytes:
    """The body as bytes (JSON-shaped data: dicts, lists, strings, numbers, booleans, None)."""
    data: Any = body
    try:
        return marshal.dumps(data)
    except ValueError:  # a Mapping or Sequence that is not a dict or list (tests, kopf bodies)
        return marshal.dumps(_plain(body))


def unpack(packed: bytes) -> dict[str, Any]:
    """A fresh dict of a body packed by ``pack``."""
    body: dict[str, Any] = marshal.loads(packed)  # only bytes made by pack() in this process
    return body


class PackedBodies(MutableMapping[K, Mapping[str, Any]]):
    """A table of bodies stored packed; ``get`` / ``[]`` / ``values`` / ``items`` decode on each read."""

    __slots__ = ("_packed",)

    def __init__(self) -> None:
        self._packed: dict[K, bytes] = {}

    def __getitem__(self, key: K) -> dict[str, Any]:
        return unpack(self._packed[key])

    def __setitem__(self, key: K, body: Mapping[str, Any]) -> None:
        self._packed[key] = pack(body)

    def __delitem__(self, key: K) -> None:
        del self._packed[key]

    def __iter__(self) -> Iterator[K]:
        return iter(self._packed)

    def __len__(self) -> int:
        return len(self._packed)

    def __contains__(self, key: object) -> bool:
        return key in self._packed

