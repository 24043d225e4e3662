package install

import (
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
)

// TestChangedFields: migrate's plan names the fields a take-over changes, at the depth
// a person reads them.
func TestChangedFields(t *testing.T) {
	const ds = `metadata:
  annotations:
    a: "1"
  labels:
    app: romana-services
spec:
  template:
    spec:
      containers:
      - name: romana-datastore
        env:
        - name: MYSQL_ROOT_PASSWORD
          value: (value hidden)
      - name: romana-services
        args: [--cidr=10.0.0.0/8]
      nodeSelector:
        kubernetes.io/role: master
`
	tests := []struct {
		name string
		to   string
		want []string
	}{
		{name: "nothing", to: ds, want: nil},
		{name: "a label added, an annotation removed", to: `metadata:
  labels:
    app: romana-services
    app.kubernetes.io/managed-by: Helm
spec:
  template:
    spec:
      containers:
      - name: romana-datastore
        env:
        - name: MYSQL_ROOT_PASSWORD
          value: (value hidden)
      - name: romana-services
        args: [--cidr=10.0.0.0/8]
      nodeSelector:
        kubernetes.io/role: master
`, want: []string{"metadata.annotations", "metadata.labels"}},
		{name: "env of one container, args of another, the nodeSelector: each container as a whole", to: `metadata:
  annotations:
    a: "1"
  labels:
    app: romana-services
spec:
  template:
    spec:
      containers:
      - name: romana-datastore
        env:
        - name: MYSQL_ROOT_PASSWORD
          valueFrom: {secretKeyRef: {name: romana-datastore, key: password}}
      - name: romana-services
        args: [--cidr=10.0.0.0/8, --x]
      nodeSelector:
        node-role.kubernetes.io/control-plane: ""
`, want: []string{"spec.template.spec.containers[romana-datastore]", "spec.template.spec.containers[romana-services]", "spec.template.spec.nodeSelector"}},
		{name: "a field added, as a whole", to: ds + `  updateStrategy:
    rollingUpdate:
      maxUnavailable: 10%
`, want: []string{"spec.updateStrategy"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := changedFields(ds, tt.to); !slices.Equal(got, tt.want) {
				t.Errorf("changedFields = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestPrepareAgent: with romanactl's plugin the 2016 agent container loses its mounts of
// the host's CNI directories (kept, its entrypoint would install the docker wrapper over
// the init container's plugin: TestClusterRealMigrate saw it); with upstream it keeps them.
func TestPrepareAgent(t *testing.T) {
	agent := func() *appsv1.DaemonSet {
		ds := &appsv1.DaemonSet{}
		ds.Spec.Template.Spec.Containers = []corev1.Container{{Name: "romana-agent", VolumeMounts: []corev1.VolumeMount{
			{Name: "host-usr-local-bin", MountPath: "/host/usr/local/bin"}, {Name: "host-cni-bin", MountPath: "/host/opt/cni/bin"},
			{Name: "host-etc-romana", MountPath: "/host/etc/romana"}, {Name: "host-cni-net-d", MountPath: "/host/etc/cni/net.d"}}}}
		return ds
	}
	ds := agent()
	if !prepareAgent(ds, "romanactl") {
		t.Fatal("prepareAgent(romanactl) changed nothing")
	}
	var names []string
	for _, m := range ds.Spec.Template.Spec.Containers[0].VolumeMounts {
		names = append(names, m.Name)
	}
	if got := strings.Join(names, ","); got != "host-usr-local-bin,host-etc-romana" {
		t.Errorf("mounts left: %s", got)
	}
	if prepareAgent(ds, "romanactl") {
		t.Error("a second prepareAgent changed something")
	}
	if ds := agent(); prepareAgent(ds, "upstream") || len(ds.Spec.Template.Spec.Containers[0].VolumeMounts) != 4 {
		t.Error("prepareAgent(upstream) removed mounts the upstream plugin needs")
	}
}
