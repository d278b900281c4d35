"""Names shared by every part of the operator: API group, resources, labels, annotations, field manager.

The only place these are spelled, so that the CRDs, the writers, the watches and the tests agree: other
modules name a resource by the constants below (``SECRETS``, ``MANAGED_SECRET``, ...), never by a literal.
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
PUSH_SECRET: Final = "pushsecrets"
CLUSTER_MANAGED_SECRET: Final = "clustermanagedsecrets"
VAULT_DYNAMIC_SECRET: Final = "vaultdynamicsecrets"

KIND_BY_PLURAL: Final = {
    MANAGED_SECRET: "ManagedSecret",
    CONFIG_BUNDLE: "ConfigBundle",
    SECRET_STORE: "SecretStore",
    CLUSTER_SECRET_STORE: "ClusterSecretStore",
    PUSH_SECRET: "PushSecret",
    CLUSTER_MANAGED_SECRET: "ClusterManagedSecret",
    VAULT_DYNAMIC_SECRET: "VaultDynamicSecret",
}
#: The generator kinds (values made by the operator, referenced from dataFrom[].sourceRef.generatorRef).
GENERATOR_PLURALS: Final = {"Password": "passwords", "SSHKey": "sshkeys", "UUID": "uuids"}
PLURAL_BY_KIND: Final = {kind: plural for plural, kind in KIND_BY_PLURAL.items()}
STORE_KINDS: Final = ("SecretStore", "ClusterSecretStore")
SYNCED_KINDS: Final = ("ManagedSecret", "ConfigBundle")

# Core and other API resources the operator reads or writes.
SECRETS: Final = "secrets"
CONFIGMAPS: Final = "configmaps"
EVENTS: Final = "events"
NAMESPACES: Final = "namespaces"
SERVICE_ACCOUNTS: Final = "serviceaccounts"
LEASES: Final = "leases"
PODS: Final = "pods"
WORKLOAD_PLURALS: Final = {"Deployment": "deployments", "StatefulSet": "statefulsets", "DaemonSet": "daemonsets"}

#: (group, version, plural) of every resource the operator's client may request, keyed by plural.
RESOURCES: Final[dict[str, tuple[str, str, str]]] = {
    SECRETS: ("", "v1", SECRETS),
    CONFIGMAPS: ("", "v1", CONFIGMAPS),
    EVENTS: ("", "v1", EVENTS),
    NAMESPACES: ("", "v1", NAMESPACES),
    SERVICE_ACCOUNTS: ("", "v1", SERVICE_ACCOUNTS),
    PODS: ("", "v1", PODS),
    **{plural: (GROUP, VERSION, plural) for plural in KIND_BY_PLURAL},
    **{plural: (GROUP, VERSION, plural) for plural in GENERATOR_PLURALS.values()},
    LEASES: ("coordination.k8s.io", "v1", LEASES),
    **{plural: ("apps", "v1", plural) for plural in WORKLOAD_PLURALS.values()},
}


def data_plural(kind: str) -> str:
    """The resource of a Secret or a ConfigMap, the two kinds the operator writes data into."""
    return SECRETS if kind == "Secret" else CONFIGMAPS

FIELD_MANAGER: Final = "config-manager"
COMPONENT: Final = "config-manager"

# Labels (selectable, short values only).
LABEL_MANAGED_BY: Final = "app.kubernetes.io/managed-by"
MANAGED_BY_VALUE: Final = "config-manager"
LABEL_OWNER_KIND: Final = f"{GROUP}/owner-kind"
LABEL_TIER: Final = f"{GROUP}/tier"
LABEL_CLUSTER_MANAGED_SECRET: Final = f"{GROUP}/cluster-managed-secret"  # on the ManagedSecrets a ClusterManagedSecret made
LABEL_LEASE_GROUP: Final = f"{GROUP}/lease-group"  # on the shard and member Leases of one installation (its id)
LABEL_LEASE_ROLE: Final = f"{GROUP}/lease-role"  # "shard" or "member"

# Finalizers.
FINALIZER_PUSH: Final = f"{GROUP}/pushsecret"  # a PushSecret with deletionPolicy Delete: remove what it pushed

# Annotations.
ANN_FORCE_SYNC: Final = f"{GROUP}/force-sync"
ANN_ROTATE: Final = f"{GROUP}/rotate"
ANN_OWNER: Final = f"{GROUP}/owner"  # "<Kind>/<name>" of the object that writes this one
ANN_DATA_HASH: Final = f"{GROUP}/data-hash"  # hash of what we wrote, to detect drift and skip writes
ANN_MANAGED_KEYS: Final = f"{GROUP}/managed-keys"  # keys we wrote into a Merge target (names only)
ANN_SHARDS: Final = f"{GROUP}/shards"  # on a shard or member Lease: the shard count its replica runs with
ANN_LEASE_ID: Final = f"{GROUP}/lease-id"  # the Vault lease of the credentials in a VaultDynamicSecret's Secret

# Finalizers.
FINALIZER_LEASES: Final = f"{GROUP}/revoke-leases"  # a VaultDynamicSecret's leases are revoked before it goes

# Secret types that mint credentials: never written by the operator.
FORBIDDEN_SECRET_TYPES: Final = frozenset({
    "kubernetes.io/service-account-token",
    "bootstrap.kubernetes.io/token",
})

MASK: Final = "[MASKED]"


def owner_annotation(kind: str, name: str) -> str:
    """The value of ``ANN_OWNER`` for an object of ``kind`` named ``name``."""
    return f"{kind}/{name}"
