package install

import (
	"context"
	"net/netip"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/romana/romanactl/internal/values"
)

// liveCluster answers values.Cluster from the API server, so that a value suggested in
// a validation error passes the live checks too: inside the cluster's service range
// (service-range), held by no other Service (cluster-ip-free), overlapping no node
// address or podCIDR (address-plan). It reads each thing once, and only when a
// suggestion asks: a valid command never pays for it.
type liveCluster struct {
	ctx context.Context
	cs  kubernetes.Interface
	ns  string

	rangeRead bool
	svc       netip.Prefix
	holders   map[netip.Addr]string
	nodes     []corev1.Node
	nodesRead bool
}

// LiveCluster returns the cluster's answers for validation's suggestions.
func (c *Client) LiveCluster(ctx context.Context) values.Cluster {
	return &liveCluster{ctx: ctx, cs: c.Kube, ns: c.Namespace}
}

func (l *liveCluster) ServiceRange() netip.Prefix {
	if !l.rangeRead {
		l.rangeRead = true
		// Without an address to try, ServiceRange makes no dry-run create.
		l.svc, _, _ = ServiceRange(l.ctx, l.cs, DiscoverNetworkingAPIs(l.cs), l.ns, netip.Addr{}, 0)
	}
	return l.svc
}

// ClusterIPHolder lists the Services once. A list that fails tells nothing: the
// pre-flight's cluster-ip-free check asks again, and says so.
func (l *liveCluster) ClusterIPHolder(ip netip.Addr) string {
	if l.holders == nil {
		l.holders = map[netip.Addr]string{}
		svcs, err := l.cs.CoreV1().Services("").List(l.ctx, metav1.ListOptions{})
		if err == nil {
			for _, s := range svcs.Items {
				if s.Namespace == l.ns && s.Name == "romana-root" {
					continue
				}
				for _, a := range s.Spec.ClusterIPs {
					if p, err := netip.ParseAddr(a); err == nil {
						l.holders[p] = s.Namespace + "/" + s.Name
					}
				}
			}
		}
	}
	return l.holders[ip]
}

func (l *liveCluster) CIDRClash(p netip.Prefix) string {
	if !l.nodesRead {
		l.nodesRead = true
		if list, err := l.cs.CoreV1().Nodes().List(l.ctx, metav1.ListOptions{}); err == nil {
			l.nodes = list.Items
		}
	}
	if c := addressPlan(p, netip.Prefix{}, l.nodes); c.Severity == Fail {
		return c.Message
	}
	return ""
}
