"""Every function a template may call: Go's builtins, Sprig's most used, External Secrets' own.

``FUNCTIONS`` is the whole table (the translator refuses any other name); ``LACKING`` lists Sprig / ESO
functions we deliberately leave out, with the reason ``configmanager migrate eso`` reports. Arguments come in
Go's order (the piped value last). Each function is wrapped by the sandbox so that any failure becomes
"function X failed" without its message, and its arguments and result count against the render's budget.
"""

from __future__ import annotations

import html
import urllib.parse
from collections.abc import Callable, Mapping
from typing import Any

from .certs import CERTS
from .encoding import ENCODING
from .errors import MAX_ITEMS, FunctionFailed, LimitExceeded, Missing
from .gofmt import Values, as_bytes, printf, text
from .textfns import TEXT


def _items(n: int) -> int:
    if n > MAX_ITEMS:
        raise LimitExceeded(f"more than {MAX_ITEMS} items")
    return n


def _empty(value: Any) -> bool:
    return value is None or value is False or value == 0 or (hasattr(value, "__len__") and len(value) == 0)


def f_default(fallback: Any, *given: Any) -> Any:
    return fallback if not given or _empty(given[0]) else given[0]


def f_required(*args: Any) -> Any:
    value = args[-1] if args else None
    if value is None or value == "":
        raise FunctionFailed("required", "found no value (the key is missing or empty)")
    return value


def f_fail(*_args: Any) -> Any:
    raise FunctionFailed("fail", "was called")


def f_index(item: Any, *keys: Any) -> Any:
    for key in keys:
        if isinstance(item, Values) and text(key) not in item:
            raise Missing(text(key), True)  # as .key: a fetched key that is not there is an error (get is lenient)
        if isinstance(item, Mapping):
            item = item.get(text(key))
        elif isinstance(item, (list, tuple, str)):
            item = item[int(key)] if 0 <= int(key) < len(item) else _out_of_range()
        else:
            raise FunctionFailed("index", "cannot index a value of this kind")
    return item


def _out_of_range() -> Any:
    raise FunctionFailed("index", "index out of range")


def f_len(item: Any) -> int:
    return len(as_bytes(item)) if isinstance(item, str) else len(item)


def f_print(*args: Any) -> str:
    out: list[str] = []
    for i, arg in enumerate(args):  # Go adds a space between operands when neither is a string
        if i and not isinstance(arg, str) and not isinstance(args[i - 1], str):
            out.append(" ")
        out.append(text(arg))
    return "".join(out)


def f_dict(*pairs: Any) -> dict[str, Any]:
    _items(len(pairs) // 2)
    return {text(pairs[i]): (pairs[i + 1] if i + 1 < len(pairs) else "") for i in range(0, len(pairs), 2)}


def f_until(count: Any) -> list[int]:
    n = int(count)
    return list(range(_items(n))) if n >= 0 else list(range(0, -_items(-n), -1))


def f_keys(*maps: Any) -> list[str]:
    return sorted({str(k) for m in maps for k in m})


def f_uniq(items: Any) -> list[Any]:
    out: list[Any] = []
    for item in items:
        if item not in out:
            out.append(item)
    return out


def _int64(value: Any) -> int:
    """Sprig's arithmetic is on int64: a result outside it fails instead of growing without bound."""
    result = int(value)
    if not -(1 << 63) <= result < (1 << 63):
        raise OverflowError("int64")
    return result


def _product(values: tuple[Any, ...]) -> int:
    result = 1
    for value in values:
        result = _int64(result * int(value))
    return result


def _div(a: Any, b: Any) -> int:
    q = abs(int(a)) // abs(int(b))  # Go truncates toward zero
    return _int64(q if (int(a) >= 0) == (int(b) > 0) else -q)


def _mod(a: Any, b: Any) -> int:
    return _int64(int(a) - _div(a, b) * int(b))


def _num(value: Any, kind: type) -> Any:
    try:
        return kind(text(value).strip()) if isinstance(value, str) else kind(value or 0)
    except (TypeError, ValueError):
        return kind(0)  # Sprig's casts give 0 for what is not a number


BUILTINS: dict[str, Callable[..., Any]] = {
    "eq": lambda a, *b: any(a == x for x in b),
    "ne": lambda a, b: a != b,
    "lt": lambda a, b: a < b,
    "le": lambda a, b: a <= b,
    "gt": lambda a, b: a > b,
    "ge": lambda a, b: a >= b,
    "not": lambda a: not a,
    "len": f_len,
    "index": f_index,
    "print": f_print,
    "println": lambda *a: " ".join(text(x) for x in a) + "\n",
    "printf": lambda fmt, *a: printf(text(fmt), *a),
    "urlquery": lambda *a: urllib.parse.quote_plus(as_bytes(f_print(*a)), safe=""),
    "html": lambda *a: html.escape(f_print(*a)).replace("&#x27;", "&#39;"),
}

SPRIG: dict[str, Callable[..., Any]] = {
    "default": f_default,
    "required": f_required,
    "fail": f_fail,
    "empty": _empty,
    "coalesce": lambda *a: next((x for x in a if not _empty(x)), None),
    "ternary": lambda yes, no, cond: yes if cond else no,
    "list": lambda *a: list(a[:_items(len(a))]),
    "dict": f_dict,
    "get": lambda m, k: m.get(text(k), ""),
    "hasKey": lambda m, k: text(k) in m,
    "keys": f_keys,
    "values": lambda m: [m[k] for k in sorted(m)],
    "first": lambda items: items[0] if items else None,
    "last": lambda items: items[-1] if items else None,
    "has": lambda needle, items: needle in items,
    "sortAlpha": lambda items: sorted(text(x) for x in items),
    "uniq": f_uniq,
    "until": f_until,
    "add": lambda *a: _int64(sum(int(x) for x in a)),
    "add1": lambda a: _int64(int(a) + 1),
    "sub": lambda a, b: _int64(int(a) - int(b)),
    "mul": lambda *a: _int64(_product(a)),
    "div": _div,
    "mod": _mod,
    "max": lambda *a: max(int(x) for x in a),
    "min": lambda *a: min(int(x) for x in a),
    "int": lambda v: int(_num(v, float)) if not isinstance(v, str) or "." in v else _num(v, int),
    "int64": lambda v: _num(v, int),
    "atoi": lambda v: _num(v, int),
    "float64": lambda v: _num(v, float),
}

FUNCTIONS: dict[str, Callable[..., Any]] = {**BUILTINS, **SPRIG, **TEXT, **ENCODING, **CERTS}

#: Functions External Secrets templates may use that we leave out, and why (``migrate eso`` reports them).
LACKING: dict[str, str] = {
    **{name: "reads the operator's environment, refused" for name in ("env", "expandenv")},
    "getHostByName": "makes a network request, refused",
    **{name: "is not deterministic (the Secret would change on every refresh)" for name in (
        "now", "date", "dateInZone", "uuidv4", "randAlphaNum", "randAlpha", "randNumeric", "randAscii", "randBytes",
        "genPrivateKey", "genCA", "genSelfSignedCert", "genSignedCert", "htpasswd", "bcrypt", "shuffle")},
    **{name: "is not available (regular expressions could be made to run for ever)" for name in (
        "regexMatch", "regexFind", "regexFindAll", "regexReplaceAll", "regexReplaceAllLiteral", "regexSplit",
        "mustRegexMatch", "mustRegexReplaceAll")},
    "getSecretKey": "reads another Secret; list it in spec.data instead",
    "lookup": "reads cluster objects, refused",
}
