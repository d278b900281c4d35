"""Stable hashes of what we write, to skip writes when nothing changed and to detect drift.

The data hash goes into an annotation on the Secret itself (readable only by those who can read the
data anyway). It is never put into status or a ConfigMap: a bare SHA-256 of a short password can be
brute-forced, and status is readable by more people than the Secret.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any


def data_hash(data: Mapping[str, str], *, type_: str = "", extra: Mapping[str, Any] | None = None) -> str:
    """SHA-256 (hex, 32 chars kept) over sorted keys and values of base64 ``data`` plus type and ``extra``."""
    h = hashlib.sha256()
    h.update(type_.encode())
    h.update(b"\0")
    for key in sorted(data):
        h.update(key.encode())
        h.update(b"\0")
        h.update(str(data[key]).encode())
        h.update(b"\0")
    if extra:
        h.update(json.dumps(extra, sort_keys=True, separators=(",", ":"), default=str).encode())
    return h.hexdigest()[:32]


def stable_json_hash(obj: Any) -> str:
    """Hash of any JSON-able object, independent of key order (used for status diffing)."""
    return hashlib.sha256(
        json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str).encode()
    ).hexdigest()[:32]
