"""dataFrom find / rewrite / decoding / generators: the pure logic, without a cluster."""

from __future__ import annotations

import base64
import re
import string

import pytest
from cryptography.hazmat.primitives import serialization
from hypothesis import given
from hypothesis import strategies as st

from config_manager.errors import ConfigurationError
from config_manager.k8s.spec.generators import parse_generator
from config_manager.k8s.spec.managedsecret import InvalidSpecError, Rewrite, parse_managed_secret
from config_manager.k8s.write.rewrite import (
    KeyCollision,
    KeyShapeError,
    convert_key,
    decode_value,
    go_replace,
    rewrite_keys,
    shape,
)
from config_manager.providers import FindCriteria, FindLimitError
from config_manager.providers.memory import InMemorySecrets
from config_manager.secrets.generators import ESO_SYMBOL_CHARACTERS, counted_password, ssh_key_pair

SPEC = {"storeRef": {"name": "s"}}


def data_from(*entries: dict[str, object]) -> dict[str, object]:
    return {**SPEC, "dataFrom": list(entries)}


# -- spec ------------------------------------------------------------------------------------------------

def test_parse_find_rewrite_and_generator_entries() -> None:
    spec = parse_managed_secret("x", data_from(
        {"find": {"name": {"regexp": "^db-"}, "tags": {"team": "a"}, "path": "app", "decodingStrategy": "Base64"},
         "rewrite": [{"regexp": {"source": "db-(.*)", "target": "$1"}}, {"transform": {"template": "{{ .value | upper }}"}}]},
        {"sourceRef": {"generatorRef": {"kind": "Password", "name": "pw"}}},
        {"extract": {"key": "k", "conversionStrategy": "Unicode"}},
    ))
    find, gen, extract = spec.data_from
    assert find.find is not None and find.find.name_regexp == "^db-" and find.find.path == "app"
    assert find.decoding == "Base64" and len(find.rewrite) == 2 and find.rewrite[1].template
    assert gen.generator is not None and gen.generator.kind == "Password"
    assert extract.extract is not None and extract.conversion == "Unicode"
    assert [r.key for r in spec.remote_refs()] == ["k"]


@pytest.mark.parametrize(("entry", "field"), [
    ({"find": {"name": {"regexp": "(unclosed"}}}, "spec.dataFrom[0].find.name.regexp"),
    ({"extract": {"key": "k"}, "rewrite": [{"regexp": {"source": "a[", "target": "b"}}]}, "spec.dataFrom[0].rewrite[0].regexp.source"),
    ({"extract": {"key": "k"}, "find": {"path": "p"}}, "spec.dataFrom[0]"),
    ({"find": {}}, "spec.dataFrom[0].find"),
    ({"find": {"path": "../etc"}}, "spec.dataFrom[0].find.path"),
    ({"find": {"path": "a", "decodingStrategy": "Hex"}}, "spec.dataFrom[0].find.decodingStrategy"),
    ({"sourceRef": {"generatorRef": {"kind": "Vault", "name": "x"}}}, "spec.dataFrom[0].sourceRef.generatorRef.kind"),
    ({"extract": {"key": "k"}, "rewrite": [{"regexp": {"source": "a", "target": "b"}, "transform": {"template": "x"}}]},
     "spec.dataFrom[0].rewrite[0]"),
])
def test_bad_entries_name_the_field(entry: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidSpecError) as err:
        parse_managed_secret("x", data_from(entry))
    assert err.value.field == field


# -- rewrite ---------------------------------------------------------------------------------------------

def test_go_replace_expands_groups_like_go() -> None:
    pattern = re.compile(r"db-(?P<env>\w+)-(\w+)")
    assert go_replace(pattern, "$2.${env}", "db-prod-password") == "password.prod"
    assert go_replace(pattern, "${1}_$$", "db-x-y") == "x_$"
    assert go_replace(pattern, "$9$nothing", "db-x-y") == ""  # missing groups expand to nothing, as in Go
    assert go_replace(re.compile("-"), "_", "a-b-c") == "a_b_c"  # every match


def test_rewrite_steps_apply_in_order_and_collisions_name_the_step() -> None:
    data = {"app/db-user": b"u", "app/db-pass": b"p"}
    steps = (Rewrite(source="^app/", target=""), Rewrite(template="{{ .value | upper }}"))
    assert rewrite_keys(data, steps, "spec.dataFrom[0].rewrite") == {"DB-USER": b"u", "DB-PASS": b"p"}
    with pytest.raises(KeyCollision) as err:
        rewrite_keys({"a_x": b"1", "b_x": b"2"}, (Rewrite(source="^[ab]_", target=""),), "spec.dataFrom[2].rewrite")
    assert err.value.field == "spec.dataFrom[2].rewrite[0]"
    assert "'a_x'" in str(err.value) and "1" not in str(err.value).replace("[0]", "").replace("[2]", "")


def test_shape_converts_decodes_and_checks_keys() -> None:
    raw = {"app/one": base64.b64encode(b"v1"), "app/two": base64.urlsafe_b64encode(b"\xfb\xff")}
    shaped = shape(raw, rewrites=(), conversion="Default", decoding="Auto", field_path="spec.dataFrom[0]")
    assert shaped == {"app_one": b"v1", "app_two": b"\xfb\xff"}
    assert convert_key("a/b:c", "Unicode") == "a_U002f_b_U003a_c"
    with pytest.raises(KeyCollision):
        shape({"a/b": b"1", "a_b": b"2"}, rewrites=(), conversion="Default", decoding="None", field_path="f")
    with pytest.raises(KeyShapeError):
        shape({"a b": b"1"}, rewrites=(), conversion=None, decoding="None", field_path="f")
    with pytest.raises(InvalidSpecError) as err:
        shape({"k": b"not base64!"}, rewrites=(), conversion=None, decoding="Base64", field_path="spec.dataFrom[1]")
    assert err.value.field == "spec.dataFrom[1].decodingStrategy" and "not base64!" not in str(err.value)
    assert decode_value(b"plain text", "Auto") == b"plain text"
    assert decode_value(b"tok", "Auto") == b"tok"  # unpadded: not taken for base64 by Auto
    assert decode_value(base64.urlsafe_b64encode(b"\xfb\xff").rstrip(b"="), "Base64URL") == b"\xfb\xff"


@given(st.dictionaries(st.text(min_size=1, max_size=12), st.binary(max_size=8), max_size=8))
def test_conversion_makes_valid_keys_or_refuses_a_collision(data: dict[str, bytes]) -> None:
    for strategy in ("Default", "Unicode"):
        try:
            shaped = shape(data, rewrites=(), conversion=strategy, decoding="None", field_path="f")
        except KeyCollision:
            continue  # two names that convert to one are refused, never merged
        except KeyShapeError:
            continue  # longer than 253 characters once converted
        assert len(shaped) == len(data)
        assert all(re.fullmatch(r"[-._a-zA-Z0-9]+", key) for key in shaped)


@given(st.binary(max_size=64))
def test_decoding_round_trips(value: bytes) -> None:
    assert decode_value(base64.b64encode(value), "Base64") == value
    assert decode_value(base64.urlsafe_b64encode(value), "Base64URL") == value
    assert decode_value(base64.b64encode(value), "Auto") == value


# -- find ------------------------------------------------------------------------------------------------

def test_find_on_a_provider_filters_and_is_bounded() -> None:
    store = InMemorySecrets()
    store.set("app/db", "1", metadata={"team": "a"})
    store.set("app/api", "2", metadata={"team": "b"})
    store.set("appx/db", "3", metadata={"team": "a"})
    assert store.find(FindCriteria(path="app")) == ["app/api", "app/db"]
    assert store.find(FindCriteria(name_regexp="db$")) == ["app/db", "appx/db"]
    assert store.find(FindCriteria(tags={"team": "a"}, path="app")) == ["app/db"]
    with pytest.raises(FindLimitError) as err:
        store.find(FindCriteria(name_regexp=".", limit=2))
    assert "more than 2 keys" in str(err.value)
    with pytest.raises(ConfigurationError):
        store.find(FindCriteria(name_regexp="("))


# -- generators ------------------------------------------------------------------------------------------

@given(length=st.integers(1, 60), digits=st.integers(0, 10), symbols=st.integers(0, 20),
       no_upper=st.booleans(), allow_repeat=st.booleans())
def test_password_policy(length: int, digits: int, symbols: int, no_upper: bool, allow_repeat: bool) -> None:
    letters = length - digits - symbols
    try:
        value = counted_password(length, digits=digits, symbols=symbols, no_upper=no_upper, allow_repeat=allow_repeat)
    except ConfigurationError:
        assert letters < 0 or (not allow_repeat and letters > (26 if no_upper else 52))
        return
    assert len(value) == length
    assert sum(c in string.digits for c in value) == digits
    assert sum(c in ESO_SYMBOL_CHARACTERS for c in value) == symbols
    assert not (no_upper and any(c.isupper() for c in value))
    if not allow_repeat:
        assert len(set(value)) == len(value)


def test_password_defaults_are_external_secrets() -> None:
    value = counted_password()
    assert len(value) == 24 and sum(c.isdigit() for c in value) == 6 and sum(c in ESO_SYMBOL_CHARACTERS for c in value) == 6


@pytest.mark.parametrize("key_type", ["ed25519", "rsa"])
def test_ssh_key_pair_parses_with_cryptography(key_type: str) -> None:
    private, public = ssh_key_pair(key_type, comment="ci@example")
    key = serialization.load_ssh_private_key(private.encode(), password=None)
    loaded = serialization.load_ssh_public_key(public.encode())
    assert private.startswith("-----BEGIN OPENSSH PRIVATE KEY-----")
    assert public.rstrip().endswith("ci@example")
    raw = serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    assert key.public_key().public_bytes(*raw) == loaded.public_bytes(*raw)


def test_generator_objects_parse_and_refuse_naming_the_object() -> None:
    gen = parse_generator("Password", {"metadata": {"name": "pw"}, "spec": {"length": 12, "digits": 2, "symbols": 0}})
    value = gen.generate()["password"]
    assert len(value) == 12 and gen.keys == ("password",)
    assert set(parse_generator("SSHKey", {"metadata": {"name": "k"}, "spec": {"keyType": "ed25519"}}).generate()) == {"privateKey", "publicKey"}
    assert re.fullmatch(r"[0-9a-f-]{36}", parse_generator("UUID", {"metadata": {"name": "u"}}).generate()["uuid"])
    with pytest.raises(InvalidSpecError) as err:
        parse_generator("Password", {"metadata": {"name": "pw"}, "spec": {"length": 4, "digits": 3, "symbols": 3}})
    assert "Password 'pw'" in str(err.value)


def test_find_goes_through_the_read_cache() -> None:
    from config_manager.k8s.stores.readcache import ProviderCache

    class Counting(InMemorySecrets):
        finds = 0

        def find(self, criteria: FindCriteria) -> list[str]:
            Counting.finds += 1
            return super().find(criteria)

    store = Counting()
    store.set("a/1", "x")
    cache = ProviderCache(ttl=60.0)
    criteria = FindCriteria(path="a")
    assert cache.find("s", store, criteria) == (["a/1"], True)
    assert cache.find("s", store, FindCriteria(path="a")) == (["a/1"], False)  # equal criteria share the answer
    assert cache.find("s", store, criteria, fresh=True) == (["a/1"], True)
    assert Counting.finds == 2


def test_generator_users_are_found_by_the_trigger() -> None:
    from config_manager.k8s.watch.triggers import names_generator

    spec = {"dataFrom": [{"extract": {"key": "k"}}, {"sourceRef": {"generatorRef": {"kind": "Password", "name": "pw"}}}],
            "rotation": {"generatorRef": {"kind": "UUID", "name": "id"}}}
    assert names_generator(spec, "Password", "pw") and names_generator(spec, "UUID", "id")
    assert not names_generator(spec, "Password", "id") and not names_generator({}, "UUID", "id")


def test_the_env_provider_finds_by_name_and_refuses_tags_and_paths() -> None:
    from config_manager.providers.env import EnvironmentSecrets

    env = EnvironmentSecrets(prefix="APP_", environ={"APP_DB_USER": "u", "APP_DB_PASS": "p", "APP_OTHER": "o", "DB_X": "x"})
    assert env.find(FindCriteria(name_regexp="^DB_")) == ["DB_PASS", "DB_USER"]
    for criteria, word in ((FindCriteria(tags={"a": "b"}), "tags"), (FindCriteria(path="db"), "folders")):
        with pytest.raises(ConfigurationError, match=word):
            env.find(criteria)


@given(st.dictionaries(st.from_regex(r"[a-z/_-]{1,10}", fullmatch=True), st.binary(max_size=4), max_size=8),
       st.sampled_from([("/", "_"), ("^[a-z]", "X"), ("([a-z]+)/([a-z]+)", "$2.$1"), ("-", "")]))
def test_a_rewrite_keeps_every_value_or_refuses(data: dict[str, bytes], step: tuple[str, str]) -> None:
    try:
        out = rewrite_keys(data, (Rewrite(source=step[0], target=step[1]),), "f")
    except KeyCollision:
        return
    assert sorted(out.values()) == sorted(data.values()) and len(out) == len(data)
