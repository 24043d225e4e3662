package main

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"github.com/romana/romanactl/internal/install"
	"github.com/romana/romanactl/internal/testcluster"
)

// These tests run romanactl against a real kube-apiserver and etcd, with
// kube-controller-manager, kube-scheduler and kwok simulating one control-plane node
// and three workers (internal/testcluster). One cluster serves the package; each test
// removes what it installed.

var (
	clusterOnce sync.Once
	shared      *testcluster.Cluster
	clusterErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if shared != nil {
		_ = shared.Stop()
	}
	os.Exit(code)
}

// cluster returns the shared cluster, starting it on first use. In a full run a
// missing control plane is a failure, never a skip.
func cluster(t *testing.T) *testcluster.Cluster {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: real-cluster tests need the control plane (make controlplane)")
	}
	clusterOnce.Do(func() {
		dir, err := os.MkdirTemp("", "romanactl-cluster-")
		if err != nil {
			clusterErr = err
			return
		}
		shared, clusterErr = testcluster.Start(context.Background(), testcluster.Options{BinDir: "../../bin", Dir: dir, Workers: 3})
	})
	if clusterErr != nil {
		t.Fatalf("start the local control plane: %v", clusterErr)
	}
	t.Cleanup(func() { cleanup(t) })
	return shared
}

// rc runs romanactl against the shared cluster.
func rc(t *testing.T, args ...string) result {
	t.Helper()
	return run(t, append(args, "--kubeconfig", shared.KubeconfigPath)...)
}

// cleanup removes the release, the kept Secret and the test's Services, and waits
// until the DaemonSets are gone.
func cleanup(t *testing.T) {
	ctx := context.Background()
	_ = run(t, "uninstall", "--kubeconfig", shared.KubeconfigPath, "--timeout=60s")
	cs := shared.Client
	_ = cs.CoreV1().Secrets("kube-system").Delete(ctx, "romana-datastore", metav1.DeleteOptions{})
	for _, s := range []string{"squatter"} {
		_ = cs.CoreV1().Services("default").Delete(ctx, s, metav1.DeleteOptions{})
	}
	// A test that failed half-way may leave objects outside the release (a foreign
	// romana-root): remove them too, so that one failure does not cascade.
	_ = cs.CoreV1().Services("kube-system").Delete(ctx, "romana-root", metav1.DeleteOptions{})
	_ = cs.AppsV1().DaemonSets("kube-system").Delete(ctx, "romana-agent", metav1.DeleteOptions{})
	_ = cs.AppsV1().DaemonSets("kube-system").Delete(ctx, "romana-services", metav1.DeleteOptions{})
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		_, e1 := cs.AppsV1().DaemonSets("kube-system").Get(ctx, "romana-agent", metav1.GetOptions{})
		_, e2 := cs.AppsV1().DaemonSets("kube-system").Get(ctx, "romana-services", metav1.GetOptions{})
		_, e3 := cs.CoreV1().Services("kube-system").Get(ctx, "romana-root", metav1.GetOptions{})
		if apierrors.IsNotFound(e1) && apierrors.IsNotFound(e2) && apierrors.IsNotFound(e3) {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Error("cleanup: Romana objects still present after 60s")
}

func mustOK(t *testing.T, r result) result {
	t.Helper()
	if r.code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	return r
}

func ds(t *testing.T, name string) *appsv1.DaemonSet {
	t.Helper()
	d, err := shared.Client.AppsV1().DaemonSets("kube-system").Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func password(t *testing.T) string {
	t.Helper()
	s, err := shared.Client.CoreV1().Secrets("kube-system").Get(context.Background(), "romana-datastore", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return string(s.Data["password"])
}

// releaseSecrets lists Helm's release records for romana.
func releaseSecrets(t *testing.T) []corev1.Secret {
	t.Helper()
	return releaseSecretsOf(t, shared.Client)
}

// releaseSecretsOf lists Helm's release records for romana on the cluster of cs.
func releaseSecretsOf(t *testing.T, cs kubernetes.Interface) []corev1.Secret {
	t.Helper()
	l, err := cs.CoreV1().Secrets("kube-system").List(context.Background(), metav1.ListOptions{LabelSelector: "owner=helm,name=romana"})
	if err != nil {
		t.Fatal(err)
	}
	return l.Items
}

// romanaObjects counts what a failed or refused install must not leave behind.
func romanaObjects(t *testing.T) []string {
	t.Helper()
	ctx := context.Background()
	var found []string
	if _, err := shared.Client.AppsV1().DaemonSets("kube-system").Get(ctx, "romana-agent", metav1.GetOptions{}); err == nil {
		found = append(found, "DaemonSet romana-agent")
	}
	if _, err := shared.Client.AppsV1().DaemonSets("kube-system").Get(ctx, "romana-services", metav1.GetOptions{}); err == nil {
		found = append(found, "DaemonSet romana-services")
	}
	if _, err := shared.Client.CoreV1().Services("kube-system").Get(ctx, "romana-root", metav1.GetOptions{}); err == nil {
		found = append(found, "Service romana-root")
	}
	if _, err := shared.Client.CoreV1().Secrets("kube-system").Get(ctx, "romana-datastore", metav1.GetOptions{}); err == nil {
		found = append(found, "Secret romana-datastore")
	}
	if _, err := shared.Client.RbacV1().ClusterRoles().Get(ctx, "romana-services", metav1.GetOptions{}); err == nil {
		found = append(found, "ClusterRole romana-services")
	}
	if n := len(releaseSecrets(t)); n > 0 {
		found = append(found, "release records")
	}
	return found
}

func TestClusterInstallPerEnvironment(t *testing.T) {
	cluster(t)
	tests := []struct {
		env       string
		args      []string
		clusterIP string
		cidr      string
		warn      string
	}{
		{"auto", nil, "10.99.99.99", "100.112.0.0/12", ""},
		// kops' own addresses are for a kops cluster; on this one the service range is
		// kubeadm's, so give a clusterIP inside it. The kops limitations show as ‼.
		// Its 10.192.0.0/10 would also overlap this cluster's podCIDRs (10.244.0.0/16),
		// which the pre-flight refuses, so take another Romana CIDR.
		{"kops", []string{"--cidr=10.128.0.0/12", "--cluster-ip=10.96.64.99", "--cluster-ip-cidr=10.96.0.0/12"}, "10.96.64.99", "10.128.0.0/12", "‼ kops-network-cidr"},
		{"custom", []string{"--cidr=10.128.0.0/12", "--cluster-ip=10.96.100.100", "--cluster-ip-cidr=10.96.0.0/12"}, "10.96.100.100", "10.128.0.0/12", ""},
	}
	for _, tt := range tests {
		t.Run(tt.env, func(t *testing.T) {
			defer cleanup(t)
			r := mustOK(t, rc(t, append([]string{"install", "--env=" + tt.env, "--timeout=90s"}, tt.args...)...))
			if !strings.Contains(r.stdout, "installed: release romana, revision 1, deployed") {
				t.Errorf("no success line:\n%s", r.stdout)
			}
			if tt.warn != "" && !strings.Contains(r.stdout, tt.warn) {
				t.Errorf("missing %q in:\n%s", tt.warn, r.stdout)
			}
			svc, err := shared.Client.CoreV1().Services("kube-system").Get(context.Background(), "romana-root", metav1.GetOptions{})
			if err != nil || svc.Spec.ClusterIP != tt.clusterIP || svc.Spec.Ports[0].Port != 9600 || svc.Spec.Ports[0].Name != "root" {
				t.Fatalf("romana-root: %v %+v", err, svc.Spec)
			}
			agent := ds(t, "romana-agent")
			args := strings.Join(agent.Spec.Template.Spec.Containers[0].Args, " ")
			if !strings.Contains(args, "--romana-root=http://"+tt.clusterIP+":9600") || !strings.Contains(args, "--cluster-ip-cidr=10.96.0.0/12") {
				t.Errorf("agent args: %s", args)
			}
			if agent.Status.NumberReady != 4 || !*agent.Spec.Template.Spec.Containers[0].SecurityContext.Privileged || !agent.Spec.Template.Spec.HostNetwork {
				t.Errorf("agent: ready %d, spec %+v", agent.Status.NumberReady, agent.Spec.Template.Spec)
			}
			services := ds(t, "romana-services")
			sargs := strings.Join(services.Spec.Template.Spec.Containers[1].Args, " ")
			cp, hasCP := services.Spec.Template.Spec.NodeSelector["node-role.kubernetes.io/control-plane"]
			if !strings.Contains(sargs, "--cidr="+tt.cidr) || services.Status.NumberReady != 1 || !hasCP || cp != "" {
				t.Errorf("services: ready %d args %s", services.Status.NumberReady, sargs)
			}
			if p := password(t); len(p) < 32 {
				t.Errorf("password has %d characters", len(p))
			}
			if strings.Contains(r.stdout+r.stderr, password(t)) {
				t.Error("the password was printed")
			}
		})
	}
}

func TestClusterStatusJSON(t *testing.T) {
	cluster(t)
	mustOK(t, rc(t, "install", "--wait=true"))
	r := mustOK(t, rc(t, "status", "-o", "json"))
	var st install.Status
	if err := json.Unmarshal([]byte(r.stdout), &st); err != nil {
		t.Fatal(err, r.stdout)
	}
	if !st.Healthy || st.Revision != 1 || st.State != "deployed" || len(st.DaemonSets) != 2 {
		t.Fatalf("%+v", st)
	}
	for _, d := range st.DaemonSets {
		switch d.Name {
		case "romana-services":
			if d.ByRole["control-plane"] != (install.RoleCount{Ready: 1, Desired: 1}) || d.ByRole["worker"].Desired != 0 {
				t.Errorf("services by role: %+v", d.ByRole)
			}
		case "romana-agent":
			if d.ByRole["control-plane"] != (install.RoleCount{Ready: 1, Desired: 1}) || d.ByRole["worker"] != (install.RoleCount{Ready: 3, Desired: 3}) {
				t.Errorf("agent by role: %+v", d.ByRole)
			}
		}
	}
}

// TestClusterUpgradeNoOpRollbackAndPassword: upgrade --tag changes only the images, and
// status and history then show the tag each revision deployed; the same upgrade again
// writes nothing; rollback, uninstall and a re-install keep the datastore password.
func TestClusterUpgradeNoOpRollbackAndPassword(t *testing.T) {
	cluster(t)
	mustOK(t, rc(t, "install", "--cidr=100.112.0.0/12", "--namespaces=8"))
	pw := password(t)
	before := ds(t, "romana-agent").Spec.Template.Spec.Containers[0]

	// --tag changes only the images; the other values the user chose (--namespaces) stay.
	r := mustOK(t, rc(t, "upgrade", "--tag=v0.9.3"))
	if !strings.Contains(r.stdout, "revision 2, deployed") {
		t.Fatalf("%s", r.stdout)
	}
	after := ds(t, "romana-agent").Spec.Template.Spec.Containers[0]
	if after.Image != "quay.io/romana/agent:v0.9.3" {
		t.Errorf("agent image %s", after.Image)
	}
	before.Image, after.Image = "", ""
	if b, a := mustJSON(before), mustJSON(after); b != a {
		t.Errorf("upgrade --tag changed more than the image:\n%s\n%s", b, a)
	}
	if args := ds(t, "romana-services").Spec.Template.Spec.Containers[1].Args; !strings.Contains(strings.Join(args, " "), "--namespaces=8") {
		t.Errorf("the previous --namespaces was not kept: %v", args)
	}
	// status and history show the tag each revision deployed, not the chart's
	// appVersion (v0.9.3.5), which is the same for both revisions.
	if r := rc(t, "status"); !strings.Contains(r.stdout, "revision 2, deployed, chart romana-") || !strings.Contains(r.stdout, "(Romana v0.9.3)") {
		t.Errorf("status after upgrade --tag=v0.9.3:\n%s%s", r.stdout, r.stderr)
	}
	if r := mustOK(t, rc(t, "history")); !regexp.MustCompile(`(?m)^1 .* v0\.9\.3\.5 `).MatchString(r.stdout) || !regexp.MustCompile(`(?m)^2 .* v0\.9\.3 `).MatchString(r.stdout) ||
		!strings.Contains(r.stdout, " ROMANA ") {
		t.Errorf("history after upgrade --tag=v0.9.3:\n%s", r.stdout)
	}
	var hist []revision
	if err := json.Unmarshal([]byte(mustOK(t, rc(t, "history", "-o", "json")).stdout), &hist); err != nil || len(hist) != 2 ||
		hist[0].RomanaVersion != "v0.9.3.5" || hist[1].RomanaVersion != "v0.9.3" || hist[1].Pinned {
		t.Errorf("history -o json after upgrade --tag=v0.9.3: %v %+v", err, hist)
	}

	// The same again is a no-op: no new revision, nothing written.
	r = mustOK(t, rc(t, "upgrade", "--tag=v0.9.3"))
	if !strings.Contains(r.stdout, "No changes: revision 2") || len(releaseSecrets(t)) != 2 {
		t.Fatalf("no-op upgrade wrote something (%d revisions):\n%s", len(releaseSecrets(t)), r.stdout)
	}
	r = mustOK(t, rc(t, "diff"))
	if !strings.Contains(r.stdout, "No changes.") {
		t.Errorf("diff of a no-op: %s", r.stdout)
	}
	r = mustOK(t, rc(t, "diff", "--tag=v9"))
	if !regexp.MustCompile(`(?m)^-\s+image: quay.io/romana/agent:v0.9.3$`).MatchString(r.stdout) || !regexp.MustCompile(`(?m)^\+\s+image: quay.io/romana/agent:v9$`).MatchString(r.stdout) {
		t.Errorf("diff --tag=v9:\n%s", r.stdout)
	}

	// Two more upgrades; the password never changes and is never printed.
	var outputs string
	for _, tag := range []string{"v0.9.3.6", "v0.9.3.7"} {
		r := mustOK(t, rc(t, "upgrade", "--tag="+tag))
		outputs += r.stdout + r.stderr
	}
	if p := password(t); p != pw {
		t.Fatal("the datastore password changed across upgrades")
	}
	// password() is the Secret's data, decoded: look for it as it is and as the base64
	// a manifest would carry.
	for _, secret := range []string{pw, base64.StdEncoding.EncodeToString([]byte(pw))} {
		if strings.Contains(outputs+r.stdout, secret) {
			t.Fatal("the password was printed")
		}
	}

	// Rollback to revision 1 restores the original image.
	r = mustOK(t, rc(t, "rollback", "1"))
	if !strings.Contains(r.stdout, "revision 5") {
		t.Errorf("rollback: %s", r.stdout)
	}
	if img := ds(t, "romana-agent").Spec.Template.Spec.Containers[0].Image; img != "quay.io/romana/agent:v0.9.3.5" {
		t.Errorf("after rollback the image is %s", img)
	}
	h := mustOK(t, rc(t, "history", "-o", "json"))
	var revs []revision
	_ = json.Unmarshal([]byte(h.stdout), &revs)
	if len(revs) != 5 || revs[4].Status != "deployed" || revs[3].Status != "superseded" {
		t.Errorf("history: %+v", revs)
	}

	// Uninstall keeps the Secret and says so.
	r = mustOK(t, rc(t, "uninstall"))
	if !strings.Contains(r.stdout, "Kept: Secret kube-system/romana-datastore") || !strings.Contains(r.stdout, "kubectl -n kube-system delete secret romana-datastore") {
		t.Errorf("uninstall: %s", r.stdout)
	}
	if got := romanaObjects(t); len(got) != 1 || got[0] != "Secret romana-datastore" {
		t.Errorf("after uninstall: %v", got)
	}
	// A re-install finds the same password.
	mustOK(t, rc(t, "install", "--wait=false"))
	if password(t) != pw {
		t.Error("a re-install generated a new password")
	}
}

func mustJSON(v any) string { b, _ := json.Marshal(v); return string(b) }

func TestClusterRefusesBadClusterIP(t *testing.T) {
	c := cluster(t)
	// Valid on paper (inside its own --cluster-ip-cidr) but outside the live range.
	r := rc(t, "install", "--env=custom", "--cidr=10.128.0.0/12", "--cluster-ip=10.200.0.1", "--cluster-ip-cidr=10.200.0.0/16")
	if r.code != 2 || !strings.Contains(r.stderr, "romanaRoot.clusterIP (--cluster-ip) 10.200.0.1 is outside the service range 10.96.0.0/12") ||
		!strings.Contains(r.stderr, "--cluster-ip=10.96.0.99 --cluster-ip-cidr=10.96.0.0/12") {
		t.Fatalf("exit %d:\n%s%s", r.code, r.stdout, r.stderr)
	}
	if got := romanaObjects(t); len(got) > 0 {
		t.Fatalf("a refused install created %v", got)
	}

	// Taken by another Service: a server-side dry run would not notice.
	sq := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "squatter", Namespace: "default"},
		Spec: corev1.ServiceSpec{ClusterIP: "10.96.77.77", Ports: []corev1.ServicePort{{Port: 80}}}}
	if _, err := c.Client.CoreV1().Services("default").Create(context.Background(), sq, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	r = rc(t, "install", "--cluster-ip=10.96.77.77")
	if r.code != 2 || !strings.Contains(r.stderr, "10.96.77.77 is already held by Service default/squatter") {
		t.Fatalf("exit %d:\n%s%s", r.code, r.stdout, r.stderr)
	}
	if got := romanaObjects(t); len(got) > 0 {
		t.Fatalf("a refused install created %v", got)
	}
	// A 2016-style romana-root made by kubectl apply: Helm would stop half-way; the
	// pre-flight names it before anything is written.
	old := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "romana-root", Namespace: "kube-system"},
		Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 9600}}}}
	if _, err := c.Client.CoreV1().Services("kube-system").Create(context.Background(), old, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	r = rc(t, "install", "--cluster-ip=10.96.77.78")
	if r.code != 2 || !strings.Contains(r.stderr, "✗ ownership: Service kube-system/romana-root already exist(s) and belong(s) to no Helm release") {
		t.Fatalf("exit %d:\n%s%s", r.code, r.stdout, r.stderr)
	}
	if err := c.Client.CoreV1().Services("kube-system").Delete(context.Background(), "romana-root", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	// No node for romana-services: refused before any write too.
	r = rc(t, "install", "--set", "services.nodeSelector.romana=yes")
	if r.code != 2 || !strings.Contains(r.stderr, "✗ placement: no node matches services.nodeSelector") {
		t.Fatalf("exit %d:\n%s%s", r.code, r.stdout, r.stderr)
	}
	if got := romanaObjects(t); len(got) > 0 {
		t.Fatalf("a refused install created %v", got)
	}
	// The control-plane node matches but its taint is not tolerated: refused too.
	r = rc(t, "install", "--set-json", "services.tolerations=[]")
	if r.code != 2 || !strings.Contains(r.stderr, "✗ placement: the nodes matching services.nodeSelector") ||
		!strings.Contains(r.stderr, "control-plane-0 (node-role.kubernetes.io/control-plane=:NoSchedule)") {
		t.Fatalf("exit %d:\n%s%s", r.code, r.stdout, r.stderr)
	}
	if got := romanaObjects(t); len(got) > 0 {
		t.Fatalf("a refused install created %v", got)
	}
}

func TestClusterIPChange(t *testing.T) {
	cluster(t)
	mustOK(t, rc(t, "install"))
	r := rc(t, "upgrade", "--cluster-ip=10.96.99.98")
	if r.code != 2 || !strings.Contains(r.stderr, "would change from 10.99.99.99 to 10.96.99.98") || !strings.Contains(r.stderr, "--recreate-root-service") {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	if n := len(releaseSecrets(t)); n != 1 {
		t.Fatalf("a refused upgrade wrote a revision (%d)", n)
	}
	mustOK(t, rc(t, "upgrade", "--cluster-ip=10.96.99.98", "--recreate-root-service"))
	svc, err := shared.Client.CoreV1().Services("kube-system").Get(context.Background(), "romana-root", metav1.GetOptions{})
	if err != nil || svc.Spec.ClusterIP != "10.96.99.98" {
		t.Fatalf("romana-root: %v %v", err, svc.Spec.ClusterIP)
	}
	if args := ds(t, "romana-agent").Spec.Template.Spec.Containers[0].Args[0]; args != "--romana-root=http://10.96.99.98:9600" {
		t.Errorf("agent: %s", args)
	}

	// Rollback holds the same rule: refused up front, nothing written...
	r = rc(t, "rollback")
	if r.code != 2 || !strings.Contains(r.stderr, "rollback to revision 1 would change romanaRoot.clusterIP from 10.96.99.98 to 10.99.99.99") ||
		!strings.Contains(r.stderr, "--recreate-root-service") {
		t.Fatalf("rollback across a clusterIP change: exit %d\n%s", r.code, r.stderr)
	}
	if n := len(releaseSecrets(t)); n != 2 {
		t.Fatalf("a refused rollback wrote a revision (%d)", n)
	}
	// ...or done with the Service recreated, agents and Service agreeing.
	mustOK(t, rc(t, "rollback", "--recreate-root-service"))
	assertRootWiring(t, "10.99.99.99")

	// The --atomic rollback of a failed upgrade restores a known-good revision, so it
	// recreates the Service on its own.
	r = rc(t, "upgrade", "--cluster-ip=10.96.99.97", "--recreate-root-service", "--set-json", "agent.tolerations=[]", "--timeout=5s")
	if r.code != 1 || !strings.Contains(r.stderr, "--atomic: rolled back") {
		t.Fatalf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	assertRootWiring(t, "10.99.99.99")
}

// assertRootWiring: romana-root has the address, and every agent points at it.
func assertRootWiring(t *testing.T, ip string) {
	t.Helper()
	svc, err := shared.Client.CoreV1().Services("kube-system").Get(context.Background(), "romana-root", metav1.GetOptions{})
	if err != nil || svc.Spec.ClusterIP != ip {
		t.Fatalf("romana-root: %v %v, want %s", err, svc.Spec.ClusterIP, ip)
	}
	if args := ds(t, "romana-agent").Spec.Template.Spec.Containers[0].Args[0]; args != "--romana-root=http://"+ip+":9600" {
		t.Fatalf("agents point at %s, romana-root is %s", args, ip)
	}
}

func TestClusterWaitFailsClearlyAndAtomicCleansUp(t *testing.T) {
	cluster(t)
	// Without tolerations the agent cannot run on the tainted control-plane node, so it
	// is ready on 3 of 4 nodes: Helm's check would pass it; romanactl's does not.
	r := rc(t, "install", "--set-json", "agent.tolerations=[]", "--timeout=8s")
	if !strings.Contains(r.stdout, "‼ agent-coverage") || !strings.Contains(r.stdout, "romana-agent will not run on control-plane-0") {
		t.Errorf("the pre-flight did not warn about the agent's coverage:\n%s", r.stdout)
	}
	if r.code != 1 || !strings.Contains(r.stderr, "timed out after 8s") ||
		!strings.Contains(r.stderr, "romana-agent runs on 3 of 4 nodes") || !strings.Contains(r.stderr, "--atomic: the release and what it created were removed") {
		t.Fatalf("exit %d:\n%s", r.code, r.stderr)
	}
	// romana-services did start, so MySQL may have initialised the host with the
	// password: the Secret stays, and nothing else does.
	if got := romanaObjects(t); len(got) != 1 || got[0] != "Secret romana-datastore" {
		t.Fatalf("atomic install left %v", got)
	}
	// The waiter itself, on a services DaemonSet that matches no node.
	mustOK(t, rc(t, "install", "--wait=false"))
	patch := []byte(`{"spec":{"template":{"spec":{"nodeSelector":{"romana":"nowhere","node-role.kubernetes.io/control-plane":null}}}}}`)
	if _, err := shared.Client.AppsV1().DaemonSets("kube-system").Patch(context.Background(), "romana-services", types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	err := install.Wait(context.Background(), shared.Client, install.WaitOptions{Namespace: "kube-system", Timeout: 5 * time.Second, Services: true}, func(string) {})
	if err == nil || !strings.Contains(err.Error(), "romana-services 0/0 ready") || !strings.Contains(err.Error(), "romana-services schedules no pod") {
		t.Fatalf("wait: %v", err)
	}
	s := rc(t, "status")
	if s.code != 1 || !strings.Contains(s.stdout, "schedules no pod") {
		t.Fatalf("status of an unhealthy Romana: exit %d\n%s%s", s.code, s.stdout, s.stderr)
	}
}

func TestClusterEnvAutoPicksKubeadm(t *testing.T) {
	cluster(t)
	// Two ‼ checks do not depend on the values: romana-compat (v0.9.3 on 1.37, see
	// TestClusterRomanaCompat) and images-exist (no registry is reachable from here, see
	// TestClusterImagesExist). Acknowledged, every other check must pass.
	acked := []string{"romana-compat", "images-exist"}
	r := mustOK(t, rc(t, "check", "--pre", "-o", "json", "--skip-check", acked[0], "--skip-check", acked[1]))
	var rep install.Report
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Environment != "kubeadm" || rep.ServiceCIDR != "10.96.0.0/12" {
		t.Fatalf("%+v", rep)
	}
	found := false
	for _, c := range rep.Checks {
		if want := install.Pass; c.Severity != want && !(slices.Contains(acked, c.Name) && c.Severity == install.Skipped) {
			t.Errorf("check %s: %s %s", c.Name, c.Severity, c.Message)
		}
		found = found || (c.Name == "environment" && strings.Contains(c.Message, "kubeadm-config exists"))
	}
	if !found {
		t.Error("the report does not say why kubeadm was chosen")
	}
	// A server-side dry run sends every object with dryRun=All and writes nothing.
	r = mustOK(t, rc(t, "install", "--dry-run=server"))
	if !strings.Contains(r.stdout, "password: <hidden>") || !strings.Contains(r.stdout, "kind: DaemonSet") {
		t.Errorf("dry run output:\n%s", r.stdout)
	}
	if got := romanaObjects(t); len(got) > 0 {
		t.Fatalf("--dry-run=server created %v", got)
	}
	// A ‼ check can be acknowledged; a ✗ check cannot be skipped.
	r = rc(t, "check", "--pre", "--cluster-ip-cidr=10.96.0.0/13", "--skip-check", "agent-cluster-ip-cidr")
	if r.code != 0 || !strings.Contains(r.stdout, "- agent-cluster-ip-cidr") {
		t.Errorf("skip a ‼ check: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = rc(t, "check", "--pre", "--skip-check", "cluster-ip-free")
	if r.code != 2 || !strings.Contains(r.stderr, "only ‼ checks can be skipped") {
		t.Errorf("skip a ✗ check: exit %d\n%s", r.code, r.stderr)
	}
}

func TestClusterHelmInterop(t *testing.T) {
	cluster(t)
	helm := helmBinary(t)
	env := []string{"KUBECONFIG=" + shared.KubeconfigPath}
	h := func(args ...string) string {
		t.Helper()
		out, err := runHelmEnv(t, helm, env, args...)
		if err != nil {
			t.Fatalf("helm %v: %v\n%s", args, err, out)
		}
		return out
	}
	// romanactl installs; helm sees and upgrades it; romanactl reads the result.
	mustOK(t, rc(t, "install"))
	if out := h("list", "-n", "kube-system"); !strings.Contains(out, "romana") || !strings.Contains(out, "deployed") {
		t.Fatalf("helm list: %s", out)
	}
	h("upgrade", "romana", "./chart", "-n", "kube-system", "--reuse-values", "--set", "image.tag=v0.9.3", "--wait", "--timeout", "60s")
	r := healthyStatus(t)
	if !strings.Contains(r.stdout, "revision 2, deployed") {
		t.Errorf("status after helm upgrade: %s", r.stdout)
	}
	mustOK(t, rc(t, "uninstall"))

	// helm installs; romanactl reads and upgrades it.
	h("install", "romana", "./chart", "-n", "kube-system", "--wait", "--timeout", "60s")
	r = healthyStatus(t)
	if !strings.Contains(r.stdout, "Romana is healthy.") {
		t.Errorf("status of a helm install: %s", r.stdout)
	}
	mustOK(t, rc(t, "upgrade", "--tag=v0.9.3"))
	if out := h("history", "romana", "-n", "kube-system"); !strings.Contains(out, "2 ") || !strings.Contains(out, "Upgrade complete") {
		t.Errorf("helm history: %s", out)
	}
}

// healthyStatus runs `romanactl status` until it exits 0, for up to a minute, and
// returns that run (or fails with the last one). helm v3's --wait counts a DaemonSet
// ready before its pods are (the reason romanactl waits itself): CI on 1.25 once ran
// status right after `helm install --wait` and saw romana-services 0/1 ready.
func healthyStatus(t *testing.T) result {
	t.Helper()
	var r result
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(time.Second) {
		if r = rc(t, "status"); r.code == 0 || time.Now().After(deadline) {
			return mustOK(t, r)
		}
	}
}

func runHelmEnv(t *testing.T, helm string, env []string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(helm, args...)
	cmd.Dir = "../.."
	home := t.TempDir()
	cmd.Env = append(append(os.Environ(), "HELM_CACHE_HOME="+home, "HELM_CONFIG_HOME="+home, "HELM_DATA_HOME="+home), env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestClusterSIGTERMMidWait runs the real binary, stops it with SIGTERM while it waits,
// and checks that no release is left pending-install.
func TestClusterSIGTERMMidWait(t *testing.T) {
	cluster(t)
	bin := filepath.Join(t.TempDir(), "romanactl")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	for _, atomic := range []string{"true", "false"} {
		t.Run("atomic="+atomic, func(t *testing.T) {
			defer cleanup(t)
			cmd := exec.Command(bin, "install", "--kubeconfig", shared.KubeconfigPath, "--set-json", "agent.tolerations=[]", "--timeout=2m", "--atomic="+atomic)
			stdout, _ := cmd.StdoutPipe()
			var stderr strings.Builder
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			sc := bufio.NewScanner(stdout)
			var out strings.Builder
			for sc.Scan() {
				out.WriteString(sc.Text() + "\n")
				if strings.Contains(sc.Text(), "romana-agent 3/3 ready (4 nodes)") {
					_ = cmd.Process.Signal(syscall.SIGTERM)
					break
				}
			}
			go func() {
				for sc.Scan() {
				}
			}()
			err := cmd.Wait()
			if err == nil || !strings.Contains(stderr.String(), "interrupted") {
				t.Fatalf("want an interrupted install, got %v\n%s%s", err, out.String(), stderr.String())
			}
			for _, s := range releaseSecrets(t) {
				if st := s.Labels["status"]; strings.HasPrefix(st, "pending") {
					t.Fatalf("release left %s", st)
				}
			}
			// The Lease was released on the way out, not left to expire.
			lease, err := shared.Client.CoordinationV1().Leases("kube-system").Get(context.Background(), "romanactl-romana", metav1.GetOptions{})
			if err != nil || lease.Spec.HolderIdentity != nil || lease.Annotations["romanactl.romana.io/last-command"] == "" {
				t.Fatalf("Lease after SIGTERM: %v %+v", err, lease)
			}
			// romana-services ran, so only its password Secret may stay.
			if got := romanaObjects(t); atomic == "true" && (len(got) != 1 || got[0] != "Secret romana-datastore") {
				t.Errorf("atomic install interrupted left %v", got)
			}
			if atomic == "false" {
				if s := releaseSecrets(t); len(s) != 1 || s[0].Labels["status"] != "failed" {
					t.Errorf("non-atomic interrupted install: want one failed revision, got %v", s)
				}
			}
		})
	}
}

// TestClusterPinDigests: --pin-digests deploys name@sha256 references that match the
// source registry, and an upgrade without it goes back to tags.
func TestClusterPinDigests(t *testing.T) {
	cluster(t)
	src, digests := srcRegistry(t, "v0.9.3.7")
	reg := src + "/romana"
	r := mustOK(t, rc(t, "install", "--registry", reg, "--tag", "v0.9.3.7", "--pin-digests", "--insecure"))
	if !strings.Contains(r.stdout, "pinned "+reg+"/agent:v0.9.3.7 -> "+digests["agent"]) {
		t.Errorf("install output:\n%s", r.stdout)
	}
	if img := ds(t, "romana-agent").Spec.Template.Spec.Containers[0].Image; img != reg+"/agent@"+digests["agent"] {
		t.Errorf("agent image %s, want %s", img, reg+"/agent@"+digests["agent"])
	}
	svc := ds(t, "romana-services").Spec.Template.Spec.Containers
	if svc[0].Image != reg+"/mysql@"+digests["mysql"] || svc[1].Image != reg+"/services@"+digests["services"] {
		t.Errorf("services images %s %s", svc[0].Image, svc[1].Image)
	}
	mustOK(t, rc(t, "upgrade", "--tag", "v0.9.3.7"))
	if img := ds(t, "romana-agent").Spec.Template.Spec.Containers[0].Image; img != reg+"/agent:v0.9.3.7" {
		t.Errorf("after an upgrade without --pin-digests: %s", img)
	}
	// history says which revision was pinned, beside the tag it pinned.
	if h := mustOK(t, rc(t, "history")).stdout; !regexp.MustCompile(`(?m)^1 .* v0\.9\.3\.7, pinned by digest `).MatchString(h) ||
		!regexp.MustCompile(`(?m)^2 .* v0\.9\.3\.7  +Upgrade`).MatchString(h) {
		t.Errorf("history of a pinned revision and an unpinned one:\n%s", h)
	}
}

// TestClusterAtomicUpgradeRollsBack: an upgrade whose wait fails is rolled back, and the
// cluster ends on a good revision, which the message names.
func TestClusterAtomicUpgradeRollsBack(t *testing.T) {
	cluster(t)
	mustOK(t, rc(t, "install"))
	r := rc(t, "upgrade", "--set-json", "agent.tolerations=[]", "--timeout=6s")
	if r.code != 1 || !strings.Contains(r.stderr, "romana-agent runs on 3 of 4 nodes") ||
		!strings.Contains(r.stderr, "--atomic: rolled back, revision 3 (a copy of good revision 1) is now deployed") {
		t.Fatalf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	h := mustOK(t, rc(t, "history", "-o", "json"))
	var revs []revision
	_ = json.Unmarshal([]byte(h.stdout), &revs)
	if len(revs) != 3 || revs[1].Status != "failed" || revs[2].Status != "deployed" {
		t.Fatalf("history: %+v", revs)
	}
	if tol := ds(t, "romana-agent").Spec.Template.Spec.Tolerations; len(tol) != 1 || tol[0].Operator != corev1.TolerationOpExists {
		t.Errorf("agent tolerations after the rollback: %+v", tol)
	}
	mustOK(t, rc(t, "status"))
}
