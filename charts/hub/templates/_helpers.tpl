{{- define "ote-hub.name" -}}
{{- default "ote-hub" .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "ote-hub.labels" -}}
app.kubernetes.io/name: ote-hub
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ .Chart.Name }}-{{ .Chart.Version }}
{{- end -}}

{{- define "ote-hub.selector" -}}
app.kubernetes.io/name: ote-hub
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "ote-hub.secret" -}}
{{- default (printf "%s-secrets" (include "ote-hub.name" .)) .Values.existingSecret -}}
{{- end -}}
