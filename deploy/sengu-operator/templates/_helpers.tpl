{{/* Names are cut to 63 characters: the limit of a label value and of most object names. */}}
{{- define "sengu-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "sengu-operator.fullname" -}}
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

{{- define "sengu-operator.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "sengu-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "sengu-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "sengu-operator.labels" -}}
helm.sh/chart: {{ include "sengu-operator.chart" . }}
{{ include "sengu-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: operator
app.kubernetes.io/part-of: sengu
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "sengu-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "sengu-operator.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "sengu-operator.leaseName" -}}
{{- default (include "sengu-operator.fullname" .) .Values.leaderElection.leaseName }}
{{- end }}

{{- define "sengu-operator.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/*
The API calls the operator makes in the namespaces it watches, and nothing more (issue 3):
reconcile CronjobManagers into CronJobs by server-side apply (patch), write their status, watch the
Jobs and Pods of runs to classify failures, read a failed pod's log, start recovery Jobs, and emit
Events through both Event APIs. tests/deploy/test_chart.py holds the same list; change both together.
*/}}
{{- define "sengu-operator.watchRules" -}}
- apiGroups: [sengu.dev]
  resources: [cronjobmanagers]
  verbs: [get, list, watch, patch]
- apiGroups: [sengu.dev]
  resources: [cronjobmanagers/status]
  verbs: [patch]
- apiGroups: [batch]
  resources: [cronjobs]
  verbs: [get, list, watch, create, patch, delete]
- apiGroups: [batch]
  resources: [jobs]
  verbs: [get, list, watch, create, patch, delete]
- apiGroups: [""]
  resources: [pods]
  verbs: [get, list, watch]
- apiGroups: [""]
  resources: [pods/log]
  verbs: [get]
- apiGroups: [""]
  resources: [events]
  verbs: [create, patch]
- apiGroups: [events.k8s.io]
  resources: [events]
  verbs: [create, patch]
{{- end }}
