"""HashiCorp Vault / OpenBao provider: KV v1 and v2 secrets through hvac.

Split by concern, each module with one job:

- ``auth``: how we obtain a Vault token (static token, AppRole, Kubernetes ServiceAccount JWT, JWT/OIDC,
  userpass, TLS certificate);
- ``kv``: the two KV engine versions behind one small interface;
- ``values``: how a Python value maps onto a Vault secret (a JSON object) and back;
- ``errors``: hvac / requests errors translated into ``config_manager.errors``;
- ``provider``: ``HashiCorpVaultSecrets``, the ``SecretProvider`` that ties them together.
"""

from .auth import AppRoleAuth, CertAuth, JwtAuth, KubernetesAuth, TokenAuth, UserpassAuth, VaultAuth, auth_from_config
from .provider import HashiCorpVaultSecrets
from .values import SCALAR_FIELD

__all__ = [
    "SCALAR_FIELD",
    "AppRoleAuth",
    "CertAuth",
    "HashiCorpVaultSecrets",
    "JwtAuth",
    "KubernetesAuth",
    "TokenAuth",
    "UserpassAuth",
    "VaultAuth",
    "auth_from_config",
]
