"""A Go template (the subset External Secrets users write) translated into Jinja source for the sandbox.

The Jinja source holds no user text: plain text, strings and numbers become ``_k[i]`` (a constants tuple
passed at render time), functions become ``f_<name>`` from our table only, fields ``f__field(dot, _k[i])``,
variables ``v_<name>``. So the template cannot name a Jinja global, an attribute or a Python object: what
is not in the grammar below is refused with a message saying what.

Supported: ``{{ pipeline }}`` (``.key``, ``.a.b``, ``$``, ``$v``, ``$v.a``, literals, ``(pipeline)``,
``(pipeline).a``, ``fn args...``, ``x | fn args...`` with the piped value as the last argument, as in Go),
``{{ $v := pipeline }}`` / ``{{ $v = pipeline }}``, ``if / else if / else / end``, ``range`` (over a map in
key order, a list; ``$k, $v :=``, ``$v :=``; ``else``; ``break`` / ``continue``), ``with / else / end``,
comments. Not supported: ``define``, ``template``, ``block``, assigning inside a loop to a variable
declared outside it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

from .errors import MAX_DEPTH
from .functions import FUNCTIONS, LACKING
from .lexer import Action, SyntaxProblem, Token, split

_UNSUPPORTED = {"define", "template", "block"}


@dataclass(frozen=True)
class Translation:
    """Jinja source and the constants it indexes."""

    source: str
    constants: tuple[object, ...]


@dataclass
class _Frame:
    kind: str  # if | range | with
    dot: str  # the dot outside the block
    scope: set[str] = field(default_factory=set)
    has_else: bool = False


@lru_cache(maxsize=1024)
def translate(template: str) -> Translation:
    """The Jinja source for ``template``. Raises SyntaxProblem."""
    return _Translator().run(template)


class _Translator:
    def __init__(self) -> None:
        self.constants: list[object] = []
        self.index: dict[tuple[type, object], int] = {}
        self.out: list[str] = []
        self.dot = "_d0"
        self.frames: list[_Frame] = []
        self.scopes: list[set[str]] = [set()]
        self.names = 0

    def run(self, template: str) -> Translation:
        for piece in split(template):
            if isinstance(piece, str):
                self.out.append("{{ %s }}" % self.const(piece))
            else:
                self.action(piece)
        if self.frames:
            raise SyntaxProblem(f"unclosed {{{{ {self.frames[-1].kind} }}}} (missing {{{{ end }}}})")
        return Translation("".join(self.out), tuple(self.constants))

    # -- helpers ------------------------------------------------------------------------------------------

    def const(self, value: object) -> str:
        key = (type(value), value)
        if key not in self.index:
            self.index[key] = len(self.constants)
            self.constants.append(value)
        return f"_k[{self.index[key]}]"

    def fresh(self) -> str:
        self.names += 1
        return f"_d{self.names}"

    def declared(self, name: str) -> bool:
        return any(name in scope for scope in self.scopes)

    def var(self, text: str, line: int) -> str:
        name, _, path = text.partition(".")
        if not name:
            base = "_d0"
        elif self.declared(name):
            base = f"v_{name}"
        else:
            raise SyntaxProblem(f"line {line}: undefined variable ${name}")
        return f"f__field({base}, {self.const(path)})" if path else base

    # -- actions ------------------------------------------------------------------------------------------

    def action(self, action: Action) -> None:
        tokens, line = action.tokens, action.line
        head = tokens[0]
        word = head.text if head.kind == "ident" else ""
        if word in _UNSUPPORTED:
            raise SyntaxProblem(f"line {line}: {{{{ {word} }}}} is not supported (write the text inline)")
        if word == "if":
            expr = self.pipeline(tokens, 1, line)
            self.open("if")
            self.out.append("{%% if f__truth(%s) %%}" % expr)
        elif word == "else":
            self.else_(tokens, line)
        elif word == "end":
            self.end(tokens, line)
        elif word == "range":
            self.range_(tokens, line)
        elif word == "with":
            expr = self.pipeline(tokens, 1, line)
            frame = self.open("with")
            self.dot = self.fresh()
            frame.scope.add(self.dot)
            self.out.append("{%% with %s = %s %%}{%% if f__truth(%s) %%}" % (self.dot, expr, self.dot))
        elif word in ("break", "continue"):
            if len(tokens) != 1 or not any(f.kind == "range" for f in self.frames):
                raise SyntaxProblem(f"line {line}: {{{{ {word} }}}} outside a range")
            self.out.append("{%% %s %%}" % word)
        elif head.kind == "var" and len(tokens) > 1 and tokens[1].kind in (":=", "="):
            self.assign(tokens, line)
        else:
            self.out.append("{{ %s }}" % self.pipeline(tokens, 0, line))

    def open(self, kind: str) -> _Frame:
        if len(self.frames) >= MAX_DEPTH:
            raise SyntaxProblem(f"blocks nested deeper than {MAX_DEPTH}")
        frame = _Frame(kind, self.dot)
        self.frames.append(frame)
        self.scopes.append(frame.scope)
        return frame

    def else_(self, tokens: tuple[Token, ...], line: int) -> None:
        if not self.frames or self.frames[-1].has_else:
            raise SyntaxProblem(f"line {line}: {{{{ else }}}} without an open if, range or with")
        frame = self.frames[-1]
        if len(tokens) > 1:
            if tokens[1].text != "if" or frame.kind != "if":
                raise SyntaxProblem(f"line {line}: only {{{{ else if }}}} may follow an if")
            self.out.append("{%% elif f__truth(%s) %%}" % self.pipeline(tokens, 2, line))
            return
        frame.has_else = True
        self.dot = frame.dot  # the else branch of range / with sees the outer dot
        self.out.append("{% else %}")

    def end(self, tokens: tuple[Token, ...], line: int) -> None:
        if len(tokens) != 1 or not self.frames:
            raise SyntaxProblem(f"line {line}: {{{{ end }}}} without an open if, range or with")
        frame = self.frames.pop()
        self.scopes.pop()
        self.dot = frame.dot
        self.out.append({"if": "{% endif %}", "range": "{% endfor %}", "with": "{% endif %}{% endwith %}"}[frame.kind])

    def range_(self, tokens: tuple[Token, ...], line: int) -> None:
        names: list[str] = []
        pos = 1
        if len(tokens) > 2 and tokens[1].kind == "var":
            pos = 2
            names.append(tokens[1].text)
            if tokens[2].kind == ",":
                if len(tokens) < 4 or tokens[3].kind != "var":
                    raise SyntaxProblem(f"line {line}: range needs $key, $value :=")
                names.append(tokens[3].text)
                pos = 4
            if pos >= len(tokens) or tokens[pos].kind != ":=":
                raise SyntaxProblem(f"line {line}: range variables need :=")
            pos += 1
        if any("." in n or not n for n in names):
            raise SyntaxProblem(f"line {line}: bad range variable")
        expr = self.pipeline(tokens, pos, line)
        frame = self.open("range")
        frame.scope.update(names)
        if len(names) == 2:
            self.dot = f"v_{names[1]}"
            self.out.append("{%% for v_%s, v_%s in f__pairs(%s) %%}" % (names[0], names[1], expr))
        else:
            self.dot = f"v_{names[0]}" if names else self.fresh()
            self.out.append("{%% for %s in f__items(%s) %%}" % (self.dot, expr))

    def assign(self, tokens: tuple[Token, ...], line: int) -> None:
        name = tokens[0].text
        if not name or "." in name:
            raise SyntaxProblem(f"line {line}: cannot assign to ${name}")
        expr = self.pipeline(tokens, 2, line)
        if tokens[1].kind == ":=":
            self.scopes[-1].add(name)
        elif not self.declared(name):
            raise SyntaxProblem(f"line {line}: undefined variable ${name}")
        elif not any(name in s for s in self.scopes[self._loop_scope():]):
            raise SyntaxProblem(f"line {line}: assigning inside a range to ${name}, declared outside it, is not supported")
        self.out.append("{%% set v_%s = %s %%}" % (name, expr))

    def _loop_scope(self) -> int:
        """Index in ``scopes`` of the innermost range's scope (0 when not in a range)."""
        for i in range(len(self.frames) - 1, -1, -1):
            if self.frames[i].kind == "range":
                return i + 1
        return 0

    # -- pipelines ----------------------------------------------------------------------------------------

    def pipeline(self, tokens: tuple[Token, ...], pos: int, line: int, depth: int = 0) -> str:
        expr, pos = self.parse_pipeline(tokens, pos, line, depth)
        if pos != len(tokens):
            raise SyntaxProblem(f"line {line}: unexpected {tokens[pos].text!r}")
        return expr

    def parse_pipeline(self, tokens: tuple[Token, ...], pos: int, line: int, depth: int) -> tuple[str, int]:
        if depth > MAX_DEPTH:
            raise SyntaxProblem(f"line {line}: expression nested deeper than {MAX_DEPTH}")
        piped: str | None = None
        while True:
            start = pos
            head: Token | None = tokens[pos] if pos < len(tokens) else None
            args: list[str] = []
            while pos < len(tokens) and tokens[pos].kind not in ("|", ")"):
                if pos > start and tokens[pos].kind == "ident":
                    args.append(self.call(tokens[pos].text, [], line))
                    pos += 1
                    continue
                if pos == start and tokens[pos].kind == "ident":
                    pos += 1
                    continue
                arg, pos = self.operand(tokens, pos, line, depth)
                args.append(arg)
            if head is None or pos == start:
                raise SyntaxProblem(f"line {line}: missing value in a pipeline")
            if head.kind == "ident":
                piped = self.call(head.text, args + ([piped] if piped is not None else []), line, piped=piped is not None)
            elif len(args) > 1 or piped is not None:
                raise SyntaxProblem(f"line {line}: can't give an argument to a non-function")
            else:
                piped = args[0]
            if pos < len(tokens) and tokens[pos].kind == "|":
                pos += 1
                if pos >= len(tokens) or tokens[pos].kind != "ident":
                    raise SyntaxProblem(f"line {line}: a function must follow '|'")
                continue
            return piped, pos

    def operand(self, tokens: tuple[Token, ...], pos: int, line: int, depth: int) -> tuple[str, int]:
        token = tokens[pos]
        if token.kind == "(":
            expr, pos = self.parse_pipeline(tokens, pos + 1, line, depth + 1)
            if pos >= len(tokens) or tokens[pos].kind != ")":
                raise SyntaxProblem(f"line {line}: missing ')'")
            pos += 1
            while pos < len(tokens) and tokens[pos].kind == "chain":
                expr = f"f__field({expr}, {self.const(tokens[pos].text)})"
                pos += 1
            return expr, pos
        if token.kind == "field":
            return f"f__field({self.dot}, {self.const(token.text)})", pos + 1
        if token.kind == "dot":
            return self.dot, pos + 1
        if token.kind == "var":
            return self.var(token.text, line), pos + 1
        if token.kind == "string":
            return self.const(token.text), pos + 1
        if token.kind == "number":
            text = token.text
            try:
                digits = text.lower().lstrip("-")
                base = 16 if digits.startswith("0x") else 8 if len(digits) > 1 and digits[0] == "0" and digits.isdigit() else 10
                value: object = float(text) if base == 10 and any(c in text for c in ".eE") else int(text, base)
            except ValueError:
                raise SyntaxProblem(f"line {line}: bad number {text!r}") from None
            return self.const(value), pos + 1
        if token.kind == "bool":
            return self.const(token.text == "true"), pos + 1
        if token.kind == "nil":
            return self.const(None), pos + 1
        raise SyntaxProblem(f"line {line}: unexpected {token.text!r}")

    def call(self, name: str, args: list[str], line: int, *, piped: bool = False) -> str:
        if name in ("and", "or"):
            if not args:
                raise SyntaxProblem(f"line {line}: {name} needs arguments")
            expr = args[-1]
            for arg in reversed(args[:-1]):  # short-circuit, returning the deciding value, as in Go
                cond = f"not f__truth({arg})" if name == "and" else f"f__truth({arg})"
                expr = f"({arg} if {cond} else {expr})"
            return expr
        if name not in FUNCTIONS:
            if name in LACKING:
                raise SyntaxProblem(f"line {line}: function {name!r} {LACKING[name]}")
            if piped:
                raise SyntaxProblem(f"line {line}: unknown filter {name!r} (a function this engine lacks)")
            raise SyntaxProblem(f"line {line}: unsupported placeholder: unknown function {name!r}")
        return f"f_{name}({', '.join(args)})"
