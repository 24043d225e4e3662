package install

import (
	"cmp"
	"fmt"
	"slices"
	"sort"
	"strings"

	"helm.sh/helm/v3/pkg/chart"
	corev1 "k8s.io/api/core/v1"

	"github.com/romana/romanactl/internal/compat"
)

// containerRuntime: can the chosen CNI plugin attach a pod on every node? romanactl's
// own plugin (cni.plugin=romanactl) takes any CNI_NETNS path and needs nothing on the
// host, so every runtime serves it. The v0.9.3 line's own plugin (cni.plugin=upstream)
// runs `docker run` on the node and reads a dockershim-style netns path
// (chart/compat.yaml, cniRuntimes), so a node whose runtime is containerd or CRI-O
// would leave every new pod without an address. Each Node says its runtime in
// status.nodeInfo.containerRuntimeVersion ("docker://28.2.2", "containerd://2.1.0").
func containerRuntime(ch *chart.Chart, tag, plugin string, nodes []corev1.Node) Check {
	const name = "container-runtime"
	if tag == "" {
		tag = ch.Metadata.AppVersion
	}
	if plugin != "upstream" {
		all := map[string][]string{}
		for _, n := range nodes {
			v := n.Status.NodeInfo.ContainerRuntimeVersion
			scheme, _, _ := strings.Cut(v, "://")
			all[cmp.Or(scheme, "(none)")] = append(all[cmp.Or(scheme, "(none)")], n.Name)
		}
		msg := "cni.plugin=romanactl: romanactl's own plugin takes any CNI_NETNS path and needs no docker on the node, so every runtime can attach pods"
		if len(all) > 0 {
			msg += "; " + byRuntime(all)
		}
		return Check{Name: name, Severity: Pass, Message: msg}
	}
	table, err := compat.Load(ch)
	if err != nil {
		return Check{Name: name, Severity: Warn, Message: "cannot read the chart's compatibility table: " + err.Error()}
	}
	line, known := table.For(tag)
	if !known || len(line.CNIRuntimes) == 0 {
		return Check{Name: name, Severity: Pass, Message: fmt.Sprintf("tag %s: no container runtime is known to be needed", tag)}
	}
	// Runtime (the scheme) -> the nodes that run it, and the versions seen.
	unfit, unknown := map[string][]string{}, map[string][]string{}
	fit := 0
	for _, n := range nodes {
		v := n.Status.NodeInfo.ContainerRuntimeVersion
		scheme, _, hasScheme := strings.Cut(v, "://")
		switch {
		case hasScheme && slices.Contains(line.CNIRuntimes, scheme):
			fit++
		case scheme == "containerd" || scheme == "cri-o":
			unfit[scheme] = append(unfit[scheme], n.Name)
		default:
			unknown[cmp.Or(v, "(none)")] = append(unknown[cmp.Or(v, "(none)")], n.Name)
		}
	}
	needs := strings.Join(line.CNIRuntimes, " or ")
	why := fmt.Sprintf("cni.plugin=upstream: Romana %s's CNI plugin runs `docker run %s` on the node and reads CNI_NETNS as /proc/<pid>/ns/net, dockershim's form", line.Name, line.CNIImage)
	switch {
	case len(unfit) > 0:
		return Check{Name: name, Severity: Fail,
			Message: fmt.Sprintf("%s; %s: these nodes have no docker and give /var/run/netns paths, so no pod there would get an address", why, byRuntime(unfit)),
			Fix:     fmt.Sprintf("use romanactl's own plugin, which attaches pods on every runtime: --cni-plugin=romanactl (cni.plugin); or run those nodes on Docker Engine with cri-dockerd (their containerRuntimeVersion then reads docker://…): Kubernetes removed dockershim in 1.24, so %s is what the upstream plugin needs", needs)}
	case len(unknown) > 0:
		return Check{Name: name, Severity: Warn,
			Message: fmt.Sprintf("%s; %s: not %s, so the plugin may find no docker there", why, byRuntime(unknown), needs),
			Fix:     "use --cni-plugin=romanactl (cni.plugin), which needs no docker; or, if these nodes run Docker Engine with cri-dockerd, acknowledge it with --skip-check container-runtime"}
	}
	return Check{Name: name, Severity: Pass, Message: fmt.Sprintf("cni.plugin=upstream: all %d node(s) run %s, which Romana %s's CNI plugin needs", fit, needs, line.Name)}
}

// byRuntime says which nodes run which runtime: "containerd on worker-1, worker-2".
func byRuntime(m map[string][]string) string {
	var parts []string
	for _, rt := range keys(m) {
		nodes := m[rt]
		sort.Strings(nodes)
		list := nodes
		more := ""
		if len(list) > 5 {
			list, more = list[:5], fmt.Sprintf(" and %d more", len(nodes)-5)
		}
		parts = append(parts, fmt.Sprintf("%s on %s%s", rt, strings.Join(list, ", "), more))
	}
	return strings.Join(parts, "; ")
}
