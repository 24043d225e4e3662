{{/*
romana.services.podSpec: the pod of romana-services (datastore + services), shared by
the DaemonSet and the static Pod so that both run exactly the same containers.
The two forms differ only in where the datastore password comes from: a Secret for the
DaemonSet; a host file for the static Pod, because the kubelet cannot give a static Pod
a Secret.
Usage: {{ include "romana.services.podSpec" (dict "root" $ "static" false) }}
*/}}
{{- define "romana.services.podSpec" -}}
{{- $v := .root.Values -}}
hostNetwork: true
dnsPolicy: ClusterFirstWithHostNet
{{- if .static }}
priorityClassName: system-node-critical
{{- else }}
serviceAccountName: romana-services
priorityClassName: system-cluster-critical
nodeSelector:
  {{- toYaml $v.services.nodeSelector | nindent 2 }}
{{- with $v.services.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}
containers:
  - name: romana-datastore
    image: {{ include "romana.image" $v.datastore.image | quote }}
    imagePullPolicy: {{ $v.image.pullPolicy }}
    env:
      {{- include "romana.services.passwordEnv" . | nindent 6 }}
    {{- with $v.datastore.resources }}
    resources:
      {{- toYaml . | nindent 6 }}
    {{- end }}
    volumeMounts:
      - name: db-path
        mountPath: /var/lib/mysql
      {{- if .static }}
      - name: datastore-password
        mountPath: /etc/romana/datastore-password
        readOnly: true
      {{- end }}
  - name: romana-services
    image: {{ include "romana.romanaImage" (dict "root" .root "name" "services") | quote }}
    imagePullPolicy: {{ $v.image.pullPolicy }}
    args:
      - --cidr={{ $v.services.cidr }}
      - --api-server={{ $v.services.apiServer }}
      - --interface={{ $v.services.interface }}
      {{- if $v.services.ipAddress }}
      - --ip-address={{ $v.services.ipAddress }}
      {{- else }}
      - --ip-address=$(HOST_IP)
      {{- end }}
      - --nodes={{ $v.services.nodes }}
      - --namespaces={{ $v.services.namespaces }}
      - --segments={{ $v.services.segments }}
    env:
      {{- include "romana.services.passwordEnv" . | nindent 6 }}
      {{- if not $v.services.ipAddress }}
      - name: HOST_IP
        valueFrom:
          fieldRef:
            fieldPath: status.hostIP
      {{- end }}
    ports:
      - name: root
        containerPort: {{ $v.romanaRoot.port }}
        protocol: TCP
    {{- with $v.services.resources }}
    resources:
      {{- toYaml . | nindent 6 }}
    {{- end }}
    {{- if .static }}
    volumeMounts:
      - name: datastore-password
        mountPath: /etc/romana/datastore-password
        readOnly: true
    {{- end }}
volumes:
  - name: db-path
    hostPath:
      path: {{ $v.services.dataDir }}
      type: DirectoryOrCreate
  {{- if .static }}
  - name: datastore-password
    hostPath:
      path: {{ $v.services.passwordFile }}
      type: File
  {{- end }}
{{- end -}}

{{/*
romana.services.passwordEnv: how a romana-services container gets the datastore password.
Usage: {{ include "romana.services.passwordEnv" (dict "root" $ "static" false) }}
*/}}
{{- define "romana.services.passwordEnv" -}}
{{- if .static -}}
- name: MYSQL_ROOT_PASSWORD_FILE
  value: /etc/romana/datastore-password
{{- else -}}
- name: MYSQL_ROOT_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "romana.passwordSecretName" .root }}
      key: password
{{- end -}}
{{- end -}}

{{/*
romana.services.staticPod: the romana-services Pod manifest for /etc/kubernetes/manifests.
It is not a release object: `romanactl template --services-as=static-pod` prints it.
Usage: {{ include "romana.services.staticPod" . }}
*/}}
{{- define "romana.services.staticPod" -}}
apiVersion: v1
kind: Pod
metadata:
  name: romana-services
  namespace: {{ .Release.Namespace }}
  labels:
    app: romana-services
    {{- include "romana.labels" (dict "root" . "component" "services") | nindent 4 }}
spec:
  {{- include "romana.services.podSpec" (dict "root" . "static" true) | nindent 2 }}
{{- end -}}
