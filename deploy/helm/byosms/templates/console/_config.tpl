{{/* ConfigMap data of the console; the Deployment hashes it. The console reads no Kafka, database or
key settings: it is a client of provisioning's admin API only. */}}
{{- define "byosms.console.config" -}}
{{- $v := .Values.console -}}
{{- $api := $v.apiUrl | default (printf "http://%s:%v" (include "byosms.componentName" (dict "root" . "component" "provisioning")) .Values.provisioning.service.port) -}}
BYOSMS_CONSOLE_HOST: "0.0.0.0"
BYOSMS_CONSOLE_PORT: {{ $v.port | quote }}
BYOSMS_CONSOLE_API_URL: {{ $api | quote }}
BYOSMS_CONSOLE_COOKIE_SECURE: {{ $v.cookieSecure | quote }}
BYOSMS_CONSOLE_API_TIMEOUT_SECONDS: {{ $v.apiTimeoutSeconds | quote }}
BYOSMS_CONSOLE_IMPORT_POLL_INTERVAL_MS: {{ $v.importPollIntervalMs | int64 | quote }}
{{- end -}}
