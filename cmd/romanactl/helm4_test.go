package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/romana/romanactl/internal/install"
)

// helm4Binary returns the real helm v4 CLI, built by `make helm4` from the version the
// Makefile pins (most users run a v4 CLI; romanactl keeps the v3 SDK). Like helmBinary
// it never skips in a full run: without the binary the test fails and says how to
// build it.
func helm4Binary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: the helm 4 interop tests need bin/helm4 (make helm4)")
	}
	p := os.Getenv("ROMANACTL_HELM4")
	if p == "" {
		p = "../../bin/helm4"
	}
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("helm v4 CLI not found at %s: run `make helm4` (or `make test`, which builds it)", p)
	}
	abs, _ := filepath.Abs(p)
	out, err := runHelmEnv(t, abs, nil, "version", "--short")
	if err != nil || !strings.HasPrefix(out, "v4.") {
		t.Fatalf("%s is not a helm v4 CLI: %v %s", abs, err, out)
	}
	return abs
}

// helm4 runs the helm v4 CLI against the shared cluster, failing the test on an error.
func helm4(t *testing.T, args ...string) string {
	t.Helper()
	out, err := runHelmEnv(t, helm4Binary(t), []string{"KUBECONFIG=" + shared.KubeconfigPath}, args...)
	if err != nil {
		t.Fatalf("helm4 %v: %v\n%s", args, err, out)
	}
	return out
}

// TestClusterHelm4Interop: the helm v4 CLI and romanactl share a release both ways.
// romanactl installs, helm 4 upgrades, rolls back and uninstalls; then helm 4 installs
// (server-side apply, helm 4's default for an install), and romanactl upgrades, rolls
// back and uninstalls. Each side reads what the other wrote.
func TestClusterHelm4Interop(t *testing.T) {
	cluster(t)
	helm4Binary(t)

	// romanactl first.
	mustOK(t, rc(t, "install"))
	helm4(t, "upgrade", "romana", "./chart", "-n", "kube-system", "--reuse-values", "--set", "image.tag=v0.9.3", "--wait", "--timeout", "60s")
	r := mustOK(t, rc(t, "status"))
	if !strings.Contains(r.stdout, "revision 2, deployed") || !strings.Contains(r.stdout, "(Romana v0.9.3)") || !strings.Contains(r.stdout, "Romana is healthy.") {
		t.Errorf("romanactl status after helm4 upgrade:\n%s", r.stdout)
	}
	if img := ds(t, "romana-agent").Spec.Template.Spec.Containers[0].Image; img != "quay.io/romana/agent:v0.9.3" {
		t.Errorf("helm4 upgrade deployed %s", img)
	}
	helm4(t, "rollback", "romana", "1", "-n", "kube-system", "--wait", "--timeout", "60s")
	r = mustOK(t, rc(t, "history"))
	if !strings.Contains(r.stdout, "Rollback to 1") {
		t.Errorf("romanactl history after helm4 rollback:\n%s", r.stdout)
	}
	if img := ds(t, "romana-agent").Spec.Template.Spec.Containers[0].Image; img != "quay.io/romana/agent:v0.9.3.5" {
		t.Errorf("helm4 rollback left %s", img)
	}
	mustOK(t, rc(t, "status"))
	helm4(t, "uninstall", "romana", "-n", "kube-system", "--timeout", "2m")
	if got := romanaObjects(t); len(got) != 1 || got[0] != "Secret romana-datastore" {
		t.Errorf("helm4 uninstall left %v (want only the kept password Secret)", got)
	}
	if r := rc(t, "status"); r.code != 1 || !strings.Contains(r.stderr, "no release romana") {
		t.Errorf("status after helm4 uninstall: exit %d\n%s", r.code, r.stderr)
	}

	// helm 4 first.
	helm4(t, "install", "romana", "./chart", "-n", "kube-system", "-f", "chart/env/kubeadm.yaml", "--wait", "--timeout", "60s")
	r = mustOK(t, rc(t, "status"))
	if !strings.Contains(r.stdout, "revision 1, deployed") || !strings.Contains(r.stdout, "Romana is healthy.") {
		t.Errorf("romanactl status of a helm4 install:\n%s", r.stdout)
	}
	mustOK(t, rc(t, "upgrade", "--tag=v0.9.3"))
	if img := ds(t, "romana-agent").Spec.Template.Spec.Containers[0].Image; img != "quay.io/romana/agent:v0.9.3" {
		t.Errorf("romanactl upgrade of a helm4 install deployed %s", img)
	}
	if out := helm4(t, "history", "romana", "-n", "kube-system"); !strings.Contains(out, "Upgrade complete; verified ready by romanactl") {
		t.Errorf("helm4 history after romanactl upgrade:\n%s", out)
	}
	mustOK(t, rc(t, "rollback"))
	if out := helm4(t, "status", "romana", "-n", "kube-system"); !strings.Contains(out, "REVISION: 3") || !strings.Contains(out, "STATUS: deployed") {
		t.Errorf("helm4 status after romanactl rollback:\n%s", out)
	}
	// helm 4 upgrades on top of romanactl's rollback, then romanactl uninstalls.
	helm4(t, "upgrade", "romana", "./chart", "-n", "kube-system", "--reuse-values", "--set", "image.tag=v0.9.2", "--wait", "--timeout", "60s")
	mustOK(t, rc(t, "uninstall", "--timeout=60s"))
	if out := helm4(t, "list", "-n", "kube-system"); strings.Contains(out, "romana") {
		t.Errorf("helm4 list after romanactl uninstall:\n%s", out)
	}
	if n := len(releaseSecrets(t)); n != 0 {
		t.Errorf("romanactl uninstall of a helm4-touched release left %d release records", n)
	}
}

// TestClusterHelm4ServerSide: a release romanactl made moves to server-side apply in
// one step, `helm upgrade --server-side=true` with the helm 4 CLI, because romanactl
// writes under Helm's field manager name, so helm 4 takes every field over. romanactl
// keeps working on the release afterwards, and helm 4's server-side apply works again
// after romanactl's (client-side) upgrade and rollback. A release an older romanactl
// made (fields under the manager "romanactl") fails the step; status and upgrade name
// that failed revision as the helm CLI's and give the way out, and romanactl's next
// upgrade hands the old claims over so that the step then works.
func TestClusterHelm4ServerSide(t *testing.T) {
	cluster(t)
	helm4Binary(t)
	ssa := []string{"upgrade", "romana", "./chart", "-n", "kube-system", "--reuse-values", "--server-side=true", "--wait", "--timeout", "60s"}

	mustOK(t, rc(t, "install"))
	assertNoManager(t, install.LegacyFieldManager)
	helm4(t, ssa...) // the one documented step
	if !hasApplyBy(t, install.FieldManager) {
		t.Error("after helm4 --server-side=true, the agent DaemonSet has no Apply entry of helm")
	}
	r := mustOK(t, rc(t, "status"))
	if !strings.Contains(r.stdout, "revision 2, deployed") || !strings.Contains(r.stdout, "Romana is healthy.") {
		t.Errorf("status after the move:\n%s", r.stdout)
	}
	if r := rc(t, "diff", "--tag=v0.9.3"); r.code != 0 || !strings.Contains(r.stdout, "quay.io/romana/agent:v0.9.3") {
		t.Errorf("diff after the move: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	mustOK(t, rc(t, "upgrade", "--tag=v0.9.3"))
	mustOK(t, rc(t, "rollback", "2"))
	if img := ds(t, "romana-agent").Spec.Template.Spec.Containers[0].Image; img != "quay.io/romana/agent:v0.9.3.5" {
		t.Errorf("romanactl rollback after the move left %s", img)
	}
	// helm 4 again, server-side, on top of romanactl's client-side writes.
	helm4(t, append(ssa, "--set", "image.tag=v0.9.2")...)
	mustOK(t, rc(t, "status"))
	mustOK(t, rc(t, "uninstall", "--timeout=60s"))

	// A release an older romanactl made: its fields are under "romanactl".
	mustOK(t, rc(t, "install"))
	toLegacyManager(t)
	out, err := runHelmEnv(t, helm4Binary(t), []string{"KUBECONFIG=" + shared.KubeconfigPath}, ssa...)
	if err == nil || !strings.Contains(out, `conflict with \"romanactl\"`) && !strings.Contains(out, `conflict with "romanactl"`) {
		t.Fatalf("helm4 --server-side=true on a legacy release: want the field-manager conflict, got %v\n%s", err, out)
	}
	r = rc(t, "status")
	for _, want := range []string{"revision 2, failed", "revision 2 was written by a helm CLI, not by romanactl, and failed",
		"`romanactl upgrade` hands those fields to \"helm\"", "`romanactl rollback 1` returns to revision 1, the newest good one"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("status of a failed helm4 revision does not say %q:\n%s", want, r.stdout)
		}
	}
	if r.code != 1 {
		t.Errorf("status of a failed release: exit %d, want 1", r.code)
	}
	r = mustOK(t, rc(t, "upgrade", "--tag=v0.9.3"))
	for _, want := range []string{"‼ revision 2 was written by a helm CLI", "handed the fields of", `from field manager "romanactl" to "helm"`} {
		if !strings.Contains(r.stdout+r.stderr, want) {
			t.Errorf("upgrade over a failed helm4 revision does not say %q:\n%s%s", want, r.stdout, r.stderr)
		}
	}
	assertNoManager(t, install.LegacyFieldManager)
	helm4(t, ssa...)
	mustOK(t, rc(t, "status"))
}

// managedFields lists the agent DaemonSet's and romana-root's managed-fields entries.
func managedFields(t *testing.T) map[string][]metav1.ManagedFieldsEntry {
	t.Helper()
	ctx := context.Background()
	svc, err := shared.Client.CoreV1().Services("kube-system").Get(ctx, "romana-root", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return map[string][]metav1.ManagedFieldsEntry{"DaemonSet romana-agent": ds(t, "romana-agent").ManagedFields, "Service romana-root": svc.ManagedFields}
}

func assertNoManager(t *testing.T, name string) {
	t.Helper()
	for obj, entries := range managedFields(t) {
		for _, e := range entries {
			if e.Manager == name {
				t.Errorf("%s has fields under manager %q: %+v", obj, name, e)
			}
		}
	}
}

func hasApplyBy(t *testing.T, name string) bool {
	for _, e := range ds(t, "romana-agent").ManagedFields {
		if e.Manager == name && e.Operation == metav1.ManagedFieldsOperationApply {
			return true
		}
	}
	return false
}

// toLegacyManager renames the "helm" entries of every DaemonSet and Service of the
// release to "romanactl": the objects as an older romanactl (the SDK's default name)
// left them. The API server takes managedFields as written.
func toLegacyManager(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	rename := func(entries []metav1.ManagedFieldsEntry) []byte {
		for i := range entries {
			if entries[i].Manager == install.FieldManager {
				entries[i].Manager = install.LegacyFieldManager
			}
		}
		b, err := json.Marshal(map[string]any{"metadata": map[string]any{"managedFields": entries}})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	for _, name := range []string{"romana-agent", "romana-services"} {
		if _, err := shared.Client.AppsV1().DaemonSets("kube-system").Patch(ctx, name, types.MergePatchType, rename(ds(t, name).ManagedFields), metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	svc, err := shared.Client.CoreV1().Services("kube-system").Get(ctx, "romana-root", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := shared.Client.CoreV1().Services("kube-system").Patch(ctx, "romana-root", types.MergePatchType, rename(svc.ManagedFields), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, e := range ds(t, "romana-agent").ManagedFields {
		found = found || e.Manager == install.LegacyFieldManager
	}
	if !found {
		t.Fatal("the rename to the legacy manager did not take: the test would prove nothing")
	}
}

// TestClusterHelm4ServerSideAfterMigrate: a release that migrate made from a 2016
// install moves to helm 4's server-side apply in the same one step, and a later
// server-side upgrade that changes every container's image works too: `kubectl apply`
// wrote those objects (manager kubectl-client-side-apply), and a claim of that
// manager left on a field conflicts as soon as an apply changes its value.
func TestClusterHelm4ServerSideAfterMigrate(t *testing.T) {
	originalSpecs(t)
	cluster(t)
	helm4Binary(t)
	ssa := []string{"upgrade", "romana", "./chart", "-n", "kube-system", "--reuse-values", "--server-side=true", "--wait", "--timeout", "60s"}
	applySpec(t, "romana-kubeadm.yml", testPassword(t), nil)
	t.Cleanup(func() { cleanup(t) })
	r := mustOK(t, rc(t, "migrate", "--skip-check", "images-exist", "--timeout=2m"))
	if !strings.Contains(r.stdout, `Handed the fields kubectl wrote (field managers kubectl-*) to field manager "helm"`) {
		t.Errorf("migrate does not say it handed kubectl's fields to helm:\n%s", r.stdout)
	}
	assertNoManager(t, "kubectl-client-side-apply")
	helm4(t, ssa...)
	helm4(t, append(ssa, "--set", "image.tag=v0.9.2")...)
	if img := ds(t, "romana-agent").Spec.Template.Spec.Containers[0].Image; img != "quay.io/romana/agent:v0.9.2" {
		t.Errorf("after helm4's server-side upgrade to v0.9.2, the agent runs %s", img)
	}
	mustOK(t, rc(t, "status"))
}
