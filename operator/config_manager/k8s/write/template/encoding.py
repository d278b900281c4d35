"""Sprig's encoding, hashing and document functions: base64/32, sha*sum, JSON, YAML.

As in Go, ``toJson`` escapes ``<``, ``>`` and ``&`` (``toRawJson`` does not) and sorts map keys;
``toYaml`` drops the final newline. ``fromJson`` / ``fromYaml`` fail on bad input instead of returning an
error string (Sprig's), and ``fromYaml`` refuses aliases, so a small document cannot expand into a huge one.
"""

from __future__ import annotations

import base64
import hashlib
import json
import zlib
from collections.abc import Callable
from typing import Any

import yaml

from .gofmt import as_bytes, check_size, from_bytes, text


class _NoAliasLoader(yaml.SafeLoader):
    """yaml.SafeLoader that refuses ``*alias`` references."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            raise yaml.YAMLError("aliases are not allowed")
        return super().compose_node(parent, index)


def _json(value: Any, *, indent: int | None = None, html: bool = True) -> str:
    check_size(value)
    out = json.dumps(value, sort_keys=True, ensure_ascii=False, indent=indent,
                     separators=(",", ": ") if indent else (",", ":"), default=text)
    if html:
        out = out.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return out.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def f_fromJson(src: Any) -> Any:  # noqa: N802 - Sprig's name
    return json.loads(text(src))


def f_toYaml(value: Any) -> str:  # noqa: N802 - Sprig's name
    check_size(value)
    out = yaml.safe_dump(value, sort_keys=True, default_flow_style=False, allow_unicode=True)
    out = out.removesuffix("\n...\n") if not isinstance(value, (dict, list)) else out
    return out.removesuffix("\n")


def f_fromYaml(src: Any) -> Any:  # noqa: N802 - Sprig's name
    return yaml.load(text(src), Loader=_NoAliasLoader)  # a SafeLoader subclass: safe


def f_b64dec(src: Any) -> str:
    data = as_bytes(src).replace(b"\r", b"").replace(b"\n", b"")  # Go's decoder skips line breaks
    return from_bytes(base64.b64decode(data, validate=True))


def f_b32dec(src: Any) -> str:
    return from_bytes(base64.b32decode(as_bytes(src)))


ENCODING: dict[str, Callable[..., Any]] = {
    "b64enc": lambda s: base64.b64encode(as_bytes(s)).decode(),
    "b64dec": f_b64dec,
    "b32enc": lambda s: base64.b32encode(as_bytes(s)).decode(),
    "b32dec": f_b32dec,
    "sha1sum": lambda s: hashlib.sha1(as_bytes(s), usedforsecurity=False).hexdigest(),
    "sha256sum": lambda s: hashlib.sha256(as_bytes(s)).hexdigest(),
    "sha512sum": lambda s: hashlib.sha512(as_bytes(s)).hexdigest(),
    "adler32sum": lambda s: str(zlib.adler32(as_bytes(s))),
    "toJson": _json,
    "mustToJson": _json,
    "toRawJson": lambda v: _json(v, html=False),
    "mustToRawJson": lambda v: _json(v, html=False),
    "toPrettyJson": lambda v: _json(v, indent=2),
    "mustToPrettyJson": lambda v: _json(v, indent=2),
    "fromJson": f_fromJson,
    "mustFromJson": f_fromJson,
    "toYaml": f_toYaml,
    "fromYaml": f_fromYaml,
}
