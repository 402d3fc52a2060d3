{{/* Names, labels and the pod pieces every byosms workload shares. */}}

{{- define "byosms.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "byosms.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else if contains (include "byosms.name" .) .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name (include "byosms.name" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "byosms.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Name of a component's objects: (dict "root" $ "component" "routing"). */}}
{{- define "byosms.componentName" -}}
{{- printf "%s-%s" (include "byosms.fullname" .root) .component | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Pods of one region's ingress workload without an HPA: the wanted ready pods, plus the rollout
spare with a StatefulSet (no surge). (dict "root" $ "region" $region) */}}
{{- define "byosms.ingressPods" -}}
{{- $v := .root.Values.ingressWebhook -}}
{{- $wanted := int (.region.replicas | default $v.replicas) -}}
{{- if eq $v.spool.type "persistent" }}{{ add $wanted $v.rolloutSpareReplicas }}{{ else }}{{ $wanted }}{{ end -}}
{{- end -}}

{{/* Name of one region's ingress objects: (dict "root" $ "region" $region). */}}
{{- define "byosms.ingressName" -}}
{{- printf "%s-ingress-%s" (include "byosms.fullname" .root) .region.id | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels that say who made an object, without the selector labels. */}}
{{- define "byosms.metaLabels" -}}
helm.sh/chart: {{ include "byosms.chart" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: byosms
{{- end -}}

{{- define "byosms.labels" -}}
{{ include "byosms.metaLabels" . }}
app.kubernetes.io/name: {{ include "byosms.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* Selector labels of a component: (dict "root" $ "component" "routing" ["region" "eu-west-1"]). */}}
{{- define "byosms.selectorLabels" -}}
app.kubernetes.io/name: {{ include "byosms.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- with .region }}
byosms.io/region: {{ . }}
{{- end }}
{{- end -}}

{{- define "byosms.componentLabels" -}}
{{ include "byosms.metaLabels" .root }}
{{ include "byosms.selectorLabels" . }}
{{- end -}}

{{- define "byosms.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "byosms.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* Image of a byosms service: (dict "root" $ "image" .Values.routing.image). */}}
{{- define "byosms.image" -}}
{{- $registry := required "image.registry is required (registry and path prefix of the byosms images)" .root.Values.image.registry -}}
{{- $tag := .image.tag | default .root.Values.image.tag | default .root.Chart.AppVersion -}}
{{- printf "%s/%s:%s" (trimSuffix "/" $registry) .image.repository $tag -}}
{{- end -}}

{{/* Settings every service reads: Kafka and telemetry. Rendered as ConfigMap data. */}}
{{- define "byosms.commonConfig" -}}
BYOSMS_KAFKA_BOOTSTRAP: {{ required "kafka.bootstrap is required" .Values.kafka.bootstrap | quote }}
BYOSMS_KAFKA_CLIENT_ID_PREFIX: {{ .Values.kafka.clientIdPrefix | quote }}
BYOSMS_LOG_LEVEL: {{ .Values.telemetry.logLevel | quote }}
BYOSMS_LOG_FORMAT: {{ .Values.telemetry.logFormat | quote }}
{{- with .Values.telemetry.otlpEndpoint }}
BYOSMS_OTLP_ENDPOINT: {{ . | quote }}
{{- end }}
{{ include "byosms.kafkaSecurityConfig" . }}
{{- end -}}

{{/* Kafka client security without secrets (docs/kafka-security.md): protocol, SASL mechanism, where
the TLS files are mounted. Rendered as ConfigMap data for the services and as env for the topic Job
(a pre-install hook runs before the release's ConfigMaps exist). */}}
{{- define "byosms.kafkaSecurityConfig" -}}
{{- $s := .Values.kafka.security -}}
BYOSMS_KAFKA_SECURITY_PROTOCOL: {{ $s.protocol | quote }}
{{- if hasPrefix "SASL_" $s.protocol }}
BYOSMS_KAFKA_SASL_MECHANISM: {{ $s.sasl.mechanism | quote }}
{{- end }}
{{- if $s.tls.existingSecret }}
{{- if $s.tls.caKey }}
BYOSMS_KAFKA_SSL_CAFILE: "/etc/byosms/kafka-tls/ca.pem"
{{- end }}
{{- if $s.tls.certKey }}
BYOSMS_KAFKA_SSL_CERTFILE: "/etc/byosms/kafka-tls/client.pem"
BYOSMS_KAFKA_SSL_KEYFILE: "/etc/byosms/kafka-tls/client-key.pem"
{{- end }}
{{- end }}
{{- if has $s.protocol (list "SSL" "SASL_SSL") }}
BYOSMS_KAFKA_SSL_CHECK_HOSTNAME: {{ $s.tls.checkHostname | toString | quote }}
{{- end }}
{{- end -}}

{{/* Kafka secrets as env of every Kafka client container: the SASL user and password and the client
key's password, each from its existing Secret. Empty for PLAINTEXT/SSL without a key password. */}}
{{- define "byosms.kafkaSecretEnv" -}}
{{- $s := .Values.kafka.security -}}
{{- if hasPrefix "SASL_" $s.protocol }}
- name: BYOSMS_KAFKA_SASL_USERNAME
  valueFrom:
    secretKeyRef:
      name: {{ $s.sasl.existingSecret | quote }}
      key: {{ $s.sasl.usernameKey | quote }}
- name: BYOSMS_KAFKA_SASL_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ $s.sasl.existingSecret | quote }}
      key: {{ $s.sasl.passwordKey | quote }}
{{- end }}
{{- if and $s.tls.existingSecret $s.tls.keyPasswordKey }}
- name: BYOSMS_KAFKA_SSL_KEY_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ $s.tls.existingSecret | quote }}
      key: {{ $s.tls.keyPasswordKey | quote }}
{{- end }}
{{- end -}}

{{/* The volume mount of the Kafka TLS Secret (CA, client certificate and key), when one is named. */}}
{{- define "byosms.kafkaTlsVolumeMount" -}}
{{- if .Values.kafka.security.tls.existingSecret }}
- name: kafka-tls
  mountPath: /etc/byosms/kafka-tls
  readOnly: true
{{- end }}
{{- end -}}

{{/* The Kafka TLS Secret as a volume, its keys under the file names the settings point at. */}}
{{- define "byosms.kafkaTlsVolume" -}}
{{- $tls := .Values.kafka.security.tls -}}
{{- if $tls.existingSecret }}
- name: kafka-tls
  secret:
    secretName: {{ $tls.existingSecret | quote }}
    # Readable by the pod's group (fsGroup) only.
    defaultMode: 0440
    items:
      {{- if $tls.caKey }}
      - key: {{ $tls.caKey | quote }}
        path: ca.pem
      {{- end }}
      {{- if $tls.certKey }}
      - key: {{ $tls.certKey | quote }}
        path: client.pem
      - key: {{ $tls.keyKey | quote }}
        path: client-key.pem
      {{- end }}
{{- end }}
{{- end -}}

{{/* BYOSMS_REGIONS_OVERRIDES JSON from the regions' publicBaseUrl/host/key; empty when none is set.
Every service gets the same table, so the URLs provisioning writes into Twilio are the ones the
ingress of that region checks signatures against. */}}
{{- define "byosms.regionsOverrides" -}}
{{- $overrides := dict -}}
{{- range (concat .Values.regionTable .Values.ingressWebhook.regions) -}}
{{- $o := dict -}}
{{- with .publicBaseUrl }}{{ $_ := set $o "public_base_url" . }}{{ end -}}
{{- with .host }}{{ $_ := set $o "host" . }}{{ end -}}
{{- with .key }}{{ $_ := set $o "key" . }}{{ end -}}
{{- if $o }}{{ $_ := set $overrides .id (merge $o (get $overrides .id | default dict)) }}{{ end -}}
{{- end -}}
{{- if $overrides }}{{ toJson $overrides }}{{ end -}}
{{- end -}}

{{/* BYOSMS_DATABASE_URL from the existing Secret; the chart never holds the value. */}}
{{- define "byosms.databaseEnv" -}}
- name: BYOSMS_DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ required "database.existingSecret is required (a Secret with the PostgreSQL URL)" .Values.database.existingSecret | quote }}
      key: {{ .Values.database.urlKey | quote }}
{{- end -}}

{{/* BYOSMS_KEKS / BYOSMS_ACTIVE_KEK from the existing Secret. */}}
{{- define "byosms.kekEnv" -}}
{{- $secret := required "keks.existingSecret is required (a Secret with the key-encryption keys)" .Values.keks.existingSecret -}}
- name: BYOSMS_KEKS
  valueFrom:
    secretKeyRef:
      name: {{ $secret | quote }}
      key: {{ .Values.keks.keksKey | quote }}
- name: BYOSMS_ACTIVE_KEK
  valueFrom:
    secretKeyRef:
      name: {{ $secret | quote }}
      key: {{ .Values.keks.activeKekKey | quote }}
{{- end -}}

{{/* BYOSMS_PROVISIONING_SEALING_KEYS / _ACTIVE_KEY from an existing Secret, when one is named:
     without them, credential commands sealed for provisioning are refused. */}}
{{- define "byosms.sealingEnv" -}}
{{- with .Values.provisioning.sealingKeys.existingSecret -}}
- name: BYOSMS_PROVISIONING_SEALING_KEYS
  valueFrom:
    secretKeyRef:
      name: {{ . | quote }}
      key: {{ $.Values.provisioning.sealingKeys.keysKey | quote }}
{{- if $.Values.provisioning.sealingKeys.activeKey }}
- name: BYOSMS_PROVISIONING_SEALING_ACTIVE_KEY
  value: {{ $.Values.provisioning.sealingKeys.activeKey | quote }}
{{- end }}
{{- end }}
{{- end -}}

{{/* Probes on the service's http port: startup and liveness on /healthz, readiness on /readyz. */}}
{{- define "byosms.probes" -}}
startupProbe:
  httpGet:
    path: /healthz
    port: http
  periodSeconds: {{ .Values.probes.startup.periodSeconds }}
  timeoutSeconds: {{ .Values.probes.startup.timeoutSeconds }}
  failureThreshold: {{ .Values.probes.startup.failureThreshold }}
readinessProbe:
  httpGet:
    path: /readyz
    port: http
  periodSeconds: {{ .Values.probes.readiness.periodSeconds }}
  timeoutSeconds: {{ .Values.probes.readiness.timeoutSeconds }}
  failureThreshold: {{ .Values.probes.readiness.failureThreshold }}
livenessProbe:
  httpGet:
    path: /healthz
    port: http
  periodSeconds: {{ .Values.probes.liveness.periodSeconds }}
  timeoutSeconds: {{ .Values.probes.liveness.timeoutSeconds }}
  failureThreshold: {{ .Values.probes.liveness.failureThreshold }}
{{- end -}}

{{/* Consumer and database pool settings of provisioning, inventory and routing
(byosms_common.settings.ConsumerSettings, DatabaseSettings). Rendered as ConfigMap data, so a change
rolls the pods. */}}
{{- define "byosms.consumerConfig" -}}
{{- $c := .Values.consumers -}}
BYOSMS_CONSUMER_SESSION_TIMEOUT_MS: {{ $c.sessionTimeoutMs | int64 | quote }}
BYOSMS_CONSUMER_STOP_GRACE_S: {{ $c.stopGraceSeconds | quote }}
BYOSMS_CONSUMER_BATCH_MAX: {{ $c.batchMax | int64 | quote }}
BYOSMS_CONSUMER_BATCH_WAIT_MS: {{ $c.batchWaitMs | int64 | quote }}
BYOSMS_CONSUMER_RETRY_FIRST_DELAY_S: {{ $c.retryFirstDelaySeconds | quote }}
BYOSMS_CONSUMER_RETRY_MAX_DELAY_S: {{ $c.retryMaxDelaySeconds | quote }}
BYOSMS_CONSUMER_ERROR_ATTEMPTS: {{ $c.errorAttempts | int64 | quote }}
BYOSMS_CONSUMER_STILL_DOWN_LOG_S: {{ $c.stillDownLogSeconds | quote }}
BYOSMS_CONSUMER_MAX_POLL_INTERVAL_MS: {{ $c.maxPollIntervalMs | int64 | quote }}
BYOSMS_CONSUMER_LAG_INTERVAL_S: {{ $c.lagIntervalSeconds | quote }}
BYOSMS_LANES_MAX_IN_FLIGHT: {{ $c.lanesMaxInFlight | int64 | quote }}
BYOSMS_DATABASE_POOL_MIN: {{ .Values.database.poolMin | int64 | quote }}
BYOSMS_DATABASE_POOL_MAX: {{ .Values.database.poolMax | int64 | quote }}
{{- if .Values.migrations.job.enabled }}
# The migration Job (pre-install/pre-upgrade hook) migrated; the services only check the version.
BYOSMS_DATABASE_MIGRATE_ON_START: "false"
{{- end }}
{{- end -}}

{{/* Static group membership: the pod name is the replica's Kafka instance id (every consumer of the
process joins as "<pod name>:<topic>"). Only stable because the consumer services are StatefulSets. */}}
{{- define "byosms.consumerEnv" -}}
{{- if .Values.consumers.staticMembership -}}
- name: BYOSMS_KAFKA_INSTANCE_ID
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
{{- end }}
{{- end -}}

{{/* StatefulSet fields of a Kafka consumer service (provisioning, inventory, routing):
(dict "name" $name "values" .Values.routing). A StatefulSet, not a Deployment, because a pod keeps
its name across restarts and rollouts (<name>-0, <name>-1, ...), so a static member comes back
under the same instance id; a Deployment names every new pod anew, and the old id's partitions
would wait for the session timeout. At most one pod holds a name at a time, so two processes never
join with the same id (Kafka would fence one). */}}
{{- define "byosms.consumerStatefulSetSpec" -}}
serviceName: {{ .name }}
# Pods start and stop independently (no ordinal ordering): an install or a scale-up joins the group
# in one go. Rolling updates still replace one pod at a time, highest ordinal first, each once the
# one before is Ready.
podManagementPolicy: Parallel
updateStrategy:
  type: RollingUpdate
  rollingUpdate:
    # Pods with an ordinal >= partition get the new revision; the others keep the old one (staged rollout).
    partition: {{ .values.updatePartition }}
{{- end -}}

{{/* The region label of a pod: the region it serves (ingress) or the cluster's region. It is only
on pods (not in selectors, which are immutable); the ServiceMonitor turns it into `region` on every
series. (dict "root" $ ["region" id]) */}}
{{- define "byosms.podRegionLabel" -}}
{{- $first := "" -}}
{{- with .root.Values.ingressWebhook.regions }}{{ $first = (first .).id }}{{ end -}}
byosms.io/region: {{ .region | default .root.Values.clusterRegion | default $first | quote }}
{{- end -}}

{{/* Labels of a workload's pod template: the component's and the region label. */}}
{{- define "byosms.podLabels" -}}
{{ include "byosms.componentLabels" . }}
{{- if not .region }}
{{ include "byosms.podRegionLabel" . }}
{{- end }}
{{- end -}}

{{/* Topology spread of a component's pods (per region for the ingress): the component's own
constraints, else the default zone-then-host spread. (dict "root" $ "values" $v "ctx" $ctx) */}}
{{- define "byosms.topologySpread" -}}
{{- $spread := .root.Values.topologySpread -}}
{{- if .values.topologySpreadConstraints -}}
topologySpreadConstraints:
  {{- toYaml .values.topologySpreadConstraints | nindent 2 }}
{{- else if $spread.enabled -}}
topologySpreadConstraints:
  {{- range $level := list $spread.zone $spread.host }}
  - topologyKey: {{ $level.topologyKey }}
    maxSkew: {{ $level.maxSkew }}
    whenUnsatisfiable: {{ $level.whenUnsatisfiable }}
    labelSelector:
      matchLabels:
        {{- include "byosms.selectorLabels" $.ctx | nindent 8 }}
  {{- end }}
{{- end -}}
{{- end -}}

{{/* Pod-level fields shared by every byosms workload:
(dict "root" $ "values" .Values.routing "ctx" (dict "root" $ "component" "routing" ["region" id])). */}}
{{- define "byosms.podCommon" -}}
serviceAccountName: {{ include "byosms.serviceAccountName" .root }}
automountServiceAccountToken: false
enableServiceLinks: false
terminationGracePeriodSeconds: {{ .values.terminationGracePeriodSeconds }}
{{- with (.values.priorityClassName | default .root.Values.priorityClassName) }}
priorityClassName: {{ . }}
{{- end }}
{{- with (include "byosms.topologySpread" .) }}
{{ . }}
{{- end }}
securityContext:
  {{- toYaml .root.Values.podSecurityContext | nindent 2 }}
{{- with .root.Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* A PodDisruptionBudget: (dict "root" $ "name" ... "component" ... "region" ... "pdb" .pdb). */}}
{{- define "byosms.pdb" -}}
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ .name }}
  labels:
    {{- include "byosms.componentLabels" . | nindent 4 }}
spec:
  maxUnavailable: {{ .pdb.maxUnavailable }}
  selector:
    matchLabels:
      {{- include "byosms.selectorLabels" . | nindent 6 }}
{{- end -}}

{{/* A CPU-based HorizontalPodAutoscaler: (dict "root" $ "name" ... "component" ... "region" ... "autoscaling" ...). */}}
{{- define "byosms.hpa" -}}
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: {{ .name }}
  labels:
    {{- include "byosms.componentLabels" . | nindent 4 }}
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: {{ .kind | default "Deployment" }}
    name: {{ .name }}
  minReplicas: {{ add .autoscaling.minReplicas (.spare | default 0) }}
  maxReplicas: {{ add .autoscaling.maxReplicas (.spare | default 0) }}
  {{- if .noScaleDown }}
  # A persistent spool: removing a pod would leave its claim undrained, so the HPA only scales up.
  # Scale down by lowering maxReplicas in the values (the upgrade renders drain Jobs for the claims).
  behavior:
    scaleDown:
      selectPolicy: Disabled
  {{- end }}
  metrics:
    - type: Resource
      resource:
        name: cpu
        target:
          type: Utilization
          averageUtilization: {{ .autoscaling.targetCPUUtilizationPercentage }}
{{- end -}}

{{/* A ClusterIP-style Service in front of a component's http port. */}}
{{- define "byosms.service" -}}
{{- /* "publicOnly": only the http port, not scraped (an ingress Service of type LoadBalancer or
     NodePort must not publish the metrics port; a separate ClusterIP Service carries it). */ -}}
apiVersion: v1
kind: Service
metadata:
  name: {{ .name }}
  labels:
    {{- include "byosms.componentLabels" . | nindent 4 }}
    {{- if not .publicOnly }}
    byosms.io/metrics: "true"
    {{- end }}
spec:
  type: {{ .service.type }}
  selector:
    {{- include "byosms.selectorLabels" . | nindent 4 }}
  ports:
    - name: http
      port: {{ .service.port }}
      targetPort: http
      protocol: TCP
    {{- if not .publicOnly }}
    # Scraped by the ServiceMonitor: the ingress's own metrics port, the http port of the others
    # (which serve nothing public). ("metricsPort": the container's metrics port, if any)
    - name: metrics
      port: {{ .metricsPort | default 9090 }}
      targetPort: {{ ternary "metrics" "http" (not (empty .metricsPort)) }}
      protocol: TCP
    {{- end }}
{{- end -}}

{{/* Fails rendering on settings that would lose data or cannot work. */}}
{{- define "byosms.validate" -}}
{{- $topics := .Values.kafka.topics -}}
{{- if and (lt (int $topics.replicationFactor) 3) (not $topics.allowUnsafeReplicationFactor) -}}
{{- fail "kafka.topics.replicationFactor below 3 loses acknowledged records when a broker dies; set kafka.topics.allowUnsafeReplicationFactor=true only for a single-broker dev cluster" -}}
{{- end -}}
{{- if gt (int $topics.minInsyncReplicas) (int $topics.replicationFactor) -}}
{{- fail "kafka.topics.minInsyncReplicas must not exceed kafka.topics.replicationFactor (no write could ever succeed)" -}}
{{- end -}}
{{- $sec := .Values.kafka.security -}}
{{- if hasPrefix "SASL_" $sec.protocol -}}
{{- if not $sec.sasl.mechanism -}}
{{- fail (printf "kafka.security.protocol %s needs kafka.security.sasl.mechanism (PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512)" $sec.protocol) -}}
{{- end -}}
{{- if not $sec.sasl.existingSecret -}}
{{- fail (printf "kafka.security.protocol %s needs kafka.security.sasl.existingSecret (a Secret with the SASL user and password)" $sec.protocol) -}}
{{- end -}}
{{- else if or $sec.sasl.mechanism $sec.sasl.existingSecret -}}
{{- fail "kafka.security.sasl is set but kafka.security.protocol is not SASL_PLAINTEXT or SASL_SSL" -}}
{{- end -}}
{{- if and $sec.tls.existingSecret (not (has $sec.protocol (list "SSL" "SASL_SSL"))) -}}
{{- fail "kafka.security.tls.existingSecret is set but kafka.security.protocol is not SSL or SASL_SSL" -}}
{{- end -}}
{{- if ne (empty $sec.tls.certKey) (empty $sec.tls.keyKey) -}}
{{- fail "kafka.security.tls.certKey and kafka.security.tls.keyKey go together (a client certificate and its key)" -}}
{{- end -}}
{{- if and (or $sec.tls.certKey $sec.tls.keyPasswordKey) (not $sec.tls.existingSecret) -}}
{{- fail "kafka.security.tls.certKey/keyPasswordKey need kafka.security.tls.existingSecret (the Secret holding them)" -}}
{{- end -}}
{{- if gt (int .Values.database.poolMin) (int .Values.database.poolMax) -}}
{{- fail (printf "database.poolMin (%d) must not exceed database.poolMax (%d)" (int .Values.database.poolMin) (int .Values.database.poolMax)) -}}
{{- end -}}
{{- $jwt := .Values.provisioning.jwt -}}
{{- if and .Values.provisioning.enabled (eq (len (compact (list $jwt.jwksUrl $jwt.publicKeyConfigMap.name))) 1 | not) -}}
{{- fail "set exactly one of provisioning.jwt.jwksUrl or provisioning.jwt.publicKeyConfigMap.name" -}}
{{- end -}}
{{- $consumers := .Values.consumers -}}
{{- /* SIGTERM -> background jobs stop (up to 5 s) -> the consumers finish the work in hand (up to
     stopGraceSeconds) -> Kafka producers flush (request timeout 15 s), the pool and the HTTP server
     close. The kubelet kills the pod after terminationGracePeriodSeconds. */ -}}
{{- $needed := add (int $consumers.stopGraceSeconds) 20 -}}
{{- range $component := list "provisioning" "inventory" "routing" -}}
{{- if (index $.Values $component "enabled") -}}
{{- $grace := int (index $.Values $component "terminationGracePeriodSeconds") -}}
{{- if lt $grace (int $needed) -}}
{{- fail (printf "%s.terminationGracePeriodSeconds (%d) must cover consumers.stopGraceSeconds + 20 s of shutdown (%d)" $component $grace (int $needed)) -}}
{{- end -}}
{{- /* A StatefulSet's pods carry controller-revision-hash=<name>-<10 characters>, a label value
     of at most 63 characters. */ -}}
{{- $name := include "byosms.componentName" (dict "root" $ "component" $component) -}}
{{- if gt (len $name) 52 -}}
{{- fail (printf "StatefulSet name %s is longer than 52 characters; shorten the release name or fullnameOverride" $name) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- $iw := .Values.ingressWebhook -}}
{{- if $iw.enabled -}}
{{- /* SIGTERM -> the pre-stop delay (still serving) -> the listener closes and the requests in flight
     finish (a webhook waits at most publishDeadlineSeconds for Kafka, then is spooled: + 3 s) -> the
     spool drains for up to shutdownGraceSeconds -> the Kafka client closes (up to 6 s). */ -}}
{{- $inflight := add (int (ceil $iw.publishDeadlineSeconds)) 3 -}}
{{- $needed := add (int $iw.preStopDelaySeconds) $inflight (int (ceil $iw.shutdownGraceSeconds)) 6 -}}
{{- if lt (int $iw.terminationGracePeriodSeconds) (int $needed) -}}
{{- fail (printf "ingressWebhook.terminationGracePeriodSeconds (%d) must cover preStopDelaySeconds (%d) + requests in flight (publishDeadlineSeconds + 3 = %d) + shutdownGraceSeconds (%v, the spool drain) + 6 s to close Kafka = %d" (int $iw.terminationGracePeriodSeconds) (int $iw.preStopDelaySeconds) (int $inflight) $iw.shutdownGraceSeconds (int $needed)) -}}
{{- end -}}
{{- if eq $iw.metricsPort $iw.port -}}
{{- fail "ingressWebhook.metricsPort must differ from ingressWebhook.port (metrics are not served on the public webhook port)" -}}
{{- end -}}
{{- range $region := $iw.regions -}}
{{- $name := include "byosms.ingressName" (dict "root" $ "region" $region) -}}
{{- if and (eq $iw.spool.type "persistent") (gt (len $name) 52) -}}
{{- fail (printf "StatefulSet name %s is longer than 52 characters (its pods' controller-revision-hash label would exceed 63); shorten the release name, fullnameOverride or the region id" $name) -}}
{{- end -}}
{{- if and (eq $iw.spool.type "persistent") (not $iw.spool.drainJob.enabled) -}}
{{- $orphans := include "byosms.ingressOrphanOrdinals" (dict "root" $ "region" $region) | fromJsonArray -}}
{{- if $orphans -}}
{{- fail (printf "scaling %s down would strand the spool claims of ordinals %v (undrained webhooks already answered 200): enable ingressWebhook.spool.drainJob or drain them first (docs/runbooks/ingress-spool-orphaned.md)" $name $orphans) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- if and (ne $iw.exposure.type "none") (not (include "byosms.exposureHosts" $ | fromJsonArray)) -}}
{{- fail "ingressWebhook.exposure needs a publicBaseUrl for at least one deployed region (regionTable or ingressWebhook.regions)" -}}
{{- end -}}
{{- end -}}
{{- $pr := .Values.metrics.prometheusRule -}}
{{- if and $pr.enabled (not $pr.runbookBaseUrl) -}}
{{- fail "metrics.prometheusRule.runbookBaseUrl is required: the URL where docs/runbooks of this repository is served (each alert links <runbookBaseUrl>/<alert>.md)" -}}
{{- end -}}
{{- $ids := list -}}
{{- range .Values.ingressWebhook.regions -}}
{{- if has .id $ids -}}
{{- fail (printf "ingressWebhook.regions lists %s twice" .id) -}}
{{- end -}}
{{- $ids = append $ids .id -}}
{{- end -}}
{{- end -}}

{{/* JSON list of the spool claim ordinals of one region's ingress StatefulSet that no pod will open:
ordinals from the pod count up to the region's spoolClaims, and every claim "spool-<name>-<n>" the
live cluster holds with n at or above the pod count (helm lookup; empty under `helm template`).
The pod count is replicas + rolloutSpareReplicas, with an HPA maxReplicas + rolloutSpareReplicas (the
HPA never scales down on its own, but does down to a lowered maxReplicas). A drain Job that starts
while the pod still holds the claim finds the spool locked, fails and is retried until the pod is gone. (dict "root" $ "region" $region) */}}
{{- define "byosms.ingressOrphanOrdinals" -}}
{{- $root := .root -}}
{{- $v := $root.Values.ingressWebhook -}}
{{- $name := include "byosms.ingressName" (dict "root" $root "region" .region) -}}
{{- $pods := int (include "byosms.ingressPods" (dict "root" $root "region" .region)) -}}
{{- if $v.autoscaling.enabled -}}
{{- $pods = int (add $v.autoscaling.maxReplicas $v.rolloutSpareReplicas) -}}
{{- end -}}
{{- $ordinals := list -}}
{{- range $n := untilStep (int $pods) (int (.region.spoolClaims | default 0)) 1 -}}
{{- $ordinals = append $ordinals $n -}}
{{- end -}}
{{- $claims := lookup "v1" "PersistentVolumeClaim" $root.Release.Namespace "" -}}
{{- $prefix := printf "spool-%s-" $name -}}
{{- range $claim := ($claims.items | default list) -}}
{{- $suffix := trimPrefix $prefix $claim.metadata.name -}}
{{- if and (hasPrefix $prefix $claim.metadata.name) (regexMatch "^[0-9]+$" $suffix) -}}
{{- $n := atoi $suffix -}}
{{- if and (ge $n (int $pods)) (not (has $n $ordinals)) }}{{ $ordinals = append $ordinals $n }}{{ end -}}
{{- end -}}
{{- end -}}
{{- toJson $ordinals -}}
{{- end -}}

{{/* JSON list of {region, host} for the deployed regions with a public URL (regionTable or the region
entry, the latter winning): the hosts the Ingress/HTTPRoute expose. */}}
{{- define "byosms.exposureHosts" -}}
{{- $table := dict -}}
{{- range $t := .Values.regionTable }}{{ with $t.publicBaseUrl }}{{ $_ := set $table $t.id . }}{{ end }}{{ end -}}
{{- $hosts := list -}}
{{- range $region := .Values.ingressWebhook.regions -}}
{{- $url := $region.publicBaseUrl | default (get $table $region.id) -}}
{{- if $url }}{{ $hosts = append $hosts (dict "region" $region "host" (urlParse $url).hostname) }}{{ end -}}
{{- end -}}
{{- toJson $hosts -}}
{{- end -}}

{{/* Prometheus relabeling: the pod label byosms.io/region becomes the `region` label of every series. */}}
{{- define "byosms.regionRelabeling" -}}
- sourceLabels: [__meta_kubernetes_pod_label_byosms_io_region]
  targetLabel: region
  action: replace
{{- end -}}
