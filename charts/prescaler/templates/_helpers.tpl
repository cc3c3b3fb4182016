{{/* The chart name, or nameOverride. */}}
{{- define "prescaler.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The full resource name: the release name, plus the chart name unless it is already in it. */}}
{{- define "prescaler.fullname" -}}
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

{{/* Labels on every object. */}}
{{- define "prescaler.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "prescaler.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* Labels that select the operator's pods. */}}
{{- define "prescaler.selectorLabels" -}}
app.kubernetes.io/name: {{ include "prescaler.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* The service account's name. */}}
{{- define "prescaler.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "prescaler.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name: name an existing service account when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The image reference: repository, then the digest if set, else the tag (default: appVersion). */}}
{{- define "prescaler.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* The one namespace watched, or "" for all of them. */}}
{{- define "prescaler.watchNamespace" -}}
{{- if .Values.watchNamespace }}
{{- .Values.watchNamespace }}
{{- else if .Values.rbac.namespaced }}
{{- .Release.Namespace }}
{{- end }}
{{- end }}

{{/* Combinations of values the schema cannot reject, each with its fix. */}}
{{- define "prescaler.validate" -}}
{{- if and (gt (int .Values.replicaCount) 1) (not .Values.leaderElection.enabled) }}
{{- fail (printf "replicaCount is %d but leaderElection.enabled is false: every pod would write. Set leaderElection.enabled=true, or replicaCount=1." (int .Values.replicaCount)) }}
{{- end }}
{{- if and (gt (int .Values.shards) 1) (not .Values.leaderElection.enabled) }}
{{- fail (printf "shards is %d but leaderElection.enabled is false: each shard elects its leader on a Lease of its own. Set leaderElection.enabled=true, or shards=1." (int .Values.shards)) }}
{{- end }}
{{- if and .Values.prometheus.tls.caConfigMap .Values.prometheus.tls.caSecret }}
{{- fail "prometheus.tls: set caConfigMap or caSecret, not both" }}
{{- end }}
{{- $auth := .Values.prometheus.auth }}
{{- if and (or $auth.username $auth.passwordKey) (not (and $auth.username $auth.passwordKey)) }}
{{- fail "prometheus.auth: basic auth needs both username and passwordKey" }}
{{- end }}
{{- if and (or $auth.bearerTokenKey $auth.passwordKey) (not $auth.existingSecret) }}
{{- fail "prometheus.auth: bearerTokenKey and passwordKey are keys of prometheus.auth.existingSecret; name that Secret" }}
{{- end }}
{{- if and $auth.existingSecret (not (or $auth.bearerTokenKey $auth.passwordKey)) }}
{{- fail "prometheus.auth.existingSecret is set but neither bearerTokenKey nor passwordKey names a key of it" }}
{{- end }}
{{- end }}
