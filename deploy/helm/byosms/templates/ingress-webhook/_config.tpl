{{/* ConfigMap data of one region's ingress: (dict "root" $ "region" $region). The Deployment hashes it. */}}
{{- define "byosms.ingressWebhook.config" -}}
{{- $v := .root.Values.ingressWebhook -}}
{{ include "byosms.commonConfig" .root }}
BYOSMS_INGRESS_REGION: {{ .region.id | quote }}
{{- with (include "byosms.regionsOverrides" .root) }}
BYOSMS_REGIONS_OVERRIDES: {{ . | quote }}
{{- end }}
BYOSMS_INGRESS_HOST: "0.0.0.0"
BYOSMS_INGRESS_PORT: {{ $v.port | quote }}
BYOSMS_INGRESS_SPOOL_MAX_BYTES: {{ $v.spool.maxBytes | int64 | quote }}
BYOSMS_INGRESS_DRAIN_BATCH: {{ $v.spool.drainBatch | int64 | quote }}
BYOSMS_INGRESS_BODY_LIMIT_BYTES: {{ $v.bodyLimitBytes | int64 | quote }}
BYOSMS_INGRESS_PUBLISH_DEADLINE_S: {{ $v.publishDeadlineSeconds | quote }}
BYOSMS_INGRESS_SHUTDOWN_GRACE_S: {{ $v.shutdownGraceSeconds | quote }}
BYOSMS_INGRESS_PRESTOP_DELAY_S: {{ $v.preStopDelaySeconds | quote }}
BYOSMS_INGRESS_METRICS_PORT: {{ $v.metricsPort | quote }}
{{- end -}}
