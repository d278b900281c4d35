"""Property-based fuzzing (hypothesis) of the template engine, like the parsers in test_fuzz.py.

A template is user input: whatever its text, rendering may only raise ``TemplateError`` (ours), and no
error message may carry a fetched value. Two generators: arbitrary text with template delimiters mixed
in, and templates assembled from the grammar's pieces (fields, literals, function calls with any
arguments, pipes, blocks), which reach the functions and the sandbox far more often than random text.
"""

from __future__ import annotations

import base64
from typing import Any

from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from config_manager.errors import ConfigManagerError
from config_manager.k8s.write.template import TemplateError, render
from config_manager.k8s.write.template.functions import FUNCTIONS

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
CANARY = "fuzz-canary-7f3a"
VALUES = {"password": CANARY, "json": '{"a": {"b": "' + CANARY + '"}, "l": [1, "' + CANARY + '"]}',
          "b64": base64.b64encode(CANARY.encode()).decode(), "yaml": f"k: {CANARY}\n", "n": "12", "empty": "",
          "bin": base64.b64encode(bytes(range(256))).decode()}


def check(template: str) -> None:
    assume(CANARY not in template)
    try:
        out = render(template, VALUES, field="spec.target.template.data[k]")
    except TemplateError as exc:
        assert CANARY not in str(exc) and "7f3a" not in str(exc), "an error message carries a value"
        assert str(exc).startswith("spec.target.template.data[k]: ")
        return
    except ConfigManagerError as exc:  # pragma: no cover - a failure message below
        raise AssertionError(f"not a TemplateError: {type(exc).__name__}") from exc
    assert isinstance(out, str)


pieces = st.sampled_from([
    "{{", "}}", "{{-", "-}}", "{{ ", " }}", ".", ".password", ".json", "$", "$x", ":=", "=", "|", "(", ")", '"',
    "`", "'", "\\", "if", "else", "end", "range", "with", "define", "break", "nil", "true", "0x", "-", "/*", "*/",
    "{%", "%}", "{#", "__class__", "__globals__", "cycler", "self", "index", ".__init__", "\n", " ", "é", "\udcff",
])


@FUZZ
@given(st.lists(st.one_of(pieces, st.text(max_size=6)), max_size=30).map("".join))
@example("{{ ''.__class__.__mro__ }}")
@example("{{ cycler.__init__.__globals__.os }}")
@example("{{ range $k, $v := . }}{{ $v }}{{ else }}{{ end }}")
@example("{{ (index . \"json\" | fromJson).a.b | required | b64dec }}")
@example("{{" * 300)
@example('{{ "\\ud800" }}')
def test_any_text_renders_or_fails_with_our_error_only(template: str) -> None:
    check(template)


operand = st.one_of(
    st.sampled_from([".password", ".json", ".b64", ".yaml", ".n", ".empty", ".bin", ".", "$", "nil", "true", "0", "-1",
                     "3", "2.5", '""', '"CERTIFICATE"', '"a,b"', '"%s %d %q %v %x"', "100000", "(list 1 2)",
                     '(dict "a" .password)', "(.json | fromJson)", "(.json | fromJson).a", "(.b64 | b64dec)"]),
    st.text(alphabet="abc,:%{}-\\\"", max_size=6).map(lambda s: '"' + s.replace("\\", "").replace('"', "") + '"'),
)
call = st.builds(lambda fn, args: " ".join([fn, *args]), st.sampled_from(sorted(FUNCTIONS)), st.lists(operand, max_size=3))
pipeline = st.builds(lambda head, rest: " | ".join([head, *rest]), st.one_of(operand, call), st.lists(call, max_size=3))


@st.composite
def templates(draw: st.DrawFn) -> str:
    out: list[str] = []
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["out", "if", "range", "with", "var", "text"]))
        body = draw(pipeline)
        if kind == "out":
            out.append("{{ " + body + " }}")
        elif kind == "text":
            out.append(draw(st.text(max_size=8)))
        elif kind == "var":
            out.append("{{ $v := " + body + " }}{{ $v }}")
        else:
            head = f"range $k, $e := {body}" if kind == "range" and draw(st.booleans()) else f"{kind} {body}"
            inner = "{{ . }}" if kind != "range" else "{{ . | toString }}"
            out.append("{{ " + head + " }}" + inner + "{{ else }}-{{ end }}")
    return "".join(out)


@FUZZ
@given(templates())
@example("{{ range until 100000 }}{{ range until 100000 }}{{ end }}{{ end }}")
@example('{{ .bin | b64dec | pkcs12key }}')
@example('{{ .json | fromJson | toYaml | fromYaml | toJson | b64enc | b64dec }}')
def test_grammar_built_templates_render_or_fail_with_our_error_only(template: str) -> None:
    check(template)


@FUZZ
@given(st.sampled_from(sorted(FUNCTIONS)), st.lists(st.one_of(st.text(max_size=20), st.integers(), st.none(), st.booleans(),
                                                              st.lists(st.integers(), max_size=3)), max_size=4))
def test_every_function_with_any_arguments_fails_only_with_our_error(name: str, args: list[Any]) -> None:
    values = {f"a{i}": a for i, a in enumerate(args)}
    template = "{{ " + " ".join([name, *(f".a{i}" for i in range(len(args)))]) + " }}"
    try:
        render(template, {**values, "password": CANARY}, field="f")
    except TemplateError as exc:
        assert CANARY not in str(exc)
