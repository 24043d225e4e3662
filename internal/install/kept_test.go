package install

import (
	"encoding/json"
	"slices"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// TestRemovals: the JSON pointers of what the object the upgrade leaves has and the
// chart's does not, list elements matched by their merge key, highest index first.
func TestRemovals(t *testing.T) {
	tests := []struct {
		name         string
		clean, after string
		want         []string
	}{
		{"nothing kept", `{"a":{"b":1}}`, `{"a":{"b":2}}`, nil},
		{"a key", `{"a":{"b":1}}`, `{"a":{"b":1,"c":2}}`, []string{"/a/c"}},
		{"a whole env", `{"c":[{"name":"x","image":"i"}]}`, `{"c":[{"name":"x","image":"i","env":[{"name":"X","value":"1"}]}]}`, []string{"/c/0/env"}},
		{"one env entry of two, by name", `{"env":[{"name":"A","value":"1"}]}`, `{"env":[{"name":"B","value":"2"},{"name":"A","value":"1"}]}`, []string{"/env/0"}},
		{"elements highest first", `{"p":[{"containerPort":1}]}`, `{"p":[{"containerPort":1},{"containerPort":2},{"containerPort":3}]}`, []string{"/p/2", "/p/1"}},
		{"a list without a merge key is replaced whole", `{"args":["a"]}`, `{"args":["a","b"]}`, nil},
		{"keys escaped", `{"m":{}}`, `{"m":{"a/b~c":"x"}}`, []string{"/m/a~1b~0c"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var clean, after any
			if err := json.Unmarshal([]byte(tt.clean), &clean); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal([]byte(tt.after), &after); err != nil {
				t.Fatal(err)
			}
			if got := removals(clean, after, ""); !slices.Equal(got, tt.want) {
				t.Errorf("removals = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestForeignManagers: Helm's writers (by name, or by the release-name annotation they
// set) and status writers are not someone else's hand.
func TestForeignManagers(t *testing.T) {
	u := &unstructured.Unstructured{}
	u.SetManagedFields([]metav1.ManagedFieldsEntry{
		{Manager: "helm", Operation: metav1.ManagedFieldsOperationUpdate},
		{Manager: "romanactl", Operation: metav1.ManagedFieldsOperationUpdate},
		{Manager: "my-helm", Operation: metav1.ManagedFieldsOperationUpdate,
			FieldsV1: &metav1.FieldsV1{Raw: []byte(`{"f:metadata":{"f:annotations":{"f:meta.helm.sh/release-name":{}}}}`)}},
		{Manager: "kube-controller-manager", Operation: metav1.ManagedFieldsOperationUpdate, Subresource: "status"},
		{Manager: "kubectl-set", Operation: metav1.ManagedFieldsOperationUpdate},
		{Manager: "kubectl-edit", Operation: metav1.ManagedFieldsOperationUpdate},
		{Manager: "kubectl-set", Operation: metav1.ManagedFieldsOperationUpdate},
	})
	if got := foreignManagers(u); !slices.Equal(got, []string{"kubectl-edit", "kubectl-set"}) {
		t.Errorf("foreignManagers = %q", got)
	}
}
