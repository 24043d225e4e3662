package install

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"

	"github.com/romana/romanactl/internal/values"
)

// The service range checks: service-range, agent-cluster-ip-cidr, cluster-ip-free.

// serviceRangeChecks judge romanaRoot.clusterIP and agent.clusterIPCIDR against the
// range the cluster reports (s.svcRange, found once for every check that needs it).
func serviceRangeChecks(s *pfState) []Check {
	clusterIP, agentCIDR := s.clusterIP, s.agentCIDR
	svcRange, source := s.svcRange, s.svcSource
	switch {
	case svcRange.IsValid():
		out := []Check{}
		if svcRange.Contains(clusterIP) {
			out = append(out, Check{Name: "service-range", Severity: Pass, Message: fmt.Sprintf("romanaRoot.clusterIP %s is inside the service range %s (from %s)", clusterIP, svcRange, source)})
		} else {
			out = append(out, Check{Name: "service-range", Severity: Fail,
				Message: fmt.Sprintf("romanaRoot.clusterIP (--cluster-ip) %s is outside the service range %s reported by the cluster (%s)", clusterIP, svcRange, source),
				Fix:     fmt.Sprintf("pick an address inside it, e.g. --cluster-ip=%s --cluster-ip-cidr=%s", exampleIP(s, svcRange), svcRange)})
		}
		if agentCIDR != svcRange {
			out = append(out, Check{Name: "agent-cluster-ip-cidr", Severity: Warn,
				Message: fmt.Sprintf("agent.clusterIPCIDR (--cluster-ip-cidr) %s differs from the cluster's service range %s: the agent would NAT service traffic it should not, or miss some", agentCIDR, svcRange),
				Fix:     fmt.Sprintf("use --cluster-ip-cidr=%s", svcRange)})
		} else {
			out = append(out, Check{Name: "agent-cluster-ip-cidr", Severity: Pass, Message: fmt.Sprintf("agent.clusterIPCIDR matches the service range %s", svcRange)})
		}
		return out
	case s.dryRunErr != nil:
		return []Check{{Name: "service-range", Severity: Fail, Message: fmt.Sprintf("the API server refuses romanaRoot.clusterIP (--cluster-ip) %s: %v", clusterIP, s.dryRunErr), Fix: "pick an address inside the cluster's service range"}}
	}
	return []Check{{Name: "service-range", Severity: Pass, Message: fmt.Sprintf("the API server accepts romanaRoot.clusterIP %s (server-side dry run); the range itself is not published", clusterIP)}}
}

// NetworkingAPIs says which of the address APIs of networking.k8s.io/v1 (GA in 1.33)
// the cluster serves. It asks discovery rather than guessing from the version: a
// cluster can turn them off, and a request to a resource that is not served answers
// 404 like an object that does not exist, which would read as "free".
type NetworkingAPIs struct{ ServiceCIDRs, IPAddresses bool }

// DiscoverNetworkingAPIs asks discovery once; an error means neither is served.
func DiscoverNetworkingAPIs(cs kubernetes.Interface) NetworkingAPIs {
	var a NetworkingAPIs
	l, err := cs.Discovery().ServerResourcesForGroupVersion("networking.k8s.io/v1")
	if err != nil || l == nil {
		return a
	}
	for _, r := range l.APIResources {
		switch r.Name {
		case "servicecidrs":
			a.ServiceCIDRs = true
		case "ipaddresses":
			a.IPAddresses = true
		}
	}
	return a
}

// ServiceRange discovers the cluster's service cluster-IP range: the ServiceCIDR API
// (networking.k8s.io/v1) where served, then kubeadm-config, then the error of a
// server-side dry-run create of the root Service, which names the valid range when
// the address is outside it. It returns an invalid prefix when no source tells;
// dryRunErr is the dry run's error when it failed for another reason.
func ServiceRange(ctx context.Context, cs kubernetes.Interface, apis NetworkingAPIs, ns string, clusterIP netip.Addr, port int64) (netip.Prefix, string, error) {
	// A cluster can serve several ServiceCIDRs (GA in 1.33): the range is the one that
	// holds the address, else the default one, "kubernetes", to judge it against. A
	// ServiceCIDR being deleted allocates nothing new.
	if apis.ServiceCIDRs {
		if list, err := cs.NetworkingV1().ServiceCIDRs().List(ctx, metav1.ListOptions{}); err == nil {
			var def netip.Prefix
			for _, sc := range list.Items {
				if sc.DeletionTimestamp != nil {
					continue
				}
				for _, c := range sc.Spec.CIDRs {
					p, err := netip.ParsePrefix(c)
					if err != nil || !p.Addr().Is4() {
						continue
					}
					if p.Contains(clusterIP) {
						return p, "ServiceCIDR " + sc.Name, nil
					}
					if sc.Name == "kubernetes" {
						def = p
					}
				}
			}
			if def.IsValid() {
				return def, "ServiceCIDR kubernetes", nil
			}
		}
	}
	if cm, err := cs.CoreV1().ConfigMaps("kube-system").Get(ctx, "kubeadm-config", metav1.GetOptions{}); err == nil {
		var cc struct {
			Networking struct {
				ServiceSubnet string `json:"serviceSubnet"`
			} `json:"networking"`
		}
		if yaml.Unmarshal([]byte(cm.Data["ClusterConfiguration"]), &cc) == nil {
			for _, s := range strings.Split(cc.Networking.ServiceSubnet, ",") {
				if p, err := netip.ParsePrefix(strings.TrimSpace(s)); err == nil && p.Addr().Is4() {
					return p, "kubeadm-config", nil
				}
			}
		}
	}
	if !clusterIP.IsValid() {
		return netip.Prefix{}, "", nil
	}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "romanactl-preflight-", Namespace: ns},
		Spec:       corev1.ServiceSpec{ClusterIP: clusterIP.String(), Ports: []corev1.ServicePort{{Name: "root", Port: int32(port), TargetPort: intstr.FromInt32(int32(port))}}},
	}
	_, err := cs.CoreV1().Services(ns).Create(ctx, svc, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
	if err == nil {
		return netip.Prefix{}, "", nil
	}
	// "... is not in the valid range. The range of valid IPs is 10.96.0.0/12"
	if m := validRangeRE.FindStringSubmatch(err.Error()); m != nil {
		if pr, perr := netip.ParsePrefix(m[1]); perr == nil {
			return pr, "the API server's answer to a dry-run create", nil
		}
	}
	return netip.Prefix{}, "", err
}

var validRangeRE = regexp.MustCompile(`range of valid IPs is ([0-9.]+/[0-9]+)`)

// clusterIPFree checks that no other Service holds the address. A server-side dry run
// does not catch this (it allocates nothing), so ask the IPAddress API, whose objects
// are named by the address and point at their Service; where it is not served, list
// Services.
func clusterIPFree(s *pfState) Check {
	ctx, cs, apis, ns, ip := s.ctx, s.cs, s.apis, s.in.Namespace, s.clusterIP
	ours := func(sns, name string) bool { return sns == ns && name == "romana-root" }
	holder := ""
	var ipa *networkingv1.IPAddress
	err := errIPAddressesNotServed
	if apis.IPAddresses {
		ipa, err = cs.NetworkingV1().IPAddresses().Get(ctx, ip.String(), metav1.GetOptions{})
	}
	switch {
	case err == nil && ipa.Spec.ParentRef != nil:
		holder = ipa.Spec.ParentRef.Namespace + "/" + ipa.Spec.ParentRef.Name
		if ipa.Spec.ParentRef.Resource == "services" && ours(ipa.Spec.ParentRef.Namespace, ipa.Spec.ParentRef.Name) {
			holder = ""
		} else if ipa.Spec.ParentRef.Resource != "services" {
			holder = ipa.Spec.ParentRef.Resource + " " + holder
		}
	case err == nil, apierrors.IsNotFound(err):
	default:
		svcs, lerr := cs.CoreV1().Services("").List(ctx, metav1.ListOptions{})
		if lerr != nil {
			return Check{Name: "cluster-ip-free", Severity: Fail, Message: fmt.Sprintf("cannot tell whether %s is free: %v", ip, lerr)}
		}
		for _, s := range svcs.Items {
			if slices.Contains(s.Spec.ClusterIPs, ip.String()) && !ours(s.Namespace, s.Name) {
				holder = s.Namespace + "/" + s.Name
			}
		}
	}
	if holder != "" {
		return Check{Name: "cluster-ip-free", Severity: Fail,
			Message: fmt.Sprintf("romanaRoot.clusterIP (--cluster-ip) %s is already held by Service %s", ip, holder),
			Fix:     "pick a free address in the service range with --cluster-ip" + freeExample(s)}
	}
	return Check{Name: "cluster-ip-free", Severity: Pass, Message: fmt.Sprintf("%s is free (or already romana-root's)", ip)}
}

var errIPAddressesNotServed = errors.New("the IPAddress API is not served")

// exampleIP is values.FreeClusterIP for a message: a free address in the lower band
// of the cluster's range; a range too small for any Service, or full, says so.
func exampleIP(s *pfState, svc netip.Prefix) string {
	if ip, ok := values.FreeClusterIP(svc, s.live()); ok {
		return ip.String()
	}
	return "(none: the range is too small or full)"
}

// live is the cluster as validation's suggestions see it, sharing what the pre-flight
// has read.
func (s *pfState) live() *liveCluster {
	if s.lc == nil {
		s.lc = &liveCluster{ctx: s.ctx, cs: s.cs, ns: s.in.Namespace, rangeRead: true, svc: s.svcRange, nodes: s.nodes, nodesRead: true}
	}
	return s.lc
}

// freeExample names a free address for cluster-ip-free's fix, when the range is known.
func freeExample(s *pfState) string {
	if !s.svcRange.IsValid() {
		return ""
	}
	if ip, ok := values.FreeClusterIP(s.svcRange, s.live()); ok {
		return fmt.Sprintf(", e.g. --cluster-ip=%s (in the range's lower band, which Kubernetes keeps for fixed addresses)", ip)
	}
	return ""
}
