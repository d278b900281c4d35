"""The reversible key <-> Azure secret name mapping (providers/azure/names.py)."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from config_manager.errors import ConfigurationError
from config_manager.providers.azure.names import MAX_NAME_LENGTH, decode, encode, is_plain

AZURE_NAME = re.compile(r"[0-9A-Za-z-]{1,127}")


@pytest.mark.parametrize(
    "key",
    ["storage-account-key", "sql-connection-string", "apikey", "A1-b2-C3", "x"],
)
def test_names_azure_already_accepts_are_used_as_they_are(key: str) -> None:
    assert encode(key) == key
    assert decode(key) == key


@pytest.mark.parametrize(
    ("key", "name"),
    [
        ("database/production", "database--sproduction"),
        ("api_key", "api--ukey"),
        ("app.config", "app--dconfig"),
        ("a--b", "a--h--hb"),
        ("team/db-password", "team--sdb--hpassword"),
        ("a:b", "a--x3ab"),
        ("é", "--xc3--xa9"),
        ("/", "--s"),
    ],
)
def test_forbidden_characters_are_escaped_and_come_back(key: str, name: str) -> None:
    assert encode(key) == name
    assert decode(name) == key


def test_escape_codes_are_read_in_either_case_as_azure_may_return_them() -> None:
    assert decode("DATABASE--SPROD") == "DATABASE/PROD"
    assert decode("a--X3Ab") == "a:b"


@pytest.mark.parametrize("foreign", ["my--zsecret", "a--", "a--zz", "a--x4", "a--x2fb", "-a--s", "a-b--q1"])
def test_names_not_written_by_us_come_back_unchanged(foreign: str) -> None:
    assert decode(foreign) == foreign


def test_a_foreign_name_that_spells_a_valid_escape_is_read_as_one() -> None:
    # The documented limit of any reversible mapping onto Azure's alphabet: "--s" means "/".
    assert decode("my--secret") == "my/ecret"


def test_empty_and_too_long_keys_are_refused_with_the_limit_named() -> None:
    with pytest.raises(ConfigurationError):
        encode("")
    assert encode("a" * MAX_NAME_LENGTH) == "a" * MAX_NAME_LENGTH
    with pytest.raises(ConfigurationError, match="127"):
        encode("a" * (MAX_NAME_LENGTH + 1))
    with pytest.raises(ConfigurationError, match="127"):
        encode("_" * 50)  # 150 characters once escaped


keys = st.text(min_size=1, max_size=30)


@given(keys)
@settings(max_examples=500)
def test_every_key_round_trips_and_yields_a_valid_azure_name(key: str) -> None:
    try:
        name = encode(key)
    except ConfigurationError:
        return  # too long once escaped
    assert AZURE_NAME.fullmatch(name)
    assert decode(name) == key


@given(keys, keys)
@settings(max_examples=500)
def test_different_keys_never_share_a_name(a: str, b: str) -> None:
    try:
        name_a, name_b = encode(a), encode(b)
    except ConfigurationError:
        return
    if a != b:
        assert name_a != name_b


@given(st.from_regex(AZURE_NAME, fullmatch=True))
def test_plain_names_are_exactly_those_without_a_double_hyphen(name: str) -> None:
    assert is_plain(name) == ("--" not in name)
    if is_plain(name):
        assert encode(name) == name
