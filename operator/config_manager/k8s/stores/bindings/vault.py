"""``spec.provider.vault``: HashiCorp Vault / OpenBao KV, with token, AppRole, Kubernetes, JWT, userpass or TLS certificate auth.

Kubernetes auth logs in with a short-lived token of a ServiceAccount of the store's namespace, never
one for the apiserver's own audience (a store author could send it to any server URL).
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..credentials import Credentials, ref_at
from . import CredentialRef

BASE = "spec.provider.vault"


@dataclass(frozen=True)
class VaultBinding:
    name: str = "vault"
    order: int = 1

    def credential_refs(self, spec: Mapping[str, Any]) -> list[CredentialRef]:
        auth = ref_at(spec, "auth")
        refs = [CredentialRef("auth.tokenSecretRef", "Secret", ref_at(auth, "tokenSecretRef")),
                CredentialRef("auth.appRole.secretRef", "Secret", ref_at(ref_at(auth, "appRole"), "secretRef")),
                CredentialRef("auth.jwt.secretRef", "Secret", ref_at(ref_at(auth, "jwt"), "secretRef")),
                CredentialRef("auth.userPass.secretRef", "Secret", ref_at(ref_at(auth, "userPass"), "secretRef")),
                CredentialRef("auth.cert.clientCert", "Secret", ref_at(ref_at(auth, "cert"), "clientCert")),
                CredentialRef("auth.cert.secretRef", "Secret", ref_at(ref_at(auth, "cert"), "secretRef"))]
        ca = spec.get("caProvider")
        if isinstance(ca, Mapping):
            refs.append(CredentialRef("caProvider", str(ca.get("type") or "Secret"), ca))
        return refs

    def expiring_credentials(self, spec: Mapping[str, Any]) -> bool:
        auth = ref_at(spec, "auth")
        return "kubernetes" in auth or "kubernetesServiceAccountToken" in ref_at(auth, "jwt")

    def provider_config(self, spec: Mapping[str, Any], creds: Credentials) -> dict[str, Any]:
        auth = ref_at(spec, "auth")
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
            ca = ref_at(spec, "caProvider")
            ca_pem = creds.key(f"{BASE}.caProvider", ca, str(ca.get("type") or "Secret"))
        if ca_pem is not None:
            config["ca_bundle"] = creds.ca_file(ca_pem)
        if auth.get("tokenSecretRef"):
            config["vault_token"] = creds.text(f"{BASE}.auth.tokenSecretRef", ref_at(auth, "tokenSecretRef"))
        elif auth.get("appRole"):
            approle = ref_at(auth, "appRole")
            config["auth"] = {"approle": {
                "role_id": approle.get("roleId"),
                "secret_id": creds.text(f"{BASE}.auth.appRole.secretRef", ref_at(approle, "secretRef")),
                "mount_point": approle.get("path") or "approle",
            }}
        elif auth.get("kubernetes"):
            k8s_auth = ref_at(auth, "kubernetes")
            jwt = creds.token(f"{BASE}.auth.kubernetes.serviceAccountRef", ref_at(k8s_auth, "serviceAccountRef"), ["vault"])
            config["auth"] = {"kubernetes": {"role": k8s_auth.get("role"), "jwt": jwt,
                                             "mount_point": k8s_auth.get("mountPath") or "kubernetes"}}
        elif auth.get("jwt"):
            jwt_auth = ref_at(auth, "jwt")
            field = f"{BASE}.auth.jwt"
            if jwt_auth.get("secretRef"):
                token = creds.text(f"{field}.secretRef", ref_at(jwt_auth, "secretRef"))
            else:
                sa = ref_at(ref_at(jwt_auth, "kubernetesServiceAccountToken"), "serviceAccountRef")
                token = creds.token(f"{field}.kubernetesServiceAccountToken.serviceAccountRef", sa, ["vault"])
            config["auth"] = {"jwt": {"role": jwt_auth.get("role"), "jwt": token, "mount_point": jwt_auth.get("path") or "jwt"}}
        elif auth.get("userPass"):
            user = ref_at(auth, "userPass")
            config["auth"] = {"userpass": {
                "username": user.get("username"),
                "password": creds.text(f"{BASE}.auth.userPass.secretRef", ref_at(user, "secretRef")),
                "mount_point": user.get("path") or "userpass",
            }}
        elif auth.get("cert"):
            cert = ref_at(auth, "cert")
            config["auth"] = {"cert": {
                "cert_pem": creds.key(f"{BASE}.auth.cert.clientCert", ref_at(cert, "clientCert")).decode(),
                "key_pem": creds.key(f"{BASE}.auth.cert.secretRef", ref_at(cert, "secretRef")).decode(),
                "role": cert.get("role"),
                "mount_point": cert.get("path") or "cert",
            }}
        return config


BINDING = VaultBinding()
