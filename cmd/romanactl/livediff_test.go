package main

import (
	"context"
	"encoding/json"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/romana/romanactl/internal/install"
)

// TestClusterDiffIsLive: diff compares with the live objects. Someone's edit of the
// agent DaemonSet (what `kubectl edit` does) shows in the diff, marked as a change made
// outside the release; the next upgrade, with nothing else to change, says it
// overwrites it and does, instead of calling itself a no-op. Defaults the API server
// fills in never show.
func TestClusterDiffIsLive(t *testing.T) {
	c := cluster(t)
	ctx := context.Background()
	mustOK(t, rc(t, "install", "--skip-check", "images-exist"))
	if r := mustOK(t, rc(t, "diff")); !strings.Contains(r.stdout, "No changes.") {
		t.Fatalf("diff right after install:\n%s", r.stdout)
	}

	// kubectl edit: turn NAT off in the live agent DaemonSet.
	d, err := c.Client.AppsV1().DaemonSets("kube-system").Get(ctx, "romana-agent", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	args := d.Spec.Template.Spec.Containers[0].Args
	for i, a := range args {
		if a == "--nat=true" {
			args[i] = "--nat=false"
		}
	}
	if _, err := c.Client.AppsV1().DaemonSets("kube-system").Update(ctx, d, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}

	r := mustOK(t, rc(t, "diff"))
	if !strings.Contains(r.stdout, "# DaemonSet/romana-agent changed; the live object was changed outside the release") ||
		!strings.Contains(r.stdout, "\n-        - --nat=false\n") || !strings.Contains(r.stdout, "\n+        - --nat=true\n") {
		t.Fatalf("the live edit is not in the diff:\n%s", r.stdout)
	}
	for _, noise := range []string{"terminationMessagePath", "managedFields", "resourceVersion", "creationTimestamp", "deprecated.daemonset.template.generation"} {
		if strings.Contains(r.stdout, noise) {
			t.Errorf("the diff shows %s, which the upgrade does not change:\n%s", noise, r.stdout)
		}
	}
	if strings.Contains(r.stdout, "Secret/") || strings.Contains(r.stdout, "Service/romana-root") {
		t.Errorf("unchanged objects in the diff:\n%s", r.stdout)
	}

	// The upgrade says it overwrites the edit, and does.
	r = mustOK(t, rc(t, "upgrade"))
	if !strings.Contains(r.stdout+r.stderr, "DaemonSet/romana-agent was changed outside the release") || strings.Contains(r.stdout, "No changes") {
		t.Fatalf("upgrade over a live edit:\n%s%s", r.stdout, r.stderr)
	}
	if got := strings.Join(ds(t, "romana-agent").Spec.Template.Spec.Containers[0].Args, " "); !strings.Contains(got, "--nat=true") {
		t.Errorf("the edit survived the upgrade: %s", got)
	}
	if r := mustOK(t, rc(t, "upgrade")); !strings.Contains(r.stdout, "No changes") {
		t.Errorf("after the upgrade put it back, another is not a no-op:\n%s", r.stdout)
	}
}

// TestClusterDiffShowsKeptDrift: a field someone adds by hand that the chart does not
// set (`kubectl set env ds/romana-agent X=1`) is kept by Helm's three-way patch, so an
// upgrade neither overwrites nor removes it. diff shows it, marked as kept by the
// upgrade, with the command that removes it; the no-op upgrade says so too; and that
// command, run with the real kubectl, removes it.
func TestClusterDiffShowsKeptDrift(t *testing.T) {
	c := cluster(t)
	ctx := context.Background()
	mustOK(t, rc(t, "install", "--skip-check", "images-exist"))

	// What `kubectl -n kube-system set env ds/romana-agent X=1` sends.
	name := ds(t, "romana-agent").Spec.Template.Spec.Containers[0].Name
	patch := `{"spec":{"template":{"spec":{"containers":[{"name":"` + name + `","env":[{"name":"X","value":"1"}]}]}}}}`
	if _, err := c.Client.AppsV1().DaemonSets("kube-system").Patch(ctx, "romana-agent", types.StrategicMergePatchType, []byte(patch),
		metav1.PatchOptions{FieldManager: "kubectl-set"}); err != nil {
		t.Fatal(err)
	}

	r := mustOK(t, rc(t, "diff"))
	remove := regexp.MustCompile(`(?m)^# Remove them with: kubectl -n kube-system patch daemonsets\.apps romana-agent --type=json -p '(.+)'$`).FindStringSubmatch(r.stdout)
	if strings.Contains(r.stdout, "No changes.") ||
		!strings.Contains(r.stdout, "# DaemonSet/romana-agent kept by the upgrade: fields set outside the release (by kubectl-set) that the chart does not set") ||
		!strings.Contains(r.stdout, "\n+        env:\n+        - name: X\n+          value: \"1\"\n") || remove == nil {
		t.Fatalf("diff does not show the kept env, marked kept, with how to remove it:\n%s", r.stdout)
	}
	for _, other := range []string{"Secret/", "Service/", "DaemonSet/romana-services", "ClusterRole"} {
		if strings.Contains(r.stdout, other) {
			t.Errorf("diff shows %s, which no one changed:\n%s", other, r.stdout)
		}
	}
	var diffs []install.ObjectDiff
	if err := json.Unmarshal([]byte(mustOK(t, rc(t, "diff", "-o", "json")).stdout), &diffs); err != nil || len(diffs) != 1 ||
		diffs[0].Change != "kept" || diffs[0].Kept == nil || !slices.Equal(diffs[0].Kept.By, []string{"kubectl-set"}) {
		t.Errorf("diff -o json: %v %+v", err, diffs)
	}

	// The upgrade writes nothing, says what it keeps, and keeps it.
	r = mustOK(t, rc(t, "upgrade"))
	if !strings.Contains(r.stdout, "No changes:") ||
		!strings.Contains(r.stdout, "‼ DaemonSet/romana-agent keeps fields set outside the release (by kubectl-set) that the chart does not set") ||
		!strings.Contains(r.stdout, "Remove them with: kubectl -n kube-system patch daemonsets.apps romana-agent --type=json -p '"+remove[1]+"'") {
		t.Fatalf("the no-op upgrade does not mention the kept env:\n%s%s", r.stdout, r.stderr)
	}
	hasX := func() bool {
		for _, e := range ds(t, "romana-agent").Spec.Template.Spec.Containers[0].Env {
			if e.Name == "X" {
				return true
			}
		}
		return false
	}
	if !hasX() {
		t.Fatal("the upgrade removed the env: then it is not kept, and the message is wrong")
	}

	// The remedy, as printed, with the real kubectl.
	out, err := exec.Command("../../bin/kubectl", "--kubeconfig", c.KubeconfigPath, "-n", "kube-system", "patch", "daemonsets.apps", "romana-agent",
		"--type=json", "-p", remove[1]).CombinedOutput()
	if err != nil {
		t.Fatalf("the printed remedy failed: %v\n%s", err, out)
	}
	if hasX() {
		t.Error("the printed remedy did not remove the env")
	}
	if r := mustOK(t, rc(t, "diff")); !strings.Contains(r.stdout, "No changes.") {
		t.Errorf("diff after the remedy:\n%s", r.stdout)
	}
}
