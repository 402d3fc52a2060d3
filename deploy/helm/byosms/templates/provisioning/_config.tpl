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
{{- if $v.jwt.jwksUrl }}
BYOSMS_PROVISIONING_JWT_JWKS_URL: {{ $v.jwt.jwksUrl | quote }}
{{- else }}
BYOSMS_PROVISIONING_JWT_PUBLIC_KEY_FILE: "/etc/byosms/jwt/public.pem"
{{- end }}
BYOSMS_PROVISIONING_MAX_BODY_BYTES: {{ $v.maxBodyBytes | int64 | quote }}
BYOSMS_PROVISIONING_TWILIO_TIMEOUT_SECONDS: {{ $v.twilioTimeoutSeconds | quote }}
{{- with .Values.twilio.apiBase }}
BYOSMS_TWILIO_API_BASE: {{ . | quote }}
{{- end }}
{{- with (include "byosms.regionsOverrides" .) }}
BYOSMS_REGIONS_OVERRIDES: {{ . | quote }}
{{- end }}
{{- end -}}
