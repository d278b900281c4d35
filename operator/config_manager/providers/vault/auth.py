"""How the Vault provider obtains a token: a static token, AppRole, a Kubernetes ServiceAccount JWT, any
JWT / OIDC token (auth/jwt, e.g. a projected ServiceAccount token checked against the cluster's issuer
keys), a username and password (auth/userpass), or a TLS client certificate (auth/cert).

Each method is a small immutable object with one job, ``login(client)``, returning the token and how
long it lives. The provider calls it lazily (no network in a constructor), again shortly before the
token's lease ends, and once more when Vault rejects a token that a login method can renew. The
Kubernetes method re-reads its JWT file at every login, because projected ServiceAccount tokens rotate.

Credentials never show in ``repr`` (they are masked) and are listed by ``credentials()`` so that error
messages can be scrubbed of them.
"""

from __future__ import annotations

import os
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import hvac  # type: ignore[import-untyped]

from ...errors import ConfigurationError
from ..base import MASK

#: Where a pod finds its ServiceAccount token.
DEFAULT_SERVICE_ACCOUNT_TOKEN = "/var/run/secrets/kubernetes.io/serviceaccount/token"


@dataclass(frozen=True, repr=False)
class Login:
    """A token obtained from Vault, and its lease in seconds (None: does not expire)."""

    token: str
    lease_seconds: int | None

    def __repr__(self) -> str:
        return f"Login(token={MASK!r}, lease_seconds={self.lease_seconds!r})"


class VaultAuth(ABC):
    """One way of obtaining a Vault token."""

    #: Short name used in messages and configuration ("token", "approle", "kubernetes").
    method: ClassVar[str] = "abstract"
    #: True when logging in again yields a fresh token (so a rejected token is worth one retry).
    can_relogin: ClassVar[bool] = True

    @abstractmethod
    def login(self, client: hvac.Client) -> Login:
        """Obtain a token. hvac / requests errors propagate; the provider translates them."""

    @abstractmethod
    def credentials(self) -> list[str]:
        """Every credential string this method holds, for scrubbing messages."""

    def describe(self) -> str:
        """The method and its non-secret parameters, for messages."""
        return self.method


@dataclass(frozen=True, repr=False)
class TokenAuth(VaultAuth):
    """A token given up front (``vault_token=``, ``VAULT_TOKEN``). It cannot be renewed by logging in."""

    token: str
    method: ClassVar[str] = "token"
    can_relogin: ClassVar[bool] = False

    def __post_init__(self) -> None:
        if not self.token:
            raise ConfigurationError("vault auth 'token': the token is empty")

    def login(self, client: hvac.Client) -> Login:
        return Login(self.token, None)

    def credentials(self) -> list[str]:
        return [self.token]

    def __repr__(self) -> str:
        return f"TokenAuth(token={MASK!r})"


@dataclass(frozen=True, repr=False)
class AppRoleAuth(VaultAuth):
    """AppRole: a role id and a secret id exchanged for a token at ``auth/<mount_point>/login``."""

    role_id: str
    secret_id: str | None = None
    mount_point: str = "approle"
    method: ClassVar[str] = "approle"

    def __post_init__(self) -> None:
        if not self.role_id:
            raise ConfigurationError("vault auth 'approle': role_id is required")

    def login(self, client: hvac.Client) -> Login:
        response = client.auth.approle.login(
            role_id=self.role_id, secret_id=self.secret_id, use_token=False, mount_point=self.mount_point
        )
        return _login_from(response)

    def credentials(self) -> list[str]:
        return [c for c in (self.role_id, self.secret_id) if c]

    def describe(self) -> str:
        return f"approle at auth/{self.mount_point}"

    def __repr__(self) -> str:
        return f"AppRoleAuth(role_id={MASK!r}, secret_id={MASK!r}, mount_point={self.mount_point!r})"


@dataclass(frozen=True, repr=False)
class KubernetesAuth(VaultAuth):
    """Kubernetes: a ServiceAccount JWT (given, or read from ``jwt_file`` at each login) and a Vault role."""

    role: str
    jwt: str | None = None
    jwt_file: str | os.PathLike[str] | None = None
    mount_point: str = "kubernetes"
    method: ClassVar[str] = "kubernetes"

    def __post_init__(self) -> None:
        if not self.role:
            raise ConfigurationError("vault auth 'kubernetes': role is required")

    def _read_jwt(self) -> str:
        if self.jwt:
            return self.jwt
        path = Path(self.jwt_file or DEFAULT_SERVICE_ACCOUNT_TOKEN)
        try:
            token = path.read_text().strip()
        except OSError as exc:
            raise ConfigurationError(
                f"vault auth 'kubernetes': cannot read the ServiceAccount token file {path} ({exc.strerror})"
            ) from exc
        if not token:
            raise ConfigurationError(f"vault auth 'kubernetes': the ServiceAccount token file {path} is empty")
        return token

    def login(self, client: hvac.Client) -> Login:
        response = client.auth.kubernetes.login(
            role=self.role, jwt=self._read_jwt(), use_token=False, mount_point=self.mount_point
        )
        return _login_from(response)

    def credentials(self) -> list[str]:
        found = [self.jwt] if self.jwt else []
        if not self.jwt:
            try:
                found.append(self._read_jwt())
            except ConfigurationError:
                pass
        return found

    def describe(self) -> str:
        return f"kubernetes role '{self.role}' at auth/{self.mount_point}"

    def __repr__(self) -> str:
        source = MASK if self.jwt else str(self.jwt_file or DEFAULT_SERVICE_ACCOUNT_TOKEN)
        return f"KubernetesAuth(role={self.role!r}, jwt={source!r}, mount_point={self.mount_point!r})"


@dataclass(frozen=True, repr=False)
class JwtAuth(VaultAuth):
    """JWT / OIDC (``auth/<mount_point>``, type jwt): a signed token (given, or read from ``jwt_file`` at each
    login, as projected ServiceAccount tokens rotate) exchanged for a Vault token under ``role``."""

    role: str
    jwt: str | None = None
    jwt_file: str | os.PathLike[str] | None = None
    mount_point: str = "jwt"
    method: ClassVar[str] = "jwt"

    def __post_init__(self) -> None:
        if not self.role:
            raise ConfigurationError("vault auth 'jwt': role is required")
        if not self.jwt and not self.jwt_file:
            raise ConfigurationError("vault auth 'jwt': give the token (jwt) or a file holding it (jwt_file)")

    def _read_jwt(self) -> str:
        if self.jwt:
            return self.jwt
        path = Path(str(self.jwt_file))
        try:
            token = path.read_text().strip()
        except OSError as exc:
            raise ConfigurationError(f"vault auth 'jwt': cannot read the token file {path} ({exc.strerror})") from exc
        if not token:
            raise ConfigurationError(f"vault auth 'jwt': the token file {path} is empty")
        return token

    def login(self, client: hvac.Client) -> Login:
        response = client.auth.jwt.jwt_login(role=self.role, jwt=self._read_jwt(), use_token=False, path=self.mount_point)
        return _login_from(response)

    def credentials(self) -> list[str]:
        if self.jwt:
            return [self.jwt]
        try:
            return [self._read_jwt()]
        except ConfigurationError:
            return []

    def describe(self) -> str:
        return f"jwt role '{self.role}' at auth/{self.mount_point}"

    def __repr__(self) -> str:
        source = MASK if self.jwt else str(self.jwt_file)
        return f"JwtAuth(role={self.role!r}, jwt={source!r}, mount_point={self.mount_point!r})"


@dataclass(frozen=True, repr=False)
class UserpassAuth(VaultAuth):
    """Username and password (``auth/<mount_point>``, type userpass)."""

    username: str
    password: str
    mount_point: str = "userpass"
    method: ClassVar[str] = "userpass"

    def __post_init__(self) -> None:
        if not self.username or not self.password:
            raise ConfigurationError("vault auth 'userpass': username and password are required")

    def login(self, client: hvac.Client) -> Login:
        response = client.auth.userpass.login(username=self.username, password=self.password, use_token=False,
                                              mount_point=self.mount_point)
        return _login_from(response)

    def credentials(self) -> list[str]:
        return [self.password]

    def describe(self) -> str:
        return f"userpass user '{self.username}' at auth/{self.mount_point}"

    def __repr__(self) -> str:
        return f"UserpassAuth(username={self.username!r}, password={MASK!r}, mount_point={self.mount_point!r})"


@dataclass(frozen=True, repr=False)
class CertAuth(VaultAuth):
    """TLS certificate (``auth/<mount_point>``, type cert): a client certificate and its key (PEM) presented
    in the TLS handshake of the login request; ``role`` picks one of the method's certificate roles."""

    cert_pem: str
    key_pem: str
    role: str | None = None
    mount_point: str = "cert"
    method: ClassVar[str] = "cert"

    def __post_init__(self) -> None:
        if "BEGIN CERTIFICATE" not in self.cert_pem or "PRIVATE KEY" not in self.key_pem:
            raise ConfigurationError("vault auth 'cert': a PEM certificate and a PEM private key are required")

    def login(self, client: hvac.Client) -> Login:
        # requests takes a client certificate only from files: both live in a private folder for the
        # length of one request.
        with tempfile.TemporaryDirectory(prefix="config-manager-cert-") as folder:
            cert_file, key_file = Path(folder) / "cert.pem", Path(folder) / "key.pem"
            for path, text in ((cert_file, self.cert_pem), (key_file, self.key_pem)):
                with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as handle:
                    handle.write(text)
            body = {"name": self.role} if self.role else {}
            response = client.adapter.post(f"/v1/auth/{self.mount_point}/login", json=body,
                                           cert=(str(cert_file), str(key_file)))
        return _login_from(response)

    def credentials(self) -> list[str]:
        return [self.key_pem]

    def describe(self) -> str:
        return f"cert{f' role {self.role!r}' if self.role else ''} at auth/{self.mount_point}"

    def __repr__(self) -> str:
        return f"CertAuth(role={self.role!r}, key_pem={MASK!r}, mount_point={self.mount_point!r})"


def _login_from(response: Any) -> Login:
    auth = (response or {}).get("auth") or {}
    token = auth.get("client_token")
    if not token:
        raise ConfigurationError("vault login answered without a client token")
    lease = auth.get("lease_duration")
    return Login(str(token), int(lease) if lease else None)


def auth_from_config(
    auth: VaultAuth | Mapping[str, Any] | None, vault_token: str | None = None
) -> VaultAuth:
    """The auth method for the provider's arguments.

    ``auth`` may be a ``VaultAuth`` or plain configuration with one of the keys ``token``,
    ``approle`` / ``appRole`` (``role_id``/``roleId``, ``secret_id``/``secretId``, ``mount_point``/``mountPath``)
    ``kubernetes`` or ``jwt`` (``role``, ``jwt``, ``jwt_file``, ``mount_point``/``mountPath``), or ``userpass``
    / ``userPass`` (``username``, ``password``, ``mount_point``/``mountPath``), or ``cert`` (``cert_pem``/``certPem``,
    ``key_pem``/``keyPem``, ``role``, ``mount_point``/``mountPath``). Without it,
    ``vault_token``, then the ``VAULT_TOKEN`` environment variable, is used.
    """
    if isinstance(auth, VaultAuth):
        return auth
    if auth:
        return _auth_from_mapping(auth)
    token = vault_token or os.environ.get("VAULT_TOKEN")
    if token:
        return TokenAuth(token)
    raise ConfigurationError(
        "vault: no credentials: pass vault_token, auth=AppRoleAuth(...)/KubernetesAuth(...), or set VAULT_TOKEN"
    )


def _pick(conf: Mapping[str, Any], *names: str, default: Any = None) -> Any:
    for name in names:
        if conf.get(name) not in (None, ""):
            return conf[name]
    return default


def _auth_from_mapping(auth: Mapping[str, Any]) -> VaultAuth:
    keys = [k for k in auth if auth[k] is not None]
    if len(keys) != 1:
        raise ConfigurationError(
            f"vault auth: give exactly one of token, approle, kubernetes, jwt, userpass, cert (got {', '.join(sorted(keys)) or 'none'})"
        )
    kind = keys[0]
    conf = auth[kind]
    if kind == "token":
        if isinstance(conf, Mapping):
            return TokenAuth(str(_pick(conf, "token", default="")))
        return TokenAuth(str(conf))
    if not isinstance(conf, Mapping):
        raise ConfigurationError(f"vault auth '{kind}': expected a mapping of settings")
    if kind.lower() == "approle":
        return AppRoleAuth(
            role_id=str(_pick(conf, "role_id", "roleId", default="")),
            secret_id=_pick(conf, "secret_id", "secretId"),
            mount_point=str(_pick(conf, "mount_point", "mountPath", default="approle")),
        )
    if kind == "kubernetes":
        return KubernetesAuth(
            role=str(_pick(conf, "role", default="")),
            jwt=_pick(conf, "jwt"),
            jwt_file=_pick(conf, "jwt_file", "jwtFile"),
            mount_point=str(_pick(conf, "mount_point", "mountPath", default="kubernetes")),
        )
    if kind == "jwt":
        return JwtAuth(
            role=str(_pick(conf, "role", default="")),
            jwt=_pick(conf, "jwt"),
            jwt_file=_pick(conf, "jwt_file", "jwtFile"),
            mount_point=str(_pick(conf, "mount_point", "mountPath", "path", default="jwt")),
        )
    if kind.lower() == "userpass":
        return UserpassAuth(
            username=str(_pick(conf, "username", default="")),
            password=str(_pick(conf, "password", default="")),
            mount_point=str(_pick(conf, "mount_point", "mountPath", "path", default="userpass")),
        )
    if kind == "cert":
        return CertAuth(
            cert_pem=str(_pick(conf, "cert_pem", "certPem", default="")),
            key_pem=str(_pick(conf, "key_pem", "keyPem", default="")),
            role=_pick(conf, "role", "name"),
            mount_point=str(_pick(conf, "mount_point", "mountPath", "path", default="cert")),
        )
    raise ConfigurationError(f"vault auth: unknown method '{kind}' (known: token, approle, kubernetes, jwt, userpass, cert)")
