"""Property-based fuzzing (hypothesis) of every parser that reads untrusted bytes or text.

Each parser may only fail with our own errors (``config_manager.errors.ConfigManagerError`` and its
subclasses): a ``KeyError``, ``IndexError``, ``struct.error``, ``UnicodeDecodeError``, ``RecursionError``
or a third-party exception leaking out would be a bug (callers catch our classes only). Run in CI with a
bounded number of examples; for long runs see docs/fuzzing.md (atheris harnesses under tools/fuzz/).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from config_manager import crypto
from config_manager.errors import ConfigManagerError
from config_manager.k8s.spec.durations import parse_duration
from config_manager.providers.azure import names as azure_names
from config_manager.secrets.rotation import Cadence
from config_manager.sources import EnvironmentSecretsSource, formats

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
KEY = crypto.generate_key()
SEALED_KEY = crypto.encrypt(b'{"password": "fuzz-canary"}', key=KEY)
SEALED_PASS = crypto.encrypt(b"x=1", passphrase="correct horse")


def only_our_errors(call: Callable[[], Any]) -> Any:
    """Run ``call``; our errors are fine (returned as None), anything else fails the test."""
    try:
        return call()
    except ConfigManagerError:
        return None


# ---------------------------------------------------------------- the encrypted file format
@FUZZ
@given(st.binary(max_size=512))
@example(b"")
@example(SEALED_KEY[:8])
def test_decrypt_of_arbitrary_bytes_raises_only_our_errors(blob: bytes) -> None:
    only_our_errors(lambda: crypto.decrypt(blob, key=KEY))
    only_our_errors(lambda: crypto.decrypt(blob, passphrase="pw"))
    only_our_errors(lambda: crypto.parse(blob))


@st.composite
def mutated(draw: st.DrawFn, original: bytes) -> bytes:
    """A real blob with a few bytes replaced, inserted or deleted (header fields included)."""
    data = bytearray(original)
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["replace", "insert", "delete", "truncate"]))
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        if op == "replace" and data:
            data[at] = draw(st.integers(0, 255))
        elif op == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif op == "delete" and data:
            del data[at:at + draw(st.integers(1, 8))]
        else:
            del data[at:]
    return bytes(data)


@FUZZ
@given(st.one_of(mutated(SEALED_KEY), mutated(SEALED_PASS)))
def test_decrypt_of_mutated_blobs_never_returns_other_plaintext(blob: bytes) -> None:
    for kwargs in ({"key": KEY}, {"passphrase": "correct horse"}):
        result = only_our_errors(lambda: crypto.decrypt(blob, **kwargs))  # noqa: B023 - called at once
        # authenticated encryption: a changed blob either fails or (unchanged ciphertext) gives the original
        assert result in (None, b'{"password": "fuzz-canary"}', b"x=1")


# ---------------------------------------------------------------- config source parsers
text = st.text(alphabet=st.characters(codec="utf-8"), max_size=300)
structured = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


@FUZZ
@pytest.mark.parametrize("fmt", ["json", "yaml", "env", "properties"])
@given(source=text)
@example(source="[" * 2000)  # deep nesting
@example(source="a: &a [*a]")  # recursive YAML alias
@example(source="!!python/object:os.system x")  # unsafe YAML tag
@example(source="KEY='unterminated")
@example(source="key=\\u12")  # broken properties escape
def test_format_parsers_raise_only_our_errors(fmt: str, source: str) -> None:
    result = only_our_errors(lambda: formats.parse(source, fmt))
    assert result is None or isinstance(result, dict)


@FUZZ
@pytest.mark.parametrize("fmt", ["json", "yaml"])
@given(data=st.dictionaries(st.text(max_size=10), structured, max_size=5))
def test_json_and_yaml_text_of_any_document_parses(fmt: str, data: dict[str, Any]) -> None:
    source = json.dumps(data)  # JSON is YAML too
    result = only_our_errors(lambda: formats.parse(source, fmt))
    assert result is None or isinstance(result, dict)


@FUZZ
@pytest.mark.parametrize("fmt", ["env", "properties"])
@given(data=st.dictionaries(st.from_regex(r"[A-Z][A-Z0-9]{0,10}", fullmatch=True), st.text(max_size=30), max_size=6))
def test_flat_formats_round_trip(fmt: str, data: dict[str, str]) -> None:
    """Flat upper-case names: dotenv renders names upper-case and '_'/'.' would nest (both by design)."""
    rendered = only_our_errors(lambda: formats.render(data, fmt))
    if rendered is not None:
        assert formats.parse(rendered, fmt) == data


@FUZZ
@given(st.dictionaries(st.text(max_size=20), st.text(max_size=20), max_size=8), st.text(max_size=5))
@example({"APP_": "x", "APP__": "y", "APP___A": "z", "APP_A": "1", "APP_A_B": "2"}, "APP_")
def test_environment_source_raises_only_our_errors(environ: dict[str, str], prefix: str) -> None:
    source = EnvironmentSecretsSource(env_prefix=prefix, environ=environ)
    result = only_our_errors(source.load)
    assert result is None or isinstance(result, dict)


# ---------------------------------------------------------------- durations, cron, Azure names
@FUZZ
@given(st.one_of(text, st.from_regex(r"([0-9]{1,400}(\.[0-9]{1,5})?(ns|us|µs|ms|s|m|h)){1,4}", fullmatch=True)))
@example("9" * 400 + "h")
def test_durations_raise_only_our_errors_and_are_finite(value: str) -> None:
    seconds = only_our_errors(lambda: parse_duration(value, "spec.refreshInterval"))
    if seconds is not None:
        assert seconds >= 0 and seconds != float("inf"), f"{value!r} parsed to {seconds}"


@FUZZ
@given(st.one_of(text, st.lists(st.sampled_from(["*", "*/0", "61", "-1", "1-", "L", "?", "0", "5/2", "MON-", "x"]),
                                 min_size=0, max_size=7).map(" ".join)))
@example("*/0 * * * *")
@example("0 0 31 2 *")  # never fires
def test_cron_cadence_raises_only_our_errors(expression: str) -> None:
    cadence = only_our_errors(lambda: Cadence(cron=expression))
    if cadence is not None:
        moment = datetime(2026, 1, 1, tzinfo=timezone.utc)
        nxt = only_our_errors(lambda: cadence.next_after(moment))
        assert nxt is None or nxt > moment


@FUZZ
@given(st.one_of(st.text(max_size=200), st.from_regex(r"[A-Za-z0-9-]{0,20}(--[0-9a-zA-Z-]{0,8}){1,4}", fullmatch=True)))
@example("a--")
@example("a--zz")
@example("a--d800")
def test_azure_name_decoding_raises_only_our_errors(name: str) -> None:
    """Encoding is fuzzed in tests/unit/test_azure_names.py; decoding names listed by a vault is not."""
    only_our_errors(lambda: azure_names.decode(name))


def test_interval_cadence_rejects_non_positive() -> None:
    with pytest.raises(ConfigManagerError):
        Cadence(interval=timedelta(0))
