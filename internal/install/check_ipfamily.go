package install

import (
	"context"
	"fmt"
	"net/netip"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"
)

// The ip-family check: Romana is IPv4 only. Its services hand out addresses from one
// IPv4 range (services.cidr), its agent routes IPv4 between the nodes' IPv4 addresses,
// and its CNI plugin returns one IPv4 address per pod.

// serviceRanges are the cluster's service ranges with where each was read: every
// ServiceCIDR where the API is served; elsewhere kubeadm-config's serviceSubnet (which
// lists both families on a dual-stack cluster); and the families of the `kubernetes`
// Service in default, which every cluster has (its first family is the cluster's
// primary one).
type serviceRanges struct {
	cidrs []sourced
	// families are the default/kubernetes Service's spec.ipFamilies.
	families []corev1.IPFamily
}

type sourced struct {
	p    netip.Prefix
	from string
}

func readServiceRanges(ctx context.Context, cs kubernetes.Interface, apis NetworkingAPIs) serviceRanges {
	var r serviceRanges
	if apis.ServiceCIDRs {
		if l, err := cs.NetworkingV1().ServiceCIDRs().List(ctx, metav1.ListOptions{}); err == nil {
			for _, sc := range l.Items {
				if sc.DeletionTimestamp != nil {
					continue
				}
				for _, c := range sc.Spec.CIDRs {
					if p, err := netip.ParsePrefix(c); err == nil {
						r.cidrs = append(r.cidrs, sourced{p, "ServiceCIDR " + sc.Name})
					}
				}
			}
		}
	}
	if len(r.cidrs) == 0 {
		if cm, err := cs.CoreV1().ConfigMaps("kube-system").Get(ctx, "kubeadm-config", metav1.GetOptions{}); err == nil {
			var cc struct {
				Networking struct {
					ServiceSubnet string `json:"serviceSubnet"`
				} `json:"networking"`
			}
			if yaml.Unmarshal([]byte(cm.Data["ClusterConfiguration"]), &cc) == nil {
				for _, s := range strings.Split(cc.Networking.ServiceSubnet, ",") {
					if p, err := netip.ParsePrefix(strings.TrimSpace(s)); err == nil {
						r.cidrs = append(r.cidrs, sourced{p, "kubeadm-config's serviceSubnet"})
					}
				}
			}
		}
	}
	if svc, err := cs.CoreV1().Services("default").Get(ctx, "kubernetes", metav1.GetOptions{}); err == nil {
		r.families = svc.Spec.IPFamilies
	}
	return r
}

// nodeFamilies describes a node's podCIDRs and InternalIPs by family.
type nodeFamilies struct {
	v4, v6       []string // podCIDRs
	ip4, ip6     []string // InternalIPs
	hasPodCIDRs  bool
	hasAddresses bool
}

func familiesOf(n corev1.Node) nodeFamilies {
	var f nodeFamilies
	cidrs := n.Spec.PodCIDRs
	if len(cidrs) == 0 && n.Spec.PodCIDR != "" {
		cidrs = []string{n.Spec.PodCIDR}
	}
	for _, c := range cidrs {
		p, err := netip.ParsePrefix(c)
		if err != nil {
			continue
		}
		f.hasPodCIDRs = true
		if p.Addr().Is4() {
			f.v4 = append(f.v4, c)
		} else {
			f.v6 = append(f.v6, c)
		}
	}
	for _, a := range n.Status.Addresses {
		if a.Type != corev1.NodeInternalIP {
			continue
		}
		ip, err := netip.ParseAddr(a.Address)
		if err != nil {
			continue
		}
		f.hasAddresses = true
		if ip.Is4() {
			f.ip4 = append(f.ip4, a.Address)
		} else {
			f.ip6 = append(f.ip6, a.Address)
		}
	}
	return f
}

// ipFamily is the check. ✗: the cluster is IPv6 only (its primary service family is
// IPv6, or only IPv6 service ranges), or nodes are (IPv6 podCIDRs and no IPv4
// InternalIP): Romana has no address to give pods there or no IPv4 to route over. ‼:
// dual-stack, which works for IPv4 while IPv6 is left without pod addresses.
func ipFamily(nodes []corev1.Node, sr serviceRanges) Check {
	const name = "ip-family"
	var v6Only, dual []string
	for _, n := range nodes {
		f := familiesOf(n)
		switch {
		case len(f.v6) > 0 && len(f.v4) == 0 && len(f.ip4) == 0,
			!f.hasPodCIDRs && len(f.ip6) > 0 && len(f.ip4) == 0:
			v6Only = append(v6Only, fmt.Sprintf("%s (podCIDRs %s, InternalIPs %s)", n.Name, orNone(f.v6), orNone(f.ip6)))
		case len(f.v6) > 0:
			dual = append(dual, fmt.Sprintf("%s's podCIDRs %s", n.Name, strings.Join(append(f.v4, f.v6...), ", ")))
		}
	}
	sort.Strings(v6Only)
	sort.Strings(dual)
	var svc4, svc6 []string
	for _, c := range sr.cidrs {
		s := fmt.Sprintf("%s (%s)", c.p, c.from)
		if c.p.Addr().Is4() {
			svc4 = append(svc4, s)
		} else {
			svc6 = append(svc6, s)
		}
	}
	primary6 := len(sr.families) > 0 && sr.families[0] == corev1.IPv6Protocol
	why := "Romana is IPv4 only: its services hand out pod addresses from one IPv4 range (services.cidr), its agent routes between the nodes' IPv4 addresses, and its CNI plugin gives each pod one IPv4 address"
	switch {
	case primary6 || (len(svc6) > 0 && len(svc4) == 0):
		what := "the cluster is IPv6 only: the default/kubernetes Service's ipFamilies are " + families(sr.families)
		if len(svc6) > 0 {
			what += ", service ranges " + strings.Join(svc6, ", ")
		}
		return Check{Name: name, Severity: Fail, Message: fmt.Sprintf("%s; %s, and romana-root needs an IPv4 clusterIP", what, why),
			Fix: "install Romana on an IPv4 or dual-stack cluster whose primary family is IPv4 (kube-apiserver --service-cluster-ip-range with the IPv4 range first)"}
	case len(v6Only) > 0:
		return Check{Name: name, Severity: Fail,
			Message: fmt.Sprintf("IPv6-only nodes: %s; %s, so pods there could not reach other nodes' pods", strings.Join(firstFew(v6Only, 5, "nodes"), ", "), why),
			Fix:     "give these nodes an IPv4 InternalIP (kubelet --node-ip) and an IPv4 podCIDR, or keep Romana off this cluster"}
	case len(dual) > 0 || len(svc6) > 0:
		var seen []string
		if len(dual) > 0 {
			seen = append(seen, "nodes with podCIDRs of both families: "+strings.Join(firstFew(dual, 3, "nodes"), "; "))
		}
		if len(svc6) > 0 {
			seen = append(seen, "IPv6 service ranges: "+strings.Join(svc6, ", "))
		}
		return Check{Name: name, Severity: Warn,
			Message: fmt.Sprintf("the cluster is dual-stack (%s); %s. IPv4 works; for IPv6: pods get no IPv6 address from Romana (the IPv6 podCIDRs go unused), "+
				"so a Service with ipFamilies IPv6 (SingleStack IPv6, or the IPv6 half of PreferDualStack/RequireDualStack) gets no endpoints on Romana's pods, "+
				"and a pod reaches no IPv6 address but through the node (hostNetwork pods keep the node's IPv6)",
				strings.Join(seen, "; "), why),
			Fix: "give Services ipFamilyPolicy SingleStack with IPv4 (the default on a cluster whose primary family is IPv4); acknowledge with --skip-check ip-family"}
	}
	return Check{Name: name, Severity: Pass, Message: fmt.Sprintf("the cluster is IPv4 only (service ranges %s; no node has an IPv6 podCIDR)", orNone(svc4))}
}

func orNone(l []string) string {
	if len(l) == 0 {
		return "none"
	}
	return strings.Join(l, ", ")
}

func families(f []corev1.IPFamily) string {
	var s []string
	for _, x := range f {
		s = append(s, string(x))
	}
	return orNone(s)
}
