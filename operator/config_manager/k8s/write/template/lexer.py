"""Go-template text split into plain text and actions, and each action into tokens.

Follows Go's ``text/template`` lexer where External Secrets templates use it: ``{{- `` / `` -}}`` trim the
white space beside them, ``{{/* */}}`` is a comment, strings are ``"interpreted"`` (Go escapes) or
`` `raw` ``, fields are ``.name.name`` (``-`` is allowed in a name, as our first template syntax did).
Anything else is a ``SyntaxProblem`` saying what, never quoting the template's surroundings.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import MAX_SOURCE


class SyntaxProblem(Exception):
    """The template cannot be read; the message says what (no template text beyond a token)."""


@dataclass(frozen=True)
class Token:
    kind: str  # field | chain | dot | var | string | number | bool | nil | ident | ( | ) | | | := | = | ,
    text: str  # the token's value (a field's dotted path without the leading dot, a string's decoded text)


@dataclass(frozen=True)
class Action:
    tokens: tuple[Token, ...]
    line: int


Piece = str | Action  # plain text, or an action

_SPACE = " \t\r\n"
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_FIELD = re.compile(r"(?:\.[A-Za-z0-9_][A-Za-z0-9_-]*)+")
_NUMBER = re.compile(r"-?(?:0[xX][0-9a-fA-F]+|\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)")
_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v", "\\": "\\", '"': '"'}
_HEX_LENGTH = {"x": 2, "u": 4, "U": 8}


def split(source: str) -> list[Piece]:
    """Plain text and actions in order, with trim markers applied to the text beside them."""
    if len(source) > MAX_SOURCE:
        raise SyntaxProblem(f"is longer than {MAX_SOURCE} characters")
    pieces: list[Piece] = []
    pos, trim_next = 0, False
    while True:
        start = source.find("{{", pos)
        text = source[pos:] if start < 0 else source[pos:start]
        if trim_next:
            text = text.lstrip(_SPACE)
        if start < 0:
            if text:
                pieces.append(text)
            return pieces
        inner = start + 2
        if source.startswith("- ", inner) or (source.startswith("-", inner) and source[inner + 1:inner + 2] in tuple(_SPACE)):
            text = text.rstrip(_SPACE)
            inner += 1
        if text:
            pieces.append(text)
        line = source.count("\n", 0, start) + 1
        tokens, pos, trim_next = _action(source, inner, line)
        if tokens:
            pieces.append(Action(tuple(tokens), line))


def _action(source: str, pos: int, line: int) -> tuple[list[Token], int, bool]:
    """Tokens of the action starting at ``pos`` (after ``{{``); returns them, the end and the right trim."""
    tokens: list[Token] = []
    while True:
        before = pos
        while pos < len(source) and source[pos] in _SPACE:
            pos += 1
        if pos >= len(source):
            raise SyntaxProblem(f"line {line}: unclosed action (no '}}}}')")
        if source.startswith("}}", pos):
            return tokens, pos + 2, False
        if source.startswith("-}}", pos) and source[pos - 1] in _SPACE:
            return tokens, pos + 3, True
        if source.startswith("/*", pos) and not tokens:
            end = source.find("*/", pos + 2)
            if end < 0:
                raise SyntaxProblem(f"line {line}: unclosed comment")
            pos = end + 2
            continue
        token, pos = _token(source, pos, line)
        if token.kind == "field" and pos - len(token.text) - 1 == before and tokens and tokens[-1].kind == ")":
            token = Token("chain", token.text)  # (pipeline).field: a field of the result
        tokens.append(token)


def _token(source: str, pos: int, line: int) -> tuple[Token, int]:
    ch = source[pos]
    if ch == '"':
        return _interpreted(source, pos, line)
    if ch == "`":
        end = source.find("`", pos + 1)
        if end < 0:
            raise SyntaxProblem(f"line {line}: unterminated raw string")
        return Token("string", source[pos + 1:end]), end + 1
    if ch == "'":
        raise SyntaxProblem(f"line {line}: character constants ('x') are not supported; use a \"string\"")
    if source.startswith(":=", pos):
        return Token(":=", ":="), pos + 2
    if ch in "()|=,":
        return Token(ch, ch), pos + 1
    if ch == ".":
        match = _FIELD.match(source, pos)
        if match:
            return Token("field", match.group(0)[1:]), match.end()
        return Token("dot", "."), pos + 1
    if ch == "$":
        match = _IDENT.match(source, pos + 1)
        name = match.group(0) if match else ""
        end = match.end() if match else pos + 1
        field = _FIELD.match(source, end)
        text = name + (field.group(0) if field else "")
        return Token("var", text), field.end() if field else end
    number = _NUMBER.match(source, pos)
    if number:
        return Token("number", number.group(0)), number.end()
    ident = _IDENT.match(source, pos)
    if ident:
        word = ident.group(0)
        end = ident.end()
        kind = "bool" if word in ("true", "false") else "nil" if word == "nil" else "ident"
        field = _FIELD.match(source, end) if kind == "ident" else None
        if field:  # Go has no fields on a bare name; a field of a call's result is written (fn ...).field
            raise SyntaxProblem(f"line {line}: {word!r} followed by a field is not supported (write .key or (fn ...).field)")
        return Token(kind, word), end
    raise SyntaxProblem(f"line {line}: unexpected character {ch!r} in an action")


def _interpreted(source: str, pos: int, line: int) -> tuple[Token, int]:
    out: list[str] = []
    i = pos + 1
    while i < len(source):
        ch = source[i]
        if ch == '"':
            return Token("string", "".join(out)), i + 1
        if ch == "\n":
            break
        if ch != "\\":
            out.append(ch)
            i += 1
            continue
        esc = source[i + 1:i + 2]
        if esc in _ESCAPES:
            out.append(_ESCAPES[esc])
            i += 2
        elif esc in _HEX_LENGTH:
            digits = source[i + 2:i + 2 + _HEX_LENGTH[esc]]
            if len(digits) != _HEX_LENGTH[esc] or not all(c in "0123456789abcdefABCDEF" for c in digits):
                raise SyntaxProblem(f"line {line}: bad \\{esc} escape in a string")
            code = int(digits, 16)
            if code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
                raise SyntaxProblem(f"line {line}: escape out of range in a string")
            out.append(chr(code))
            i += 2 + len(digits)
        elif esc and esc in "01234567" and re.fullmatch(r"[0-7]{3}", source[i + 1:i + 4]):
            out.append(chr(int(source[i + 1:i + 4], 8) & 0xFF))
            i += 4
        else:
            raise SyntaxProblem(f"line {line}: unknown escape in a string")
    raise SyntaxProblem(f"line {line}: unterminated string")
