{{/* Names and labels (as zero-to-jupyterhub: one helper per name, selector labels stable). */}}
{{- define "tenanthub.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "tenanthub.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else if contains (include "tenanthub.name" .) .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name (include "tenanthub.name" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "tenanthub.hub.name" -}}{{ include "tenanthub.fullname" . }}-hub{{- end -}}
{{- define "tenanthub.proxy.name" -}}{{ include "tenanthub.fullname" . }}-proxy{{- end -}}
{{- define "tenanthub.proxyApi.name" -}}{{ include "tenanthub.fullname" . }}-proxy-api{{- end -}}
{{- define "tenanthub.proxyPublic.name" -}}{{ include "tenanthub.fullname" . }}-proxy-public{{- end -}}

{{/* selector labels of a component: the platform config's hub_pod_labels/proxy_pod_labels */}}
{{- define "tenanthub.selectorLabels" -}}
app.kubernetes.io/name: {{ include "tenanthub.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
component: {{ .component }}
{{- end -}}

{{- define "tenanthub.labels" -}}
{{ include "tenanthub.selectorLabels" . }}
app.kubernetes.io/part-of: tenanthub
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version | replace "+" "_" }}
{{- end -}}

{{- define "tenanthub.image" -}}
{{ .repository }}:{{ .tag }}
{{- end -}}

{{- define "tenanthub.imagePullSecrets" -}}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
{{- range . }}
  - name: {{ . }}
{{- end }}
{{- end }}
{{- end -}}

{{/* PodDisruptionBudget API: policy/v1 where served (Kubernetes >= 1.21), else v1beta1 */}}
{{- define "tenanthub.pdb.apiVersion" -}}
{{- if and (.Capabilities.APIVersions.Has "policy/v1") (semverCompare ">=1.21-0" .Capabilities.KubeVersion.Version) -}}
policy/v1
{{- else -}}
policy/v1beta1
{{- end -}}
{{- end -}}

{{/* The restricted Pod Security context of the chart's own pods */}}
{{- define "tenanthub.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 1000
runAsGroup: 1000
fsGroup: 1000
seccompProfile:
  type: RuntimeDefault
{{- end -}}
{{- define "tenanthub.containerSecurityContext" -}}
runAsNonRoot: true
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities:
  drop: [ALL]
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/*
Where the chart's pods reach each other: the Services' cluster DNS names, or with
hostNetwork.enabled (single-node clusters without a pod network) the node address they
all listen on. tenanthub.bindAddress: what the hub and its platform service listen on.
*/}}
{{- define "tenanthub.hostNetwork" -}}
{{- if .Values.hostNetwork.enabled }}true{{ end -}}
{{- end -}}
{{- define "tenanthub.bindAddress" -}}
{{- if .Values.hostNetwork.enabled }}{{ .Values.hostNetwork.address }}{{ else }}0.0.0.0{{ end -}}
{{- end -}}
{{- define "tenanthub.hubUrl" -}}
{{- if .Values.hostNetwork.enabled -}}
http://{{ .Values.hostNetwork.address }}:{{ .Values.hub.port }}
{{- else -}}
http://{{ include "tenanthub.hub.name" . }}.{{ .Release.Namespace }}.svc:{{ .Values.hub.port }}
{{- end -}}
{{- end -}}
{{- define "tenanthub.proxyApiUrl" -}}
{{- if .Values.hostNetwork.enabled -}}
http://{{ .Values.hostNetwork.address }}:{{ .Values.proxy.apiPort }}
{{- else -}}
http://{{ include "tenanthub.proxyApi.name" . }}.{{ .Release.Namespace }}.svc:{{ .Values.proxy.apiPort }}
{{- end -}}
{{- end -}}
{{- define "tenanthub.serviceUrl" -}}
{{- if .Values.hostNetwork.enabled -}}
http://{{ .Values.hostNetwork.address }}:{{ .Values.hub.servicePort }}
{{- else -}}
http://{{ include "tenanthub.hub.name" . }}.{{ .Release.Namespace }}.svc:{{ .Values.hub.servicePort }}
{{- end -}}
{{- end -}}

{{/* Mount path of the hub's kubeconfig (hub.kubeconfigSecret) */}}
{{- define "tenanthub.hubKubeconfig" -}}
{{- with .Values.hub.kubeconfigSecret.name }}/etc/tenanthub-kube/{{ $.Values.hub.kubeconfigSecret.key }}{{ end -}}
{{- end -}}

{{/*
The platform config the hub reads (tenanthub.yaml): the values' `tenanthub:` with the keys
that must match the chart's objects set here. Its sha256 is the hub's checksum/config.
*/}}
{{- define "tenanthub.config" -}}
{{- $cfg := deepCopy (.Values.tenanthub | default dict) -}}
{{- $hub := deepCopy ((index $cfg "hub") | default dict) -}}
{{- $_ := set $hub "data_dir" "/srv/tenanthub" -}}
{{- $_ := set $hub "hub_port" (int .Values.hub.port) -}}
{{- $_ := set $hub "hub_bind_url" (printf "http://%s:%d" (include "tenanthub.bindAddress" .) (int .Values.hub.port)) -}}
{{- $_ := set $hub "hub_connect_url" (include "tenanthub.hubUrl" .) -}}
{{- $_ := set $hub "port" (int .Values.proxy.port) -}}
{{- $_ := set $hub "proxy" (dict "external" true "api_url" (include "tenanthub.proxyApiUrl" .)) -}}
{{- $_ := unset $hub "db_url" -}}
{{- $_ := set $cfg "hub" $hub -}}
{{- $service := deepCopy ((index $cfg "service") | default dict) -}}
{{- $_ := set $service "port" (int .Values.hub.servicePort) -}}
{{- $_ := set $service "bind" (include "tenanthub.bindAddress" .) -}}
{{- $_ := set $service "url" (include "tenanthub.serviceUrl" .) -}}
{{- $_ := set $cfg "service" $service -}}
{{- $backend := deepCopy ((index $cfg "backend") | default dict) -}}
{{- $kube := deepCopy ((index $backend "kubernetes") | default dict) -}}
{{- $_ := set $kube "hub_namespace" .Release.Namespace -}}
{{- with include "tenanthub.hubKubeconfig" . }}
{{- $_ := set $kube "kubeconfig" . -}}
{{- end -}}
{{- $_ := set $kube "hub_pod_labels" (include "tenanthub.selectorLabels" (dict "root" . "component" "hub") | fromYaml) -}}
{{- $_ := set $kube "proxy_pod_labels" (include "tenanthub.selectorLabels" (dict "root" . "component" "proxy") | fromYaml) -}}
{{- $_ := set $backend "kind" "kubernetes" -}}
{{- $_ := set $backend "kubernetes" $kube -}}
{{- $_ := set $cfg "backend" $backend -}}
{{- $port := include "tenanthub.checkpointerPort" . -}}
{{- if $port -}}
{{- $_ := set $cfg "checkpoint" (merge (dict "daemon_port" (int $port)) (deepCopy ((index $cfg "checkpoint") | default dict))) -}}
{{- end -}}
{{- toYaml $cfg -}}
{{- end -}}

{{/*
The checkpointer's node-local endpoint port ("checkpoint before stop": the hub calls the
pod's node address on it): checkpointer.port, else tenanthub.checkpoint.daemon_port;
both configs then carry it as checkpoint.daemon_port. Empty: no endpoint on the node.
*/}}
{{- define "tenanthub.checkpointerPort" -}}
{{- $cp := (index (.Values.tenanthub | default dict) "checkpoint") | default dict -}}
{{- with (.Values.checkpointer.port | default (index $cp "daemon_port")) }}{{ int . }}{{ end -}}
{{- end -}}

{{/* What the checkpointer reads: its section and the profiles (no secrets of the hub) */}}
{{- define "tenanthub.checkpointerConfig" -}}
{{- $cfg := include "tenanthub.config" . | fromYaml -}}
{{- toYaml (dict "checkpoint" ((index $cfg "checkpoint") | default dict) "profiles" ((index $cfg "profiles") | default list)) -}}
{{- end -}}

{{- define "tenanthub.checkpointerEnabled" -}}
{{- $cp := (index (.Values.tenanthub | default dict) "checkpoint") | default dict -}}
{{- if and .Values.checkpointer.enabled (ne (toString (index $cp "enabled")) "false") -}}true{{- end -}}
{{- end -}}

{{/* n random hex digits (as zero-to-jupyterhub's randHex) */}}
{{- define "tenanthub.randHex" -}}
{{- $result := "" -}}
{{- range $i := until . -}}
{{- $result = print $result (mod (randNumeric 4 | atoi) 16 | printf "%x") -}}
{{- end -}}
{{- $result -}}
{{- end -}}
