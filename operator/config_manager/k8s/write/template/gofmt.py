"""Go's view of template values: strings as bytes, printing (``%v``), ``%q`` quoting, ``printf``, truth.

A fetched value is text; bytes that are not UTF-8 travel as lone surrogates (``surrogateescape``), so a
PKCS#12 file or any binary value goes through ``b64dec`` / ``pkcs12key`` and back out unchanged, as a Go
string would. ``size`` measures a value without building it (every function result and every output is
checked against the limits before it is serialised).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from typing import Any

from .errors import MAX_OUTPUT, LimitExceeded


class Values(dict[str, Any]):
    """The fetched values, the dot of a template: a key missing here is "not fetched" (``.k``, ``index . "k"``)."""


def as_bytes(value: Any) -> bytes:
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    return text(value).encode("utf-8", "surrogateescape")


def from_bytes(data: bytes) -> str:
    return data.decode("utf-8", "surrogateescape")


def text(value: Any) -> str:
    """The string Go's ``%v`` would print."""
    if isinstance(value, str):
        return value
    check_size(value)
    return _show(value)


def _show(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (bytes, bytearray)):
        return from_bytes(bytes(value))
    if isinstance(value, float):
        return repr(value) if value != int(value) or abs(value) >= 1e21 else str(int(value))
    if isinstance(value, Mapping):
        return "map[" + " ".join(f"{_show(k)}:{_show(v)}" for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))) + "]"
    if isinstance(value, (list, tuple)):
        return "[" + " ".join(_show(v) for v in value) + "]"
    return str(value)


def size(value: Any) -> int:
    """About how many characters ``value`` prints as (stops counting past the output limit)."""
    total, stack = 0, [value]
    while stack and total <= MAX_OUTPUT:
        item = stack.pop()
        if isinstance(item, (str, bytes, bytearray)):
            total += len(item) + 1
        elif isinstance(item, Mapping):
            total += 2 * len(item) + 1
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, (list, tuple)):
            total += len(item) + 1
            stack.extend(item)
        else:
            total += 8
    return total


def check_size(value: Any) -> None:
    if size(value) > MAX_OUTPUT:
        raise LimitExceeded(f"a value larger than {MAX_OUTPUT} characters")


def truth(value: Any) -> bool:
    """Go's truth: false, 0, nil and empty strings, lists and maps are false."""
    return bool(value)


def quote(value: str) -> str:
    """Go's ``strconv.Quote`` (``%q``)."""
    out = ['"']
    for ch in value:
        code = ord(ch)
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch in _SHORT:
            out.append(_SHORT[ch])
        elif 0xDC80 <= code <= 0xDCFF:  # a byte that is not UTF-8
            out.append(f"\\x{code - 0xDC00:02x}")
        elif code < 0x20 or code == 0x7F:
            out.append(f"\\x{code:02x}")
        elif unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"):
            out.append(f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


_SHORT = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v"}
_VERB = re.compile(r"%([-+# 0]*)(\d{1,3})?(?:\.(\d{1,3}))?([a-zA-Z%])")


def printf(fmt: str, *args: Any) -> str:
    """Go's ``fmt.Sprintf`` for the verbs templates use: %s %v %d %q %x %X %f %t %%."""
    queue = list(args)
    out: list[str] = []
    pos = 0
    for match in _VERB.finditer(fmt):
        out.append(fmt[pos:match.start()])
        pos = match.end()
        flags, width, precision, verb = match.groups()
        if verb == "%":
            out.append("%")
            continue
        if not queue:
            out.append(f"%!{verb}(MISSING)")
            continue
        out.append(_pad(_verb(verb, queue.pop(0), precision), flags, int(width or 0)))
    out.append(fmt[pos:])
    if queue:
        out.append("%!(EXTRA)")
    return "".join(out)


def _verb(verb: str, arg: Any, precision: str | None) -> str:
    if verb in "sv":
        shown = text(arg)
        return shown[: int(precision)] if precision is not None and verb == "s" else shown
    if verb == "q":
        return quote(text(arg))
    if verb == "d":
        return str(int(arg)) if isinstance(arg, (int, float)) and not isinstance(arg, bool) else f"%!d({text(arg)})"
    if verb in "xX":
        shown = format(arg, "x") if isinstance(arg, int) and not isinstance(arg, bool) else as_bytes(arg).hex()
        return shown.upper() if verb == "X" else shown
    if verb == "f" and isinstance(arg, (int, float)) and not isinstance(arg, bool):
        return f"{float(arg):.{int(precision) if precision is not None else 6}f}"
    if verb == "t" and isinstance(arg, bool):
        return "true" if arg else "false"
    return f"%!{verb}({text(arg)})"


def _pad(shown: str, flags: str, width: int) -> str:
    if len(shown) >= width:
        return shown
    if "-" in flags:
        return shown.ljust(width)
    return shown.rjust(width, "0" if "0" in flags and shown.lstrip("-").isdigit() else " ")
