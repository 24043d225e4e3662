package main

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/romana/romanactl/internal/install"
	"github.com/romana/romanactl/internal/testcluster"
)

// TestClusterSecondServiceCIDR: a cluster can serve several ServiceCIDRs (GA in 1.33).
// A root clusterIP inside a second one passes service-range (named by its ServiceCIDR)
// and installs; one in neither is still refused against the default range.
func TestClusterSecondServiceCIDR(t *testing.T) {
	c := cluster(t)
	needAPI(t, install.DiscoverNetworkingAPIs(c.Client).ServiceCIDRs, "the ServiceCIDR API (networking.k8s.io/v1, GA in 1.33)")
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

// needAPI skips a test of an API the cluster does not serve, which only an older minor
// of `make test-matrix` may do: on the default minor (what `make test` and CI run) a
// missing API is a failure, so no real-cluster test is ever skipped there.
func needAPI(t *testing.T, served bool, what string) {
	t.Helper()
	if !served {
		skipOnOlderMinor(t, "not served by Kubernetes "+shared.Version+": "+what)
	}
}

// skipOnOlderMinor skips a test for what an older minor of make test-matrix lacks;
// on the default minor the same is a failure.
func skipOnOlderMinor(t *testing.T, why string) {
	t.Helper()
	if shared.Minor == testcluster.DefaultMinor {
		t.Fatalf("on the default minor: %s", why)
	}
	t.Skip(why)
}

// TestClusterServiceRangeSources: the verdicts on the root clusterIP are the same
// whatever the cluster offers to judge it by. Where the ServiceCIDR and IPAddress APIs
// are served (1.33+) they are asked; where not (an older minor of make test-matrix),
// kubeadm-config gives the range and a list of Services finds the holder; with
// kubeadm-config gone too, the API server's answer to a dry-run create names the range.
// Each source meets the same three cases: out of range, held by another Service (which
// a dry run cannot see), and free.
func TestClusterServiceRangeSources(t *testing.T) {
	c := cluster(t)
	ctx := context.Background()
	apis := install.DiscoverNetworkingAPIs(c.Client)
	t.Logf("compat: networking.k8s.io/v1 serves ServiceCIDRs: %v, IPAddresses: %v; service range from %s, holders from %s", apis.ServiceCIDRs, apis.IPAddresses, map[bool]string{true: "the ServiceCIDR API", false: "kubeadm-config, then a dry-run create"}[apis.ServiceCIDRs], map[bool]string{true: "the IPAddress API", false: "a list of Services"}[apis.IPAddresses])
	sq := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "squatter", Namespace: "default"},
		Spec: corev1.ServiceSpec{ClusterIP: "10.96.77.77", Ports: []corev1.ServicePort{{Port: 80}}}}
	if _, err := c.Client.CoreV1().Services("default").Create(ctx, sq, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	skip := []string{"--skip-check", "images-exist", "--skip-check", "romana-compat"}
	verdicts := func(source, freeSource string) {
		t.Helper()
		r := rc(t, append([]string{"check", "--pre", "--env=custom", "--cidr=10.128.0.0/12", "--cluster-ip=10.200.0.1", "--cluster-ip-cidr=10.200.0.0/16"}, skip...)...)
		if r.code != 2 || !strings.Contains(r.stdout, "✗ service-range") ||
			!strings.Contains(r.stdout, "10.200.0.1 is outside the service range 10.96.0.0/12 reported by the cluster ("+source+")") {
			t.Errorf("out of range, judged by %s: exit %d\n%s%s", source, r.code, r.stdout, r.stderr)
		}
		// --env=kubeadm: without kubeadm-config, auto would pick custom and ask for its
		// mandatory values.
		r = rc(t, append([]string{"check", "--pre", "--env=kubeadm", "--cluster-ip=10.96.77.77"}, skip...)...)
		if r.code != 2 || !strings.Contains(r.stdout, "✗ cluster-ip-free") || !strings.Contains(r.stdout, "10.96.77.77 is already held by Service default/squatter") {
			t.Errorf("held by another Service (range from %s): exit %d\n%s%s", source, r.code, r.stdout, r.stderr)
		}
		r = rc(t, append([]string{"check", "--pre", "--env=kubeadm", "--cluster-ip=10.96.77.78"}, skip...)...)
		if r.code != 0 || !strings.Contains(r.stdout, "✓ service-range") || !strings.Contains(r.stdout, freeSource) || !strings.Contains(r.stdout, "✓ cluster-ip-free") {
			t.Errorf("free (range from %s): exit %d\n%s%s", source, r.code, r.stdout, r.stderr)
		}
	}
	first := "kubeadm-config"
	if apis.ServiceCIDRs {
		first = "ServiceCIDR kubernetes"
	}
	verdicts(first, "(from "+first+")")
	if apis.ServiceCIDRs {
		return // the API answers whatever else the cluster holds
	}
	// Without kubeadm-config (a cluster made by another tool), the dry run is all there is.
	cm, err := c.Client.CoreV1().ConfigMaps("kube-system").Get(ctx, "kubeadm-config", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Client.CoreV1().ConfigMaps("kube-system").Delete(ctx, "kubeadm-config", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cm.ResourceVersion = ""
		_, _ = c.Client.CoreV1().ConfigMaps("kube-system").Create(context.Background(), cm, metav1.CreateOptions{})
	})
	verdicts("the API server's answer to a dry-run create", "(server-side dry run)")
}
