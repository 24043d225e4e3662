package main

import (
	"context"
	"strings"
	"testing"
	"time"

	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
)

// TestClusterSecondServiceCIDR: a cluster can serve several ServiceCIDRs (GA in 1.33).
// A root clusterIP inside a second one passes service-range (named by its ServiceCIDR)
// and installs; one in neither is still refused against the default range.
func TestClusterSecondServiceCIDR(t *testing.T) {
	c := cluster(t)
	ctx := context.Background()
	sc := &networkingv1.ServiceCIDR{ObjectMeta: metav1.ObjectMeta{Name: "romana-test-extra"}, Spec: networkingv1.ServiceCIDRSpec{CIDRs: []string{"10.200.0.0/16"}}}
	if _, err := c.Client.NetworkingV1().ServiceCIDRs().Create(ctx, sc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = c.Client.NetworkingV1().ServiceCIDRs().Delete(context.Background(), sc.Name, metav1.DeleteOptions{})
	})
	// The API server allocates from it once it is Ready.
	_ = wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 20*time.Second, true, func(ctx context.Context) (bool, error) {
		got, err := c.Client.NetworkingV1().ServiceCIDRs().Get(ctx, sc.Name, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		for _, cond := range got.Status.Conditions {
			if cond.Type == networkingv1.ServiceCIDRConditionReady && cond.Status == metav1.ConditionTrue {
				return true, nil
			}
		}
		return false, nil
	})
	args := []string{"--cluster-ip=10.200.0.10", "--cluster-ip-cidr=10.200.0.0/16", "--romana-root=http://10.200.0.10:9600", "--skip-check", "images-exist", "--skip-check", "romana-compat"}
	r := mustOK(t, rc(t, append([]string{"check", "--pre"}, args...)...))
	if !strings.Contains(r.stdout, "✓ service-range") || !strings.Contains(r.stdout, "inside the service range 10.200.0.0/16 (from ServiceCIDR romana-test-extra)") {
		t.Fatalf("a clusterIP in the second ServiceCIDR:\n%s", r.stdout)
	}
	mustOK(t, rc(t, append([]string{"install"}, args...)...))
	svc, err := c.Client.CoreV1().Services("kube-system").Get(ctx, "romana-root", metav1.GetOptions{})
	if err != nil || svc.Spec.ClusterIP != "10.200.0.10" {
		t.Fatalf("romana-root: %v %v", svc, err)
	}
	cleanup(t)
	// Outside every ServiceCIDR: judged against the default one, and refused.
	r = rc(t, "check", "--pre", "--cluster-ip=10.201.0.10", "--cluster-ip-cidr=10.201.0.0/16", "--romana-root=http://10.201.0.10:9600")
	if r.code != 2 || !strings.Contains(r.stdout, "outside the service range 10.96.0.0/12 reported by the cluster (ServiceCIDR kubernetes)") {
		t.Errorf("outside both:\n%s%s", r.stdout, r.stderr)
	}
}
