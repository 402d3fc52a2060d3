{{/* ConfigMap data of routing; the StatefulSet hashes it. */}}
{{- define "byosms.routing.config" -}}
{{- $v := .Values.routing -}}
{{ include "byosms.commonConfig" . }}
{{ include "byosms.consumerConfig" . }}
BYOSMS_ROUTING_HOST: "0.0.0.0"
BYOSMS_ROUTING_PORT: {{ $v.port | quote }}
BYOSMS_ROUTING_CONSUMER_GROUP: {{ $v.consumerGroup | quote }}
{{- with .Values.twilio.apiBase }}
BYOSMS_TWILIO_API_BASE: {{ . | quote }}
{{- end }}
{{- with (include "byosms.regionsOverrides" .) }}
BYOSMS_REGIONS_OVERRIDES: {{ . | quote }}
{{- end }}
{{- end -}}
