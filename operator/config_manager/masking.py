"""The one place that decides what is secret and how it is shown.

Three ways to recognise a secret, used together everywhere (config display, logs, the operator's
ConfigMaps and status):

* by name: ``is_secret_name`` / ``is_secret_path`` split a key like ``DB_PASSWORD``, ``apiKey`` or
  ``database.connection_string`` into words and look for secret words (PASSWORD, SECRET, TOKEN, KEY,
  CREDENTIAL, AUTH, CERT, DSN, ...). Whole words only, so MONKEY or KEYBOARD are not secrets, and a
  name that ends in a describing word (``token_url``, ``password_file``, ``auth.enabled``,
  ``public_key``) describes a secret rather than holding one;
* by explicit path: callers that know (a secret mapping, a ConfigBundle) pass the paths;
* by value: a ``SecretRedactor`` remembers values known to be secret and replaces them wherever they
  appear in text; passwords inside URLs (``scheme://user:password@host``) are masked in any string.

Every masked value is shown as ``MASK`` (``[MASKED]``). ``SecretMaskingFilter`` applies the redactor
to log records.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

#: How every secret value is shown. ``providers.base.MASK`` is this same object.
MASK: Final = "[MASKED]"

__all__ = [
    "MASK",
    "SecretMaskingFilter",
    "SecretRedactingFilter",
    "SecretRedactor",
    "default_redactor",
    "is_secret_name",
    "is_secret_path",
    "mask_tree",
    "mask_url_credentials",
    "mask_value",
    "redact_text",
    "secret_paths",
    "split_words",
]

# Words that make a name secret when they appear as a whole word.
SECRET_WORDS: Final = frozenset({
    "PASSWORD", "PASSWORDS", "PASSWD", "PWD", "PASS", "PASSPHRASE",
    "SECRET", "SECRETS", "TOKEN", "TOKENS", "KEY", "KEYS",
    "CREDENTIAL", "CREDENTIALS", "CREDS", "AUTH", "AUTHORIZATION", "BEARER",
    "CERT", "CERTS", "CERTIFICATE", "CERTIFICATES", "DSN",
    # words that are commonly written as one
    "APIKEY", "APIKEYS", "PRIVATEKEY", "PRIVKEY", "SECRETKEY", "ACCESSKEY", "AUTHKEY", "SIGNINGKEY",
    "ENCRYPTIONKEY", "MASTERKEY", "CLIENTKEY", "SSHKEY", "CONNSTR", "CONNSTRING", "CONNECTIONSTRING",
})
# A single word ending like this is secret too: DBPASSWORD, CLIENTSECRET, ACCESSTOKEN.
SECRET_SUFFIXES: Final = ("PASSWORD", "PASSWD", "PASSPHRASE", "SECRET", "TOKEN", "CREDENTIALS")
# Two consecutive words that are secret together.
SECRET_PAIRS: Final = frozenset({("CONNECTION", "STRING"), ("CONN", "STRING"), ("CONN", "STR"), ("CONNECTION", "STR")})
# KEY after one of these names a non-secret key (a public key, a database or cache key).
NON_SECRET_KEY_QUALIFIERS: Final = frozenset({
    "PUBLIC", "PUB", "PRIMARY", "FOREIGN", "SORT", "PARTITION", "ROUTING", "CACHE", "IDEMPOTENCY",
    "LOOKUP", "SHARD", "UNIQUE", "COMPOSITE", "GROUP", "DEDUP", "DEDUPLICATION", "OBJECT", "MAP",
})
# A name ending in one of these describes a secret (where it is, how long it lives) without holding it.
DESCRIPTOR_WORDS: Final = frozenset({
    "URL", "URI", "URLS", "ENDPOINT", "HOST", "HOSTNAME", "PORT", "PATH", "FILE", "FILENAME", "DIR",
    "DIRECTORY", "NAME", "NAMES", "ID", "IDS", "TYPE", "KIND", "METHOD", "MODE", "ENABLED", "ENABLE",
    "DISABLED", "DISABLE", "REQUIRED", "EXPIRY", "EXPIRES", "EXPIRATION", "TTL", "TIMEOUT", "LENGTH",
    "LEN", "MIN", "MAX", "SIZE", "COUNT", "PREFIX", "SUFFIX", "FORMAT", "ALGORITHM", "ALG", "PROVIDER",
    "VERSION", "INTERVAL", "SCHEDULE", "POLICY", "REF", "REFERENCE", "FIELD", "LABEL", "LOCATION", "AGE",
    "DAYS", "HOURS", "SECONDS", "AT", "CREATED", "UPDATED", "TIME", "TIMESTAMP", "TIER", "SOURCE", "ISSUER",
    "AUDIENCE", "SCOPE", "SCOPES", "NAMESPACE", "MOUNT", "ROLE", "STORE", "ENV", "VAR",
})
# Whole names that look secret but are not (the shell's working directory).
NON_SECRET_NAMES: Final = frozenset({"PWD", "OLDPWD"})

_WORD = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|[0-9]+")
_URL_CREDENTIALS = re.compile(r"(?P<prefix>[A-Za-z][A-Za-z0-9+.\-]*://[^:/@\s]*:)(?P<password>[^@/\s]+)(?=@)")


def split_words(name: str) -> list[str]:
    """``"dbPassword"`` → ``["DB", "PASSWORD"]``; ``"API_KEY"`` → ``["API", "KEY"]`` (numbers kept)."""
    return [word.upper() for word in _WORD.findall(name)]


def _segment_has_secret_word(words: Sequence[str]) -> bool:
    for index, word in enumerate(words):
        previous = words[index - 1] if index else ""
        if word in ("KEY", "KEYS") and previous in NON_SECRET_KEY_QUALIFIERS:
            continue
        if word in SECRET_WORDS or word.endswith(SECRET_SUFFIXES) or (previous, word) in SECRET_PAIRS:
            return True
    return False


def _describes(words: Sequence[str]) -> bool:
    named = [word for word in words if not word.isdigit()]
    return bool(named) and named[-1] in DESCRIPTOR_WORDS


def is_secret_path(path: str | Sequence[str]) -> bool:
    """True when a key path (``"database.password"`` or ``["database", "password"]``) names a secret.

    A path is secret when any of its parts contains a secret word and the last part is not a
    describing word: ``credentials.user`` is secret, ``auth.enabled`` and ``token_url`` are not.
    """
    parts = path.split(".") if isinstance(path, str) else [str(part) for part in path]
    if len(parts) == 1 and parts[0].upper() in NON_SECRET_NAMES:
        return False
    segments = [split_words(part) for part in parts]
    segments = [words for words in segments if words]
    if not segments or _describes(segments[-1]):
        return False
    return any(_segment_has_secret_word(words) for words in segments)


def is_secret_name(name: str) -> bool:
    """True when one key name (not split on dots) names a secret: ``API_KEY`` yes, ``MONKEY`` no."""
    return is_secret_path([name])


def mask_value(value: Any) -> str:
    """How a secret value is shown: always ``[MASKED]``, whatever the value (no length hints)."""
    return MASK


def mask_url_credentials(text: str) -> str:
    """``postgres://app:pw@db/x`` → ``postgres://app:[MASKED]@db/x``; other text unchanged."""
    return _URL_CREDENTIALS.sub(lambda match: match.group("prefix") + MASK, text)


def _leaf_strings(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, (bytes, bytearray)):
        try:
            yield bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            return
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _leaf_strings(item)
    elif isinstance(value, (list, tuple, set, frozenset)):
        for item in value:
            yield from _leaf_strings(item)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        yield str(value)


class SecretRedactor:
    """Remembers values known to be secret and replaces them in any text with ``[MASKED]``.

    Values shorter than ``min_length`` characters are not remembered (masking every "on" or "1" in
    the logs would make them unreadable); at most ``max_values`` are kept, oldest dropped first.
    Thread-safe. Its ``repr`` shows only how many values it holds.
    """

    def __init__(self, min_length: int = 4, max_values: int = 10_000) -> None:
        self.min_length = min_length
        self.max_values = max_values
        self._values: dict[str, None] = {}
        self._lock = threading.Lock()
        self._pattern: re.Pattern[str] | None = None

    def __repr__(self) -> str:
        return f"SecretRedactor({len(self._values)} values)"

    def __len__(self) -> int:
        return len(self._values)

    def add(self, value: Any) -> None:
        """Remember ``value`` (every string inside it, for dicts and lists)."""
        with self._lock:
            for text in _leaf_strings(value):
                if len(text) >= self.min_length and text not in self._values:
                    self._values[text] = None
                    self._pattern = None
            while len(self._values) > self.max_values:
                del self._values[next(iter(self._values))]

    def discard(self, value: Any) -> None:
        """Forget ``value``."""
        with self._lock:
            for text in _leaf_strings(value):
                if self._values.pop(text, 0) is None:
                    self._pattern = None

    def is_known(self, value: Any) -> bool:
        """True when ``value`` (a scalar) is one of the remembered secrets."""
        texts = list(_leaf_strings(value)) if not isinstance(value, (Mapping, list, tuple, set)) else []
        return len(texts) == 1 and texts[0] in self._values

    def redact(self, text: str) -> str:
        """``text`` with every remembered value replaced by ``[MASKED]``."""
        pattern = self._compiled()
        return pattern.sub(MASK, text) if pattern is not None else text

    def _compiled(self) -> re.Pattern[str] | None:
        with self._lock:
            if self._pattern is None and self._values:
                longest_first = sorted(self._values, key=len, reverse=True)
                self._pattern = re.compile("|".join(re.escape(value) for value in longest_first))
            return self._pattern


_DEFAULT_REDACTOR = SecretRedactor()


def default_redactor() -> SecretRedactor:
    """The process-wide redactor: every ``SecretsManager`` feeds it unless given its own, and
    ``SecretMaskingFilter()`` reads it, so one filter on the log handler covers the whole process."""
    return _DEFAULT_REDACTOR


def redact_text(text: str, redactor: SecretRedactor | None = None) -> str:
    """Mask URL passwords and, given a redactor, every known secret value in ``text``."""
    if redactor is not None:
        text = redactor.redact(text)
    return mask_url_credentials(text)


def _path_key(path: Sequence[str]) -> str:
    return ".".join(path)


def mask_tree(
    data: Any,
    *,
    paths: Iterable[str] = (),
    detect: bool = True,
    redactor: SecretRedactor | None = None,
) -> Any:
    """A copy of ``data`` (dicts, lists, scalars) with secrets replaced by ``[MASKED]``.

    ``paths``: dotted paths masked whole (``"database.password"``; list items by index, ``"keys.0"``).
    ``detect``: also mask leaves whose path names a secret (``is_secret_path``) and URL passwords.
    ``redactor``: also mask leaves equal to, and substrings matching, known secret values.
    ``None`` stays ``None`` (it reveals nothing but that a value is unset).
    """
    explicit = frozenset(paths)

    def walk(value: Any, path: tuple[str, ...]) -> Any:
        if path and _path_key(path) in explicit:
            return None if value is None else MASK
        if isinstance(value, Mapping):
            return {key: walk(item, (*path, str(key))) for key, item in value.items()}
        if isinstance(value, (list, tuple)):
            return [walk(item, (*path, str(index))) for index, item in enumerate(value)]
        if value is None:
            return None
        if detect and path and is_secret_path(path):
            return MASK
        if redactor is not None and redactor.is_known(value):
            return MASK
        if isinstance(value, str):
            if redactor is not None:
                value = redactor.redact(value)
            if detect:
                value = mask_url_credentials(value)
        return value

    return walk(data, ())


def secret_paths(data: Any, *, detect: bool = True) -> set[str]:
    """Dotted paths of the leaves in ``data`` that ``mask_tree(detect=True)`` would mask by name."""
    found: set[str] = set()

    def walk(value: Any, path: tuple[str, ...]) -> None:
        if isinstance(value, Mapping):
            for key, item in value.items():
                walk(item, (*path, str(key)))
        elif isinstance(value, (list, tuple)):
            for index, item in enumerate(value):
                walk(item, (*path, str(index)))
        elif value is not None and detect and path and is_secret_path(path):
            found.add(_path_key(path))

    walk(data, ())
    return found


class SecretMaskingFilter(logging.Filter):
    """A logging filter that masks known secret values and URL passwords in every record it sees.

    Attach it to a *handler* to cover every logger that reaches that handler (a filter on a logger
    only sees records logged on that exact logger). The message is formatted, redacted and stored back
    with its arguments cleared; exception and stack texts are redacted too. It never drops a record.
    Without a redactor it uses ``default_redactor()``.
    """

    def __init__(self, redactor: SecretRedactor | None = None, name: str = "") -> None:
        super().__init__(name)
        self.redactor = redactor if redactor is not None else default_redactor()

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a broken format string: keep the template, drop the arguments
            message = str(record.msg)
        record.msg = redact_text(message, self.redactor)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact_text(record.exc_text, self.redactor)
        if record.stack_info:
            record.stack_info = redact_text(record.stack_info, self.redactor)
        return True


#: Another name for the same filter (the operator's logging set-up looks for this one).
SecretRedactingFilter = SecretMaskingFilter
