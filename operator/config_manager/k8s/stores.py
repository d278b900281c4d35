"""From a ``storeRef`` to a ready provider: resolution, isolation, credentials, provider configuration.

A reference is resolved against the watch cache (no API call), checked against the isolation rules, and
turned into a provider through the registry — the operator never imports a concrete provider. Building
a provider reads its credentials (GETs of the referenced Secrets); that happens once per store version:
the provider cache keys providers by a fingerprint of the store's and its credential Secrets'
resourceVersions, so a changed credential rebuilds the provider and nothing else does.
"""

from __future__ import annotations

import base64
import binascii
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigurationError
from ..providers import SecretProvider
from ..providers import registry
from .cache import ClusterCache
from .isolation import IsolationError, check_store_access, credential_namespace
from .kubeapi import ApiError, KubeApi
from .kubestorage import KubeBlobStorage
from .spec import StoreRef

KEY_SIZE = 32


class StoreNotReadyError(Exception):
    """The store cannot be used yet (missing, misconfigured, or its credentials are missing)."""


@dataclass(frozen=True)
class ResolvedStore:
    kind: str
    name: str
    namespace: str | None  # None for a ClusterSecretStore
    provider_type: str
    provider_spec: Mapping[str, Any]
    resource_version: str

    @property
    def key(self) -> str:
        """Identity used for provider caching and backoff."""
        return f"{self.kind}/{self.namespace or ''}/{self.name}"

    def credential_refs(self) -> list[tuple[str, str, str, str]]:
        """(field path, kind, namespace, name) of every object holding a credential or the blob."""
        refs: list[tuple[str, str, str, str]] = []
        spec = self.provider_spec

        def add(path: str, ref: Any, kind: str = "Secret") -> None:
            if isinstance(ref, Mapping) and ref.get("name"):
                ns = credential_namespace(self.kind, self.namespace, ref, path)
                refs.append((path, kind, ns, str(ref["name"])))

        base = f"spec.provider.{self.provider_type}"
        if self.provider_type == "local":
            add(f"{base}.keySecretRef", spec.get("keySecretRef"))
            add(f"{base}.passphraseSecretRef", spec.get("passphraseSecretRef"))
            storage = spec.get("storage") or {}
            add(f"{base}.storage", storage, str(storage.get("kind") or "Secret"))
        elif self.provider_type == "vault":
            auth = spec.get("auth") or {}
            add(f"{base}.auth.tokenSecretRef", auth.get("tokenSecretRef"))
            add(f"{base}.auth.appRole.secretRef", (auth.get("appRole") or {}).get("secretRef"))
            add(f"{base}.auth.jwt.secretRef", (auth.get("jwt") or {}).get("secretRef"))
            add(f"{base}.auth.userPass.secretRef", (auth.get("userPass") or {}).get("secretRef"))
            add(f"{base}.auth.cert.clientCert", (auth.get("cert") or {}).get("clientCert"))
            add(f"{base}.auth.cert.secretRef", (auth.get("cert") or {}).get("secretRef"))
            ca = spec.get("caProvider")
            if isinstance(ca, Mapping):
                add(f"{base}.caProvider", ca, str(ca.get("type") or "Secret"))
        elif self.provider_type == "azure":
            auth = spec.get("authSecretRef") or {}
            add(f"{base}.authSecretRef.clientId", auth.get("clientId"))
            add(f"{base}.authSecretRef.clientSecret", auth.get("clientSecret"))
        return refs

    def fingerprint(self, cache: ClusterCache) -> str:
        """Changes when the store or any object it references changes (from the cache, no API call)."""
        parts = [self.resource_version]
        vault_auth = self.provider_spec.get("auth") or {}
        if (self.provider_type == "vault" and ("kubernetes" in vault_auth or
                                               "kubernetesServiceAccountToken" in (vault_auth.get("jwt") or {}))) or \
                (self.provider_type == "azure" and self.provider_spec.get("authType") == "WorkloadIdentity"):
            parts.append(str(int(time.time() // (SA_TOKEN_SECONDS / 2))))  # a fresh token every half lifetime
        for _path, kind, ns, name in self.credential_refs():
            info = cache.get_object(kind, ns, name)
            parts.append(info.resource_version if info else "-")
        return "|".join(parts)


def resolve_store(ref: StoreRef, namespace: str, cache: ClusterCache) -> ResolvedStore:
    """The store an object in ``namespace`` means by ``ref``; StoreNotReadyError / IsolationError."""
    with cache.lock:
        if ref.kind == "SecretStore":
            body = cache.stores.get((namespace, ref.name))
        else:
            body = cache.cluster_stores.get(ref.name)
        ns_labels = cache.namespaces.get(namespace)
    if body is None:
        raise StoreNotReadyError(f"{ref.kind} {ref.name!r} not found" + (f" in namespace {namespace!r}" if ref.kind == "SecretStore" else ""))
    spec = body.get("spec") or {}
    check_store_access(ref, namespace=namespace, store_spec=spec, ns_labels=ns_labels)
    provider = spec.get("provider") or {}
    kinds = [k for k in ("local", "vault", "azure") if k in provider]
    if len(kinds) != 1:
        raise StoreNotReadyError(f"{ref.kind} {ref.name!r}: spec.provider must set exactly one of local, vault, azure")
    return ResolvedStore(
        kind=ref.kind,
        name=ref.name,
        namespace=namespace if ref.kind == "SecretStore" else None,
        provider_type=kinds[0],
        provider_spec=provider[kinds[0]] or {},
        resource_version=str((body.get("metadata") or {}).get("resourceVersion") or ""),
    )


def _read_secret_key(api: KubeApi, kind: str, namespace: str, name: str, key: str, field: str) -> bytes:
    resource = "secrets" if kind == "Secret" else "configmaps"
    try:
        obj = api.get(resource, namespace, name)
    except ApiError as exc:
        raise StoreNotReadyError(f"{field}: cannot read {kind} {namespace}/{name}: {exc.status} {exc.reason}") from exc
    if obj is None:
        raise StoreNotReadyError(f"{field}: {kind} {namespace}/{name} not found")
    if kind == "Secret":
        encoded = (obj.get("data") or {}).get(key)
        if encoded is None:
            raise StoreNotReadyError(f"{field}: key {key!r} not found in Secret {namespace}/{name}")
        return base64.b64decode(encoded)
    text = (obj.get("data") or {}).get(key)
    if text is None:
        raise StoreNotReadyError(f"{field}: key {key!r} not found in ConfigMap {namespace}/{name}")
    return str(text).encode()


def decode_key_material(raw: bytes, field: str) -> bytes:
    """A 32-byte key from raw bytes, or from base64 / hex text (keys travel through text channels)."""
    if len(raw) == KEY_SIZE:
        return raw
    text = raw.strip()
    candidates: list[bytes] = []
    for decode in (lambda t: base64.b64decode(t, validate=True), base64.urlsafe_b64decode):
        try:
            candidates.append(decode(text))
        except (ValueError, binascii.Error):
            pass
    try:
        candidates.append(bytes.fromhex(text.decode()))
    except (ValueError, UnicodeDecodeError):
        pass
    for key in candidates:
        if len(key) == KEY_SIZE:
            return key
    raise StoreNotReadyError(f"{field}: not a 32-byte key (raw, base64 or hex)")


def _ref(spec: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = spec.get(name)
    return value if isinstance(value, Mapping) else {}


def build_provider(store: ResolvedStore, api: KubeApi) -> SecretProvider:
    """A provider for ``store`` via the registry, its credentials read from the referenced Secrets."""
    spec = store.provider_spec
    base = f"spec.provider.{store.provider_type}"

    def secret(path: str, ref: Mapping[str, Any]) -> bytes:
        ns = credential_namespace(store.kind, store.namespace, ref, path)
        return _read_secret_key(api, "Secret", ns, str(ref["name"]), str(ref["key"]), path)

    try:
        if store.provider_type == "local":
            storage_ref = _ref(spec, "storage")
            ns = credential_namespace(store.kind, store.namespace, storage_ref, f"{base}.storage")
            storage = KubeBlobStorage(api, ns, str(storage_ref.get("name")), str(storage_ref.get("key") or "secrets.enc"),
                                      str(storage_ref.get("kind") or "Secret"))
            config: dict[str, Any] = {"storage": storage}
            if spec.get("keySecretRef"):
                config["key"] = decode_key_material(secret(f"{base}.keySecretRef", _ref(spec, "keySecretRef")), f"{base}.keySecretRef")
            else:
                config["passphrase"] = secret(f"{base}.passphraseSecretRef", _ref(spec, "passphraseSecretRef")).decode()
            return registry.create("local", **config)
        if store.provider_type == "vault":
            return registry.create("vault", **_vault_config(store, secret, api))
        if store.provider_type == "azure":
            return registry.create("azure", **_azure_config(store, secret, api))
    except IsolationError as exc:
        raise StoreNotReadyError(str(exc)) from None
    except ConfigurationError as exc:
        raise StoreNotReadyError(f"{base}: {exc}") from exc
    raise StoreNotReadyError(f"unsupported provider type {store.provider_type!r}")


def _vault_config(store: ResolvedStore, secret: Any, api: KubeApi) -> dict[str, Any]:
    spec = store.provider_spec
    base = "spec.provider.vault"
    auth = _ref(spec, "auth")
    config: dict[str, Any] = {
        "vault_url": spec.get("server"),
        "mount_point": spec.get("path") or "secret",
        "version": spec.get("version") or "v2",
    }
    if spec.get("namespace"):
        config["namespace"] = spec["namespace"]
    ca_pem: bytes | None = None
    if spec.get("caBundle"):
        ca_pem = base64.b64decode(str(spec["caBundle"]))
    elif isinstance(spec.get("caProvider"), Mapping):
        ca = _ref(spec, "caProvider")
        ns = credential_namespace(store.kind, store.namespace, ca, f"{base}.caProvider")
        ca_pem = _read_secret_key(api, str(ca.get("type") or "Secret"), ns, str(ca["name"]), str(ca["key"]), f"{base}.caProvider")
    if ca_pem is not None:
        config["ca_bundle"] = _ca_file(store, ca_pem)
    if auth.get("tokenSecretRef"):
        config["vault_token"] = secret(f"{base}.auth.tokenSecretRef", _ref(auth, "tokenSecretRef")).decode().strip()
    elif auth.get("appRole"):
        approle = _ref(auth, "appRole")
        config["auth"] = {"approle": {
            "role_id": approle.get("roleId"),
            "secret_id": secret(f"{base}.auth.appRole.secretRef", _ref(approle, "secretRef")).decode().strip(),
            "mount_point": approle.get("path") or "approle",
        }}
    elif auth.get("kubernetes"):
        k8s_auth = _ref(auth, "kubernetes")
        sa = _ref(k8s_auth, "serviceAccountRef")
        sa_ns = credential_namespace(store.kind, store.namespace, sa, f"{base}.auth.kubernetes.serviceAccountRef")
        # Never a token for the apiserver's own audience: a store author could send it to any server URL.
        jwt = request_service_account_token(api, sa_ns, str(sa.get("name")), list(sa.get("audiences") or ["vault"]),
                                            f"{base}.auth.kubernetes.serviceAccountRef")
        config["auth"] = {"kubernetes": {"role": k8s_auth.get("role"), "jwt": jwt,
                                         "mount_point": k8s_auth.get("mountPath") or "kubernetes"}}
    elif auth.get("jwt"):
        jwt_auth = _ref(auth, "jwt")
        field = f"{base}.auth.jwt"
        if jwt_auth.get("secretRef"):
            token = secret(f"{field}.secretRef", _ref(jwt_auth, "secretRef")).decode().strip()
        else:
            sa = _ref(_ref(jwt_auth, "kubernetesServiceAccountToken"), "serviceAccountRef")
            sa_field = f"{field}.kubernetesServiceAccountToken.serviceAccountRef"
            sa_ns = credential_namespace(store.kind, store.namespace, sa, sa_field)
            token = request_service_account_token(api, sa_ns, str(sa.get("name")), list(sa.get("audiences") or ["vault"]), sa_field)
        config["auth"] = {"jwt": {"role": jwt_auth.get("role"), "jwt": token, "mount_point": jwt_auth.get("path") or "jwt"}}
    elif auth.get("userPass"):
        user = _ref(auth, "userPass")
        config["auth"] = {"userpass": {
            "username": user.get("username"),
            "password": secret(f"{base}.auth.userPass.secretRef", _ref(user, "secretRef")).decode().strip(),
            "mount_point": user.get("path") or "userpass",
        }}
    elif auth.get("cert"):
        cert = _ref(auth, "cert")
        config["auth"] = {"cert": {
            "cert_pem": secret(f"{base}.auth.cert.clientCert", _ref(cert, "clientCert")).decode(),
            "key_pem": secret(f"{base}.auth.cert.secretRef", _ref(cert, "secretRef")).decode(),
            "role": cert.get("role"),
            "mount_point": cert.get("path") or "cert",
        }}
    return config


#: Lifetime of ServiceAccount tokens requested for Vault/Azure logins; providers are rebuilt before it ends.
SA_TOKEN_SECONDS = 3600


def request_service_account_token(api: KubeApi, namespace: str, name: str, audiences: list[str], field: str) -> str:
    """A short-lived token of a ServiceAccount of the store's namespace (TokenRequest)."""
    forbidden = _apiserver_audiences(api)
    if any(a in forbidden or "kubernetes.default.svc" in a for a in audiences):
        raise StoreNotReadyError(f"{field}.audiences: a token for the Kubernetes API's own audience is never requested")
    body: dict[str, Any] = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                            "spec": {"expirationSeconds": SA_TOKEN_SECONDS}}
    if audiences:
        body["spec"]["audiences"] = audiences
    try:
        answer = api.request("create", "POST", "serviceaccounts",
                             api.path("serviceaccounts", namespace, name, "token"), body=body)
    except ApiError as exc:
        raise StoreNotReadyError(f"{field}: cannot request a token for ServiceAccount {namespace}/{name}: {exc.status} {exc.reason}") from exc
    token = (answer.get("status") or {}).get("token")
    if not token:
        raise StoreNotReadyError(f"{field}: TokenRequest for {namespace}/{name} returned no token")
    return str(token)


_ISSUERS: list[set[str]] = []


def _apiserver_audiences(api: KubeApi) -> set[str]:
    """The service-account issuer (the apiserver's default audience), read once from its OIDC discovery."""
    if not _ISSUERS:
        found: set[str] = set()
        try:
            import json  # noqa: PLC0415

            issuer = json.loads(api.get_text("/.well-known/openid-configuration")).get("issuer")
            if issuer:
                found.add(str(issuer))
        except (ApiError, ValueError):
            pass
        _ISSUERS.append(found)
    return _ISSUERS[0]


_CA_DIR: list[str] = []


def _ca_file(store: ResolvedStore, pem: bytes) -> str:
    """Write a CA bundle to a private temporary file (hvac wants a path); one file per store."""
    import hashlib  # noqa: PLC0415
    import os  # noqa: PLC0415
    import tempfile  # noqa: PLC0415

    if not _CA_DIR:
        _CA_DIR.append(tempfile.mkdtemp(prefix="config-manager-ca-"))
    name = hashlib.sha256(f"{store.key}\0".encode() + pem).hexdigest()[:24] + ".pem"
    path = os.path.join(_CA_DIR[0], name)
    if not os.path.exists(path):
        with open(path, "wb") as handle:
            handle.write(pem)
    return path


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


def _azure_config(store: ResolvedStore, secret: Any, api: KubeApi) -> dict[str, Any]:
    """Azure Key Vault: a credential object built from the referenced Secrets (azure-identity, lazily)."""
    spec = store.provider_spec
    base = "spec.provider.azure"
    try:
        from azure import identity  # noqa: PLC0415 - optional extra, only needed for azure stores
    except ImportError as exc:
        raise StoreNotReadyError(f"{base}: the operator image lacks azure-identity (configmanagelib[azure])") from exc
    auth_type = spec.get("authType") or "ServicePrincipal"
    credential: Any
    if auth_type == "ServicePrincipal":
        if not spec.get("tenantId"):
            raise StoreNotReadyError(f"{base}.tenantId: a ServicePrincipal needs the tenant (directory) ID")
        refs = _ref(spec, "authSecretRef")
        credential = identity.ClientSecretCredential(
            tenant_id=str(spec.get("tenantId") or ""),
            client_id=secret(f"{base}.authSecretRef.clientId", _ref(refs, "clientId")).decode().strip(),
            client_secret=secret(f"{base}.authSecretRef.clientSecret", _ref(refs, "clientSecret")).decode().strip(),
            **azure_authority(spec, base),
        )
    elif auth_type == "ManagedIdentity":
        credential = identity.ManagedIdentityCredential(client_id=spec.get("identityId") or None)
    else:  # WorkloadIdentity: a federated ServiceAccount token, exchanged by Azure AD
        sa = _ref(spec, "serviceAccountRef")
        sa_ns = credential_namespace(store.kind, store.namespace, sa, f"{base}.serviceAccountRef")
        jwt = request_service_account_token(api, sa_ns, str(sa.get("name")),
                                            list(sa.get("audiences") or ["api://AzureADTokenExchange"]),
                                            f"{base}.serviceAccountRef")
        if not spec.get("tenantId") or not spec.get("identityId"):
            raise StoreNotReadyError(f"{base}: WorkloadIdentity needs tenantId and identityId (the application's client ID)")
        credential = identity.ClientAssertionCredential(
            tenant_id=str(spec["tenantId"]), client_id=str(spec["identityId"]), func=lambda: jwt,
            **azure_authority(spec, base))
    return {"vault_url": spec.get("vaultUrl"), "credential": credential}
