package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/romana/romanactl/internal/testcluster"
)

// The files the datastore (mysql:5) leaves in services.dataDir, and one of the
// operator's beside them.
var (
	datastoreFiles = []string{"ibdata1", "ib_logfile0", "auto.cnf", "mysql/user.frm", "ipam/endpoints.ibd", "tenant/tenants.ibd"}
	nodeStateFiles = []string{"etc/cni/net.d/10-romana.conf", "opt/cni/bin/romana", "usr/local/bin/romana", "etc/romana/cli.yml"}
	othersFiles    = []string{"etc/cni/net.d/10-other.conf", "opt/cni/bin/bridge"}
)

const dataDir = "var/lib/romana/db"

// seedNode puts on a process node what run-romana-agent leaves (romana-gw, made as a
// veth since this kernel has no dummy links; ROMANA-MASQ and its jump; the CNI plugin,
// its config, the CLI and its config), state that is not Romana's, and, on every node,
// a datastore's files at services.dataDir with a file of the operator's.
func seedNode(t *testing.T, n *testcluster.ProcessNode) {
	t.Helper()
	for _, f := range append(append(append([]string{}, nodeStateFiles...), othersFiles...), prefixed(dataDir, append(datastoreFiles, "operator-notes.txt"))...) {
		p := filepath.Join(n.Root, f)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(f), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, args := range [][]string{
		{"ip", "link", "add", "romana-gw", "type", "veth", "peer", "name", "romana-gw-peer"},
		{"iptables", "-t", "nat", "-N", "ROMANA-MASQ"},
		{"iptables", "-t", "nat", "-A", "POSTROUTING", "-s", "100.112.0.0/12", "-j", "ROMANA-MASQ"},
	} {
		if out, err := n.InNetNS(args...); err != nil {
			t.Fatalf("%s on %s: %v: %s", strings.Join(args, " "), n.Name, err, out)
		}
	}
}

func prefixed(dir string, names []string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = filepath.Join(dir, n)
	}
	return out
}

func exists(p string) bool { _, err := os.Stat(p); return err == nil }

// assertNodeClean checks that Romana's node state is gone and the rest is there.
func assertNodeClean(t *testing.T, n *testcluster.ProcessNode) {
	t.Helper()
	for _, f := range nodeStateFiles {
		if exists(filepath.Join(n.Root, f)) {
			t.Errorf("%s: /%s is still there", n.Name, f)
		}
	}
	for _, f := range othersFiles {
		if !exists(filepath.Join(n.Root, f)) {
			t.Errorf("%s: /%s, not Romana's, was removed", n.Name, f)
		}
	}
	if out, err := n.InNetNS("ip", "link", "show", "romana-gw"); err == nil {
		t.Errorf("%s: romana-gw is still there: %s", n.Name, out)
	}
	if out, err := n.InNetNS("iptables", "-t", "nat", "-S"); err != nil || strings.Contains(string(out), "ROMANA-MASQ") {
		t.Errorf("%s: nat table still has ROMANA-MASQ (%v):\n%s", n.Name, err, out)
	}
}

// TestClusterUninstallOnProcessNodes runs the node cleanup and the datastore purge for
// real: the control plane is real, and its three nodes (one control plane, two workers)
// run the cleanup's pods as processes on their own root and network namespace
// (testcluster.ProcessNode). Every node holds a datastore's files at services.dataDir.
//   - romanactl uninstall --purge-datastore --yes: every node reports through its
//     termination message and is cleaned; the datastore's files are gone from the
//     control plane (where romana-services ran) and the operator's file beside them is
//     kept; the workers keep every file at the same path.
//   - helm uninstall (the real helm CLI): Helm runs the same cleanup through its hooks,
//     the report Job (report.sh, with curl and jq against the API server) prints every
//     node's report and deletes the DaemonSet; nothing of the cleanup is left.
func TestClusterUninstallOnProcessNodes(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: real-cluster tests need the control plane (make controlplane)")
	}
	for _, tool := range []string{"unshare", "ip", "iptables", "curl", "jq"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is missing (make host-tools installs it): %v", tool, err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	pc, err := testcluster.Start(ctx, testcluster.Options{BinDir: "../../bin", Dir: t.TempDir(), NoControlPlaneNode: true})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Stop()
	// The cleanup's pods run for real; the agent and the services are marked running.
	real := func(p *corev1.Pod) bool {
		switch p.Labels["app"] {
		case "romana-cleanup", "romana-purge", "romana-cleanup-report":
			return true
		}
		return false
	}
	var nodes []*testcluster.ProcessNode
	for i, name := range []string{"control-plane-0", "worker-0", "worker-1"} {
		n, err := pc.AddProcessNode(ctx, name, i == 0, "172.18.0."+string(rune('1'+i))+"0", real)
		if err != nil {
			t.Fatal(err)
		}
		defer n.Stop()
		if err := n.ForwardAPIServer(); err != nil {
			t.Fatal(err)
		}
		seedNode(t, n)
		nodes = append(nodes, n)
	}
	if err := pc.WaitNodesReady(ctx, time.Minute); err != nil {
		t.Fatal(err)
	}
	kc := []string{"--kubeconfig", pc.KubeconfigPath}
	mustOK(t, run(t, append([]string{"install", "--skip-check", "images-exist", "--timeout=2m"}, kc...)...))

	r := mustOK(t, run(t, append([]string{"uninstall", "--purge-datastore", "--yes", "--timeout=2m"}, kc...)...))
	t.Logf("romanactl uninstall:\n%s", r.stdout)
	for _, n := range nodes {
		if !strings.Contains(r.stdout, "  ✓ "+n.Name+": removed ") {
			t.Errorf("no ✓ for %s:\n%s", n.Name, r.stdout)
		}
		assertNodeClean(t, n)
	}
	for _, want := range []string{"Cleaned 3 of 3 nodes.", "  ✓ control-plane-0: removed datastore data /var/lib/romana/db (6 entries); kept in /var/lib/romana/db (not the datastore's): operator-notes.txt\n", "Purged the datastore (/var/lib/romana/db) on 1 of 1 nodes that ran romana-services."} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("uninstall does not say %q:\n%s", want, r.stdout)
		}
	}
	if strings.Contains(r.stdout, "resource policy") || strings.Count(r.stdout, "romana-datastore") != 2 {
		t.Errorf("the kept Secret is to be said once, in romanactl's words (Kept: … and the delete command):\n%s", r.stdout)
	}
	cp := filepath.Join(nodes[0].Root, dataDir)
	for _, f := range datastoreFiles {
		if exists(filepath.Join(cp, f)) {
			t.Errorf("control-plane-0: the datastore's %s is still there", f)
		}
	}
	if !exists(filepath.Join(cp, "operator-notes.txt")) {
		t.Error("control-plane-0: the purge deleted operator-notes.txt, which the datastore did not write")
	}
	for _, w := range nodes[1:] {
		for _, f := range append(datastoreFiles, "operator-notes.txt") {
			if !exists(filepath.Join(w.Root, dataDir, f)) {
				t.Errorf("%s: the purge deleted %s/%s on a node romana-services never ran on", w.Name, dataDir, f)
			}
		}
	}
	for _, ds := range []string{"romana-cleanup", "romana-purge"} {
		if _, err := pc.Client.AppsV1().DaemonSets("kube-system").Get(ctx, ds, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("DaemonSet %s is left behind: %v", ds, err)
		}
	}
	if t.Failed() {
		return
	}

	// helm uninstall: the chart's own hooks do the same, and leave nothing behind.
	for _, n := range nodes {
		seedNode(t, n)
	}
	env := []string{"KUBECONFIG=" + pc.KubeconfigPath}
	if out, err := runHelmEnv(t, helmBinary(t), env, "install", "romana", "./chart", "-n", "kube-system", "-f", "chart/env/kubeadm.yaml", "--wait", "--timeout=2m"); err != nil {
		t.Fatalf("helm install: %v\n%s", err, out)
	}
	out, err := runHelmEnv(t, helmBinary(t), env, "uninstall", "romana", "-n", "kube-system", "--timeout=3m")
	log := reportLog(t, pc, nodes)
	t.Logf("helm uninstall:\n%s\nthe report Job's log:\n%s", out, log)
	if err != nil {
		t.Fatalf("helm uninstall: %v\n%s\nthe report Job's log:\n%s", err, out, log)
	}
	for _, n := range nodes {
		assertNodeClean(t, n)
	}
	if _, err := pc.Client.AppsV1().DaemonSets("kube-system").Get(ctx, "romana-cleanup", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("helm uninstall left DaemonSet romana-cleanup behind: %v", err)
	}
	if _, err := pc.Client.RbacV1().Roles("kube-system").Get(ctx, "romana-cleanup-report", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("helm uninstall left Role romana-cleanup-report behind: %v", err)
	}
	for _, want := range []string{"✓ control-plane-0: removed", "✓ worker-0: removed", "✓ worker-1: removed", "Cleaned 3 of 3 nodes.", "deleted DaemonSet romana-cleanup"} {
		if !strings.Contains(log, want) {
			t.Errorf("the report Job's log does not say %q:\n%s", want, log)
		}
	}
}

// reportLog is what the report Job's container wrote, read from the node that ran it.
func reportLog(t *testing.T, pc *testcluster.Cluster, nodes []*testcluster.ProcessNode) string {
	t.Helper()
	pods, err := pc.Client.CoreV1().Pods("kube-system").List(context.Background(), metav1.ListOptions{LabelSelector: "app=romana-cleanup-report"})
	if err != nil || len(pods.Items) != 1 {
		t.Fatalf("the report Job's pod: %v (%d pods)", err, len(pods.Items))
	}
	p := pods.Items[0]
	for _, n := range nodes {
		if n.Name == p.Spec.NodeName {
			log, err := n.ContainerLog(p.UID, "report")
			if err != nil {
				t.Fatal(err)
			}
			return string(log)
		}
	}
	t.Fatalf("the report Job's pod ran on %q, no node of the test's", p.Spec.NodeName)
	return ""
}

// TestClusterUninstallLeaseLost: an uninstall whose Lease another command takes while
// it waits for the node cleanup (the node's kubelet hangs: the cleanup pod stays
// pending) writes nothing more: the release stays, and so does the cleanup DaemonSet,
// which the command names with the command that deletes it.
func TestClusterUninstallLeaseLost(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: real-cluster tests need the control plane (make controlplane)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	pc, err := testcluster.Start(ctx, testcluster.Options{BinDir: "../../bin", Dir: t.TempDir(), NoControlPlaneNode: true})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Stop()
	n, err := pc.AddProcessNode(ctx, "control-plane-0", true, "172.18.0.10", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Stop()
	n.Stall = func(p *corev1.Pod) bool { return p.Labels["app"] == "romana-cleanup" }
	if err := pc.WaitNodesReady(ctx, time.Minute); err != nil {
		t.Fatal(err)
	}
	mustOK(t, run(t, "install", "--skip-check", "images-exist", "--timeout=2m", "--kubeconfig", pc.KubeconfigPath))

	r := start(t, pc.KubeconfigPath, "uninstall", "--timeout=90s")
	r.until(t, "running the node cleanup", 30*time.Second)
	stealLeaseOn(t, pc.Client)
	r.wait(t, 60*time.Second)
	t.Logf("uninstall, exit %d:\n%s%s", r.code, r.stdout(), r.errb.String())
	if r.code != 1 || !strings.Contains(r.errb.String(), "lost Lease kube-system/romanactl-romana to "+thief) || !strings.Contains(r.errb.String(), "This command wrote nothing after that: the node cleanup was running, and the release was not uninstalled") {
		t.Errorf("exit %d, want 1 naming the Lease's new holder:\n%s%s", r.code, r.stdout(), r.errb.String())
	}
	if !strings.Contains(r.stdout(), "the Lease was lost, so DaemonSet romana-cleanup stays: delete it with kubectl -n kube-system delete ds romana-cleanup") {
		t.Errorf("the command does not say that the cleanup DaemonSet stays:\n%s", r.stdout())
	}
	if _, err := pc.Client.AppsV1().DaemonSets("kube-system").Get(ctx, "romana-cleanup", metav1.GetOptions{}); err != nil {
		t.Errorf("the cleanup DaemonSet was deleted after the Lease was lost: %v", err)
	}
	rels, err := pc.Client.CoreV1().Secrets("kube-system").List(ctx, metav1.ListOptions{LabelSelector: "owner=helm,name=romana"})
	if err != nil || len(rels.Items) == 0 {
		t.Errorf("the release was uninstalled after the Lease was lost (%v)", err)
	}
}
