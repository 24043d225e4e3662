{{/*
romana.labels: the labels every object carries.
Usage: {{ include "romana.labels" (dict "root" $ "component" "agent") }}
Selector labels (app: ...) are separate and never include the chart version: they are
immutable on DaemonSets, and `app: romana-services` / `app: romana-agent` match the
2016 objects so that a later upgrade can adopt them.
*/}}
{{- define "romana.labels" -}}
app.kubernetes.io/name: romana
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
app.kubernetes.io/part-of: romana
app.kubernetes.io/version: {{ include "romana.tag" .root | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version | replace "+" "_" }}
{{- end -}}

{{/*
romana.tag: the tag of Romana's own images: image.tag, else the chart's appVersion.
Usage: {{ include "romana.tag" . }}
*/}}
{{- define "romana.tag" -}}
{{- .Values.image.tag | default .Chart.AppVersion -}}
{{- end -}}

{{/*
romana.image: a full image reference, <registry>/<name>:<tag>, or <registry>/<name>@<digest>
when a digest is set: the digest pins the exact bytes, and a tag beside it would only
mislead.
Usage: {{ include "romana.image" (dict "registry" "quay.io/romana" "name" "agent" "tag" "v1" "digest" "") }}
*/}}
{{- define "romana.image" -}}
{{- if .digest -}}
{{- printf "%s/%s@%s" (trimSuffix "/" .registry) .name .digest -}}
{{- else -}}
{{- printf "%s/%s:%s" (trimSuffix "/" .registry) .name (toString .tag) -}}
{{- end -}}
{{- end -}}

{{/*
romana.romanaImage: the reference of one of Romana's own images (services, agent).
Usage: {{ include "romana.romanaImage" (dict "root" $ "name" "agent") }}
*/}}
{{- define "romana.romanaImage" -}}
{{- include "romana.image" (dict "registry" .root.Values.image.registry "name" .name "tag" (include "romana.tag" .root) "digest" (get (.root.Values.image.digests | default dict) .name)) -}}
{{- end -}}

{{/*
romana.cniImage: the reference of romanactl's CNI plugin image (cni.plugin=romanactl). It
sits beside Romana's images (image.registry, so --registry moves it with them), but its
tag is the chart's version: the plugin is romanactl's code, released with the chart,
not one of Romana's images, so --tag does not change it.
Usage: {{ include "romana.cniImage" . }}
*/}}
{{- define "romana.cniImage" -}}
{{- include "romana.image" (dict "registry" .Values.image.registry "name" .Values.cni.image.name "tag" (.Values.cni.image.tag | default .Chart.Version) "digest" .Values.cni.image.digest) -}}
{{- end -}}

{{/*
romana.rootURL: the agent's --romana-root: agent.romanaRoot, else
http://<romanaRoot.clusterIP>:<romanaRoot.port>, the only address the agent can reach root at.
Usage: {{ include "romana.rootURL" . }}
*/}}
{{- define "romana.rootURL" -}}
{{- .Values.agent.romanaRoot | default (printf "http://%s:%v" .Values.romanaRoot.clusterIP .Values.romanaRoot.port) -}}
{{- end -}}

{{/*
romana.passwordSecretName: the Secret that holds the datastore password (key
"password"): datastore.existingSecret, managed by the user, else the chart's own.
Usage: {{ include "romana.passwordSecretName" . }}
*/}}
{{- define "romana.passwordSecretName" -}}
{{- .Values.datastore.existingSecret | default "romana-datastore" -}}
{{- end -}}

{{/*
romana.renderedWithoutCluster: "true" when the chart is rendered with no cluster to
look things up in (`helm template`, Argo CD, a client-side dry run): lookup then
returns nothing even for the release's own namespace, which always exists.
Usage: {{ if include "romana.renderedWithoutCluster" . }}
*/}}
{{- define "romana.renderedWithoutCluster" -}}
{{- if not (lookup "v1" "Namespace" "" .Release.Namespace) -}}true{{- end -}}
{{- end -}}

{{/*
romana.apiServer: romana-services' --api-server: services.apiServer, else the API proxy
on the node's loopback.
Usage: {{ include "romana.apiServer" . }}
*/}}
{{- define "romana.apiServer" -}}
{{- .Values.services.apiServer | default (printf "http://127.0.0.1:%v" .Values.apiProxy.port) -}}
{{- end -}}

{{/*
romana.apiProxy.acceptPaths: the API paths the proxy lets through, as kubectl proxy's
--accept-paths (comma-separated regular expressions, so none may contain a comma).
They are what romana.conf.template and the services use: namespaces (watched), pods,
nodes, endpoints and services (read; services also updated), and NetworkPolicies at
extensions/v1beta1 (what v0.9.3 watches) and networking.k8s.io/v1. Subresources
(exec, proxy, status, ...) match none of them.
Usage: {{ include "romana.apiProxy.acceptPaths" . }}
*/}}
{{- define "romana.apiProxy.acceptPaths" -}}
{{- $paths := list
  `^/api/v1/namespaces/?$`
  `^/api/v1/namespaces/[^/]+/?$`
  `^/api/v1/(namespaces/[^/]+/)?(pods|endpoints|services)(/[^/]+)?/?$`
  `^/api/v1/nodes(/[^/]+)?/?$`
  `^/apis/(extensions/v1beta1|networking\.k8s\.io/v1)/(namespaces/[^/]+/)?networkpolicies(/[^/]+)?/?$`
-}}
{{- join "," $paths -}}
{{- end -}}
