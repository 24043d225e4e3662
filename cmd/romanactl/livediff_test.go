package main

import (
	"context"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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
