package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"helm.sh/helm/v3/pkg/release"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/romana/romanactl/internal/testcluster"
)

// TestClusterDestructivePaths: the two writes that can hurt most when what follows them
// fails, on the real control plane with the fault proxy in front.
func TestClusterDestructivePaths(t *testing.T) {
	c := cluster(t)
	p, err := c.StartProxy(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()

	t.Run("romana-root is put back when the upgrade that was to recreate it stores nothing", func(t *testing.T) {
		defer cleanup(t)
		mustOK(t, rc(t, "install"))
		// Helm's record of revision 2 is refused: the upgrade fails after romana-root
		// was deleted and before anything was stored.
		rule := &testcluster.Rule{Method: "POST", PathContains: "/namespaces/kube-system/secrets", Status: 503, Times: 1}
		defer p.Add(rule)()
		r := proc(t, p.KubeconfigPath, 2*time.Minute, "upgrade", "--cluster-ip=10.96.99.98", "--recreate-root-service", "--timeout=60s")
		if p.Hits(rule) == 0 {
			t.Fatalf("the fault was never injected: exit %d\n%s%s", r.code, r.stdout, r.stderr)
		}
		if r.code != 1 || !strings.Contains(r.stderr, "upgrade failed before anything was stored") ||
			!strings.Contains(r.stderr, "romana-root, deleted to recreate it, was put back as it was (clusterIP 10.99.99.99); nothing else was written by this command") {
			t.Fatalf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
		}
		if h := history(t); len(h) != 1 || h[0].Info.Status != release.StatusDeployed {
			t.Fatalf("want revision 1 alone, deployed:\n%s", describe(h))
		}
		assertRootWiring(t, "10.99.99.99")
		mustOK(t, rc(t, "status"))
	})

	t.Run("--atomic returns to the start when recording the failure fails", func(t *testing.T) {
		defer cleanup(t)
		mustOK(t, rc(t, "install"))
		mustOK(t, rc(t, "upgrade", "--tag=v0.9.3"))
		// Revision 3 cannot become ready; once Helm has stored it (deployed), the
		// record of its failure is refused, so it still says deployed.
		r := start(t, p.KubeconfigPath, "upgrade", "--set-json", "agent.tolerations=[]", "--timeout=5s")
		r.until(t, "upgraded to revision 3; waiting for Romana", 60*time.Second)
		rule := &testcluster.Rule{Method: "PUT", PathContains: "/secrets/sh.helm.release.v1.romana.v3", Status: 503, Times: 1}
		defer p.Add(rule)()
		r.wait(t, 2*time.Minute)
		if p.Hits(rule) == 0 {
			t.Fatalf("the failure record was never refused: exit %d\n%s%s", r.code, r.stdout(), r.errb.String())
		}
		if r.code != 1 || !strings.Contains(r.errb.String(), "recording revision 3 as failed failed too") ||
			!strings.Contains(r.errb.String(), "--atomic: rolled back, revision 4 (a copy of good revision 2) is now deployed") {
			t.Fatalf("exit %d\n%s%s", r.code, r.stdout(), r.errb.String())
		}
		h := history(t)
		if last := h[len(h)-1]; last.Version != 4 || last.Info.Status != release.StatusDeployed {
			t.Fatalf("history:\n%s", describe(h))
		}
		if img := ds(t, "romana-agent").Spec.Template.Spec.Containers[0].Image; !strings.HasSuffix(img, ":v0.9.3") {
			t.Errorf("the agent runs %s, not revision 2's v0.9.3", img)
		}
		if tol := ds(t, "romana-agent").Spec.Template.Spec.Tolerations; len(tol) == 0 {
			t.Error("the agent kept revision 3's tolerations")
		}
		svc, err := shared.Client.CoreV1().Services("kube-system").Get(context.Background(), "romana-root", metav1.GetOptions{})
		if err != nil || svc.Spec.ClusterIP == "" {
			t.Errorf("romana-root: %v", err)
		}
	})
}
