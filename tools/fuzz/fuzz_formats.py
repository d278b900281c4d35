"""atheris harness: every configuration text parser (``config_manager.sources.formats``).

The first input byte picks the format (json, yaml, env, properties), the rest is the text. Any exception
other than ``ConfigManagerError`` is a crash. See docs/fuzzing.md.
"""

from __future__ import annotations

import sys

import atheris  # type: ignore[import-untyped]  # only in the fuzzing venv (docs/fuzzing.md)

with atheris.instrument_imports():
    from config_manager.errors import ConfigManagerError
    from config_manager.sources import formats

FORMATS = ("json", "yaml", "env", "properties")


def test_one_input(data: bytes) -> None:
    if not data:
        return
    fmt = FORMATS[data[0] % len(FORMATS)]
    text = atheris.FuzzedDataProvider(data[1:]).ConsumeUnicodeNoSurrogates(len(data))
    try:
        parsed = formats.parse(text, fmt)
    except ConfigManagerError:
        return
    assert isinstance(parsed, dict)


def main() -> None:
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
