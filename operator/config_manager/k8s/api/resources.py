"""Names shared by every part of the operator: API group, resources, labels, annotations, field manager.

Kept in one module so that the CRDs, the writers and the tests agree on spelling.
"""

from __future__ import annotations

from typing import Final

GROUP: Final = "configmanager.io"
VERSION: Final = "v1alpha1"
API_VERSION: Final = f"{GROUP}/{VERSION}"

MANAGED_SECRET: Final = "managedsecrets"
CONFIG_BUNDLE: Final = "configbundles"
SECRET_STORE: Final = "secretstores"
CLUSTER_SECRET_STORE: Final = "clustersecretstores"

KIND_BY_PLURAL: Final = {
    MANAGED_SECRET: "ManagedSecret",
    CONFIG_BUNDLE: "ConfigBundle",
    SECRET_STORE: "SecretStore",
    CLUSTER_SECRET_STORE: "ClusterSecretStore",
}

FIELD_MANAGER: Final = "config-manager"
COMPONENT: Final = "config-manager"

# Labels (selectable, short values only).
LABEL_MANAGED_BY: Final = "app.kubernetes.io/managed-by"
MANAGED_BY_VALUE: Final = "config-manager"
LABEL_OWNER_KIND: Final = f"{GROUP}/owner-kind"
LABEL_TIER: Final = f"{GROUP}/tier"

# Annotations.
ANN_FORCE_SYNC: Final = f"{GROUP}/force-sync"
ANN_ROTATE: Final = f"{GROUP}/rotate"
ANN_OWNER: Final = f"{GROUP}/owner"  # "<Kind>/<name>" of the object that writes this one
ANN_DATA_HASH: Final = f"{GROUP}/data-hash"  # hash of what we wrote, to detect drift and skip writes
ANN_MANAGED_KEYS: Final = f"{GROUP}/managed-keys"  # keys we wrote into a Merge target (names only)

# Secret types that mint credentials: never written by the operator.
FORBIDDEN_SECRET_TYPES: Final = frozenset({
    "kubernetes.io/service-account-token",
    "bootstrap.kubernetes.io/token",
})

MASK: Final = "[MASKED]"


def owner_annotation(kind: str, name: str) -> str:
    """The value of ``ANN_OWNER`` for an object of ``kind`` named ``name``."""
    return f"{kind}/{name}"
