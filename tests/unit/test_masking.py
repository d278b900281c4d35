"""masking: which names are secret, how trees and text are masked, and the log filter."""

from __future__ import annotations

import logging

import pytest

from config_manager.masking import (
    MASK,
    SecretMaskingFilter,
    SecretRedactingFilter,
    SecretRedactor,
    default_redactor,
    is_secret_name,
    is_secret_path,
    mask_tree,
    mask_url_credentials,
    secret_paths,
    split_words,
)
from config_manager.providers.base import MASK as BASE_MASK

SECRET = [
    "PASSWORD", "DB_PASSWORD", "db_password", "dbPassword", "DBPASSWORD", "PASSWD", "MYSQL_PWD", "DB_PASS",
    "passphrase", "SECRET", "client_secret", "clientSecret", "GITHUB_TOKEN", "accessToken", "API_KEY", "apiKey",
    "APIKEY", "PRIVATE_KEY", "privateKey", "ssh_key", "CREDENTIAL", "aws_credentials", "AUTH", "basic_auth",
    "authorization", "CERT", "tls_certificate", "CONNECTION_STRING", "connectionString", "CONN_STR", "DSN",
    "SENTRY_DSN", "bearer", "signing_key", "tls.key",
]
NOT_SECRET = [
    "MONKEY", "monkey_name", "KEYBOARD", "keyboard_layout", "turkey", "hotkey", "username", "host", "port",
    "database.host", "token_url", "TOKEN_ENDPOINT", "password_file", "PASSWORD_MIN_LENGTH", "secret_name",
    "auth.enabled", "AUTH_METHOD", "public_key", "PUBLIC_KEY", "primary_key", "cache.key_prefix", "KEY_ID",
    "cert_path", "token_ttl", "PWD", "OLDPWD", "connection.timeout", "passenger", "bypass", "oauth_client_id",
]


@pytest.mark.parametrize("name", SECRET)
def test_secret_names_are_detected(name: str) -> None:
    assert is_secret_path(name), name


@pytest.mark.parametrize("name", NOT_SECRET)
def test_non_secret_names_are_not(name: str) -> None:
    assert not is_secret_path(name), name


def test_paths_inherit_secrecy_from_a_secret_section() -> None:
    assert is_secret_path("credentials.user")
    assert is_secret_path(["api_keys", "0"])
    assert is_secret_path("database.password")
    assert not is_secret_path("database.user")
    assert not is_secret_path("credentials.expires_at")


def test_is_secret_name_does_not_split_on_dots() -> None:
    assert is_secret_name("tls.key") and not is_secret_name("monkey.name")


def test_split_words_handles_case_styles() -> None:
    assert split_words("dbPassword") == ["DB", "PASSWORD"]
    assert split_words("APIKey2") == ["API", "KEY", "2"]
    assert split_words("x-api_key.v1") == ["X", "API", "KEY", "V", "1"]


def test_one_mask_for_everything() -> None:
    assert MASK == "[MASKED]" and BASE_MASK is MASK


def test_mask_tree_by_name_explicit_path_and_known_value() -> None:
    redactor = SecretRedactor()
    redactor.add("hunter2-known")
    data = {
        "database": {"host": "db", "password": "pw-by-name", "url": "postgres://app:pw-in-url@db/x"},
        "custom": {"field": "pw-by-path", "note": "contains hunter2-known inside", "copy": "hunter2-known"},
        "api_keys": ["k1", "k2"],
        "monkey": "banana",
        "token": None,
    }
    masked = mask_tree(data, paths={"custom.field"}, redactor=redactor)
    assert masked == {
        "database": {"host": "db", "password": MASK, "url": f"postgres://app:{MASK}@db/x"},
        "custom": {"field": MASK, "note": f"contains {MASK} inside", "copy": MASK},
        "api_keys": [MASK, MASK],
        "monkey": "banana",
        "token": None,
    }
    assert data["database"]["password"] == "pw-by-name"  # the input is not modified


def test_mask_tree_explicit_path_masks_a_whole_section() -> None:
    assert mask_tree({"vault": {"user": "u", "pw": "p"}}, paths={"vault"}, detect=False) == {"vault": MASK}


def test_mask_tree_without_detection_leaves_names_alone() -> None:
    assert mask_tree({"password": "x"}, detect=False) == {"password": "x"}


def test_secret_paths_lists_what_detection_masks() -> None:
    assert secret_paths({"a": {"password": "x", "host": "h"}, "keys": ["1"]}) == {"a.password", "keys.0"}


def test_url_credentials_masked_only_where_present() -> None:
    assert mask_url_credentials("redis://:p4ss@cache:6379") == f"redis://:{MASK}@cache:6379"
    assert mask_url_credentials("https://example.com/a:b@c") == "https://example.com/a:b@c"
    assert mask_url_credentials("no url here") == "no url here"


def test_redactor_longest_match_first_and_minimum_length() -> None:
    redactor = SecretRedactor(min_length=4)
    redactor.add({"a": "abcd", "b": "abcdefgh", "short": "xy", "n": 123456})
    assert redactor.redact("abcdefgh abcd xy 123456") == f"{MASK} {MASK} xy {MASK}"
    assert redactor.is_known("abcd") and not redactor.is_known("xy")
    redactor.discard("abcd")
    assert redactor.redact("abcd") == "abcd"
    assert repr(redactor) == "SecretRedactor(2 values)"


def test_redactor_is_bounded() -> None:
    redactor = SecretRedactor(max_values=3)
    for value in ("aaaa", "bbbb", "cccc", "dddd"):
        redactor.add(value)
    assert len(redactor) == 3 and redactor.redact("aaaa dddd") == f"aaaa {MASK}"


def test_log_filter_masks_messages_arguments_and_tracebacks() -> None:
    redactor = SecretRedactor()
    redactor.add("s3cr3t-value")
    records: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(self.format(record))

    handler = Collect()
    handler.setFormatter(logging.Formatter("%(message)s"))
    handler.addFilter(SecretMaskingFilter(redactor))
    logger = logging.getLogger("test.masking.filter")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("value is %s", "s3cr3t-value")
        logger.warning("dsn postgres://u:pw-url@h/db")
        try:
            raise RuntimeError("boom with s3cr3t-value")
        except RuntimeError:
            logger.exception("failed")
    finally:
        logger.removeHandler(handler)
    text = "\n".join(records)
    assert "s3cr3t-value" not in text and "pw-url" not in text
    assert f"value is {MASK}" in text and "RuntimeError: boom with [MASKED]" in text


def test_filter_defaults_to_the_process_wide_redactor() -> None:
    assert SecretRedactingFilter is SecretMaskingFilter
    assert SecretMaskingFilter().redactor is default_redactor()
