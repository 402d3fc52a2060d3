{{/* ConfigMap data of routing; the StatefulSet hashes it. */}}
{{- define "byosms.routing.config" -}}
{{- $v := .Values.routing -}}
{{ include "byosms.commonConfig" . }}
{{ include "byosms.consumerConfig" . }}
BYOSMS_ROUTING_HOST: "0.0.0.0"
BYOSMS_ROUTING_PORT: {{ $v.port | quote }}
BYOSMS_ROUTING_CONSUMER_GROUP: {{ $v.consumerGroup | quote }}
BYOSMS_ROUTING_TWILIO_TIMEOUT_SECONDS: {{ $v.twilioTimeoutSeconds | quote }}
BYOSMS_ROUTING_SEND_RETRY_SECONDS: {{ $v.sendRetrySeconds | quote }}
{{- with $v.senderRates }}
BYOSMS_ROUTING_SENDER_RATES: {{ toJson . | quote }}
{{- end }}
BYOSMS_ROUTING_UNMATCHED_REPORT_HOURS: {{ $v.unmatchedReportHours | quote }}
BYOSMS_ROUTING_REPORT_CLEANUP_INTERVAL_SECONDS: {{ $v.reportCleanupIntervalSeconds | quote }}
BYOSMS_ROUTING_UNKNOWN_SEND_GRACE_SECONDS: {{ $v.unknownSend.graceSeconds | quote }}
BYOSMS_ROUTING_UNKNOWN_SEND_CHECK_SECONDS: {{ $v.unknownSend.checkSeconds | quote }}
BYOSMS_ROUTING_RECOVERY_ENABLED: {{ $v.recovery.enabled | quote }}
BYOSMS_ROUTING_RECOVERY_WINDOW_SECONDS: {{ $v.recovery.windowSeconds | quote }}
BYOSMS_ROUTING_RECOVERY_GRACE_SECONDS: {{ $v.recovery.graceSeconds | quote }}
BYOSMS_ROUTING_RECOVERY_INTERVAL_SECONDS: {{ $v.recovery.intervalSeconds | quote }}
BYOSMS_ROUTING_RECOVERY_CHECK_SECONDS: {{ $v.recovery.checkSeconds | quote }}
BYOSMS_ROUTING_RECOVERY_REQUESTS_PER_SECOND: {{ $v.recovery.requestsPerSecond | quote }}
{{- with .Values.twilio.apiBase }}
BYOSMS_TWILIO_API_BASE: {{ . | quote }}
{{- end }}
{{- with (include "byosms.regionsOverrides" .) }}
BYOSMS_REGIONS_OVERRIDES: {{ . | quote }}
{{- end }}
{{- end -}}
