{{/* The release's name for its objects, at most 63 characters. */}}
{{- define "watchkeeper.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "watchkeeper.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "watchkeeper.labels" -}}
{{ include "watchkeeper.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "watchkeeper.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "watchkeeper.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* Several replicas share PostgreSQL and elect a leader. */}}
{{- define "watchkeeper.clustered" -}}
{{- if gt (int .Values.replicaCount) 1 -}}true{{- end -}}
{{- end -}}

{{- define "watchkeeper.driver" -}}
{{- (default dict .Values.config.store).driver | default "sqlite" -}}
{{- end -}}

{{/* SQLite on a volume: one replica, replaced not rolled. */}}
{{- define "watchkeeper.sqliteVolume" -}}
{{- if and (eq (include "watchkeeper.driver" .) "sqlite") .Values.persistence.enabled -}}true{{- end -}}
{{- end -}}

{{- define "watchkeeper.validate" -}}
{{- if and (include "watchkeeper.clustered" .) (ne (include "watchkeeper.driver" .) "postgres") -}}
{{- fail "replicaCount > 1 needs config.store.driver: postgres (replicas share one store) and secrets.store.existingSecret with its dsn" -}}
{{- end -}}
{{- if and (eq (include "watchkeeper.driver" .) "postgres") (not .Values.secrets.store.existingSecret) -}}
{{- fail "config.store.driver postgres needs secrets.store.existingSecret: a Secret whose key dsn is the PostgreSQL URL" -}}
{{- end -}}
{{- end -}}

{{/* The Secret holding the Alertmanager webhook's bearer token (key
webhook-token): the one named, or the one the chart generates. */}}
{{- define "watchkeeper.webhookSecret" -}}
{{- .Values.secrets.alertmanager.existingSecret | default (printf "%s-webhook" (include "watchkeeper.fullname" .)) -}}
{{- end -}}

{{/* The Kubernetes users approvers are mapped to (the values of
config.kubernetes.impersonate.users), sorted, as JSON: exactly who the
service account may impersonate. */}}
{{- define "watchkeeper.impersonateUsers" -}}
{{- $users := list -}}
{{- range $approver, $user := dig "kubernetes" "impersonate" "users" dict .Values.config -}}
{{- $users = append $users (toString $user) -}}
{{- end -}}
{{- $users | uniq | sortAlpha | toJson -}}
{{- end -}}

{{- define "watchkeeper.impersonateGroups" -}}
{{- dig "kubernetes" "impersonate" "groups" list .Values.config | uniq | sortAlpha | toJson -}}
{{- end -}}

{{/* Impersonation is limited to the mapped identities, and never to the
cluster's own (system:) users and groups: system:masters bypasses RBAC. */}}
{{- define "watchkeeper.validateImpersonation" -}}
{{- if .Values.rbac.impersonate -}}
{{- if not (include "watchkeeper.impersonateUsers" . | fromJsonArray) -}}
{{- fail "rbac.impersonate needs config.kubernetes.impersonate.users (approver → Kubernetes user): the service account may impersonate exactly those users, so list them (or set rbac.impersonate: false)" -}}
{{- end -}}
{{- range include "watchkeeper.impersonateUsers" . | fromJsonArray -}}
{{- if hasPrefix "system:" . -}}
{{- fail (printf "config.kubernetes.impersonate.users maps an approver to %q: system: users are the cluster's own identities, not people; map approvers to their own Kubernetes users" .) -}}
{{- end -}}
{{- end -}}
{{- range include "watchkeeper.impersonateGroups" . | fromJsonArray -}}
{{- if hasPrefix "system:" . -}}
{{- fail (printf "config.kubernetes.impersonate.groups lists %q: system: groups (system:masters bypasses RBAC) must not be impersonated; list the groups that carry the approvers' roles" .) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* The configuration file: the values' config, with what the chart decides. */}}
{{- define "watchkeeper.config" -}}
{{- $cfg := deepCopy .Values.config -}}
{{- $_ := set $cfg "server" (merge (dict "listen" (printf "0.0.0.0:%d" (int .Values.service.port))) (default dict $cfg.server)) -}}
{{- if include "watchkeeper.clustered" . -}}
{{- $le := dict "enabled" true "namespace" .Release.Namespace "lease_name" (include "watchkeeper.fullname" .)
      "lease_duration" .Values.leaderElection.leaseDuration "renew_deadline" .Values.leaderElection.renewDeadline
      "retry_period" .Values.leaderElection.retryPeriod -}}
{{- $_ := set $cfg "leader_election" $le -}}
{{- end -}}
{{- toYaml $cfg -}}
{{- end -}}
