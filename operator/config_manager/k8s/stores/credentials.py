"""Reading what a store's spec points at: one key of a Secret/ConfigMap, key material, ServiceAccount
tokens, CA bundles. One copy of each, used by the provider bindings, rotation notifications and the
ConfigBundle's encrypted sources.

Every reference is resolved through ``isolation.credential_namespace`` first (a SecretStore reads only
its own namespace). Failures are ``StoreNotReadyError`` naming the field, never the value.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import json
import os
import tempfile
import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field as dc_field
from typing import Any

from ..api.client import ApiError, KubeApi
from ..api.resources import SERVICE_ACCOUNTS, data_plural
from .isolation import credential_namespace

KEY_SIZE = 32
#: Lifetime of ServiceAccount tokens requested for Vault/Azure logins; providers are rebuilt before it ends.
SA_TOKEN_SECONDS = 3600


class StoreNotReadyError(Exception):
    """The store cannot be used yet (missing, misconfigured, or its credentials are missing)."""


def read_key(api: KubeApi, kind: str, namespace: str, name: str, key: str, field: str,
             seen: dict[tuple[str, str, str], Mapping[str, Any]] | None = None) -> bytes:
    """The bytes under ``key`` of the Secret (base64-decoded) or ConfigMap (binaryData, else text) ``namespace/name``;
    the object read is recorded in ``seen`` by (kind, namespace, name)."""
    try:
        obj = api.get(data_plural(kind), namespace, name)
    except ApiError as exc:
        raise StoreNotReadyError(f"{field}: cannot read {kind} {namespace}/{name}: {exc.status} {exc.reason}") from exc
    if obj is None:
        raise StoreNotReadyError(f"{field}: {kind} {namespace}/{name} not found")
    if seen is not None:
        seen[(kind, namespace, name)] = obj
    if kind == "Secret":
        encoded = (obj.get("data") or {}).get(key)
        if encoded is None:
            raise StoreNotReadyError(f"{field}: key {key!r} not found in Secret {namespace}/{name}")
        return base64.b64decode(encoded)
    binary = (obj.get("binaryData") or {}).get(key)
    if binary is not None:
        return base64.b64decode(binary)
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


def request_service_account_token(api: KubeApi, namespace: str, name: str, audiences: list[str], field: str) -> str:
    """A short-lived token of a ServiceAccount of the store's namespace (TokenRequest)."""
    forbidden = apiserver_audiences(api)
    if any(a in forbidden or "kubernetes.default.svc" in a for a in audiences):
        raise StoreNotReadyError(f"{field}.audiences: a token for the Kubernetes API's own audience is never requested")
    body: dict[str, Any] = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                            "spec": {"expirationSeconds": SA_TOKEN_SECONDS}}
    if audiences:
        body["spec"]["audiences"] = audiences
    try:
        answer = api.request("create", "POST", SERVICE_ACCOUNTS,
                             api.path(SERVICE_ACCOUNTS, namespace, name, "token"), body=body)
    except ApiError as exc:
        raise StoreNotReadyError(f"{field}: cannot request a token for ServiceAccount {namespace}/{name}: {exc.status} {exc.reason}") from exc
    token = (answer.get("status") or {}).get("token")
    if not token:
        raise StoreNotReadyError(f"{field}: TokenRequest for {namespace}/{name} returned no token")
    return str(token)


_ISSUERS: weakref.WeakKeyDictionary[KubeApi, frozenset[str]] = weakref.WeakKeyDictionary()


def apiserver_audiences(api: KubeApi) -> frozenset[str]:
    """The service-account issuer (the apiserver's default audience), read once per client from its OIDC discovery."""
    found = _ISSUERS.get(api)
    if found is None:
        issuers: set[str] = set()
        try:
            issuer = json.loads(api.get_text("/.well-known/openid-configuration")).get("issuer")
            if issuer:
                issuers.add(str(issuer))
        except (ApiError, ValueError):
            pass
        found = _ISSUERS[api] = frozenset(issuers)
    return found


@functools.cache
def _ca_dir() -> str:
    return tempfile.mkdtemp(prefix="config-manager-ca-")


def ca_file(store_key: str, pem: bytes) -> str:
    """Write a CA bundle to a private temporary file (hvac wants a path); one file per store and bundle."""
    name = hashlib.sha256(f"{store_key}\0".encode() + pem).hexdigest()[:24] + ".pem"
    path = os.path.join(_ca_dir(), name)
    if not os.path.exists(path):
        with open(path, "wb") as handle:
            handle.write(pem)
    return path


def ref_at(spec: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    """``spec[name]`` when it is an object, else an empty one (a reference not set)."""
    value = spec.get(name)
    return value if isinstance(value, Mapping) else {}


@dataclass(frozen=True)
class Credentials:
    """Reads the objects one store references, each in the namespace the isolation rules allow; ``seen``
    holds what was read, by (kind, namespace, name), so the provider built from it knows their versions."""

    api: KubeApi
    store_kind: str
    store_namespace: str | None
    store_key: str
    seen: dict[tuple[str, str, str], Mapping[str, Any]] = dc_field(default_factory=dict, compare=False, repr=False)

    def namespace(self, ref: Mapping[str, Any], field: str) -> str:
        return credential_namespace(self.store_kind, self.store_namespace, ref, field)

    def key(self, field: str, ref: Mapping[str, Any], kind: str = "Secret") -> bytes:
        """The key ``ref.key`` of the Secret (or ConfigMap) ``ref.name``."""
        return read_key(self.api, kind, self.namespace(ref, field), str(ref["name"]), str(ref["key"]), field, self.seen)

    def text(self, field: str, ref: Mapping[str, Any]) -> str:
        """A Secret key as stripped text (tokens, client ids, passwords)."""
        return self.key(field, ref).decode().strip()

    def token(self, field: str, sa_ref: Mapping[str, Any], default_audiences: list[str]) -> str:
        """A token of the referenced ServiceAccount, never for the apiserver's own audience."""
        namespace = self.namespace(sa_ref, field)
        audiences = list(sa_ref.get("audiences") or default_audiences)
        return request_service_account_token(self.api, namespace, str(sa_ref.get("name")), audiences, field)

    def ca_file(self, pem: bytes) -> str:
        return ca_file(self.store_key, pem)
