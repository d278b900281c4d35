{{/*
Names, labels and small computed values shared by every template.
*/}}

{{- define "config-manager.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "config-manager.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "config-manager.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "config-manager.selectorLabels" -}}
app.kubernetes.io/name: {{ include "config-manager.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "config-manager.labels" -}}
helm.sh/chart: {{ include "config-manager.chart" . }}
{{ include "config-manager.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: config-manager
{{- end }}

{{- define "config-manager.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "config-manager.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "config-manager.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* True ("true") when the operator serves only the namespaces listed in rbac.namespaces. */}}
{{- define "config-manager.namespaced" -}}
{{- if eq .Values.rbac.scope "namespaced" }}true{{ end }}
{{- end }}

{{/* The namespaces served in namespaced scope, checked: at least one is required. */}}
{{- define "config-manager.servedNamespaces" -}}
{{- if not .Values.rbac.namespaces }}
{{- fail "rbac.scope=namespaced needs at least one namespace in rbac.namespaces" }}
{{- end }}
{{- toJson (uniq .Values.rbac.namespaces) }}
{{- end }}

{{/* Leader election ("true" when on). More than one replica without it would do every write twice. */}}
{{- define "config-manager.leaderElection" -}}
{{- if .Values.leaderElection.enabled }}true
{{- else if gt (int .Values.replicaCount) 1 }}
{{- fail "replicaCount > 1 needs leaderElection.enabled=true (otherwise every replica reconciles and writes)" }}
{{- else if gt (int .Values.shards) 1 }}
{{- fail "shards > 1 needs leaderElection.enabled=true (each shard is held through a Lease)" }}
{{- end }}
{{- end }}

{{/* "true" when the namespaces are split into shards across replicas (shards > 1). */}}
{{- define "config-manager.sharded" -}}
{{- if and (include "config-manager.leaderElection" .) (gt (int .Values.shards) 1) }}true{{- end }}
{{- end }}

{{/* Name of the leader Lease. */}}
{{- define "config-manager.leaseName" -}}
{{- default (include "config-manager.fullname" .) .Values.leaderElection.leaseName }}
{{- end }}

{{/*
Arguments of `python -m config_manager.k8s`: which namespaces to serve, the health endpoint, leader
election, logging. One argument per line, rendered as a YAML list.
*/}}
{{- define "config-manager.operatorArgs" -}}
{{- if include "config-manager.namespaced" . }}
{{- range (include "config-manager.servedNamespaces" . | fromJsonArray) }}
- --namespace={{ . }}
{{- end }}
{{- else }}
- --all-namespaces
{{- end }}
- --liveness=http://0.0.0.0:{{ .Values.health.port }}{{ .Values.health.path }}
{{- if include "config-manager.leaderElection" . }}
- --leader-election
- --leader-election-namespace={{ .Release.Namespace }}
- --leader-election-id={{ include "config-manager.leaseName" . }}
- --lease-duration={{ .Values.leaderElection.leaseDuration }}
- --lease-renew-period={{ .Values.leaderElection.renewPeriod }}
- --lease-retry-period={{ .Values.leaderElection.retryPeriod }}
{{- if include "config-manager.sharded" . }}
- --shards={{ .Values.shards }}
{{- end }}
{{- else }}
- --standalone
{{- end }}
{{- if not .Values.rbac.trackWorkloads }}
- --no-workload-tracking
{{- end }}
- --log-level={{ .Values.operator.logLevel }}
- --log-format={{ .Values.operator.logFormat }}
- --expiry-warning={{ .Values.expiry.warningLeadTime }}
{{- if .Values.webhook.enabled }}
- --webhook-address=0.0.0.0:{{ .Values.webhook.port }}
{{- if .Values.webhook.auth.tokenKey }}
- --webhook-token-file=/etc/config-manager/webhook-auth/{{ .Values.webhook.auth.tokenKey }}
{{- end }}
{{- if .Values.webhook.auth.hmacKey }}
- --webhook-hmac-key-file=/etc/config-manager/webhook-auth/{{ .Values.webhook.auth.hmacKey }}
{{- end }}
{{- if .Values.webhook.tls.secretName }}
- --webhook-tls-cert-file=/etc/config-manager/webhook-tls/tls.crt
- --webhook-tls-key-file=/etc/config-manager/webhook-tls/tls.key
{{- end }}
- --webhook-max-body={{ int .Values.webhook.maxBodyBytes }}
- --webhook-rate={{ .Values.webhook.rateLimit.perSecond }}
- --webhook-burst={{ .Values.webhook.rateLimit.burst }}
- --webhook-coalesce={{ .Values.webhook.coalesceSeconds }}
{{- end }}
{{- range .Values.operator.extraArgs }}
- {{ . | quote }}
{{- end }}
{{- end }}

{{/* The webhook needs a Secret with at least one sender credential. */}}
{{- define "config-manager.webhookChecked" -}}
{{- if .Values.webhook.enabled }}
{{- if not .Values.webhook.auth.secretName }}
{{- fail "webhook.enabled needs webhook.auth.secretName: the Secret holding the bearer token and/or HMAC key senders present" }}
{{- end }}
{{- if not (or .Values.webhook.auth.tokenKey .Values.webhook.auth.hmacKey) }}
{{- fail "webhook.enabled needs webhook.auth.tokenKey or webhook.auth.hmacKey: the receiver refuses to run without authentication" }}
{{- end }}
{{- end }}
{{- end }}
