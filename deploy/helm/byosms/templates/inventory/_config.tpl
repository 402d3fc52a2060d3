{{/* ConfigMap data of inventory; the StatefulSet hashes it. */}}
{{- define "byosms.inventory.config" -}}
{{- $v := .Values.inventory -}}
{{ include "byosms.commonConfig" . }}
{{ include "byosms.consumerConfig" . }}
BYOSMS_INVENTORY_HOST: "0.0.0.0"
BYOSMS_INVENTORY_PORT: {{ $v.port | quote }}
BYOSMS_INVENTORY_CONSUMER_GROUP: {{ $v.consumerGroup | quote }}
BYOSMS_INVENTORY_COMMAND_MEMORY_DAYS: {{ $v.commandMemoryDays | quote }}
{{- end -}}
