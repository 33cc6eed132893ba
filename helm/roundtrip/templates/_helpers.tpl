{{/*
Chart name, cut at 63 characters (the DNS-1123 label limit of Kubernetes names).
*/}}
{{- define "roundtrip.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Fully qualified app name: `<release>-<chart>`, or the release name alone when it already contains
the chart name. Cut at 63 characters.
*/}}
{{- define "roundtrip.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/*
Name of a per-component object (`<fullname>-<component>`). The prefix is cut first so the
component suffix always survives the 63-character limit.
Usage: include "roundtrip.componentName" (dict "root" $ "component" "click")
*/}}
{{- define "roundtrip.componentName" -}}
{{- $suffix := printf "-%s" .component }}
{{- $prefix := include "roundtrip.fullname" .root | trunc (int (sub 63 (len $suffix))) | trimSuffix "-" }}
{{- printf "%s%s" $prefix $suffix }}
{{- end }}

{{/*
Chart label value.
*/}}
{{- define "roundtrip.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Labels on every object.
*/}}
{{- define "roundtrip.labels" -}}
helm.sh/chart: {{ include "roundtrip.chart" . }}
{{ include "roundtrip.selectorLabels" . }}
app.kubernetes.io/version: {{ (default .Chart.AppVersion .Values.image.tag) | trunc 63 | trimSuffix "-" | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: roundtrip
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/*
Selector labels: stable for the life of a release (Deployment selectors are immutable).
*/}}
{{- define "roundtrip.selectorLabels" -}}
app.kubernetes.io/name: {{ include "roundtrip.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
Labels and selector labels of one component (a service or a hook job).
Usage: include "roundtrip.componentLabels" (dict "root" $ "component" "click")
*/}}
{{- define "roundtrip.componentLabels" -}}
{{ include "roundtrip.labels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "roundtrip.componentSelectorLabels" -}}
{{ include "roundtrip.selectorLabels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/*
The one image every service and job runs.
*/}}
{{- define "roundtrip.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/*
ServiceAccount of the services.
*/}}
{{- define "roundtrip.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "roundtrip.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
Secret the services read: the user's existingSecret or the one this chart renders.
*/}}
{{- define "roundtrip.secretName" -}}
{{- if .Values.existingSecret }}
{{- .Values.existingSecret }}
{{- else }}
{{- include "roundtrip.fullname" . }}
{{- end }}
{{- end }}

{{/*
Secret the hook jobs read. Pre-install hooks run before the release's own objects exist, so when
the chart renders the Secret it also renders a hook-scoped copy for the jobs.
*/}}
{{- define "roundtrip.hookSecretName" -}}
{{- if .Values.existingSecret }}
{{- .Values.existingSecret }}
{{- else }}
{{- include "roundtrip.componentName" (dict "root" . "component" "hooks") }}
{{- end }}
{{- end }}

{{/*
Key of one variable inside the Secret. Usage: include "roundtrip.secretKey" (dict "root" $ "key" "databaseUrl")
*/}}
{{- define "roundtrip.secretKey" -}}
{{- $defaults := dict "databaseUrl" "DATABASE_URL" "natsUrl" "NATS_URL" "clickIdKeys" "CLICK_ID_KEYS" "adminBootstrapApiKey" "ADMIN_BOOTSTRAP_API_KEY" }}
{{- if .root.Values.existingSecret }}
{{- get .root.Values.existingSecretKeys .key }}
{{- else }}
{{- get $defaults .key }}
{{- end }}
{{- end }}

{{/*
Data of the chart-rendered Secret (and its hook copy).
*/}}
{{- define "roundtrip.secretData" -}}
DATABASE_URL: {{ .Values.database.url | b64enc | quote }}
NATS_URL: {{ .Values.nats.url | b64enc | quote }}
CLICK_ID_KEYS: {{ .Values.clickIdKeys | b64enc | quote }}
{{- with .Values.adminBootstrapApiKey }}
ADMIN_BOOTSTRAP_API_KEY: {{ . | b64enc | quote }}
{{- end }}
{{- end }}

{{/*
Values of one service: serviceDefaults deep-merged with services.<name>, as YAML (read it back with fromYaml).
Usage: fromYaml (include "roundtrip.serviceValues" (dict "root" $ "name" "click"))
*/}}
{{- define "roundtrip.serviceValues" -}}
{{- $own := get .root.Values.services .name }}
{{- toYaml (mergeOverwrite (deepCopy .root.Values.serviceDefaults) (deepCopy $own)) }}
{{- end }}

{{/*
Public base URL of click or gateway for admin: the configured value, else the first ingress host.
Usage: include "roundtrip.publicUrl" (dict "root" $ "name" "click" "value" .Values.config.publicClickUrl)
*/}}
{{- define "roundtrip.publicUrl" -}}
{{- if .value }}
{{- .value }}
{{- else }}
{{- $ingress := (get .root.Values.services .name).ingress }}
{{- if and $ingress $ingress.enabled $ingress.hosts }}
{{- $host := (first $ingress.hosts).host }}
{{- $scheme := ternary "https" "http" (gt (len $ingress.tls) 0) }}
{{- printf "%s://%s" $scheme $host }}
{{- end }}
{{- end }}
{{- end }}

{{/*
One secret-backed environment variable: from secretRefs.<key> when it names a Secret, else the chart's (or existing) Secret.
Usage: include "roundtrip.secretEnv" (dict "root" $ "name" "DATABASE_URL" "key" "databaseUrl" "secret" $secretName "optional" false)
*/}}
{{- define "roundtrip.secretEnv" -}}
{{- $ref := get (default dict .root.Values.secretRefs) .key }}
- name: {{ .name }}
  valueFrom:
    secretKeyRef:
      {{- if and $ref $ref.name }}
      name: {{ $ref.name }}
      key: {{ required (printf "secretRefs.%s.key is required when secretRefs.%s.name is set" .key .key) $ref.key }}
      {{- else }}
      name: {{ .secret }}
      key: {{ include "roundtrip.secretKey" (dict "root" .root "key" .key) }}
      {{- end }}
      {{- if .optional }}
      optional: true
      {{- end }}
{{- end }}

{{/*
Environment shared by services and hook jobs (the common variables of docs/internals.md).
Usage: include "roundtrip.commonEnv" (dict "root" $ "component" "click" "secret" $secretName)
*/}}
{{- define "roundtrip.commonEnv" -}}
{{- $root := .root -}}
- name: POD_NAME
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
- name: POD_NAMESPACE
  valueFrom:
    fieldRef:
      fieldPath: metadata.namespace
{{ include "roundtrip.secretEnv" (dict "root" $root "name" "DATABASE_URL" "key" "databaseUrl" "secret" .secret) }}
- name: DATABASE_POOL_MAX
  value: {{ $root.Values.database.poolMax | quote }}
{{ include "roundtrip.secretEnv" (dict "root" $root "name" "NATS_URL" "key" "natsUrl" "secret" .secret) }}
- name: BUS_PREFIX
  value: {{ $root.Values.nats.busPrefix | quote }}
- name: BUS_REPLICAS
  value: {{ $root.Values.nats.streamReplicas | quote }}
- name: LOG_LEVEL
  value: {{ $root.Values.config.logLevel | quote }}
- name: SHUTDOWN_TIMEOUT_MS
  value: {{ $root.Values.config.shutdownTimeoutMs | quote }}
- name: READY_STALL_MS
  value: {{ $root.Values.config.readyStallMs | quote }}
- name: OUTBOX_REPUBLISH_AFTER_MS
  value: {{ $root.Values.config.outboxRepublishAfterMs | quote }}
{{- with $root.Values.otel.endpoint }}
- name: OTEL_EXPORTER_OTLP_ENDPOINT
  value: {{ . | quote }}
{{- end }}
{{- with $root.Values.otel.protocol }}
- name: OTEL_EXPORTER_OTLP_PROTOCOL
  value: {{ . | quote }}
{{- end }}
{{- $attrs := list "k8s.namespace.name=$(POD_NAMESPACE)" "k8s.pod.name=$(POD_NAME)" "service.instance.id=$(POD_NAME)" }}
{{- if .deployment }}
{{- $attrs = append $attrs (printf "k8s.deployment.name=%s" .deployment) }}
{{- end }}
{{- range $k, $v := $root.Values.otel.resourceAttributes }}
{{- $attrs = append $attrs (printf "%s=%s" $k (toString $v)) }}
{{- end }}
- name: OTEL_RESOURCE_ATTRIBUTES
  value: {{ join "," $attrs | quote }}
{{- end }}

{{/*
Full environment of one service container: common variables, the service-specific ones of
docs/internals.md, then extra variables (global, then per service).
Usage: include "roundtrip.serviceEnv" (dict "root" $ "name" "click" "svc" $svc)
*/}}
{{- define "roundtrip.serviceEnv" -}}
{{- $root := .root }}
{{- $secret := include "roundtrip.secretName" $root }}
{{- $deployment := include "roundtrip.componentName" (dict "root" $root "component" .name) -}}
- name: PORT
  value: {{ .svc.port | quote }}
{{ include "roundtrip.commonEnv" (dict "root" $root "secret" $secret "deployment" $deployment) }}
{{- if has .name (list "click" "gateway" "attribution" "admin") }}
{{ include "roundtrip.secretEnv" (dict "root" $root "name" "CLICK_ID_KEYS" "key" "clickIdKeys" "secret" $secret) }}
{{- end }}
{{- if has .name (list "click" "gateway") }}
- name: IP_TRUNCATE
  value: {{ $root.Values.config.ipTruncate | quote }}
- name: TRUST_PROXY
  value: {{ $root.Values.config.trustProxy | quote }}
- name: TRUSTED_PROXY_HOPS
  value: {{ $root.Values.config.trustedProxyHops | quote }}
- name: TRUSTED_PROXIES
  value: {{ join "," $root.Values.config.trustedProxies | quote }}
{{- end }}
{{- if eq .name "click" }}
- name: CLICK_SINK
  value: {{ $root.Values.config.clickSink | quote }}
{{- if $root.Values.geoip.volume }}
- name: GEOIP_COUNTRY_DB
  value: {{ printf "/geoip/%s" $root.Values.geoip.file | quote }}
{{- end }}
{{- end }}
{{- /* Admin's "send test" of a postback template goes through the same SSRF guard as delivery. */}}
{{- if has .name (list "delivery" "admin") }}
- name: DELIVERY_ALLOWED_CIDRS
  value: {{ join "," $root.Values.config.deliveryAllowedCidrs | quote }}
{{- end }}
{{- if eq .name "admin" }}
{{ include "roundtrip.secretEnv" (dict "root" $root "name" "ADMIN_BOOTSTRAP_API_KEY" "key" "adminBootstrapApiKey" "secret" $secret "optional" true) }}
{{- with include "roundtrip.publicUrl" (dict "root" $root "name" "click" "value" $root.Values.config.publicClickUrl) }}
- name: PUBLIC_CLICK_URL
  value: {{ . | quote }}
{{- end }}
{{- with include "roundtrip.publicUrl" (dict "root" $root "name" "gateway" "value" $root.Values.config.publicGatewayUrl) }}
- name: PUBLIC_GATEWAY_URL
  value: {{ . | quote }}
{{- end }}
{{- /* Launch validation reaches click and gateway inside the cluster, not through the ingress. */}}
{{- range $target := list "click" "gateway" }}
{{- $t := fromYaml (include "roundtrip.serviceValues" (dict "root" $root "name" $target)) }}
- name: {{ upper $target }}_URL
  value: {{ printf "http://%s:%v" (include "roundtrip.componentName" (dict "root" $root "component" $target)) $t.port | quote }}
{{- end }}
{{- end }}
{{- with $root.Values.config.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- with .svc.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/*
The /tmp emptyDir every container gets (the root filesystem is read-only).
*/}}
{{- define "roundtrip.tmpVolume" -}}
- name: tmp
  emptyDir:
    sizeLimit: {{ .Values.tmpSizeLimit }}
{{- end }}
