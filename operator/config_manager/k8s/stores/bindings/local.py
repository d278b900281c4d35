"""``spec.provider.local``: the local AES-256-GCM store, its encrypted blob in a Secret or ConfigMap.

The key comes from ``keySecretRef`` (32 bytes raw, base64 or hex) or a passphrase from
``passphraseSecretRef``; the blob lives at ``storage`` (``stores.kubestorage.KubeBlobStorage``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..credentials import Credentials, decode_key_material, ref_at
from ..kubestorage import KubeBlobStorage
from . import CredentialRef

BASE = "spec.provider.local"


@dataclass(frozen=True)
class LocalBinding:
    name: str = "local"
    order: int = 0

    def credential_refs(self, spec: Mapping[str, Any]) -> list[CredentialRef]:
        storage = ref_at(spec, "storage")
        return [CredentialRef("keySecretRef", "Secret", ref_at(spec, "keySecretRef")),
                CredentialRef("passphraseSecretRef", "Secret", ref_at(spec, "passphraseSecretRef")),
                CredentialRef("storage", str(storage.get("kind") or "Secret"), storage)]

    def expiring_credentials(self, spec: Mapping[str, Any]) -> bool:
        return False

    def provider_config(self, spec: Mapping[str, Any], creds: Credentials) -> dict[str, Any]:
        storage_ref = ref_at(spec, "storage")
        namespace = creds.namespace(storage_ref, f"{BASE}.storage")
        storage = KubeBlobStorage(creds.api, namespace, str(storage_ref.get("name")),
                                  str(storage_ref.get("key") or "secrets.enc"), str(storage_ref.get("kind") or "Secret"))
        config: dict[str, Any] = {"storage": storage}
        if spec.get("keySecretRef"):
            field = f"{BASE}.keySecretRef"
            config["key"] = decode_key_material(creds.key(field, ref_at(spec, "keySecretRef")), field)
        else:
            config["passphrase"] = creds.key(f"{BASE}.passphraseSecretRef", ref_at(spec, "passphraseSecretRef")).decode()
        return config

    def decryption_key(self, spec: Mapping[str, Any], creds: Credentials) -> dict[str, Any]:
        """``key=`` or ``passphrase=`` for ``crypto.decrypt`` (a ConfigBundle's encrypted source)."""
        if spec.get("keySecretRef"):
            return {"key": decode_key_material(creds.key("keySecretRef", ref_at(spec, "keySecretRef")), "keySecretRef")}
        return {"passphrase": creds.key("passphraseSecretRef", ref_at(spec, "passphraseSecretRef")).decode()}


BINDING = LocalBinding()
