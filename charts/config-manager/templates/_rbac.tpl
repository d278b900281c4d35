{{- /*
RBAC rules, split by where they apply. Every verb below is one the operator's code issues (see
operator/config_manager/k8s/: api/client.py for our requests, watch/informer.py and watch/handlers.py for the watches); docs/security.md
explains each rule. No wildcard verbs or resources anywhere (checked by tests/unit/test_chart_render.py).
*/}}

{{- /* Rules inside every namespace the operator serves: the ClusterRole in cluster scope, one Role per
served namespace in namespaced scope (so nothing outside those namespaces is granted). */}}
{{- define "config-manager.namespacedRules" -}}
# Own namespaced resources: the operator's informers list and watch them to fill its cache; single reads
# are GETs. kopf runs no resource handlers, so it adds no finalizer and no last-handled annotation.
- apiGroups: ["configmanager.io"]
  resources: ["managedsecrets", "configbundles", "secretstores"]
  verbs: ["get", "list", "watch"]
# Generators (Password, SSHKey, UUID): read-only; their specs say how to make values for
# dataFrom[].sourceRef.generatorRef and rotation.generatorRef.
- apiGroups: ["configmanager.io"]
  resources: ["passwords", "sshkeys", "uuids"]
  verbs: ["get", "list", "watch"]
# Their status subresource: conditions, observedGeneration, statistics (patched only when it changed).
- apiGroups: ["configmanager.io"]
  resources: ["managedsecrets/status", "configbundles/status", "secretstores/status"]
  verbs: ["patch"]
# PushSecrets: watched like the others; patch only for our finalizer (deletionPolicy Delete:
# k8s/reconcile/pushsecret.py), and their status.
- apiGroups: ["configmanager.io"]
  resources: ["pushsecrets"]
  verbs: ["get", "list", "watch", "patch"]
- apiGroups: ["configmanager.io"]
  resources: ["pushsecrets/status"]
  verbs: ["patch"]
# The ManagedSecrets a ClusterManagedSecret places in each selected namespace
# (k8s/reconcile/clustermanagedsecret.py): created, replaced when they differ, deleted when a namespace
# stops matching.
- apiGroups: ["configmanager.io"]
  resources: ["managedsecrets"]
  verbs: ["create", "update", "delete"]
# VaultDynamicSecrets hold a Vault lease each: watched like the others, and patched (metadata only) to
# add and remove the finalizer that revokes the lease before the object goes
# (k8s/reconcile/vaultdynamicsecret.py); their status is patched like the others'.
- apiGroups: ["configmanager.io"]
  resources: ["vaultdynamicsecrets"]
  verbs: ["get", "list", "watch", "patch"]
- apiGroups: ["configmanager.io"]
  resources: ["vaultdynamicsecrets/status"]
  verbs: ["patch"]
# Secrets. list + watch: the informers watch the Secrets we manage (by our label) and, one by one by name,
# those we read, in the served namespaces, keeping a value-free projection
# (names, key names, a hash) so drift of a target Secret, changes of a source or credential Secret and
# echoes of our own writes are seen without polling. get: store credentials and local-store blobs.
# create / patch / delete: target Secrets (delete only for deletionPolicy=Delete or a renamed target)
# and local stores kept in a Secret.
- apiGroups: [""]
  resources: ["secrets"]
  verbs: ["get", "list", "watch", "create", "patch", "delete"]
# ConfigMaps: the same for masked ConfigMap outputs, ConfigMap sources and local stores in a ConfigMap.
- apiGroups: [""]
  resources: ["configmaps"]
  verbs: ["get", "list", "watch", "create", "patch", "delete"]
# Events about syncs, failures and rotations (posted by the operator's recorder, deduplicated in-process).
- apiGroups: [""]
  resources: ["events"]
  verbs: ["create"]
{{- if .Values.rbac.trackWorkloads }}
# Workload tracking: which Pods / Deployments / StatefulSets / DaemonSets reference each target Secret
# (status.access.usedBy). Read-only.
- apiGroups: [""]
  resources: ["pods"]
  verbs: ["list", "watch"]
- apiGroups: ["apps"]
  resources: ["deployments", "statefulsets", "daemonsets"]
  verbs: ["list", "watch"]
{{- end }}
{{- if .Values.rbac.restartWorkloads }}
# Workload restarts after a rotation: get (explicit targets) / list (discovery) and a patch of the pod
# template's checksum annotation (k8s/rotation/restarts.py).
- apiGroups: ["apps"]
  resources: ["deployments", "statefulsets", "daemonsets"]
  verbs: ["get", "list", "patch"]
{{- end }}
{{- if .Values.rbac.serviceAccountTokens }}
# TokenRequest for the ServiceAccount a SecretStore names (Vault Kubernetes auth, Azure workload
# identity); tokens are short-lived and never for the Kubernetes API's own audience (k8s/stores/credentials.py).
- apiGroups: [""]
  resources: ["serviceaccounts/token"]
  verbs: ["create"]
{{- end }}
{{- end }}

{{- /* Rules on cluster-scoped kinds, needed in both scopes: the informers watch cluster-scoped resources
cluster-wide even when it serves a list of namespaces. They grant nothing on Secrets or ConfigMaps. */}}
{{- define "config-manager.clusterScopedRules" -}}
# ClusterSecretStores: read and watched; only their status is written.
- apiGroups: ["configmanager.io"]
  resources: ["clustersecretstores"]
  verbs: ["get", "list", "watch"]
- apiGroups: ["configmanager.io"]
  resources: ["clustersecretstores/status"]
  verbs: ["patch"]
# ClusterManagedSecrets: read and watched; only their status is written.
- apiGroups: ["configmanager.io"]
  resources: ["clustermanagedsecrets"]
  verbs: ["get", "list", "watch"]
- apiGroups: ["configmanager.io"]
  resources: ["clustermanagedsecrets/status"]
  verbs: ["patch"]
# Namespaces (names and labels): a ClusterSecretStore's conditions admit namespaces by name or label,
# and the informers list namespaces before any reconcile runs.
- apiGroups: [""]
  resources: ["namespaces"]
  verbs: ["get", "list", "watch"]
{{- if .Values.rbac.observeCRDs }}
# CRDs (read-only): kopf notices CRDs installed or removed while it runs.
- apiGroups: ["apiextensions.k8s.io"]
  resources: ["customresourcedefinitions"]
  verbs: ["list", "watch"]
{{- end }}
{{- end }}
