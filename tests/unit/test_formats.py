"""sources.formats and sources.tree: parsing, rendering, merging."""

from __future__ import annotations

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from config_manager.errors import SourceError
from config_manager.sources import formats
from config_manager.sources.tree import deep_merge, flatten, get_path, set_path, unflatten

NESTED = {"database": {"host": "db", "port": 5432, "password": "p w#1"}, "debug": True, "tags": ["a", "b"]}


def test_json_and_yaml_round_trip_and_are_deterministic() -> None:
    for fmt in ("json", "yaml"):
        text = formats.render(NESTED, fmt)
        assert formats.parse(text, fmt) == NESTED
        assert formats.render({"b": 1, "a": 2}, fmt) == formats.render({"a": 2, "b": 1}, fmt)


def test_top_level_must_be_a_mapping() -> None:
    with pytest.raises(SourceError, match="object"):
        formats.parse("[1, 2]", "json")
    with pytest.raises(SourceError, match="mapping"):
        formats.parse("- a\n- b\n", "yaml")
    assert formats.parse("", "yaml") == {} and formats.parse("  ", "json") == {}


def test_parse_errors_name_the_place_not_the_content() -> None:
    with pytest.raises(SourceError) as info:
        formats.parse('{"password": "leaky-value", oops}', "json")
    assert "line 1" in str(info.value) and "leaky-value" not in str(info.value)
    with pytest.raises(SourceError) as info:
        formats.parse("a: 1\npassword: [leaky-yaml-value\n", "yaml")
    assert "line" in str(info.value) and "leaky-yaml-value" not in str(info.value)
    with pytest.raises(SourceError) as info:
        formats.parse("GOOD=1\nleaky-dotenv-value\n", "env")
    assert "line 2" in str(info.value) and "leaky-dotenv-value" not in str(info.value)


def test_dotenv_syntax() -> None:
    text = (
        "# comment\n"
        "export A=plain\n"
        "B = spaced value # inline comment\n"
        "C='single # kept $HOME'\n"
        'D="line1\\nline2 \\"q\\" \\$x"\n'
        'E="multi\n'
        'line"\n'
        "F=\n"
        "G=a#b\n"
    )
    assert formats.parse(text, "env") == {
        "A": "plain", "B": "spaced value", "C": "single # kept $HOME", "D": 'line1\nline2 "q" $x',
        "E": "multi\nline", "F": "", "G": "a#b",
    }
    with pytest.raises(SourceError, match="not closed"):
        formats.parse('A="open\n', "env")


def test_dotenv_rendering_flattens_sections_upper_case() -> None:
    text = formats.render({"database": {"password": "p w"}, "debug": True}, "env")
    assert text == "DATABASE_PASSWORD='p w'\nDEBUG=true\n"
    with pytest.raises(SourceError, match="both become A_B"):
        formats.render({"a": {"b": 1}, "a_b": 2}, "env")


def test_properties_syntax() -> None:
    text = (
        "# comment\n"
        "! also a comment\n"
        "database.host = db\n"
        "database.port: 5432\n"
        "greeting hello world\n"
        "multi = one \\\n"
        "        two\n"
        "escaped\\ key = tab\\there\n"
        "unicode = caf\\u00e9\n"
    )
    assert formats.parse_properties(text) == {
        "database.host": "db", "database.port": "5432", "greeting": "hello world", "multi": "one two",
        "escaped key": "tab\there", "unicode": "café",
    }
    assert formats.parse(text, "properties")["database"] == {"host": "db", "port": "5432"}


_values = st.text(st.characters(blacklist_categories=("Cs",)), max_size=30)
_keys = st.from_regex(r"[A-Za-z][A-Za-z0-9]{0,10}", fullmatch=True)


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(_keys, _values, max_size=6))
def test_properties_round_trip_any_text(data: dict[str, str]) -> None:
    assert formats.parse_properties(formats.render_properties(data)) == data


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(st.from_regex(r"[A-Z][A-Z0-9]{0,10}", fullmatch=True),
                       st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"), max_size=30),
                       max_size=6))
@example({"A": "\n", "B": "", "C": " x ", "D": "'\"", "E": "#"})
def test_dotenv_round_trip_any_text(data: dict[str, str]) -> None:
    assert formats.parse(formats.render(data, "env"), "env") == data


def test_formats_by_name_and_alias() -> None:
    assert formats.format_for_path("config/app.yml") == "yaml"
    assert formats.format_for_path("production_config.json.enc") == "json"
    assert formats.format_for_path(".env") == "env"
    assert formats.format_for_path("production_config.enc") is None
    assert formats.normalise_format("dotenv") == "env"
    with pytest.raises(SourceError, match="unknown configuration format"):
        formats.normalise_format("toml")


def test_deep_merge_later_wins_and_inputs_stay_untouched() -> None:
    base = {"db": {"host": "a", "pool": {"min": 1, "max": 5}}, "list": [1]}
    override = {"db": {"host": "b", "pool": {"max": 10}}, "list": [2], "new": 1}
    merged = deep_merge(base, override)
    assert merged == {"db": {"host": "b", "pool": {"min": 1, "max": 10}}, "list": [2], "new": 1}
    merged["db"]["pool"]["min"] = 99
    assert base["db"]["pool"]["min"] == 1


def test_paths_flatten_and_unflatten() -> None:
    data: dict = {}
    set_path(data, "a.b.c", 1)
    set_path(data, ["a", "d"], [10, 20])
    assert get_path(data, "a.b.c") == 1 and get_path(data, "a.d.1") == 20
    assert get_path(data, "a.x", "default") == "default"
    assert flatten(data) == {"a.b.c": 1, "a.d": [10, 20]}
    assert unflatten(flatten(data)) == data
    with pytest.raises(SourceError, match="holds a value"):
        unflatten({"a": 1, "a.b": 2})
