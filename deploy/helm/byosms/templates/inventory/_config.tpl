{{/* ConfigMap data of inventory; the Deployment hashes it. */}}
{{- define "byosms.inventory.config" -}}
{{- $v := .Values.inventory -}}
{{ include "byosms.commonConfig" . }}
BYOSMS_INVENTORY_HOST: "0.0.0.0"
BYOSMS_INVENTORY_PORT: {{ $v.port | quote }}
BYOSMS_INVENTORY_CONSUMER_GROUP: {{ $v.consumerGroup | quote }}
{{- end -}}
