package install

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/klog/v2"
)

// The node checks: address-plan, placement, agent-coverage.

// addressPlan: the Romana CIDR must not overlap the service range, a node's address or a
// node's podCIDR, or pods would get addresses that route elsewhere.
func addressPlan(romana, svc netip.Prefix, nodes []corev1.Node) Check {
	var clashes []string
	if svc.IsValid() && romana.Overlaps(svc) {
		clashes = append(clashes, "the service range "+svc.String())
	}
	for _, n := range nodes {
		for _, a := range n.Status.Addresses {
			if a.Type != corev1.NodeInternalIP {
				continue
			}
			if ip, err := netip.ParseAddr(a.Address); err == nil && romana.Contains(ip) {
				clashes = append(clashes, fmt.Sprintf("node %s's InternalIP %s", n.Name, ip))
			}
		}
		cidrs := n.Spec.PodCIDRs
		if len(cidrs) == 0 && n.Spec.PodCIDR != "" {
			cidrs = []string{n.Spec.PodCIDR}
		}
		for _, c := range cidrs {
			if p, err := netip.ParsePrefix(c); err == nil && romana.Overlaps(p) {
				clashes = append(clashes, fmt.Sprintf("node %s's podCIDR %s", n.Name, p))
			}
		}
	}
	if len(clashes) > 0 {
		return Check{Name: "address-plan", Severity: Fail,
			Message: fmt.Sprintf("services.cidr (--cidr) %s overlaps %s", romana, strings.Join(clashes, ", ")),
			Fix:     "pick a Romana CIDR that no node, podCIDR or service uses"}
	}
	return Check{Name: "address-plan", Severity: Pass, Message: fmt.Sprintf("%s overlaps no node address, podCIDR or the service range", romana)}
}

// placement: the services DaemonSet must match at least one node whose taints it
// tolerates, or it schedules nothing and Romana has no root.
func placement(sel any, tols []corev1.Toleration, nodes []corev1.Node) Check {
	set := labels.Set{}
	if m, ok := sel.(map[string]any); ok {
		for k, v := range m {
			set[k] = fmt.Sprint(v)
		}
	}
	selector := labels.SelectorFromSet(set)
	var names, untolerated []string
	for _, n := range nodes {
		if !selector.Matches(labels.Set(n.Labels)) {
			continue
		}
		if t := blockingTaint(n, tols); t != "" {
			untolerated = append(untolerated, n.Name+" ("+t+")")
			continue
		}
		names = append(names, n.Name)
	}
	sort.Strings(names)
	b, _ := json.Marshal(set)
	switch {
	case len(names) > 0:
		return Check{Name: "placement", Severity: Pass, Message: fmt.Sprintf("romana-services will run on %s", strings.Join(names, ", "))}
	case len(untolerated) > 0:
		return Check{Name: "placement", Severity: Fail,
			Message: fmt.Sprintf("the nodes matching services.nodeSelector %s have taints services.tolerations do not tolerate: %s; romana-services would run nowhere", b, strings.Join(untolerated, ", ")),
			Fix:     "add a toleration for that taint to services.tolerations"}
	}
	return Check{Name: "placement", Severity: Fail,
		Message: fmt.Sprintf("no node matches services.nodeSelector %s: romana-services would run nowhere", b),
		Fix:     "label a control-plane node, or set services.nodeSelector to labels your control plane has"}
}

// agentCoverage: a node whose taints the agent does not tolerate gets no agent, and its
// pods no network. It may be deliberate (nodes that run another network), so ‼.
func agentCoverage(tols []corev1.Toleration, nodes []corev1.Node) Check {
	var missed []string
	for _, n := range nodes {
		if t := blockingTaint(n, tols); t != "" {
			missed = append(missed, n.Name+" ("+t+")")
		}
	}
	if len(missed) > 0 {
		sort.Strings(missed)
		return Check{Name: "agent-coverage", Severity: Warn,
			Message: fmt.Sprintf("romana-agent will not run on %s: agent.tolerations do not tolerate their taints, so their pods get no network, and the wait will not finish", strings.Join(missed, ", ")),
			Fix:     "keep agent.tolerations at [{operator: Exists}]"}
	}
	return Check{Name: "agent-coverage", Severity: Pass, Message: fmt.Sprintf("romana-agent tolerates the taints of all %d nodes", len(nodes))}
}

// blockingTaint returns the first NoSchedule or NoExecute taint of n that no toleration
// tolerates, as key=value:effect, or "".
func blockingTaint(n corev1.Node, tols []corev1.Toleration) string {
	for _, t := range n.Spec.Taints {
		if t.Effect != corev1.TaintEffectNoSchedule && t.Effect != corev1.TaintEffectNoExecute {
			continue
		}
		tolerated := false
		for i := range tols {
			if tols[i].ToleratesTaint(klog.Background(), &t, false) {
				tolerated = true
				break
			}
		}
		if !tolerated {
			return fmt.Sprintf("%s=%s:%s", t.Key, t.Value, t.Effect)
		}
	}
	return ""
}

// tolerations converts a values list of tolerations into API objects.
func tolerations(v any) []corev1.Toleration {
	var out []corev1.Toleration
	if b, err := json.Marshal(v); err == nil {
		_ = json.Unmarshal(b, &out)
	}
	return out
}

// planCapacity compares the cluster's node count with the address plan's room for
// nodes: Romana gives each node a block of services.cidr, and a node beyond
// services.nodes gets none, so its pods would get no address.
func planCapacity(n int64, nodes int) Check {
	if n <= 0 {
		return Check{Name: "plan-capacity", Severity: Warn, Message: fmt.Sprintf("services.nodes is not a positive number: cannot tell whether the plan has room for the cluster's %d nodes", nodes)}
	}
	if int64(nodes) > n {
		return Check{Name: "plan-capacity", Severity: Fail,
			Message: fmt.Sprintf("the cluster has %d nodes, but the address plan makes room for %d (services.nodes, --nodes): the nodes beyond it would get no pod addresses", nodes, n),
			Fix:     fmt.Sprintf("give --nodes=%d or more (v0.9.3's services take no --nodes and fix it at 256: a larger cluster needs a Romana build that does)", nextPow2(nodes))}
	}
	return Check{Name: "plan-capacity", Severity: Pass, Message: fmt.Sprintf("the address plan makes room for %d nodes; the cluster has %d", n, nodes)}
}

func nextPow2(n int) int {
	p := 1
	for p < n {
		p *= 2
	}
	return p
}
