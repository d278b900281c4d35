"""``spec.provider.azure``: Azure Key Vault with a service principal, a managed identity or workload identity.

The credential object comes from azure-identity (an optional extra, imported only for azure stores);
workload identity exchanges a federated ServiceAccount token of the store's namespace.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..credentials import Credentials, StoreNotReadyError, ref_at
from . import CredentialRef

BASE = "spec.provider.azure"

#: Azure AD authority of each of Azure's own clouds (environmentType); AzureStackCloud names its own.
AZURE_AUTHORITIES = {
    "PublicCloud": "login.microsoftonline.com",
    "USGovernmentCloud": "login.microsoftonline.us",
    "ChinaCloud": "login.chinacloudapi.cn",
    "GermanCloud": "login.microsoftonline.de",
}


def azure_authority(spec: Mapping[str, Any], base: str) -> dict[str, Any]:
    """The credential settings for the store's cloud: ``authority`` and, off Azure's clouds, no instance discovery.

    Instance discovery asks Azure's public cloud whether an authority is known; for an Azure Stack Hub (or any
    private authority) the answer is no, so it is turned off for AzureStackCloud, as Azure Stack requires.
    """
    environment = spec.get("environmentType") or "PublicCloud"
    if environment == "AzureStackCloud":
        endpoint = str((spec.get("customCloudConfig") or {}).get("activeDirectoryEndpoint") or "")
        if not endpoint.startswith("https://"):
            raise StoreNotReadyError(f"{base}.customCloudConfig.activeDirectoryEndpoint: an https URL is required "
                                     "when environmentType is AzureStackCloud")
        return {"authority": endpoint.rstrip("/"), "disable_instance_discovery": True}
    if environment not in AZURE_AUTHORITIES:
        raise StoreNotReadyError(f"{base}.environmentType: unknown cloud {environment!r} "
                                 f"(one of {', '.join([*AZURE_AUTHORITIES, 'AzureStackCloud'])})")
    return {"authority": AZURE_AUTHORITIES[environment]}


@dataclass(frozen=True)
class AzureBinding:
    name: str = "azure"
    order: int = 2

    def credential_refs(self, spec: Mapping[str, Any]) -> list[CredentialRef]:
        auth = ref_at(spec, "authSecretRef")
        return [CredentialRef("authSecretRef.clientId", "Secret", ref_at(auth, "clientId")),
                CredentialRef("authSecretRef.clientSecret", "Secret", ref_at(auth, "clientSecret"))]

    def expiring_credentials(self, spec: Mapping[str, Any]) -> bool:
        return spec.get("authType") == "WorkloadIdentity"

    def provider_config(self, spec: Mapping[str, Any], creds: Credentials) -> dict[str, Any]:
        try:
            from azure import identity
        except ImportError as exc:
            raise StoreNotReadyError(f"{BASE}: the operator image lacks azure-identity (configmanagelib[azure])") from exc
        auth_type = spec.get("authType") or "ServicePrincipal"
        credential: Any
        if auth_type == "ServicePrincipal":
            if not spec.get("tenantId"):
                raise StoreNotReadyError(f"{BASE}.tenantId: a ServicePrincipal needs the tenant (directory) ID")
            refs = ref_at(spec, "authSecretRef")
            credential = identity.ClientSecretCredential(
                tenant_id=str(spec.get("tenantId") or ""),
                client_id=creds.text(f"{BASE}.authSecretRef.clientId", ref_at(refs, "clientId")),
                client_secret=creds.text(f"{BASE}.authSecretRef.clientSecret", ref_at(refs, "clientSecret")),
                **azure_authority(spec, BASE),
            )
        elif auth_type == "ManagedIdentity":
            credential = identity.ManagedIdentityCredential(client_id=spec.get("identityId") or None)
        else:  # WorkloadIdentity: a federated ServiceAccount token, exchanged by Azure AD
            jwt = creds.token(f"{BASE}.serviceAccountRef", ref_at(spec, "serviceAccountRef"), ["api://AzureADTokenExchange"])
            if not spec.get("tenantId") or not spec.get("identityId"):
                raise StoreNotReadyError(f"{BASE}: WorkloadIdentity needs tenantId and identityId (the application's client ID)")
            credential = identity.ClientAssertionCredential(
                tenant_id=str(spec["tenantId"]), client_id=str(spec["identityId"]), func=lambda: jwt,
                **azure_authority(spec, BASE))
        return {"vault_url": spec.get("vaultUrl"), "credential": credential}


BINDING = AzureBinding()
