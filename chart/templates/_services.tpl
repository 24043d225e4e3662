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
    # hostNetwork puts mysqld on the node's addresses; run-romana-services reaches it at
    # 127.0.0.1 and nothing else needs it. The mysql image hands args that start with
    # "-" to mysqld.
    args:
      - --bind-address=127.0.0.1
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
    {{- if .static }}
    # run-romana-services reads the password only from $MYSQL_ROOT_PASSWORD, and the
    # kubelet cannot give a static Pod a Secret: read the host file, export it, and hand
    # over to the image's own entrypoint with the same args. The password stays out of
    # the Pod spec and of every argv (read is a shell builtin: no cat, no $(...), which
    # the kubelet would also try to expand as a variable reference).
    command:
      - /bin/sh
      - -c
      - >-
        IFS= read -r MYSQL_ROOT_PASSWORD < "$MYSQL_ROOT_PASSWORD_FILE" || [ -n "$MYSQL_ROOT_PASSWORD" ] ||
        { echo "romana-services: cannot read the datastore password from $MYSQL_ROOT_PASSWORD_FILE" >&2; exit 1; };
        export MYSQL_ROOT_PASSWORD;
        exec /usr/local/bin/run-romana-services "$@"
      - run-romana-services
    {{- end }}
    args:
      - --cidr={{ $v.services.cidr }}
      - --api-server={{ include "romana.apiServer" .root }}
      - --interface={{ $v.services.interface }}
      {{- if $v.services.ipAddress }}
      - --ip-address={{ $v.services.ipAddress }}
      {{- else }}
      - --ip-address=$(HOST_IP)
      {{- end }}
      {{- /* run-romana-services v0.9.3.5 parses no --nodes (it exits with "Unknown
      option") and plans for its default, 256. compat.yaml says so and romana.validate
      refuses another number for that line; a tag of no known line (a user's own
      build) gets --nodes when it is not 256. */}}
      {{- if ne (int64 $v.services.nodes) 256 }}
      - --nodes={{ $v.services.nodes }}
      {{- end }}
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
    # root listens on 9600 whatever the Service's port (romanaRoot.port): the services
    # image's romana.conf.template fixes it, and the agents reach it through the Service.
    ports:
      - name: root
        containerPort: 9600
        protocol: TCP
    # Ready when root answers, not when the entrypoint starts: run-romana-services waits
    # for the datastore and creates the schemas first, and a hung root must show as not
    # ready in the DaemonSet, the Service's endpoints and romanactl status.
    readinessProbe:
      httpGet:
        path: /
        port: root
      periodSeconds: 5
      timeoutSeconds: 3
      failureThreshold: 3
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
  {{- if $v.apiProxy.enabled }}
  # run-romana-services talks to --api-server without credentials, and kube-apiserver
  # has no insecure port since 1.20: kubectl proxy on the node's loopback adds them. It
  # authenticates as the romana-services ServiceAccount (in-cluster config, re-reading
  # the token the kubelet rotates), so the ClusterRole bounds what Romana may do, and
  # its own filters refuse other paths and every write but an update before the API
  # server sees them. HTTP methods are case-sensitive tokens and kubectl proxy forwards
  # "post" or "Delete" as sent, so the method filter ignores case: RBAC would refuse
  # them too, but the filter is the first wall and must not depend on the second.
  - name: romana-api-proxy
    image: {{ include "romana.image" $v.apiProxy.image | quote }}
    imagePullPolicy: {{ $v.image.pullPolicy }}
    command:
      - {{ $v.apiProxy.kubectlPath }}
      - proxy
    args:
      - --address=127.0.0.1
      - --port={{ $v.apiProxy.port }}
      - --accept-paths={{ include "romana.apiProxy.acceptPaths" .root }}
      - --reject-methods=^(?i:POST|PATCH|DELETE|CONNECT)$
      {{- if .static }}
      - --kubeconfig=/etc/romana/api-proxy.kubeconfig
      {{- end }}
    {{- with $v.apiProxy.resources }}
    resources:
      {{- toYaml . | nindent 6 }}
    {{- end }}
    {{- if .static }}
    volumeMounts:
      - name: api-proxy-kubeconfig
        mountPath: /etc/romana/api-proxy.kubeconfig
        readOnly: true
    {{- end }}
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
  {{- if $v.apiProxy.enabled }}
  - name: api-proxy-kubeconfig
    hostPath:
      path: {{ $v.apiProxy.kubeconfigFile }}
      type: File
  {{- end }}
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
