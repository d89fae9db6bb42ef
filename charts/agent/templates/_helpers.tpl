{{- define "ote-agent.name" -}}
{{- default "ote-agent" .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "ote-agent.labels" -}}
app.kubernetes.io/name: ote-agent
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ .Chart.Name }}-{{ .Chart.Version }}
{{- end -}}

{{- define "ote-agent.selector" -}}
app.kubernetes.io/name: ote-agent
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "ote-agent.bootstrapSecret" -}}
{{- if .Values.existingBootstrapSecret -}}
{{ .Values.existingBootstrapSecret }}
{{- else -}}
{{ include "ote-agent.name" . }}-bootstrap
{{- end -}}
{{- end -}}
