"""Sprig's string functions, with Go's argument order (the piped value comes last).

``replace "a" "b" .x`` is ``replace(old, new, src)``, as in Sprig; a function that could grow its input
without bound (``repeat``, ``indent``, ``replace``) is checked against the output limit before it builds
anything.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .errors import MAX_ITEMS, MAX_OUTPUT, LimitExceeded
from .gofmt import quote, text


def _bounded(n: int) -> int:
    if n > MAX_OUTPUT:
        raise LimitExceeded(f"a string longer than {MAX_OUTPUT} characters")
    return n


def f_replace(old: Any, new: Any, src: Any) -> str:
    a, b, s = text(old), text(new), text(src)
    if len(b) > len(a):
        _bounded(len(s) + (len(b) - len(a)) * (s.count(a) if a else len(s) + 1))
    return s.replace(a, b)


def f_repeat(count: Any, src: Any) -> str:
    s = text(src)
    _bounded(max(int(count), 0) * len(s))
    return s * max(int(count), 0)


def f_indent(spaces: Any, src: Any) -> str:
    pad = " " * _bounded(max(int(spaces), 0))
    s = text(src)
    _bounded(len(s) + len(pad) * (s.count("\n") + 1))
    return pad + s.replace("\n", "\n" + pad)


def f_nindent(spaces: Any, src: Any) -> str:
    return "\n" + f_indent(spaces, src)


def f_trunc(length: Any, src: Any) -> str:
    s, n = text(src), int(length)
    if n < 0:
        return s[n:] if -n < len(s) else s
    return s[:n]


def f_substr(start: Any, end: Any, src: Any) -> str:
    s, a, b = text(src), int(start), int(end)
    if a < 0:
        return s[:b] if b >= 0 else s
    if b < 0 or b > len(s):
        return s[a:]
    return s[a:b] if a <= b else ""


def f_split(sep: Any, src: Any) -> dict[str, str]:
    parts = text(src).split(text(sep)) if text(sep) else list(text(src))
    if len(parts) > MAX_ITEMS:
        raise LimitExceeded(f"more than {MAX_ITEMS} items")
    return {f"_{i}": part for i, part in enumerate(parts)}


def f_splitList(sep: Any, src: Any) -> list[str]:  # noqa: N802 - Sprig's name
    return list(f_split(sep, src).values())


def f_join(sep: Any, items: Any) -> str:
    values = [text(v) for v in (items if isinstance(items, (list, tuple)) else [items])]
    _bounded(sum(len(v) for v in values) + len(text(sep)) * len(values))
    return text(sep).join(values)


def f_quote(*values: Any) -> str:
    return " ".join(quote(text(v)) for v in values if v is not None)


def f_squote(*values: Any) -> str:
    return " ".join(f"'{text(v)}'" for v in values if v is not None)


def f_cat(*values: Any) -> str:
    return " ".join(text(v) for v in values if v is not None)


TEXT: dict[str, Callable[..., Any]] = {
    "upper": lambda s: text(s).upper(),
    "lower": lambda s: text(s).lower(),
    "title": lambda s: text(s).title(),
    "trim": lambda s: text(s).strip(" \t\r\n\v\f"),
    "trimAll": lambda cut, s: text(s).strip(text(cut)),
    "trimPrefix": lambda p, s: text(s).removeprefix(text(p)),
    "trimSuffix": lambda p, s: text(s).removesuffix(text(p)),
    "nospace": lambda s: "".join(text(s).split()),
    "contains": lambda sub, s: text(sub) in text(s),
    "hasPrefix": lambda p, s: text(s).startswith(text(p)),
    "hasSuffix": lambda p, s: text(s).endswith(text(p)),
    "replace": f_replace,
    "repeat": f_repeat,
    "indent": f_indent,
    "nindent": f_nindent,
    "trunc": f_trunc,
    "substr": f_substr,
    "split": f_split,
    "splitList": f_splitList,
    "join": f_join,
    "quote": f_quote,
    "squote": f_squote,
    "cat": f_cat,
    "toString": text,
}
