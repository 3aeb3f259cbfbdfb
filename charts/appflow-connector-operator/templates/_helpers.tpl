{{/*
Chart name, or nameOverride.
*/}}
{{- define "appflow-connector-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Full name of every object: fullnameOverride, else the release name when it
already contains the chart name, else release-chart. 63 characters at most
(DNS label).
*/}}
{{- define "appflow-connector-operator.fullname" -}}
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

{{/*
chart-version, for the helm.sh/chart label.
*/}}
{{- define "appflow-connector-operator.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Standard labels of every object.
*/}}
{{- define "appflow-connector-operator.labels" -}}
helm.sh/chart: {{ include "appflow-connector-operator.chart" . | quote }}
{{ include "appflow-connector-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ include "appflow-connector-operator.imageTag" . | quote }}
app.kubernetes.io/component: operator
app.kubernetes.io/part-of: appflow-connector-operator
app.kubernetes.io/managed-by: {{ .Release.Service | quote }}
{{- end }}

{{/*
Labels that select the operator's pods; they never change across upgrades.
*/}}
{{- define "appflow-connector-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "appflow-connector-operator.name" . | quote }}
app.kubernetes.io/instance: {{ .Release.Name | quote }}
{{- end }}

{{/*
The ServiceAccount's name.
*/}}
{{- define "appflow-connector-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "appflow-connector-operator.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
Image tag: image.tag, else the chart's appVersion.
*/}}
{{- define "appflow-connector-operator.imageTag" -}}
{{- default .Chart.AppVersion .Values.image.tag }}
{{- end }}

{{/*
Full image reference; a digest wins over the tag.
*/}}
{{- define "appflow-connector-operator.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (include "appflow-connector-operator.imageTag" .) }}
{{- end }}
{{- end }}

{{/*
The namespace the operator watches: controller.watchNamespace; with
rbac.scope=namespace and none set, the release namespace; else empty (all).
*/}}
{{- define "appflow-connector-operator.watchNamespace" -}}
{{- if .Values.controller.watchNamespace }}
{{- .Values.controller.watchNamespace }}
{{- else if eq .Values.rbac.scope "namespace" }}
{{- .Release.Namespace }}
{{- end }}
{{- end }}

{{/*
Cross-field checks the schema cannot express with a clear message.
*/}}
{{- define "appflow-connector-operator.validate" -}}
{{- if and .Values.metrics.secure (eq (int .Values.metrics.port) (int .Values.health.port)) }}
{{- fail "metrics.port and health.port must differ: /metrics is HTTPS, the probes plain HTTP" }}
{{- end }}
{{- if and (not .Values.metrics.secure) .Values.metrics.tls.secretName }}
{{- fail "metrics.tls.secretName needs metrics.secure: without it /metrics is plain HTTP" }}
{{- end }}
{{- with .Values.podDisruptionBudget }}
{{- if .enabled }}
{{- $min := toString .minAvailable }}
{{- if or (and (regexMatch "^[0-9]+$" $min) (ge (atoi $min) (int $.Values.replicaCount))) (eq $min "100%") (eq (toString .maxUnavailable) "0") (eq (toString .maxUnavailable) "0%") }}
{{- fail "podDisruptionBudget: with these values no operator pod may ever be evicted, which blocks every node drain; keep minAvailable below replicaCount (or use maxUnavailable >= 1)" }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}
