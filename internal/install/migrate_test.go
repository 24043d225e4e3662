package install

import (
	"slices"
	"testing"
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
