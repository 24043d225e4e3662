package install

import (
	"context"
	"net/netip"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

func nodeWith(name string, ips []string, podCIDRs ...string) corev1.Node {
	n := corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: corev1.NodeSpec{PodCIDRs: podCIDRs}}
	if len(podCIDRs) > 0 {
		n.Spec.PodCIDR = podCIDRs[0]
	}
	for _, ip := range ips {
		n.Status.Addresses = append(n.Status.Addresses, corev1.NodeAddress{Type: corev1.NodeInternalIP, Address: ip})
	}
	return n
}

func TestIPFamilyCheck(t *testing.T) {
	v4 := serviceRanges{cidrs: []sourced{{netip.MustParsePrefix("10.96.0.0/12"), "ServiceCIDR kubernetes"}}, families: []corev1.IPFamily{corev1.IPv4Protocol}}
	dualSvc := serviceRanges{cidrs: append(v4.cidrs, sourced{netip.MustParsePrefix("fd00:10:96::/112"), "ServiceCIDR kubernetes"}), families: v4.families}
	v6 := serviceRanges{cidrs: []sourced{{netip.MustParsePrefix("fd00:10:96::/112"), "kubeadm-config's serviceSubnet"}}, families: []corev1.IPFamily{corev1.IPv6Protocol}}
	n4 := nodeWith("a", []string{"172.18.0.20"}, "10.244.1.0/24")
	tests := []struct {
		name  string
		nodes []corev1.Node
		sr    serviceRanges
		want  Severity
		in    []string
	}{
		{"IPv4", []corev1.Node{n4}, v4, Pass, []string{"IPv4 only", "10.96.0.0/12 (ServiceCIDR kubernetes)"}},
		{"dual-stack podCIDRs", []corev1.Node{n4, nodeWith("b", []string{"172.18.0.21", "fd00::21"}, "10.244.2.0/24", "fd00:10:244:2::/64")}, v4, Warn,
			[]string{"dual-stack", "b's podCIDRs 10.244.2.0/24, fd00:10:244:2::/64", "pods get no IPv6 address from Romana", "no endpoints on Romana's pods", "--skip-check ip-family"}},
		{"an IPv6 service range", []corev1.Node{n4}, dualSvc, Warn, []string{"IPv6 service ranges: fd00:10:96::/112 (ServiceCIDR kubernetes)"}},
		{"an IPv6-only node", []corev1.Node{n4, nodeWith("c", []string{"fd00::22"}, "fd00:10:244:3::/64")}, v4, Fail,
			[]string{"IPv6-only nodes: c (podCIDRs fd00:10:244:3::/64, InternalIPs fd00::22)", "IPv4 InternalIP"}},
		{"an IPv6-only cluster", []corev1.Node{nodeWith("d", []string{"fd00::23"}, "fd00:10:244:4::/64")}, v6, Fail,
			[]string{"the cluster is IPv6 only", "ipFamilies are IPv6", "fd00:10:96::/112 (kubeadm-config's serviceSubnet)"}},
		{"IPv6 first: primary family IPv6", []corev1.Node{n4}, serviceRanges{cidrs: dualSvc.cidrs, families: []corev1.IPFamily{corev1.IPv6Protocol, corev1.IPv4Protocol}}, Fail,
			[]string{"ipFamilies are IPv6, IPv4"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := ipFamily(tt.nodes, tt.sr)
			text := c.Message + "; " + c.Fix
			if c.Name != "ip-family" || c.Severity != tt.want {
				t.Fatalf("got %s %s: %s", c.Name, c.Severity, text)
			}
			for _, w := range tt.in {
				if !strings.Contains(text, w) {
					t.Errorf("want %q in %q", w, text)
				}
			}
		})
	}
}

// TestReadServiceRanges: without the ServiceCIDR API, a dual-stack kubeadm cluster's
// serviceSubnet lists both families; the kubernetes Service gives the primary family.
func TestReadServiceRanges(t *testing.T) {
	cs := fake.NewClientset(
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "kubeadm-config", Namespace: "kube-system"},
			Data: map[string]string{"ClusterConfiguration": "networking:\n  serviceSubnet: 10.96.0.0/12,fd00:10:96::/112\n"}},
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "kubernetes", Namespace: "default"},
			Spec: corev1.ServiceSpec{IPFamilies: []corev1.IPFamily{corev1.IPv4Protocol, corev1.IPv6Protocol}}})
	sr := readServiceRanges(context.Background(), cs, NetworkingAPIs{})
	c := ipFamily([]corev1.Node{nodeWith("a", []string{"172.18.0.20"}, "10.244.1.0/24")}, sr)
	if c.Severity != Warn || !strings.Contains(c.Message, "IPv6 service ranges: fd00:10:96::/112 (kubeadm-config's serviceSubnet)") {
		t.Errorf("%+v", c)
	}
}
