"""Parse and render configuration text: JSON, YAML, dotenv and Java properties.

``parse(text, fmt)`` gives a dict; ``render(data, fmt)`` gives text. File sources and the operator's
ConfigBundle (which reads ConfigMaps and renders its output in a chosen format) both use these.

* JSON and YAML: the top level must be a mapping. Rendering sorts keys, so the same data always gives
  the same text (the operator hashes rendered output to skip writes when nothing changed).
* dotenv: ``NAME=value`` lines, ``export`` prefix, ``#`` comments, single quotes (literal), double
  quotes (escapes ``\\n \\t \\r \\" \\\\ \\$``, may span lines), inline comments after unquoted values.
  Parsed flat: ``{"DATABASE_PASSWORD": "..."}``. Rendering flattens sections with ``_`` in upper case.
* properties: ``key=value``, ``key: value`` or ``key value``, ``#``/``!`` comments, backslash line
  continuation, ``\\uXXXX`` and the usual escapes. Parsed into sections on ``.``
  (``database.password=x`` → ``{"database": {"password": "x"}}``); rendering flattens with ``.``.

Errors are ``SourceError`` naming the format and line, never the line's content (it may be a secret).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import PurePath
from typing import Any

import yaml

from ..errors import SourceError
from .tree import flatten, leaves, unflatten

FORMATS = ("json", "yaml", "env", "properties")
_ALIASES = {"yml": "yaml", "dotenv": "env", "props": "properties", "java-properties": "properties"}
_SUFFIXES = {".json": "json", ".yaml": "yaml", ".yml": "yaml", ".env": "env", ".properties": "properties"}


def normalise_format(fmt: str) -> str:
    name = fmt.lower().lstrip(".")
    name = _ALIASES.get(name, name)
    if name not in FORMATS:
        raise SourceError(f"unknown configuration format {fmt!r}; known: {', '.join(FORMATS)}")
    return name


def format_for_path(path: str | PurePath) -> str | None:
    """The format a file name suggests (``.enc`` and similar outer suffixes are skipped), or None."""
    pure = PurePath(path)
    if pure.name == ".env" or pure.name.startswith(".env."):
        return "env"
    for suffix in reversed(pure.suffixes):
        if suffix.lower() in _SUFFIXES:
            return _SUFFIXES[suffix.lower()]
    return None


def parse(text: str, fmt: str) -> dict[str, Any]:
    """The mapping ``text`` holds in format ``fmt`` (json, yaml, env, properties)."""
    name = normalise_format(fmt)
    if name == "json":
        return _parse_json(text)
    if name == "yaml":
        return _parse_yaml(text)
    if name == "env":
        return parse_dotenv(text)
    return unflatten(parse_properties(text))


def render(data: Mapping[str, Any], fmt: str) -> str:
    """``data`` as text in format ``fmt``; deterministic (sorted keys)."""
    name = normalise_format(fmt)
    if name == "json":
        return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False, default=str) + "\n"
    if name == "yaml":
        return yaml.safe_dump(_plain(data), sort_keys=True, default_flow_style=False, allow_unicode=True)
    if name == "env":
        return render_dotenv(data)
    return render_properties(data)


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return value


def _scalar_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, dict)):
        return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)
    return str(value)


# -- JSON / YAML ---------------------------------------------------------------------------------


def _parse_json(text: str) -> dict[str, Any]:
    if not text.strip():
        return {}
    problem = None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:  # exc.doc holds the whole text: raised outside, not chained
        problem = f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
    except RecursionError:  # "[[[[..." deeper than the interpreter's stack: hostile input, not a crash
        problem = "invalid JSON: nested too deeply"
    if problem is not None:
        raise SourceError(problem)
    if not isinstance(data, dict):
        raise SourceError(f"JSON configuration must be an object at the top level, not {type(data).__name__}")
    return data


def _parse_yaml(text: str) -> dict[str, Any]:
    failure = None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        # str(exc) quotes the offending line: report only where it is, and do not chain it.
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1} column {mark.column + 1}" if mark is not None else ""
        failure = f"invalid YAML{where}: {getattr(exc, 'problem', None) or 'syntax error'}"
    except RecursionError:
        failure = "invalid YAML: nested too deeply"
    if failure is not None:
        raise SourceError(failure)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise SourceError(f"YAML configuration must be a mapping at the top level, not {type(data).__name__}")
    return data


# -- dotenv ---------------------------------------------------------------------------------------

_ENV_LINE = re.compile(r"^\s*(?:export\s+)?(?P<name>[A-Za-z_][A-Za-z0-9_.\-]*)\s*=\s*(?P<rest>.*)$", re.DOTALL)
_ENV_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\", "$": "$"}
_ENV_BARE = re.compile(r"[A-Za-z0-9_./:@+,%=\-]*")


_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def _text_lines(text: str) -> list[str]:
    """Lines split on \\n, \\r\\n and \\r only: ``str.splitlines`` also splits on \\x1c-\\x1e, \\x85,
    \\u2028 and more, which are ordinary characters inside a dotenv or properties value."""
    lines = _LINE_BREAK.split(text.lstrip("\ufeff"))
    return lines[:-1] if lines and lines[-1] == "" else lines


def parse_dotenv(text: str) -> dict[str, str]:
    """``NAME=value`` lines into a flat dict (see the module docstring for the syntax)."""
    lines = _text_lines(text)
    result: dict[str, str] = {}
    index = 0
    while index < len(lines):
        number, line = index + 1, lines[index]
        index += 1
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        match = _ENV_LINE.match(line)
        if match is None:
            raise SourceError(f"dotenv line {number}: expected NAME=value")
        name, rest = match.group("name"), match.group("rest")
        if rest[:1] in ('"', "'"):
            quote, body, after = rest[0], rest[1:], ""
            while True:
                end = _closing_quote(body, quote)
                if end >= 0:
                    after, body = body[end + 1 :], body[:end]
                    break
                if index >= len(lines):
                    raise SourceError(f"dotenv line {number}: quoted value of {name} is not closed")
                body += "\n" + lines[index]
                index += 1
            if after.strip() and not after.strip().startswith("#"):
                raise SourceError(f"dotenv line {number}: unexpected text after the quoted value of {name}")
            value = _unescape_env(body) if quote == '"' else body
        else:
            value = re.split(r"\s+#", rest, maxsplit=1)[0].strip()
        result[name] = value
    return result


def _closing_quote(body: str, quote: str) -> int:
    position = 0
    while position < len(body):
        char = body[position]
        if char == "\\" and quote == '"':
            position += 2
            continue
        if char == quote:
            return position
        position += 1
    return -1


def _unescape_env(body: str) -> str:
    return re.sub(r"\\(.)", lambda match: _ENV_ESCAPES.get(match.group(1), "\\" + match.group(1)), body, flags=re.DOTALL)


def _env_name(key: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", key).upper()


def render_dotenv(data: Mapping[str, Any]) -> str:
    """Flatten sections with ``_`` (upper case names) and write ``NAME=value`` lines, quoted as needed."""
    lines: dict[str, str] = {}
    sources: dict[str, str] = {}
    for path, value in leaves(data):
        key = ".".join(path)
        name = _env_name("_".join(path))
        if name in sources:
            raise SourceError(f"keys {sources[name]!r} and {key!r} both become {name} in dotenv output")
        sources[name] = key
        text = _scalar_text(value)
        if _ENV_BARE.fullmatch(text):
            lines[name] = text
        elif "'" not in text and "\n" not in text and "\r" not in text:
            lines[name] = f"'{text}'"
        else:
            escaped = (text.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$")
                       .replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t"))
            lines[name] = f'"{escaped}"'
    return "".join(f"{name}={lines[name]}\n" for name in sorted(lines))


# -- Java properties -----------------------------------------------------------------------------

_PROP_ESCAPES = {"t": "\t", "n": "\n", "r": "\r", "f": "\f"}


def _logical_lines(text: str) -> list[tuple[int, str]]:
    result: list[tuple[int, str]] = []
    pending: str | None = None
    start = 0
    for number, raw in enumerate(_text_lines(text), start=1):
        line = raw.lstrip(" \t\f") if pending is not None else raw
        if pending is None:
            stripped = line.lstrip(" \t\f")
            if not stripped or stripped[0] in "#!":
                continue
            line, start = stripped, number
        trailing = len(line) - len(line.rstrip("\\"))
        if trailing % 2 == 1:
            pending = (pending or "") + line[:-1]
            continue
        result.append((start, (pending or "") + line))
        pending = None
    if pending is not None:
        result.append((start, pending))
    return result


def _unescape_property(text: str, number: int) -> str:
    out: list[str] = []
    position = 0
    while position < len(text):
        char = text[position]
        if char != "\\" or position + 1 >= len(text):
            out.append(char)
            position += 1
            continue
        nxt = text[position + 1]
        if nxt == "u":
            digits = text[position + 2 : position + 6]
            if len(digits) != 4 or not all(c in "0123456789abcdefABCDEF" for c in digits):
                raise SourceError(f"properties line {number}: malformed \\uXXXX escape")
            out.append(chr(int(digits, 16)))
            position += 6
            continue
        out.append(_PROP_ESCAPES.get(nxt, nxt))
        position += 2
    joined = "".join(out)
    try:  # \uD83D\uDE00 pairs become one character
        return joined.encode("utf-16", "surrogatepass").decode("utf-16")
    except UnicodeDecodeError:
        pass  # the error holds the text: raised below, unchained
    raise SourceError(f"properties line {number}: unpaired surrogate escape")


def parse_properties(text: str) -> dict[str, str]:
    """Java ``.properties`` text into a flat dict (``parse(text, "properties")`` nests it on dots)."""
    result: dict[str, str] = {}
    for number, line in _logical_lines(text):
        position = 0
        while position < len(line):
            char = line[position]
            if char == "\\":
                position += 2
                continue
            if char in "=: \t\f":
                break
            position += 1
        key_raw, rest = line[:position], line[position:]
        rest = rest.lstrip(" \t\f")
        if rest[:1] in ("=", ":"):
            rest = rest[1:].lstrip(" \t\f")
        result[_unescape_property(key_raw, number)] = _unescape_property(rest, number)
    return result


def _escape_property(text: str, *, is_key: bool) -> str:
    out: list[str] = []
    for index, char in enumerate(text):
        if char == "\\":
            out.append("\\\\")
        elif char in "\t\n\r\f":
            out.append("\\" + {"\t": "t", "\n": "n", "\r": "r", "\f": "f"}[char])
        elif char in "=:#!" or (char == " " and (is_key or index == 0)):
            out.append("\\" + char)
        elif ord(char) < 0x20 or ord(char) > 0x7E:
            for unit in range(0, len(char.encode("utf-16-be")), 2):
                code = int.from_bytes(char.encode("utf-16-be")[unit : unit + 2], "big")
                out.append(f"\\u{code:04x}")
        else:
            out.append(char)
    return "".join(out)


def render_properties(data: Mapping[str, Any]) -> str:
    """Flatten sections with ``.`` and write escaped ``key=value`` lines (ASCII only, sorted)."""
    flat = flatten(data, sep=".")
    return "".join(
        f"{_escape_property(key, is_key=True)}={_escape_property(_scalar_text(flat[key]), is_key=False)}\n"
        for key in sorted(flat)
    )
