package install

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// The other-cni check: a cluster that already has a network. Romana's CNI config must
// be the only file in /etc/cni/net.d (romana/romana#154): the kubelet uses the first
// file by name, so with another network's config there, new pods get the other
// network's addresses, or none. What the API shows of another network: its DaemonSet,
// the annotations its agent writes on Nodes, and running pods with its addresses.

// MigrationNote is the README section that says how to move from another network.
const MigrationNote = "README.md#moving-from-another-network"

// cniSign is how a network shows itself through the API.
type cniSign struct {
	name string
	// daemonSets are the names its manifests and charts give its node agent.
	daemonSets []string
	// podLabels are labels (key=value) on its agent's pod template.
	podLabels []string
	// images are image repositories (the path, without registry and tag) of its agent.
	images []string
	// annotations are prefixes of the Node annotations its agent writes.
	annotations []string
}

// otherCNIs are the networks other-cni recognises.
var otherCNIs = []cniSign{
	{name: "Calico", daemonSets: []string{"calico-node"}, podLabels: []string{"k8s-app=calico-node"},
		images: []string{"calico/node"}, annotations: []string{"projectcalico.org/"}},
	{name: "Cilium", daemonSets: []string{"cilium", "cilium-agent"}, podLabels: []string{"k8s-app=cilium", "app.kubernetes.io/name=cilium-agent"},
		images: []string{"cilium/cilium"}, annotations: []string{"io.cilium.network.", "network.cilium.io/"}},
	{name: "Flannel", daemonSets: []string{"kube-flannel-ds", "kube-flannel-ds-amd64", "kube-flannel-ds-arm64", "flannel"}, podLabels: []string{"app=flannel", "k8s-app=flannel"},
		images: []string{"flannel/flannel", "coreos/flannel", "flannelcni/flannel", "flannel-io/flannel"}, annotations: []string{"flannel.alpha.coreos.com/"}},
	{name: "Weave Net", daemonSets: []string{"weave-net"}, podLabels: []string{"name=weave-net"},
		images: []string{"weaveworks/weave-kube", "weaveworks/weave-npc", "rajchaudhuri/weave-kube"}},
	{name: "Antrea", daemonSets: []string{"antrea-agent"}, podLabels: []string{"component=antrea-agent"},
		images: []string{"antrea/antrea-agent-ubuntu", "antrea/antrea-ubuntu", "antrea/antrea-agent"}, annotations: []string{"node.antrea.io/"}},
	{name: "kube-router", daemonSets: []string{"kube-router"}, podLabels: []string{"k8s-app=kube-router"},
		images: []string{"cloudnativelabs/kube-router"}, annotations: []string{"kube-router.io/"}},
}

// otherCNINames lists the networks recognised, for messages and the README.
func otherCNINames() string {
	var n []string
	for _, c := range otherCNIs {
		n = append(n, c.name)
	}
	return strings.Join(n[:len(n)-1], ", ") + " or " + n[len(n)-1]
}

// imageRepo is an image reference's repository path without registry, tag or digest:
// "docker.io/calico/node:v3.27.0" -> "calico/node".
func imageRepo(ref string) string {
	ref, _, _ = strings.Cut(ref, "@")
	if i := strings.LastIndex(ref, ":"); i > strings.LastIndex(ref, "/") {
		ref = ref[:i]
	}
	if first, rest, ok := strings.Cut(ref, "/"); ok && (strings.ContainsAny(first, ".:") || first == "localhost") {
		ref = rest
	}
	return ref
}

// dsNetwork says which network a DaemonSet belongs to, and by what, or "".
func dsNetwork(ds appsv1.DaemonSet) (network, by string) {
	var images []string
	for _, cs := range [][]corev1.Container{ds.Spec.Template.Spec.InitContainers, ds.Spec.Template.Spec.Containers} {
		for _, c := range cs {
			images = append(images, c.Image)
		}
	}
	for _, s := range otherCNIs {
		if slices.Contains(s.daemonSets, ds.Name) {
			return s.name, "its name"
		}
		for _, l := range s.podLabels {
			k, v, _ := strings.Cut(l, "=")
			if got, ok := ds.Spec.Template.Labels[k]; ok && got == v {
				return s.name, "its pod label " + l
			}
		}
		for _, img := range images {
			repo := imageRepo(img)
			for _, want := range s.images {
				if repo == want || strings.HasSuffix(repo, "/"+want) {
					return s.name, "its image " + img
				}
			}
		}
	}
	return "", ""
}

// nodeNetworks lists the annotations of another network on n: "Calico on node a
// (projectcalico.org/IPv4Address)".
func nodeNetworks(n corev1.Node) map[string][]string {
	found := map[string][]string{}
	for k := range n.Annotations {
		for _, s := range otherCNIs {
			for _, p := range s.annotations {
				if strings.HasPrefix(k, p) {
					found[s.name] = append(found[s.name], k)
				}
			}
		}
	}
	for _, v := range found {
		sort.Strings(v)
	}
	return found
}

// romanaPod says whether p is one of Romana's own: the release's, or a 2016 install's
// (`app: romana-agent`/`romana-services`, the labels the chart keeps for adoption).
func romanaPod(p corev1.Pod, ns string) bool {
	if p.Namespace != ns {
		return false
	}
	return p.Labels["app.kubernetes.io/name"] == "romana" || strings.HasPrefix(p.Labels["app"], "romana-")
}

// romanaCIDRs are the ranges Romana gives (or gave) pods: services.cidr, and the --cidr
// of a romana-services already running in the namespace (the release's, or a 2016
// install's that migrate takes over), which may differ from the values of this command.
func romanaCIDRs(values netip.Prefix, dss []appsv1.DaemonSet, pods []corev1.Pod, ns string) []netip.Prefix {
	var out []netip.Prefix
	if values.IsValid() {
		out = append(out, values)
	}
	add := func(spec corev1.PodSpec) {
		for _, c := range spec.Containers {
			for _, a := range append(slices.Clone(c.Command), c.Args...) {
				if v, ok := strings.CutPrefix(a, "--cidr="); ok {
					if p, err := netip.ParsePrefix(v); err == nil && !slices.Contains(out, p) {
						out = append(out, p)
					}
				}
			}
		}
	}
	for _, d := range dss {
		if d.Namespace == ns && strings.HasPrefix(d.Name, "romana-services") {
			add(d.Spec.Template.Spec)
		}
	}
	// services.deploy=staticPod: romana-services is a mirror pod, not a DaemonSet.
	for _, p := range pods {
		if romanaPod(p, ns) && strings.HasPrefix(p.Name, "romana-services") {
			add(p.Spec)
		}
	}
	return out
}

// foreignPods are running pods on the pod network (not hostNetwork, not on a node's
// own address) whose address is in none of Romana's ranges, and which are not
// Romana's: another network gave them that address.
func foreignPods(pods []corev1.Pod, nodes []corev1.Node, romana []netip.Prefix, ns string) []string {
	nodeIPs := map[string]bool{}
	for _, n := range nodes {
		for _, a := range n.Status.Addresses {
			nodeIPs[a.Address] = true
		}
	}
	var out []string
	for _, p := range pods {
		if p.Status.Phase != corev1.PodRunning || p.Spec.HostNetwork || romanaPod(p, ns) {
			continue
		}
		ip, err := netip.ParseAddr(p.Status.PodIP)
		if err != nil || nodeIPs[p.Status.PodIP] || p.Status.PodIP == p.Status.HostIP {
			continue
		}
		if slices.ContainsFunc(romana, func(c netip.Prefix) bool { return c.Contains(ip) }) {
			continue
		}
		out = append(out, fmt.Sprintf("pod %s/%s has %s on %s", p.Namespace, p.Name, ip, p.Spec.NodeName))
	}
	sort.Strings(out)
	return out
}

// otherCNIState lists what other-cni looks at: every DaemonSet and every running pod.
func otherCNIState(ctx context.Context, cs kubernetes.Interface) ([]appsv1.DaemonSet, []corev1.Pod, error) {
	var dss []appsv1.DaemonSet
	var pods []corev1.Pod
	opts := metav1.ListOptions{Limit: 500}
	for {
		l, err := cs.AppsV1().DaemonSets("").List(ctx, opts)
		if err != nil {
			return nil, nil, fmt.Errorf("list DaemonSets: %w", err)
		}
		dss = append(dss, l.Items...)
		if opts.Continue = l.Continue; opts.Continue == "" {
			break
		}
	}
	opts = metav1.ListOptions{Limit: 500, FieldSelector: "status.phase=Running"}
	for {
		l, err := cs.CoreV1().Pods("").List(ctx, opts)
		if err != nil {
			return nil, nil, fmt.Errorf("list pods: %w", err)
		}
		pods = append(pods, l.Items...)
		if opts.Continue = l.Continue; opts.Continue == "" {
			break
		}
	}
	return dss, pods, nil
}

// otherCNI is the check: the DaemonSets, Node annotations and pods of another network.
func otherCNI(ns string, romana netip.Prefix, dss []appsv1.DaemonSet, pods []corev1.Pod, nodes []corev1.Node) Check {
	const name = "other-cni"
	var found []string
	for _, d := range dss {
		if netw, by := dsNetwork(d); netw != "" {
			found = append(found, fmt.Sprintf("%s: DaemonSet %s/%s (by %s)", netw, d.Namespace, d.Name, by))
		}
	}
	sort.Strings(found)
	var anns []string
	for _, n := range nodes {
		m := nodeNetworks(n)
		for _, netw := range keys(m) {
			anns = append(anns, fmt.Sprintf("%s: node %s's annotation %s", netw, n.Name, strings.Join(m[netw], ", ")))
		}
	}
	sort.Strings(anns)
	found = append(found, firstFew(anns, 5, "nodes' annotations")...)
	cidrs := romanaCIDRs(romana, dss, pods, ns)
	var ranges []string
	for _, c := range cidrs {
		ranges = append(ranges, c.String())
	}
	if fp := foreignPods(pods, nodes, cidrs, ns); len(fp) > 0 {
		where := "outside Romana's range " + strings.Join(ranges, ", ")
		if len(ranges) == 0 {
			where = "while Romana has no range"
		}
		found = append(found, fmt.Sprintf("running pods on another network's addresses (%s, not hostNetwork): %s", where, strings.Join(firstFew(fp, 5, "pods"), "; ")))
	}
	if len(found) > 0 {
		return Check{Name: name, Severity: Fail,
			Message: fmt.Sprintf("the cluster already has a network: %s. Romana's CNI config must be the only file in /etc/cni/net.d (romana/romana#154): "+
				"with another network's there, new pods get that network's addresses or none, and both networks' routes and iptables rules fight", strings.Join(found, "; ")),
			Fix: fmt.Sprintf("remove the other network first, in the order %s says (its DaemonSets, then its files in /etc/cni/net.d and its interfaces on every node, then restart the pods it addressed); a ✗ check cannot be skipped", MigrationNote)}
	}
	msg := fmt.Sprintf("no DaemonSet or Node annotation of %s, and no running pod outside Romana's range", otherCNINames())
	if len(ranges) > 0 {
		msg += " " + strings.Join(ranges, ", ")
	}
	return Check{Name: name, Severity: Pass, Message: msg}
}

// firstFew keeps the first n of list and counts the rest: "... and 3 more pods".
func firstFew(list []string, n int, what string) []string {
	if len(list) <= n {
		return list
	}
	return append(slices.Clone(list[:n]), fmt.Sprintf("and %d more %s", len(list)-n, what))
}
