"""atheris harness: the template engine (``config_manager.k8s.write.template.render``).

The input is the template text, rendered over fixed values holding a canary. Any exception other than
``TemplateError`` is a crash, and so is an error message that carries the canary. See docs/fuzzing.md.
"""

from __future__ import annotations

import sys

import atheris  # type: ignore[import-untyped]  # only in the fuzzing venv (docs/fuzzing.md)

with atheris.instrument_imports():
    from config_manager.k8s.write.template import TemplateError, render

CANARY = "fuzz-canary-7f3a"
VALUES = {"password": CANARY, "json": '{"a": {"b": "' + CANARY + '"}}', "n": "12", "empty": ""}


def test_one_input(data: bytes) -> None:
    template = atheris.FuzzedDataProvider(data).ConsumeUnicodeNoSurrogates(len(data))
    if CANARY in template:
        return
    try:
        render(template, VALUES, field="f")
    except TemplateError as exc:
        assert CANARY not in str(exc), "an error message carries a value"


def main() -> None:
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
