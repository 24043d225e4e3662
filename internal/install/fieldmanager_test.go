package install

import (
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/release"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Who made a revision: romanactl's own mark with the revision's number, not a copy.
func TestMadeByRomanactl(t *testing.T) {
	rel := func(labels map[string]string, desc string) *release.Release {
		return &release.Release{Version: 3, Labels: labels, Info: &release.Info{Description: desc}}
	}
	tests := []struct {
		name string
		rel  *release.Release
		want bool
	}{
		{"made label, own number", rel(map[string]string{MadeLabel: "3"}, "Upgrade complete"), true},
		{"wait label, own number (before the made label)", rel(map[string]string{WaitLabel: "3"}, "Upgrade complete"), true},
		{"romanactl recorded it failed", rel(nil, "romanactl: wait: timed out"), true},
		{"helm CLI on top of romanactl: labels copied", rel(map[string]string{MadeLabel: "2", WaitLabel: "2"}, `Upgrade "romana" failed: conflict`), false},
		{"helm CLI alone", rel(nil, `Upgrade "romana" failed: conflict`), false},
		{"nil", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := MadeByRomanactl(tt.rel); got != tt.want {
				t.Errorf("MadeByRomanactl = %v, want %v", got, tt.want)
			}
		})
	}
}

// The old manager's Update entry merges into helm's of the same API version; every
// other entry (another manager, the status subresource, Apply) is left as it was.
func TestHandedOver(t *testing.T) {
	f := func(s string) *metav1.FieldsV1 { return &metav1.FieldsV1{Raw: []byte(s)} }
	upd := metav1.ManagedFieldsOperationUpdate
	entries := []metav1.ManagedFieldsEntry{
		{Manager: "romanactl", Operation: upd, APIVersion: "apps/v1", FieldsType: "FieldsV1", FieldsV1: f(`{"f:spec":{"f:minReadySeconds":{}}}`)},
		{Manager: "helm", Operation: upd, APIVersion: "apps/v1", FieldsType: "FieldsV1", FieldsV1: f(`{"f:spec":{"f:revisionHistoryLimit":{}}}`)},
		{Manager: "romanactl", Operation: upd, APIVersion: "apps/v1", Subresource: "status", FieldsType: "FieldsV1", FieldsV1: f(`{"f:status":{}}`)},
		{Manager: "kubectl-edit", Operation: upd, APIVersion: "apps/v1", FieldsType: "FieldsV1", FieldsV1: f(`{"f:spec":{"f:x":{}}}`)},
	}
	got, changed, err := handedOver(entries, isLegacy)
	if err != nil || !changed {
		t.Fatalf("changed %v, err %v", changed, err)
	}
	if len(got) != 3 {
		t.Fatalf("want 3 entries, got %d: %+v", len(got), got)
	}
	h := got[0]
	if h.Manager != "helm" || !strings.Contains(string(h.FieldsV1.Raw), "minReadySeconds") || !strings.Contains(string(h.FieldsV1.Raw), "revisionHistoryLimit") {
		t.Errorf("helm's entry is not the union: %+v %s", h, h.FieldsV1.Raw)
	}
	if got[1].Manager != "romanactl" || got[1].Subresource != "status" || got[2].Manager != "kubectl-edit" {
		t.Errorf("other entries changed: %+v", got[1:])
	}
	if _, changed, _ := handedOver(got, isLegacy); changed {
		t.Error("a second hand-over changed something")
	}
	// Without a helm entry, the old one is renamed.
	got, _, _ = handedOver(entries[:1], isLegacy)
	if len(got) != 1 || got[0].Manager != "helm" || string(got[0].FieldsV1.Raw) != `{"f:spec":{"f:minReadySeconds":{}}}` {
		t.Errorf("rename alone: %+v", got)
	}
}

// TestHandedOverKubectl: migrate's hand-over takes the Update claims of kubectl's
// managers (client-side apply, edit, the bare name of old kubectl) into helm's entry,
// and leaves a server-side apply by kubectl, a status writer and other managers alone.
func TestHandedOverKubectl(t *testing.T) {
	f := func(s string) *metav1.FieldsV1 { return &metav1.FieldsV1{Raw: []byte(s)} }
	upd, apply := metav1.ManagedFieldsOperationUpdate, metav1.ManagedFieldsOperationApply
	entries := []metav1.ManagedFieldsEntry{
		{Manager: "kubectl-client-side-apply", Operation: upd, APIVersion: "apps/v1", FieldsType: "FieldsV1", FieldsV1: f(`{"f:spec":{"f:a":{}}}`)},
		{Manager: "helm", Operation: upd, APIVersion: "apps/v1", FieldsType: "FieldsV1", FieldsV1: f(`{"f:spec":{"f:b":{}}}`)},
		{Manager: "kubectl-edit", Operation: upd, APIVersion: "apps/v1", FieldsType: "FieldsV1", FieldsV1: f(`{"f:spec":{"f:c":{}}}`)},
		{Manager: "kubectl", Operation: upd, APIVersion: "apps/v1", FieldsType: "FieldsV1", FieldsV1: f(`{"f:spec":{"f:d":{}}}`)},
		{Manager: "kubectl", Operation: apply, APIVersion: "apps/v1", FieldsType: "FieldsV1", FieldsV1: f(`{"f:spec":{"f:e":{}}}`)},
		{Manager: "kube-controller-manager", Operation: upd, APIVersion: "apps/v1", Subresource: "status", FieldsType: "FieldsV1", FieldsV1: f(`{"f:status":{}}`)},
		{Manager: "kubectlish", Operation: upd, APIVersion: "apps/v1", FieldsType: "FieldsV1", FieldsV1: f(`{"f:spec":{"f:g":{}}}`)},
	}
	got, changed, err := handedOver(entries, isKubectl)
	if err != nil || !changed {
		t.Fatalf("changed %v, err %v", changed, err)
	}
	var managers []string
	for _, e := range got {
		managers = append(managers, e.Manager+"/"+string(e.Operation))
	}
	if want := "helm/Update kubectl/Apply kube-controller-manager/Update kubectlish/Update"; strings.Join(managers, " ") != want {
		t.Fatalf("entries %q, want %q", strings.Join(managers, " "), want)
	}
	for _, field := range []string{"f:a", "f:b", "f:c", "f:d"} {
		if !strings.Contains(string(got[0].FieldsV1.Raw), field) {
			t.Errorf("helm's entry %s lacks %s", got[0].FieldsV1.Raw, field)
		}
	}
	if strings.Contains(string(got[0].FieldsV1.Raw), "f:e") || strings.Contains(string(got[0].FieldsV1.Raw), "f:g") {
		t.Errorf("helm's entry %s took a claim that is not kubectl's Update", got[0].FieldsV1.Raw)
	}
}
