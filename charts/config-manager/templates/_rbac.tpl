{{- /*
Rules the operator needs inside every namespace it serves. In cluster scope they go into the ClusterRole;
in namespaced scope into one Role per served namespace, so nothing outside those namespaces is granted.
No wildcard verbs or resources anywhere (checked by tests/unit/test_chart_render.py). Every rule is
explained in docs/security.md.
*/}}
{{- define "config-manager.namespacedRules" -}}
# Own namespaced resources: kopf watches them (list + watch) to feed the operator's caches; the operator
# reads single objects (get). kopf never writes them: the handlers are on.event/index only (no finalizers,
# no last-handled annotation), so there is no patch/update on the objects themselves.
- apiGroups: ["configmanager.io"]
  resources: ["managedsecrets", "configbundles", "secretstores"]
  verbs: ["get", "list", "watch"]
# Their status: conditions, observedGeneration, statistics (written only when it changed).
- apiGroups: ["configmanager.io"]
  resources: ["managedsecrets/status", "configbundles/status", "secretstores/status"]
  verbs: ["get", "patch", "update"]
# Secrets: target Secrets of ManagedSecrets / ConfigBundles (create, update, patch; delete for
# deletionPolicy=Delete), store credentials and local-store blobs (get, update), and the watch the
# operator keeps on the Secrets it writes and reads (drift repair, workload restarts on change).
- apiGroups: [""]
  resources: ["secrets"]
  verbs: ["get", "list", "watch", "create", "update", "patch", "delete"]
# ConfigMaps: masked ConfigMap outputs of ConfigBundles, ConfigMap sources, local stores kept in a
# ConfigMap.
- apiGroups: [""]
  resources: ["configmaps"]
  verbs: ["get", "list", "watch", "create", "update", "patch", "delete"]
# Events about syncs, failures and rotations (core and events.k8s.io; kopf posts core events).
- apiGroups: [""]
  resources: ["events"]
  verbs: ["create", "patch"]
- apiGroups: ["events.k8s.io"]
  resources: ["events"]
  verbs: ["create", "patch"]
{{- if .Values.rbac.restartWorkloads }}
# Workloads: find the ones whose pod template uses a Secret (list + watch) and restart them when it
# changes (patch of the pod template's restartedAt annotation, as `kubectl rollout restart` does).
- apiGroups: ["apps"]
  resources: ["deployments", "statefulsets", "daemonsets"]
  verbs: ["get", "list", "watch", "patch"]
{{- end }}
{{- end }}
