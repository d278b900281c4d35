"""Decode apiserver answers without ``metadata.managedFields``: the bytes are cut before ``json.loads``.

Why: the apiserver sends every object with its managedFields (server-side apply's field ownership: for
one ManagedSecret two thirds of the JSON tokens, thousands of empty objects per LIST page) and no LIST,
WATCH or write option leaves them out; the operator never reads them. Decoding them was 72 % of a
10,000-object restart's listing and most of the JSON decoding of a burst (the watch events of our own
writes, the answers to them). The informers (``watch.informer``: pages and watch events) and the
operator's ``KubeApi`` (``lean=True``: the answers of its writes) decode through here; the CLI and the
tests keep the whole answer.
"""

from __future__ import annotations

import json
import re
from typing import Any

_MANAGED_FIELDS = b'"managedFields":['
_STRIPPED = b'"managedFields":0'  # never a real value (an array, or absent): marks what was cut
# a run of JSON outside strings without brackets, or whole strings (possessive: no backtracking)
_NO_BRACKETS = re.compile(rb'(?:[^"\[\]]++|"(?:[^"\\]++|\\.)*+")*+')


def _array_end(raw: bytes, start: int) -> int:
    """The index after the ``]`` closing the array whose content starts at ``start``, or -1."""
    end = raw.find(b"]", start)
    if end >= 0 and raw.find(b"[", start, end) < 0 and raw.find(b"\\\\", start, end) < 0:
        # no nested array and no escaped backslash: the quotes not escaped pair up iff ``end`` is outside strings
        if (raw.count(b'"', start, end) - raw.count(b'\\"', start, end)) % 2 == 0:
            return end + 1
    depth, i = 1, start  # the general case, scanned string by string
    while True:
        match = _NO_BRACKETS.match(raw, i)
        i = match.end() if match is not None else i
        if i >= len(raw):
            return -1
        depth += 1 if raw[i] == ord("[") else -1
        i += 1
        if depth == 0:
            return i


def _cut_managed_fields(raw: bytes) -> tuple[bytes, int] | None:
    """``raw`` with every ``"managedFields":[...]`` member replaced by the marker, and how many; None when
    one is not where a member starts."""
    parts: list[bytes] = []
    pos = cut = 0
    at = raw.find(_MANAGED_FIELDS)
    while at >= 0:
        if at == 0 or raw[at - 1] not in b"{,":
            return None
        end = _array_end(raw, at + len(_MANAGED_FIELDS))
        if end < 0:
            return None
        parts += [raw[pos:at], _STRIPPED]
        pos, cut = end, cut + 1
        at = raw.find(_MANAGED_FIELDS, pos)
    parts.append(raw[pos:])
    return b"".join(parts), cut


def _metadatas(doc: Any) -> list[Any] | None:
    """Where a ``managedFields`` may be: each item's metadata of a list, the object's of a watch event,
    else the document's own."""
    if not isinstance(doc, dict):
        return None
    items = doc.get("items")
    if isinstance(items, list):
        return [item.get("metadata") if isinstance(item, dict) else None for item in items]
    if "type" in doc and isinstance(doc.get("object"), dict):
        return [doc["object"].get("metadata")]
    return [doc.get("metadata")]


def _cut_exactly(doc: Any, cut: int) -> bool:
    """True when what was cut is exactly one ``metadata.managedFields`` per object (markers removed)."""
    metas = _metadatas(doc)
    if metas is None or len(metas) != cut:
        return False
    for meta in metas:
        if not isinstance(meta, dict) or meta.get("managedFields", None) != 0 or isinstance(meta["managedFields"], bool):
            return False
    for meta in metas:
        del meta["managedFields"]
    return True


def decode(raw: bytes) -> Any:
    """An apiserver answer (an object, a LIST page, a watch event line) decoded without
    ``metadata.managedFields``, which the operator never reads and which are most of the decoding time
    (two thirds of a ManagedSecret's tokens). Cut from the bytes before decoding; when the cut is not
    exactly one per object's metadata, the answer is decoded whole, so the result never differs but
    for managedFields."""
    cut = _cut_managed_fields(raw)
    if cut is not None and cut[1]:
        try:
            doc = json.loads(cut[0])
        except ValueError:
            doc = None
        if _cut_exactly(doc, cut[1]):
            return doc
    return json.loads(raw)


def decode_list(raw: bytes) -> dict[str, Any]:
    """A LIST page without its items' managedFields (``decode``)."""
    page: dict[str, Any] = decode(raw)
    return page
