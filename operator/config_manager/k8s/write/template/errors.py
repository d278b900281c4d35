"""The one error a template raises, and the limits it is rendered under.

A ``TemplateError`` is an ``InvalidSpecError``: the reconcile reports it as InvalidSpec in status and an
Event, and writes nothing. Its message names the field (``spec.target.template.data[url]``) and, where one
failed, the function; it never carries a value, a piece of the rendered text or a foreign exception's text.
"""

from __future__ import annotations

from ...spec.managedsecret import InvalidSpecError

#: Characters one template may produce (a whole Secret is at most 1 MiB).
MAX_OUTPUT = 1 << 20
#: Characters of template text we accept (the CRD allows 64 KiB per key).
MAX_SOURCE = 256 * 1024
#: Loop iterations of one render, over all ``range`` loops.
MAX_ITERATIONS = 20_000
#: Characters the functions of one render may read and write, together.
MAX_WORK = 64 << 20
#: Nesting of blocks and parentheses.
MAX_DEPTH = 32
#: Items a list or map made by a template may hold.
MAX_ITEMS = 10_000


class TemplateError(InvalidSpecError):
    """A template that cannot be rendered: bad syntax, a missing key, a failing function, a limit."""


class FunctionFailed(Exception):
    """Raised inside a render by a function wrapper; carries only the function's name."""

    def __init__(self, name: str, why: str = "failed") -> None:
        self.name = name
        self.why = why
        super().__init__(name)


class LimitExceeded(Exception):
    """Raised inside a render when a budget (output, iterations, work, items) runs out."""

    def __init__(self, what: str) -> None:
        self.what = what
        super().__init__(what)


class Missing(Exception):
    """A field that is not there: ``name`` is the key asked for (spec text, not a value)."""

    def __init__(self, name: str, top: bool) -> None:
        self.key = name
        self.top = top
        super().__init__(name)
