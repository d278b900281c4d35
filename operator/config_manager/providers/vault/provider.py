"""``HashiCorpVaultSecrets``: the ``SecretProvider`` for HashiCorp Vault and OpenBao KV mounts.

It ties the other modules together: ``auth`` obtains a token lazily (and again before its lease ends,
or once when Vault rejects a token that a login method can renew), ``kv`` reads and writes the mount,
``values`` maps Python values onto Vault's JSON objects, and ``errors`` turns every hvac / requests error
into ours. Every call is bounded by ``timeout`` (connect and read), with no hidden retries, so a server
that stops answering yields ``ProviderUnavailableError`` within that time.

Keys are paths below the mount (``database/production``). ``list(prefix)`` walks sub-folders and returns
full keys, so the provider looks flat to callers, like every other provider.
"""

from __future__ import annotations

import builtins
import os
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import hvac  # type: ignore[import-untyped]
from hvac import exceptions as hvac_exc

from ...errors import (
    ConfigManagerError,
    ConfigurationError,
    ProviderError,
    UnsupportedOperationError,
)
from ..base import FindCriteria, SecretProvider, SecretValue
from .auth import VaultAuth, auth_from_config
from .errors import translate, translate_login
from .kv import KVEngine, engine_for
from .leases import VaultLeases
from .values import decode_value, encode_value

T = TypeVar("T")

#: Default bound, in seconds, on connecting to Vault and on waiting for each answer.
DEFAULT_TIMEOUT = 10.0
#: Log in again this long before a token's lease ends.
RENEW_MARGIN_SECONDS = 30.0


def _normalise_version(version: str | int) -> str:
    text = str(version).strip().lower()
    if text in ("1", "v1"):
        return "v1"
    if text in ("2", "v2"):
        return "v2"
    raise ConfigurationError(f"vault: version must be 'v1' or 'v2', got {version!r}")


def _public_url(url: str) -> str:
    """The URL without any user:password part, for messages."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def _check_key(key: str) -> str:
    if not isinstance(key, str) or not key.strip("/"):
        raise ConfigurationError(f"vault: a secret key must be a non-empty path, got {key!r}")
    if any(ord(char) < 0x20 or ord(char) == 0x7F for char in key):
        # Vault answers 400 to a NUL or other control character in a path; refusing it here keeps a
        # malformed reference from counting as a server failure (which backs off the whole store)
        raise ConfigurationError(f"vault: secret key {key!r} contains a control character")
    segments = key.split("/")
    if key.startswith("/") or key.endswith("/") or any(s in ("", ".", "..") for s in segments):
        raise ConfigurationError(
            f"vault: secret key {key!r} must be a relative path without empty, '.' or '..' segments"
        )
    return key


class HashiCorpVaultSecrets(SecretProvider):
    """Secrets in a Vault / OpenBao KV mount (version 1 or 2).

    Args:
        vault_url: the server, e.g. ``https://vault.company.com:8200``.
        vault_token: a token (shortcut for ``auth=TokenAuth(token)``); ``VAULT_TOKEN`` is used when
            neither this nor ``auth`` is given.
        mount_point: where the KV engine is mounted (``secret`` in dev servers).
        version: ``"v2"`` (versions and custom metadata) or ``"v1"``.
        namespace: a Vault Enterprise / OpenBao namespace (sent as ``X-Vault-Namespace``).
        auth: a ``TokenAuth``, ``AppRoleAuth``, ``KubernetesAuth``, ``JwtAuth`` or ``UserpassAuth``, or the
            same as plain configuration.
        ca_bundle: a PEM file of CAs to trust for the server's certificate (default: ``VAULT_CACERT``,
            as for the vault CLI, else the system's CAs).
        verify: TLS verification when no ``ca_bundle`` is given (True, False, or a CA bundle path).
        timeout: seconds allowed to connect and for each answer.
        max_list_keys: ``list`` stops with an error beyond this many keys instead of walking forever.
    """

    provider_type = "vault"

    def __init__(
        self,
        vault_url: str,
        vault_token: str | None = None,
        mount_point: str = "secret",
        version: str | int = "v2",
        *,
        namespace: str | None = None,
        auth: VaultAuth | Mapping[str, Any] | None = None,
        ca_bundle: str | None = None,
        verify: bool | str = True,
        timeout: float = DEFAULT_TIMEOUT,
        max_list_keys: int = 100_000,
    ) -> None:
        if not vault_url or not urlsplit(vault_url).scheme.startswith("http"):
            raise ConfigurationError(f"vault: vault_url must be an http(s) URL, got {_public_url(vault_url or '')!r}")
        if not mount_point or not mount_point.strip("/"):
            raise ConfigurationError("vault: mount_point must not be empty")
        if timeout <= 0:
            raise ConfigurationError(f"vault: timeout must be positive, got {timeout!r}")
        self.vault_url = vault_url.rstrip("/")
        self.mount_point = mount_point.strip("/")
        self.version = _normalise_version(version)
        self.namespace = namespace
        self.timeout = float(timeout)
        self.max_list_keys = max_list_keys
        self._auth = auth_from_config(auth, vault_token)
        if ca_bundle is None and verify is True:
            ca_bundle = os.environ.get("VAULT_CACERT") or None  # as the vault CLI does
        self._client = hvac.Client(
            url=self.vault_url,
            token=None,
            verify=ca_bundle or verify,
            timeout=self.timeout,
            namespace=namespace,
        )
        self._client.token = None  # hvac falls back to VAULT_TOKEN / ~/.vault-token; we log in ourselves
        self._engine: KVEngine = engine_for(self.version, self._client, self.mount_point)
        self._lock = threading.Lock()
        self._token_renew_at: float | None = None
        self._logged_in = False

    # ------------------------------------------------------------------ description

    @property
    def auth(self) -> VaultAuth:
        """The auth method in use (its repr masks credentials)."""
        return self._auth

    def describe(self) -> str:
        ns = f" namespace '{self.namespace}'" if self.namespace else ""
        return f"vault {_public_url(self.vault_url)} mount '{self.mount_point}' (kv {self.version}){ns}"

    def __repr__(self) -> str:
        return (
            f"HashiCorpVaultSecrets(vault_url={_public_url(self.vault_url)!r}, mount_point={self.mount_point!r}, "
            f"version={self.version!r}, auth={self._auth!r})"
        )

    def _where(self) -> str:
        return f"mount '{self.mount_point}' at {_public_url(self.vault_url)}"

    # ------------------------------------------------------------------ token handling

    def _secrets(self) -> list[str]:
        found = list(self._auth.credentials())
        if self._client.token:
            found.append(str(self._client.token))
        return found

    def _login(self) -> None:
        try:
            login = self._auth.login(self._client)
        except ConfigManagerError:
            raise
        except (hvac_exc.VaultError, OSError) as exc:
            raise translate_login(
                exc,
                method=self._auth.describe(),
                where=_public_url(self.vault_url),
                secrets=self._secrets(),
                timeout=self.timeout,
            ) from exc
        self._client.token = login.token
        if login.lease_seconds:
            margin = min(RENEW_MARGIN_SECONDS, login.lease_seconds / 10)
            self._token_renew_at = time.monotonic() + login.lease_seconds - margin
        else:
            self._token_renew_at = None
        self._logged_in = True

    def _ensure_token(self, force: bool = False) -> None:
        with self._lock:
            due = self._token_renew_at is not None and time.monotonic() >= self._token_renew_at
            if force or not self._logged_in or due:
                self._login()

    def _token_rejected(self) -> bool | None:
        """After a 403: True when Vault no longer accepts our token at all (not just this path)."""
        try:
            self._client.auth.token.lookup_self()
        except hvac_exc.Forbidden:
            return True
        except Exception:  # noqa: BLE001 - the check is best effort; the original error is reported
            return None
        return False

    def _call(self, operation: str, key: str | None, fn: Callable[[], T]) -> T:
        """Run ``fn`` with a valid token; translate every backend error into ours."""
        self._ensure_token()
        try:
            try:
                return fn()
            except hvac_exc.Forbidden:
                if not self._auth.can_relogin:
                    raise
                self._ensure_token(force=True)  # the token may have been revoked: one fresh login
                return fn()
        except ConfigManagerError:
            raise
        except (hvac_exc.VaultError, OSError) as exc:
            rejected = self._token_rejected() if isinstance(exc, hvac_exc.Forbidden) else None
            raise translate(
                exc,
                operation=operation,
                key=key,
                where=self._where(),
                secrets=self._secrets(),
                token_rejected=rejected,
                timeout=self.timeout,
            ) from exc

    # ------------------------------------------------------------------ SecretProvider

    def get(self, key: str, version: str | None = None) -> SecretValue:
        path = _check_key(key)
        if version is not None and self.version == "v1":
            raise UnsupportedOperationError(
                f"vault: KV v1 mount '{self.mount_point}' keeps no versions of '{key}'", "vault"
            )
        if version is not None and not str(version).isdigit():
            raise ConfigurationError(f"vault: version of '{key}' must be a positive integer, got {version!r}")
        entry = self._call("reading", key, lambda: self._engine.read(path, version))
        return SecretValue(
            key=key,
            value=decode_value(entry.data),
            version=entry.version,
            metadata=dict(entry.custom_metadata),
            created_at=entry.created_at,
        )

    def set(self, key: str, value: Any, metadata: Mapping[str, str] | None = None) -> SecretValue:
        """Store ``value`` (see ``values`` for how scalars are stored).

        ``metadata`` replaces the key's KV v2 custom metadata when given (None leaves it as it is); a KV v1
        mount cannot hold metadata, so non-empty metadata there is an ``UnsupportedOperationError``.
        """
        path = _check_key(key)
        data = encode_value(key, value)
        custom = {str(k): str(v) for k, v in (metadata or {}).items()}
        if custom and self.version == "v1":
            raise UnsupportedOperationError(
                f"vault: KV v1 mount '{self.mount_point}' cannot store metadata for '{key}'; use a KV v2 mount",
                "vault",
            )
        entry = self._call("writing", key, lambda: self._engine.write(path, data))
        if metadata is not None and self.version == "v2":
            self._call("writing metadata of", key, lambda: self._engine.set_custom_metadata(path, custom))
        return SecretValue(
            key=key,
            value=value,
            version=entry.version,
            metadata=custom if metadata is not None else {},
            created_at=entry.created_at,
        )

    def delete(self, key: str) -> bool:
        """Delete the key; on KV v2 every version and the metadata go (``vault kv metadata delete``)."""
        path = _check_key(key)
        if not self._call("checking", key, lambda: self._engine.present(path)):
            return False
        self._call("deleting", key, lambda: self._engine.delete(path))
        return True

    def exists(self, key: str) -> bool:
        path = _check_key(key)
        return self._call("checking", key, lambda: self._engine.exists(path))

    def list(self, prefix: str = "", recursive: bool = True) -> list[str]:
        """Keys under ``prefix`` (a plain string prefix, e.g. ``db/pro`` matches ``db/prod``), sorted.

        With ``recursive=False`` only the direct children of the prefix's folder are returned, sub-folders
        with a trailing '/', as Vault lists them.
        """
        if prefix.startswith("/"):
            raise ConfigurationError(f"vault: list prefix {prefix!r} must be relative to the mount")
        folder = prefix.rsplit("/", 1)[0] + "/" if "/" in prefix else ""
        found: list[str] = []

        def walk(current: str) -> None:
            children = self._call("listing", current or None, lambda: self._engine.list(current))
            for child in children:
                full = current + child
                if child.endswith("/") and recursive:
                    if full.startswith(prefix) or prefix.startswith(full):
                        walk(full)
                elif full.startswith(prefix):
                    found.append(full)
                    if len(found) > self.max_list_keys:
                        raise ProviderError(
                            f"vault: more than {self.max_list_keys} keys under '{prefix}' ({self._where()}); "
                            "narrow the prefix or raise max_list_keys",
                            "vault",
                        )

        walk(folder)
        return sorted(found)

    def find(self, criteria: FindCriteria) -> builtins.list[str]:
        """Keys under ``criteria.path`` (walked recursively, as ``list``) whose path matches the name regexp;
        with ``tags``, those whose KV v2 custom metadata holds every tag (one metadata read per candidate).
        A KV v1 mount keeps no metadata, so ``tags`` there are refused."""
        if criteria.tags and self.version == "v1":
            raise ConfigurationError(
                f"vault: KV v1 mount '{self.mount_point}' keeps no custom metadata to match tags against; use a KV v2 mount"
            )
        folder = criteria.folder()
        if folder:
            _check_key(folder.rstrip("/"))
        return super().find(criteria)

    def versions(self, key: str) -> builtins.list[str]:
        """Readable versions (not deleted or destroyed), oldest first. KV v2 only."""
        path = _check_key(key)
        if self.version == "v1":
            return self._engine.versions(path)  # raises UnsupportedOperationError
        found = self._call("listing versions of", key, lambda: self._engine.versions(path))
        return found

    def metadata(self, key: str) -> dict[str, str]:
        """The key's KV v2 custom metadata, without reading its value ({} on KV v1)."""
        path = _check_key(key)
        return self._call("reading metadata of", key, lambda: self._engine.custom_metadata(path))

    def validate(self) -> None:
        """Check reachability, the credentials, and that the mount is a KV engine of the configured version."""
        self._call("validating the token for", None, lambda: self._client.auth.token.lookup_self())
        mount = self._call(
            "reading the mount of",
            None,
            lambda: self._client.adapter.get(f"/v1/sys/internal/ui/mounts/{self.mount_point}"),
        )
        data = (mount or {}).get("data") or {}
        engine_type = data.get("type")
        if engine_type and engine_type not in ("kv", "generic"):
            raise ConfigurationError(
                f"vault: mount '{self.mount_point}' is a '{engine_type}' engine, not a KV engine"
            )
        options = data.get("options") or {}
        actual = _normalise_version(options.get("version") or "1") if engine_type else None
        if actual and actual != self.version:
            raise ConfigurationError(
                f"vault: mount '{self.mount_point}' runs KV {actual}, but the provider is configured for {self.version}"
            )

    def leases(self) -> VaultLeases:
        """Lease operations (dynamic secrets engines) with this provider's token, TLS and timeout."""
        return VaultLeases(self._client, self._call)

    def close(self) -> None:
        try:
            self._client.adapter.close()
        except Exception:  # noqa: BLE001 - closing is best effort
            pass

    def __enter__(self) -> HashiCorpVaultSecrets:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
