"""Render a translated template in Jinja2's ``SandboxedEnvironment``, under a budget, with our errors only.

The environment has no globals, filters or tests but ours (Jinja's ``range``, ``cycler``, ``lipsum``,
``namespace``, ``dict`` are removed), undefined names are errors, autoescape is off. The translation never
produces an attribute access, and the sandbox refuses any that slipped through. A render may produce at
most ``MAX_OUTPUT`` characters, loop ``MAX_ITERATIONS`` times and let its functions touch ``MAX_WORK``
characters; each limit stops it with a ``TemplateError``. Nothing of a value or of a foreign exception's
message reaches the error: only the field, the function's name and what went wrong.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import TYPE_CHECKING, Any

from .errors import MAX_ITERATIONS, MAX_OUTPUT, MAX_WORK, FunctionFailed, LimitExceeded, Missing, TemplateError
from .functions import FUNCTIONS
from .gofmt import Values, as_bytes, check_size, size, text, truth
from .golang import translate
from .lexer import SyntaxProblem

if TYPE_CHECKING:
    import jinja2


@dataclass
class _Budget:
    iterations: int = 0
    work: int = 0

    def loop(self) -> None:
        self.iterations += 1
        if self.iterations > MAX_ITERATIONS:
            raise LimitExceeded(f"more than {MAX_ITERATIONS} loop iterations")

    def spend(self, amount: int) -> None:
        self.work += amount
        if self.work > MAX_WORK:
            raise LimitExceeded(f"more than {MAX_WORK} characters of work")


_BUDGET: ContextVar[_Budget] = ContextVar("template_budget")


def _guard(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    params = inspect.signature(fn).parameters.values()
    least = sum(1 for p in params if p.kind is p.POSITIONAL_OR_KEYWORD and p.default is p.empty)
    most = None if any(p.kind is p.VAR_POSITIONAL for p in params) else sum(1 for p in params if p.kind is p.POSITIONAL_OR_KEYWORD)

    def call(*args: Any) -> Any:
        if len(args) < least or (most is not None and len(args) > most):
            raise FunctionFailed(name, "got the wrong number of arguments")
        budget = _BUDGET.get()
        budget.spend(sum(size(a) for a in args))
        try:
            result = fn(*args)
        except (FunctionFailed, LimitExceeded, Missing):
            raise
        except Exception:  # noqa: BLE001 - any failure of a function is reported by its name only
            raise FunctionFailed(name) from None
        budget.spend(size(result))
        check_size(result)
        return result

    return call


def _field(item: Any, path: str) -> Any:
    if isinstance(item, Mapping) and path in item:  # a literal key with dots (tls.crt) wins, as before
        return item[path]
    top = isinstance(item, Values)
    for part in path.split("."):
        if not isinstance(item, Mapping) or part not in item:
            raise Missing(path if top else part, top)
        item = item[part]
        top = False
    return item


def _items(item: Any) -> Iterator[Any]:
    for _key, value in _pairs(item):
        yield value


def _pairs(item: Any) -> Iterator[tuple[Any, Any]]:
    budget = _BUDGET.get()
    if item is None:
        return
    if isinstance(item, Mapping):
        entries: Any = sorted(item.items(), key=lambda kv: str(kv[0]))
    elif isinstance(item, (list, tuple)):
        entries = enumerate(item)
    elif isinstance(item, int) and not isinstance(item, bool):
        entries = ((i, i) for i in range(item))
    else:
        raise FunctionFailed("range", "can only range over a map, a list or a number")
    for pair in entries:
        budget.loop()
        yield pair


def _finalize(value: Any) -> str:
    return value if isinstance(value, str) else text(value)


@cache
def _environment() -> jinja2.Environment:
    from jinja2 import StrictUndefined
    from jinja2.sandbox import SandboxedEnvironment

    env = SandboxedEnvironment(autoescape=False, undefined=StrictUndefined, finalize=_finalize, cache_size=0,
                               extensions=["jinja2.ext.loopcontrols"], keep_trailing_newline=True)
    env.globals.clear()
    env.filters.clear()
    env.tests.clear()
    return env


@cache
def _globals() -> dict[str, Any]:
    """What a translated template may name besides ``_k`` and ``_d0``: our functions, nothing else."""
    names: dict[str, Any] = {f"f_{name}": _guard(name, fn) for name, fn in FUNCTIONS.items()}
    names.update({"f__field": _field, "f__items": _items, "f__pairs": _pairs, "f__truth": truth})
    return names


@lru_cache(maxsize=512)
def _compiled(template: str) -> tuple[jinja2.Template, tuple[object, ...]]:
    translation = translate(template)
    return _environment().from_string(translation.source), translation.constants


def render(template: str, values: Mapping[str, Any], *, field: str) -> str:
    """Render ``template`` over ``values`` (text, binary as surrogates). Raises TemplateError naming ``field``."""
    try:
        compiled, constants = _compiled(template)
    except SyntaxProblem as exc:
        raise TemplateError(field, str(exc)) from None
    except RecursionError:
        raise TemplateError(field, "is nested too deeply") from None
    token = _BUDGET.set(_Budget())
    try:
        out: list[str] = []
        length = 0
        context = compiled.new_context({**_globals(), "_k": constants, "_d0": Values(values)}, shared=True)
        for chunk in compiled.root_render_func(context):
            length += len(chunk)
            if length > MAX_OUTPUT:
                raise LimitExceeded(f"output longer than {MAX_OUTPUT} characters")
            out.append(chunk)
        result = "".join(out)
        as_bytes(result)  # text that cannot become bytes (a lone surrogate from a \ud800 escape) fails here
        return result
    except Missing as exc:
        paths = [c for c in constants if isinstance(c, str)]  # field names are spec text: safe to show
        shown = exc.key if any(exc.key == p or exc.key in p.split(".") for p in paths) else "a key"
        what = f"refers to {shown!r}, which was not fetched" if exc.top else f"has no field {shown!r}"
        raise TemplateError(field, what) from None
    except FunctionFailed as exc:
        raise TemplateError(field, f"function {exc.name!r} {exc.why}") from None
    except LimitExceeded as exc:
        raise TemplateError(field, f"refused: {exc.what}") from None
    except Exception as exc:  # noqa: BLE001 - the sandbox's and Jinja's own errors, told by their type only
        raise TemplateError(field, f"refused by the sandbox ({type(exc).__name__})") from None
    finally:
        _BUDGET.reset(token)


def render_all(templates: Mapping[str, str], values: Mapping[str, Any],
               where: str = "spec.target.template.data") -> dict[str, str]:
    """Render every template; errors name ``<where>[<key>]``."""
    return {key: render(text_, values, field=f"{where}[{key}]") for key, text_ in templates.items()}
