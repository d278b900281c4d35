"""``AzureKeyVaultSecrets``: the ``SecretProvider`` for Azure Key Vault secrets.

Built on ``azure-keyvault-secrets`` with any ``azure.core.credentials.TokenCredential`` (by default
one built by ``credentials`` from plain settings, else ``DefaultAzureCredential``; azure-identity is
imported only then, so it is optional when a credential is passed in). Keys are mapped to Azure names by ``names`` (reversibly; Azure forbids ``/``
and ``_``), values to strings by ``values``, tags serve as metadata, and azure-core errors become ours in
``errors``.

Calls are bounded: unless the caller overrides them, the client gets short connection and read timeouts
and at most ``DEFAULT_RETRY_TOTAL`` retries (azure-core's own default is ten, with exponential backoff,
which can keep a caller waiting for minutes when the vault is down).

Deletion: Azure vaults soft-delete. ``delete`` waits (bounded) until the deletion is complete and, with
``purge_on_delete`` (or ``delete(key, purge=True)``), purges the secret so its name can be reused at once.
Setting a key whose deleted secret is still recoverable fails with a ``ProviderError`` that says so;
``recover`` brings such a secret back.
"""

from __future__ import annotations

import builtins
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar
from urllib.parse import urlsplit

from azure.core import exceptions as az
from azure.core.credentials import TokenCredential
from azure.keyvault.secrets import SecretClient, SecretProperties

from ...errors import ConfigManagerError, ConfigurationError, ProviderUnavailableError
from ..base import FindCriteria, SecretProvider, SecretValue, bounded
from . import names
from .credentials import credential_from_settings
from .errors import translate
from .values import decode_value, encode_value

T = TypeVar("T")

#: Client defaults that keep every call bounded (the caller's client_kwargs win).
DEFAULT_CONNECTION_TIMEOUT = 5
DEFAULT_READ_TIMEOUT = 15
DEFAULT_RETRY_TOTAL = 2
#: How long ``delete`` waits for a soft deletion to complete before purging.
DEFAULT_DELETE_WAIT_SECONDS = 60.0

_LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})

#: Azure's limit on tags per secret.
MAX_TAGS = 15


class AzureKeyVaultSecrets(SecretProvider):
    """Secrets in one Azure Key Vault.

    Args:
        vault_url: the vault, e.g. ``https://mykeyvault.vault.azure.net/``.
        credential: any ``TokenCredential``; when None, one is built from the settings below
            (see ``credentials``), ``DefaultAzureCredential()`` when none are given.
        tenant_id, client_id, client_secret: a service principal instead of ``credential``.
        managed_identity_client_id: a user-assigned managed identity instead of ``credential``.
        purge_on_delete: purge deleted secrets (needs the purge permission) so their names are free at once.
        delete_wait_seconds: bound on waiting for a soft deletion to complete.
        **client_kwargs: passed to ``SecretClient`` (``api_version``, ``verify_challenge_resource``,
            ``connection_verify``, ``connection_timeout``, ``read_timeout``, ``retry_total``, ...).
            For a loopback ``vault_url`` (an emulator), ``verify_challenge_resource`` defaults to False.
    """

    provider_type = "azure"

    def __init__(
        self,
        vault_url: str,
        credential: TokenCredential | None = None,
        *,
        purge_on_delete: bool = False,
        delete_wait_seconds: float = DEFAULT_DELETE_WAIT_SECONDS,
        tenant_id: str | None = None,
        client_id: str | None = None,
        client_secret: str | None = None,
        managed_identity_client_id: str | None = None,
        **client_kwargs: Any,
    ) -> None:
        parts = urlsplit(vault_url or "")
        if parts.scheme != "https" or not parts.hostname:
            raise ConfigurationError(f"azure: vault_url must be an https URL, got {vault_url!r}")
        self.vault_url = vault_url
        self.purge_on_delete = purge_on_delete
        self.delete_wait_seconds = delete_wait_seconds
        kwargs: dict[str, Any] = {
            "connection_timeout": DEFAULT_CONNECTION_TIMEOUT,
            "read_timeout": DEFAULT_READ_TIMEOUT,
            "retry_total": DEFAULT_RETRY_TOTAL,
        }
        if parts.hostname in _LOOPBACK_HOSTS or parts.hostname.endswith(".localhost"):
            # An emulator on this machine answers the auth challenge for itself, not for an Azure domain;
            # the check guards against sending tokens to a non-Azure host, which loopback cannot be.
            kwargs["verify_challenge_resource"] = False
        kwargs.update(client_kwargs)
        settings = {"tenant_id": tenant_id, "client_id": client_id, "client_secret": client_secret,
                    "managed_identity_client_id": managed_identity_client_id}
        if credential is not None and any(settings.values()):
            raise ConfigurationError("azure: give a credential object or credential settings, not both")
        self._credential = credential if credential is not None else credential_from_settings(**settings)
        self._client = SecretClient(vault_url=vault_url, credential=self._credential, **kwargs)

    # ------------------------------------------------------------------ description

    def describe(self) -> str:
        return f"azure {self._where()}"

    def __repr__(self) -> str:
        return f"AzureKeyVaultSecrets(vault_url={self._where()!r}, credential={type(self._credential).__name__})"

    def _where(self) -> str:
        parts = urlsplit(self.vault_url)
        host = parts.hostname or ""
        return f"https://{host}:{parts.port}" if parts.port else f"https://{host}"

    # ------------------------------------------------------------------ plumbing

    def _call(
        self, operation: str, key: str | None, name: str | None, fn: Callable[[], T], version: str | None = None
    ) -> T:
        try:
            return fn()
        except ConfigManagerError:
            raise
        except az.AzureError as exc:
            raise translate(
                exc, operation=operation, key=key, name=name, where=self._where(), version=version
            ) from exc

    @staticmethod
    def _tags(key: str, metadata: Mapping[str, str] | None) -> dict[str, str] | None:
        if metadata is None:
            return None
        tags = {str(k): str(v) for k, v in metadata.items()}
        if len(tags) > MAX_TAGS:
            raise ConfigurationError(
                f"azure: secret '{key}' has {len(tags)} metadata entries; Azure allows {MAX_TAGS} tags"
            )
        return tags

    # ------------------------------------------------------------------ SecretProvider

    def get(self, key: str, version: str | None = None) -> SecretValue:
        name = names.encode(key)
        secret = self._call(
            "reading", key, name, lambda: self._client.get_secret(name, version or None), version=version
        )
        props = secret.properties
        return SecretValue(
            key=key,
            value=decode_value(secret.value, props.content_type),
            version=props.version,
            metadata=dict(props.tags or {}),
            created_at=props.created_on,
            expires_at=props.expires_on,
        )

    def set(self, key: str, value: Any, metadata: Mapping[str, str] | None = None) -> SecretValue:
        """Store a new version; ``metadata`` becomes the version's tags (Azure keeps tags per version)."""
        name = names.encode(key)
        text, content_type = encode_value(key, value)
        tags = self._tags(key, metadata)
        secret = self._call(
            "writing",
            key,
            name,
            lambda: self._client.set_secret(name, text, tags=tags, content_type=content_type),
        )
        props = secret.properties
        return SecretValue(
            key=key,
            value=value,
            version=props.version,
            metadata=dict(props.tags or {}),
            created_at=props.created_on,
            expires_at=props.expires_on,
        )

    def delete(self, key: str, purge: bool | None = None) -> bool:
        """Delete every version; with ``purge`` (default ``purge_on_delete``) also purge the deleted secret."""
        name = names.encode(key)
        try:
            poller = self._client.begin_delete_secret(name)
        except az.ResourceNotFoundError:
            return False
        except az.AzureError as exc:
            raise translate(exc, operation="deleting", key=key, name=name, where=self._where()) from exc
        do_purge = self.purge_on_delete if purge is None else purge
        if do_purge:
            self._call("waiting for the deletion of", key, name, lambda: poller.wait(self.delete_wait_seconds))
            if not poller.done():
                raise ProviderUnavailableError(
                    f"azure: deleting '{key}' at {self._where()} did not complete within "
                    f"{self.delete_wait_seconds:g}s; it cannot be purged yet",
                    "azure",
                )
            self.purge(key)
        return True

    def purge(self, key: str) -> None:
        """Permanently remove a soft-deleted secret (its name becomes free)."""
        name = names.encode(key)
        self._call("purging", key, name, lambda: self._client.purge_deleted_secret(name))
        # Azure purges asynchronously: wait (bounded) until the deleted secret is gone.
        deadline = time.monotonic() + self.delete_wait_seconds
        while time.monotonic() < deadline:
            try:
                self._client.get_deleted_secret(name)
            except az.ResourceNotFoundError:
                return
            except az.AzureError:
                return
            time.sleep(0.5)

    def recover(self, key: str) -> None:
        """Bring back a soft-deleted secret with all its versions (bounded wait)."""
        name = names.encode(key)
        poller = self._call("recovering", key, name, lambda: self._client.begin_recover_deleted_secret(name))
        self._call("waiting for the recovery of", key, name, lambda: poller.wait(self.delete_wait_seconds))

    def list_deleted(self, prefix: str = "") -> builtins.list[str]:
        """Keys of soft-deleted secrets that can still be recovered or purged."""
        items = self._call("listing deleted secrets of", None, None, lambda: list(self._client.list_deleted_secrets()))
        return self._keys((d.name for d in items), prefix)

    @staticmethod
    def _keys(found: Iterable[str | None], prefix: str) -> builtins.list[str]:
        keys = (names.decode(n) for n in found if n)
        return sorted(k for k in keys if k.startswith(prefix))

    def list(self, prefix: str = "") -> builtins.list[str]:
        """Keys (decoded names) of every secret starting with ``prefix``, sorted; values are not read."""
        items: builtins.list[SecretProperties] = self._call(
            "listing secrets of", None, None, lambda: builtins.list(self._client.list_properties_of_secrets())
        )
        return self._keys((p.name for p in items), prefix)

    def find(self, criteria: FindCriteria) -> builtins.list[str]:
        """Keys whose name matches and whose current version's tags hold every tag in ``criteria``: one
        listing of the vault's secret properties (tags come with it), no value read. Disabled secrets
        are skipped (they cannot be read)."""
        pattern = criteria.pattern()
        items: builtins.list[SecretProperties] = self._call(
            "listing secrets of", None, None, lambda: builtins.list(self._client.list_properties_of_secrets())
        )
        found = []
        for props in items:
            if not props.name or props.enabled is False:
                continue
            key = names.decode(props.name)
            if criteria.selects_name(key, pattern) and criteria.selects_tags(props.tags or {}):
                found.append(key)
        return bounded(found, criteria, self.describe())

    def versions(self, key: str) -> builtins.list[str]:
        """Version ids of the key, oldest first."""
        name = names.encode(key)
        items: builtins.list[SecretProperties] = self._call(
            "listing versions of",
            key,
            name,
            lambda: builtins.list(self._client.list_properties_of_secret_versions(name)),
        )
        if not items:
            raise translate(
                az.ResourceNotFoundError("no versions"), operation="listing versions of", key=key, name=name,
                where=self._where(),
            )
        # Azure gives creation times in whole seconds: versions made within one second keep the order the
        # service listed them in (a stable sort), rather than an order made up from their random ids.
        items.sort(key=lambda p: (p.created_on is None, p.created_on))
        return [p.version for p in items if p.version]

    def metadata(self, key: str) -> dict[str, str]:
        """The tags of the key's current version."""
        return dict(self.get(key).metadata)

    def validate(self) -> None:
        """Check that the vault answers and accepts the credential (lists at most one page of names)."""
        self._call(
            "validating access to",
            None,
            None,
            lambda: next(iter(self._client.list_properties_of_secrets(max_page_size=1)), None),
        )

    def close(self) -> None:
        try:
            self._client.close()
        except Exception:  # noqa: BLE001 - closing is best effort
            pass

    def __enter__(self) -> AzureKeyVaultSecrets:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
