package main

import (
	"context"
	"regexp"
	"strconv"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestClusterUninstallCleansNodes: uninstall creates the node cleanup (the release's
// pre-delete hook DaemonSet), waits for a report from every node, removes the cleanup
// and then the release. The simulated nodes run no containers, so they cannot report:
// each is named, and the count says so (the script itself is proven by
// internal/install's network-namespace test). --keep-node-state skips it all, and
// --purge-datastore without a terminal or --yes is refused before anything is done.
func TestClusterUninstallCleansNodes(t *testing.T) {
	c := cluster(t)
	ctx := context.Background()
	mustOK(t, rc(t, "install", "--skip-check", "images-exist"))
	nodes, err := c.Client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	n := len(nodes.Items)

	if r := rc(t, "uninstall", "--purge-datastore"); r.code != 2 || !strings.Contains(r.stderr, "--purge-datastore needs a confirmation") {
		t.Fatalf("--purge-datastore without --yes: exit %d %s", r.code, r.stderr)
	}
	if len(releaseSecrets(t)) == 0 {
		t.Fatal("the refused uninstall removed the release")
	}

	r := mustOK(t, rc(t, "uninstall", "--timeout=60s", "--debug"))
	if !regexp.MustCompile(`POST https://\S+/apis/apps/v1/namespaces/kube-system/daemonsets\?\S* 201`).MatchString(r.stderr) {
		t.Errorf("the cleanup DaemonSet was not created:\n%.2000s", r.stderr)
	}
	if !strings.Contains(r.stdout, "node cleanup: "+strconv.Itoa(n)+" of "+strconv.Itoa(n)+" pods reported") {
		t.Errorf("uninstall did not wait for all %d nodes:\n%s", n, r.stdout)
	}
	if !strings.Contains(r.stdout, "Cleaned 0 of "+strconv.Itoa(n)+" nodes.") || strings.Count(r.stdout, "  ‼ ") != n || !strings.Contains(r.stdout, "no report: ") {
		t.Errorf("the nodes without a report are not named:\n%s", r.stdout)
	}
	if i, j := strings.Index(r.stderr, "/daemonsets/romana-cleanup"), strings.LastIndex(r.stderr, "DELETE https://"); i < 0 || j < 0 || i > j {
		t.Errorf("the cleanup was not deleted before the release's objects")
	}
	if _, err := c.Client.AppsV1().DaemonSets("kube-system").Get(ctx, "romana-cleanup", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("the cleanup DaemonSet is left behind: %v", err)
	}
	if len(releaseSecrets(t)) != 0 {
		t.Error("the release is still there")
	}

	mustOK(t, rc(t, "install", "--skip-check", "images-exist"))
	r = mustOK(t, rc(t, "uninstall", "--keep-node-state", "--debug"))
	if !strings.Contains(r.stdout, "Node cleanup skipped: --keep-node-state") || regexp.MustCompile(`POST \S+/daemonsets`).MatchString(r.stderr) {
		t.Errorf("--keep-node-state created the cleanup, or does not say it skipped it:\n%s", r.stdout)
	}
}
