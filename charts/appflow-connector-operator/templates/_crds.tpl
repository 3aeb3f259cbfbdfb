{{/*
The CRDs the chart installs and upgrades (crds.install). Their YAML is
files/crds/, copies of the repository's crds/ (generated from the Rust types)
that hack/render-manifests.sh makes; the templates add only metadata.
*/}}

{{/*
Labels of the CRDs.
*/}}
{{- define "appflow-connector-operator.crdLabels" -}}
helm.sh/chart: {{ include "appflow-connector-operator.chart" . | quote }}
{{ include "appflow-connector-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ include "appflow-connector-operator.imageTag" . | quote }}
app.kubernetes.io/component: crd
app.kubernetes.io/part-of: appflow-connector-operator
app.kubernetes.io/managed-by: {{ .Release.Service | quote }}
{{- end }}

{{/*
One CRD, from its file: the file's text with the chart's labels (and, with
crds.keep, helm.sh/resource-policy: keep) added under its top-level metadata.
Text in, text out: the generated YAML is not re-serialised. Context: dict
with root (the chart's context) and path.
*/}}
{{- define "appflow-connector-operator.crd" -}}
{{- $root := .root }}
{{- $metadata := printf "labels:\n%s" (include "appflow-connector-operator.crdLabels" $root | indent 2) }}
{{- if $root.Values.crds.keep }}
{{- $metadata = printf "%s\nannotations:\n  helm.sh/resource-policy: keep" $metadata }}
{{- end }}
{{- $text := $root.Files.Get .path }}
{{- if ne (len (splitList "\nmetadata:\n" $text)) 2 }}
{{- fail (printf "%s: expected one top-level metadata: line" .path) }}
{{- end }}
{{- replace "\nmetadata:\n" (printf "\nmetadata:\n%s\n" ($metadata | indent 2)) $text }}
{{- end }}

{{/*
Whose the live CRD of this file is, as Helm judges ownership: "absent",
"this-release" (Helm's managed-by label and release annotations name this
release), or "nobody" (an older chart installed it from its crds/ directory,
or kubectl applied it: Helm would refuse to take it over, so the crd-adopt
hook does). A CRD of another release stops the install: one release per
cluster owns the CRDs. Without a cluster (helm template, client dry runs)
lookup finds nothing: "absent". Context: dict with root and path.
*/}}
{{- define "appflow-connector-operator.crdOwner" -}}
{{- $root := .root }}
{{- $name := base .path | trimSuffix ".yaml" }}
{{- $live := lookup "apiextensions.k8s.io/v1" "CustomResourceDefinition" "" $name }}
{{- if not $live }}
{{- print "absent" }}
{{- else }}
{{- $labels := $live.metadata.labels | default dict }}
{{- $annotations := $live.metadata.annotations | default dict }}
{{- $release := get $annotations "meta.helm.sh/release-name" }}
{{- $namespace := get $annotations "meta.helm.sh/release-namespace" }}
{{- if not $release }}
{{- print "nobody" }}
{{- else if or (ne $release $root.Release.Name) (ne $namespace $root.Release.Namespace) }}
{{- fail (printf "CustomResourceDefinition %s belongs to Helm release %s in namespace %s: one release per cluster installs the CRDs; set crds.install=false for this one" $name $release $namespace) }}
{{- else if ne (get $labels "app.kubernetes.io/managed-by") "Helm" }}
{{- print "nobody" }}
{{- else }}
{{- print "this-release" }}
{{- end }}
{{- end }}
{{- end }}

{{/*
The CRD files whose CRDs the crd-adopt hook must take over, as a JSON list
(empty unless crds.install and such a CRD exists).
*/}}
{{- define "appflow-connector-operator.crdsToAdopt" -}}
{{- $adopt := list }}
{{- if .Values.crds.install }}
{{- range $path, $_ := .Files.Glob "files/crds/*.yaml" }}
{{- if eq (include "appflow-connector-operator.crdOwner" (dict "root" $ "path" $path)) "nobody" }}
{{- $adopt = append $adopt $path }}
{{- end }}
{{- end }}
{{- end }}
{{- toJson $adopt }}
{{- end }}

{{/*
Labels of the crd-adopt hook's objects. Not the operator's selector labels:
its Service, PodDisruptionBudget and NetworkPolicy must not select the Job's pod.
*/}}
{{- define "appflow-connector-operator.crdAdoptLabels" -}}
helm.sh/chart: {{ include "appflow-connector-operator.chart" . | quote }}
app.kubernetes.io/name: {{ printf "%s-crd-adopt" (include "appflow-connector-operator.name" .) | quote }}
app.kubernetes.io/instance: {{ .Release.Name | quote }}
app.kubernetes.io/version: {{ include "appflow-connector-operator.imageTag" . | quote }}
app.kubernetes.io/component: crd-adopt
app.kubernetes.io/part-of: appflow-connector-operator
app.kubernetes.io/managed-by: {{ .Release.Service | quote }}
{{- end }}

{{/*
The hook annotations of the crd-adopt hook's objects, at this weight: its
ServiceAccount, RBAC and ConfigMap (-10) before its Job (0). Deleted once all
succeed, and before the next run.
*/}}
{{- define "appflow-connector-operator.crdAdoptHook" -}}
helm.sh/hook: pre-install,pre-upgrade
helm.sh/hook-weight: {{ . | quote }}
helm.sh/hook-delete-policy: before-hook-creation,hook-succeeded
{{- end }}
