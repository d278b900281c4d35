"""A ManagedSecret's ``dataFrom`` entries: extract, find, generatorRef; then rewrite / conversion / decoding.

Each entry yields a set of Secret keys; later entries win over earlier ones, ``spec.data`` over all (as
the CRD says). Reads and listings go through the shared read cache (``stores.readcache``), so a find over
fifty keys costs one listing and fifty reads once per cache window, shared with every other object that
asks for the same keys. A find that selects more than ``--max-find-results`` keys is refused naming the
field, before any value is read. Key collisions made by a rewrite are refused naming the rewrite step; in
every failure the existing Secret stays as it is.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ...errors import SecretNotFoundError
from ...providers import FindCriteria
from ..spec.managedsecret import DataFrom, InvalidSpecError, RemoteRef
from ..write.rewrite import KeyCollision, KeyShapeError, rewrite_keys, shape
from ..write.values import ValueShapeError, spread, to_bytes
from .base import TemporaryError

Read = Callable[[RemoteRef, str], Any]  # (reference, field) -> value
Find = Callable[[FindCriteria, str], list[str]]  # (criteria, field) -> keys
Generate = Callable[[int, DataFrom, Callable[[Mapping[str, str]], dict[str, str]]], dict[str, bytes]]


def final_key_names(entry: DataFrom, field: str) -> Callable[[Mapping[str, str]], dict[str, str]]:
    """Maps {raw key: raw key} to {raw key: Secret key} through the entry's rewrites (for kept values)."""

    def names(raw: Mapping[str, str]) -> dict[str, str]:
        keyed = {key: key.encode() for key in raw}
        renamed = rewrite_keys(keyed, entry.rewrite, f"{field}.rewrite") if entry.rewrite else keyed
        return {value.decode(): new for new, value in renamed.items()}

    return names


def entry_data(index: int, entry: DataFrom, *, read: Read, find: Find, generate: Generate,
               find_limit: int, where: str = "") -> dict[str, bytes]:
    """The Secret keys of ``spec.dataFrom[index]``. Raises TemporaryError / InvalidSpecError naming it."""
    field = f"spec.dataFrom[{index}]"
    if entry.extract is not None:
        ref = entry.extract
        value = read(ref, f"{field}.extract")
        try:
            raw = spread(value, ref.property, ref.key, check_keys=False)
        except (ValueShapeError, SecretNotFoundError) as exc:
            raise TemporaryError("ProviderError", f"{where}{exc}", None) from None
    elif entry.find is not None:
        criteria = FindCriteria(name_regexp=entry.find.name_regexp, tags=dict(entry.find.tags),
                                path=entry.find.path, limit=find_limit)
        keys = find(criteria, f"{field}.find")
        raw = {key: to_bytes(read(RemoteRef(key=key), f"{field}.find")) for key in keys}
    else:
        assert entry.generator is not None
        try:
            raw = generate(index, entry, final_key_names(entry, field))
        except (KeyCollision, KeyShapeError) as exc:
            raise TemporaryError("InvalidSpec", str(exc), None) from None
    conversion = entry.conversion if entry.conversion is not None or entry.find is None else "Default"
    try:
        return shape(raw, rewrites=entry.rewrite, conversion=conversion, decoding=entry.decoding, field_path=field)
    except (KeyCollision, KeyShapeError) as exc:
        # the store's contents decide this, so it is retried at the next refresh, not only on a spec change
        raise TemporaryError("InvalidSpec", str(exc), None) from None
    except InvalidSpecError as exc:
        raise TemporaryError("InvalidSpec", str(exc), None) from None
