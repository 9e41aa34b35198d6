{{/*
The chart's name, or nameOverride, cut to 63 characters (a label value).
*/}}
{{- define "evara.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The release's full name: <release>-<name>, or the release name alone when
it already contains the name, or fullnameOverride; cut to 63 characters
(a DNS label) without a trailing "-".
*/}}
{{- define "evara.fullname" -}}
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
A name derived from the full name with a suffix, still at most 63
characters: the full name is cut to make room. Call with (list . "suffix").
*/}}
{{- define "evara.suffixedName" -}}
{{- $root := index . 0 }}
{{- $suffix := index . 1 }}
{{- $max := sub 62 (len $suffix) | int }}
{{- printf "%s-%s" (include "evara.fullname" $root | trunc $max | trimSuffix "-") $suffix }}
{{- end }}

{{/*
The headless Service of the remoting port, and the migrations Job.
*/}}
{{- define "evara.remotingName" -}}
{{- include "evara.suffixedName" (list . "remoting") }}
{{- end }}

{{- define "evara.migrationsName" -}}
{{- include "evara.suffixedName" (list . "migrate") }}
{{- end }}

{{/*
Chart name and version, for the helm.sh/chart label.
*/}}
{{- define "evara.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Labels of every object.
*/}}
{{- define "evara.labels" -}}
helm.sh/chart: {{ include "evara.chart" . }}
{{ include "evara.selectorLabels" . }}
app.kubernetes.io/version: {{ include "evara.version" . | quote }}
app.kubernetes.io/part-of: evara
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/*
Labels that select this release's members: the Deployment's selector, the
Services', the PodDisruptionBudget's and the NetworkPolicy's. They never
change across upgrades (a Deployment's selector is immutable).
*/}}
{{- define "evara.selectorLabels" -}}
app.kubernetes.io/name: {{ include "evara.name" . }}
app.kubernetes.io/instance: {{ .Release.Name | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The version label: the image tag, or the chart's appVersion, as a valid
label value.
*/}}
{{- define "evara.version" -}}
{{- default .Chart.AppVersion .Values.image.tag | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The image reference: repository@digest, or repository:tag.
*/}}
{{- define "evara.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{- define "evara.serviceAccountName" -}}
{{- default (include "evara.fullname" .) .Values.serviceAccount.name }}
{{- end }}

{{/*
EVARA_CLUSTER_NAME: config.clusterName, or the full name (at most 63
characters already, and a valid label value).
*/}}
{{- define "evara.clusterName" -}}
{{- default (include "evara.fullname" .) .Values.config.clusterName | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
An environment variable read from a key of an existing Secret. Call with
(list . "VARIABLE" .Values.secrets.x); the reference's name defaults to
secrets.existingSecret.
*/}}
{{- define "evara.secretEnv" -}}
{{- $root := index . 0 }}
{{- $ref := index . 2 }}
{{- $secret := default $root.Values.secrets.existingSecret $ref.name -}}
- name: {{ index . 1 }}
  valueFrom:
    secretKeyRef:
      name: {{ required (printf "secrets: %s needs a Secret name (secrets.existingSecret or its own name)" (index . 1)) $secret | quote }}
      key: {{ $ref.key | quote }}
{{- end }}

{{/*
Pod security context shared by the members and the migrations Job: the
image's nonroot user (65532), no shell, nothing to escalate to.
*/}}
{{- define "evara.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
fsGroup: 65532
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{- define "evara.containerSecurityContext" -}}
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
readOnlyRootFilesystem: true
allowPrivilegeEscalation: false
privileged: false
capabilities:
  drop:
    - ALL
seccompProfile:
  type: RuntimeDefault
{{- end }}
