{{/* ConfigMap data of provisioning; the StatefulSet hashes it. */}}
{{- define "byosms.provisioning.config" -}}
{{- $v := .Values.provisioning -}}
{{ include "byosms.commonConfig" . }}
{{ include "byosms.consumerConfig" . }}
BYOSMS_PROVISIONING_HOST: "0.0.0.0"
BYOSMS_PROVISIONING_PORT: {{ $v.port | quote }}
BYOSMS_PROVISIONING_JWT_ISSUER: {{ $v.jwt.issuer | quote }}
BYOSMS_PROVISIONING_JWT_AUDIENCE: {{ $v.jwt.audience | quote }}
BYOSMS_PROVISIONING_JWT_ALGORITHMS: {{ $v.jwt.algorithms | toJson | quote }}
BYOSMS_PROVISIONING_JWT_LEEWAY_SECONDS: {{ $v.jwt.leewaySeconds | int64 | quote }}
{{- if $v.jwt.jwksUrl }}
BYOSMS_PROVISIONING_JWT_JWKS_URL: {{ $v.jwt.jwksUrl | quote }}
{{- else }}
BYOSMS_PROVISIONING_JWT_PUBLIC_KEY_FILE: "/etc/byosms/jwt/public.pem"
{{- end }}
BYOSMS_PROVISIONING_MAX_BODY_BYTES: {{ $v.maxBodyBytes | int64 | quote }}
BYOSMS_PROVISIONING_TWILIO_TIMEOUT_SECONDS: {{ $v.twilioTimeoutSeconds | quote }}
BYOSMS_PROVISIONING_OUTBOX_POLL_SECONDS: {{ $v.outboxPollSeconds | quote }}
BYOSMS_PROVISIONING_COMMAND_GROUP_ID: {{ $v.commandConsumerGroup | quote }}
BYOSMS_PROVISIONING_COMMAND_RETRY_SECONDS: {{ $v.commandRetrySeconds | quote }}
BYOSMS_PROVISIONING_NUMBER_COMMAND_WAIT_SECONDS: {{ $v.numberCommandWaitSeconds | quote }}
BYOSMS_PROVISIONING_MESSAGE_TRACE_DAYS: {{ $v.messageTraceDays | quote }}
BYOSMS_PROVISIONING_AUTH_TOKEN_ROTATION_HOURS: {{ $v.credentialRotationWindowHours | quote }}
BYOSMS_PROVISIONING_REMOVED_NUMBER_DAYS: {{ $v.removedNumberDays | quote }}
BYOSMS_PROVISIONING_IMPORT_DEADLINE_SECONDS: {{ $v.imports.deadlineSeconds | quote }}
BYOSMS_PROVISIONING_IMPORT_SWEEP_SECONDS: {{ $v.imports.sweepSeconds | quote }}
BYOSMS_PROVISIONING_WEBHOOK_CHECKS_ENABLED: {{ $v.webhookChecks.enabled | quote }}
BYOSMS_PROVISIONING_WEBHOOK_CHECK_INTERVAL_SECONDS: {{ $v.webhookChecks.intervalSeconds | quote }}
BYOSMS_PROVISIONING_WEBHOOK_CHECK_REQUESTS_PER_SECOND: {{ $v.webhookChecks.requestsPerSecond | quote }}
BYOSMS_PROVISIONING_WEBHOOK_CHECK_BATCH_SIZE: {{ $v.webhookChecks.batchSize | int64 | quote }}
BYOSMS_PROVISIONING_WEBHOOK_PROBE_MAX_WAIT_SECONDS: {{ $v.webhookChecks.probeMaxWaitSeconds | quote }}
BYOSMS_PROVISIONING_MEDIA_MAX_BYTES: {{ $v.media.maxBytes | int64 | quote }}
{{- with $v.media.allowedTypes }}
BYOSMS_PROVISIONING_MEDIA_ALLOWED_TYPES: {{ toJson . | quote }}
{{- end }}
{{- with $v.media.redirectHosts }}
BYOSMS_PROVISIONING_MEDIA_REDIRECT_HOSTS: {{ toJson . | quote }}
{{- end }}
BYOSMS_PROVISIONING_MEDIA_MAX_REDIRECTS: {{ $v.media.maxRedirects | int64 | quote }}
BYOSMS_PROVISIONING_MEDIA_MAX_CONCURRENT: {{ $v.media.maxConcurrent | int64 | quote }}
BYOSMS_PROVISIONING_MEDIA_TIMEOUT_SECONDS: {{ $v.media.timeoutSeconds | quote }}
{{- with .Values.twilio.apiBase }}
BYOSMS_TWILIO_API_BASE: {{ . | quote }}
{{- end }}
{{- with (include "byosms.regionsOverrides" .) }}
BYOSMS_REGIONS_OVERRIDES: {{ . | quote }}
{{- end }}
{{- end -}}
