package main

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/release"
	"helm.sh/helm/v3/pkg/storage/driver"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/romana/romanactl/internal/install"
	"github.com/romana/romanactl/internal/testcluster"
)

// squat creates a Service in default holding ip, removed when the test ends.
func squat(t *testing.T, name, ip string) {
	t.Helper()
	cs := shared.Client
	sq := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec: corev1.ServiceSpec{ClusterIP: ip, Ports: []corev1.ServicePort{{Port: 80}}}}
	if _, err := cs.CoreV1().Services("default").Create(context.Background(), sq, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cs.CoreV1().Services("default").Delete(context.Background(), name, metav1.DeleteOptions{}) })
}

// suggestedFlags returns the --flag=value pairs of an error's "e.g." suggestion.
func suggestedFlags(stderr string) []string {
	_, after, ok := strings.Cut(stderr, "e.g. ")
	if !ok {
		return nil
	}
	return regexp.MustCompile(`--[a-z-]+=[0-9./]+`).FindAllString(after, -1)
}

// TestClusterSuggestions (issue #18 §4): a missing mandatory value is suggested from the
// release's stored values, the environment file and the live cluster; the suggested
// clusterIP is a free one in the lower band of the cluster's service range; and what is
// suggested passes the pre-flight when fed back.
func TestClusterSuggestions(t *testing.T) {
	cluster(t)
	// 10.96.0.99 is the first lower-band candidate of 10.96.0.0/12: held, it is skipped.
	squat(t, "squat-99", "10.96.0.99")

	// No release: the cluster's range and a free address in its lower band.
	r := rc(t, "check", "--pre", "--env=custom")
	if r.code != 2 || !strings.Contains(r.stderr, "--cluster-ip-cidr=10.96.0.0/12 (the cluster's service range)") ||
		!strings.Contains(r.stderr, "--cluster-ip=10.96.0.98 (free, in the lower band of the service range 10.96.0.0/12") ||
		!strings.Contains(r.stderr, "--cidr=100.112.0.0/12") {
		t.Fatalf("check --pre --env=custom: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	flags := suggestedFlags(r.stderr)
	if len(flags) != 3 {
		t.Fatalf("suggested %v", flags)
	}
	r = rc(t, append([]string{"check", "--pre", "--env=custom"}, flags...)...)
	if r.code != 0 || strings.Contains(r.stdout, "✗") {
		t.Errorf("the suggestion %v does not pass the pre-flight: exit %d\n%s%s", flags, r.code, r.stdout, r.stderr)
	}

	// The live service-range check suggests the same free lower-band address.
	r = rc(t, "check", "--pre", "--env=custom", "--cidr=100.112.0.0/12", "--cluster-ip=10.200.0.1", "--cluster-ip-cidr=10.200.0.0/16")
	if r.code != 2 || !strings.Contains(r.stdout, "e.g. --cluster-ip=10.96.0.98 --cluster-ip-cidr=10.96.0.0/12") {
		t.Errorf("service-range: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	// A held address: cluster-ip-free names a free one.
	r = rc(t, "check", "--pre", "--cluster-ip=10.96.0.99")
	if r.code != 2 || !strings.Contains(r.stdout, "already held by Service default/squat-99") || !strings.Contains(r.stdout, "e.g. --cluster-ip=10.96.0.98") {
		t.Errorf("cluster-ip-free: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	// With a release, an --env=custom upgrade (which empties the three) is offered the
	// release's own values: its clusterIP in particular, which needs no
	// --recreate-root-service.
	mustOK(t, rc(t, "install", "--wait=false"))
	r = rc(t, "upgrade", "--env=custom")
	if r.code != 2 || !strings.Contains(r.stderr, "--cidr=100.112.0.0/12 (the release's value at revision 1)") ||
		!strings.Contains(r.stderr, "--cluster-ip=10.99.99.99 (the release's value at revision 1)") ||
		!strings.Contains(r.stderr, "--cluster-ip-cidr=10.96.0.0/12 (the release's value at revision 1)") {
		t.Fatalf("upgrade --env=custom: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	flags = suggestedFlags(r.stderr)
	r = rc(t, append([]string{"diff", "--env=custom"}, flags...)...)
	if r.code != 0 {
		t.Errorf("diff with the suggestion %v: exit %d\n%s%s", flags, r.code, r.stdout, r.stderr)
	}
	// --set of an empty value: only that key is suggested, from the release.
	r = rc(t, "upgrade", "--set", "romanaRoot.clusterIP=")
	if r.code != 2 || !strings.Contains(r.stderr, "give it, e.g. --cluster-ip=10.99.99.99 (the release's value at revision 1)") {
		t.Errorf("upgrade --set romanaRoot.clusterIP=: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	// The v0.9.3 line plans 256 nodes: a too-small CIDR is not told to use fewer.
	r = rc(t, "upgrade", "--tag=v0.9.3", "--cidr=192.168.0.0/24")
	if r.code != 2 || strings.Contains(r.stderr, "fewer nodes") || !strings.Contains(r.stderr, "always plans for 256 nodes") ||
		!strings.Contains(r.stderr, "e.g. --cidr=100.112.0.0/12 (the release's value at revision 1") {
		t.Errorf("upgrade --tag=v0.9.3 --cidr=192.168.0.0/24: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if n := len(releaseSecrets(t)); n != 1 {
		t.Errorf("a refused upgrade wrote a revision: %d", n)
	}
}

// TestClusterUninstallDeletesLease (issue #18 §7): a successful uninstall deletes
// romanactl's Lease romanactl-romana, since with no release it locks nothing; a re-install
// creates it again. When the delete fails, the uninstall says so and how to remove it,
// and the Lease is at least released: the next command takes it at once.
func TestClusterUninstallDeletesLease(t *testing.T) {
	c := cluster(t)
	ctx := context.Background()
	leases := c.Client.CoordinationV1().Leases("kube-system")
	mustOK(t, rc(t, "install", "--wait=false"))
	if _, err := leases.Get(ctx, "romanactl-romana", metav1.GetOptions{}); err != nil {
		t.Fatalf("the install left no Lease: %v", err)
	}
	r := mustOK(t, rc(t, "uninstall", "--keep-node-state", "--timeout=60s"))
	if _, err := leases.Get(ctx, "romanactl-romana", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("uninstall left the Lease behind (%v):\n%s", err, r.stdout)
	}
	if strings.Contains(r.stdout, "Lease") {
		t.Errorf("a deleted Lease needs no word:\n%s", r.stdout)
	}

	// The delete refused by the API server (every attempt): said, with the way out.
	mustOK(t, rc(t, "install", "--wait=false"))
	p, err := shared.StartProxy(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	refuse := &testcluster.Rule{Method: "DELETE", PathContains: "/leases/romanactl-romana", Status: 500, Times: 10}
	p.Add(refuse)
	r = run(t, "uninstall", "--keep-node-state", "--timeout=60s", "--kubeconfig", p.KubeconfigPath)
	if r.code != 0 || p.Hits(refuse) == 0 || !strings.Contains(r.stdout, "‼ romanactl's Lease (its lock on the release) was not deleted") ||
		!strings.Contains(r.stdout, "kubectl -n kube-system delete lease romanactl-romana") {
		t.Errorf("uninstall whose Lease delete was refused: exit %d, %d refusals\n%s%s", r.code, p.Hits(refuse), r.stdout, r.stderr)
	}
	l, err := leases.Get(ctx, "romanactl-romana", metav1.GetOptions{})
	if err != nil || (l.Spec.HolderIdentity != nil && *l.Spec.HolderIdentity != "") {
		t.Errorf("the Lease is neither there nor released: %v %+v", err, l)
	}
	mustOK(t, rc(t, "install", "--wait=false"))
}

// unverify strips the verified mark from the newest revision's record, as a command
// killed in its wait leaves it (TestClusterUnverifiedWait makes one the slow way).
func unverify(t *testing.T) {
	t.Helper()
	secrets := driver.NewSecrets(shared.Client.CoreV1().Secrets("kube-system"))
	h := history(t)
	key := fmt.Sprintf("sh.helm.release.v1.%s.v%d", h[len(h)-1].Name, h[len(h)-1].Version)
	rel, err := secrets.Get(key) // with its labels, which the update writes back
	if err != nil {
		t.Fatal(err)
	}
	rel.Info.Description = strings.TrimSuffix(rel.Info.Description, install.VerifiedSuffix)
	if err := secrets.Update(key, rel); err != nil {
		t.Fatal(err)
	}
}

// TestClusterNoOpVerifies (issue #18, a leftover): a no-op upgrade on a deployed revision
// that was never verified ready runs the wait that revision's command did not finish and
// marks it verified, writing no revision; with --wait=false it leaves it unverified.
func TestClusterNoOpVerifies(t *testing.T) {
	cluster(t)
	mustOK(t, rc(t, "install", "--timeout=2m"))
	unverify(t)
	if r := rc(t, "status"); !strings.Contains(r.stdout, "revision 1 was never verified ready") {
		t.Fatalf("status after unverify:\n%s%s", r.stdout, r.stderr)
	}
	r := mustOK(t, rc(t, "upgrade", "--wait=false"))
	if h := history(t); len(h) != 1 || strings.HasSuffix(h[0].Info.Description, install.VerifiedSuffix) || !strings.Contains(r.stdout, "nothing was written") {
		t.Errorf("a no-op with --wait=false verified or wrote: %s\n%s", describe(h), r.stdout)
	}
	r = mustOK(t, rc(t, "upgrade", "--timeout=2m"))
	h := history(t)
	if len(h) != 1 || h[0].Info.Status != release.StatusDeployed || !strings.HasSuffix(h[0].Info.Description, install.VerifiedSuffix) {
		t.Errorf("a no-op upgrade on an unverified revision: %s\n%s%s", describe(h), r.stdout, r.stderr)
	}
	if !strings.Contains(r.stdout, "revision 1 was never verified ready") || !strings.Contains(r.stdout, "it is now verified ready") {
		t.Errorf("a no-op upgrade that verified:\n%s", r.stdout)
	}
	if r := rc(t, "status"); strings.Contains(r.stdout, "never verified") || r.code != 0 {
		t.Errorf("status after the verifying no-op: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	// A verified revision: the no-op waits for nothing.
	r = mustOK(t, rc(t, "upgrade", "--timeout=2m"))
	if strings.Contains(r.stdout, "waiting") || strings.Contains(r.stdout, "now verified") {
		t.Errorf("a no-op on a verified revision waited:\n%s", r.stdout)
	}
}

// TestClusterUpgradeRecordUpdateFails (issue #18, a leftover): Helm's last write of an
// upgrade, the update of the new revision's record from pending-upgrade to deployed,
// refused by the API server after a good apply. Refused once, romanactl writes it again
// and the upgrade goes on (waited for, verified); refused every time, the upgrade says
// the release stays pending-upgrade and that `romanactl recover` ends it, which it does.
func TestClusterUpgradeRecordUpdateFails(t *testing.T) {
	cluster(t)
	mustOK(t, rc(t, "install", "--timeout=2m"))
	p, err := shared.StartProxy(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	once := &testcluster.Rule{Method: "PUT", PathContains: "/secrets/sh.helm.release.v1.romana.v2", Status: 500, Times: 1}
	p.Add(once)
	r := run(t, "upgrade", "--tag=v0.9.3", "--timeout=2m", "--kubeconfig", p.KubeconfigPath)
	h := history(t)
	if r.code != 0 || p.Hits(once) != 1 || !strings.Contains(r.stdout, "romanactl wrote it again: deployed") ||
		len(h) != 2 || h[1].Info.Status != release.StatusDeployed || !strings.HasSuffix(h[1].Info.Description, install.VerifiedSuffix) {
		t.Fatalf("upgrade whose record update was refused once: exit %d, %d refusals\n%s%s\n%s", r.code, p.Hits(once), r.stdout, r.stderr, describe(h))
	}

	always := &testcluster.Rule{Method: "PUT", PathContains: "/secrets/sh.helm.release.v1.romana.v3", Status: 500, Times: 100}
	p.Add(always)
	r = run(t, "upgrade", "--tag=v0.9.3.5", "--timeout=2m", "--kubeconfig", p.KubeconfigPath)
	h = history(t)
	if r.code != 1 || !strings.Contains(r.stderr, "revision 3 was applied, but its record stays pending-upgrade") ||
		!strings.Contains(r.stderr, "`romanactl recover` ends it") || h[len(h)-1].Info.Status != release.StatusPendingUpgrade {
		t.Fatalf("upgrade whose record update was always refused: exit %d\n%s%s\n%s", r.code, r.stdout, r.stderr, describe(h))
	}
	p.Close()
	mustOK(t, rc(t, "recover", "--timeout=2m"))
	if h = history(t); h[len(h)-1].Info.Status.IsPending() {
		t.Errorf("recover left %s", describe(h))
	}
}
