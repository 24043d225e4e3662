package install

import (
	"net/netip"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func daemonSet(ns, name, image string, labels map[string]string, args ...string) appsv1.DaemonSet {
	return appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: appsv1.DaemonSetSpec{Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: image, Args: args}}}}}}
}

func runningPod(ns, name, ip, node string, hostNetwork bool, labels map[string]string) corev1.Pod {
	return corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: labels},
		Spec:   corev1.PodSpec{NodeName: node, HostNetwork: hostNetwork},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: ip, HostIP: "172.18.0.20"}}
}

// TestOtherCNICheck: each sign of another network fails, named; Romana's own objects
// (the release's, a 2016 install's on its own --cidr) and hostNetwork pods do not.
func TestOtherCNICheck(t *testing.T) {
	romana := netip.MustParsePrefix("10.112.0.0/12")
	nodes := []corev1.Node{*node("worker-0", "172.18.0.20", "10.244.1.0/24", nil)}
	annotated := *node("worker-1", "172.18.0.21", "10.244.2.0/24", nil)
	annotated.Annotations = map[string]string{"projectcalico.org/IPv4Address": "172.18.0.21/24", "projectcalico.org/IPv4IPIPTunnelAddr": "192.168.1.1", "kwok.x-k8s.io/node": "fake"}
	romanaDSs := []appsv1.DaemonSet{
		daemonSet("kube-system", "romana-agent", "quay.io/romana/agent:v0.9.3.5", map[string]string{"app": "romana-agent"}),
		daemonSet("kube-system", "romana-services", "quay.io/romana/services:v0.9.3.5", map[string]string{"app": "romana-services"}, "--cidr=10.112.0.0/12"),
	}
	tests := []struct {
		name  string
		dss   []appsv1.DaemonSet
		pods  []corev1.Pod
		nodes []corev1.Node
		want  Severity
		in    []string
	}{
		{"a cluster with only Romana", romanaDSs, []corev1.Pod{
			runningPod("kube-system", "romana-agent-x", "172.18.0.20", "worker-0", true, map[string]string{"app": "romana-agent"}),
			runningPod("default", "web", "10.112.4.3", "worker-0", false, nil),
			runningPod("kube-system", "kube-proxy-x", "172.18.0.20", "worker-0", true, nil),
		}, nodes, Pass, []string{"no DaemonSet or Node annotation of Calico, Cilium, Flannel, Weave Net, Antrea or kube-router", "10.112.0.0/12"}},
		{"calico-node by name", []appsv1.DaemonSet{daemonSet("kube-system", "calico-node", "docker.io/calico/node:v3.27.0", nil)}, nil, nodes, Fail,
			[]string{"Calico: DaemonSet kube-system/calico-node (by its name)", "only file in /etc/cni/net.d", MigrationNote}},
		{"cilium by label", []appsv1.DaemonSet{daemonSet("cilium-system", "agent", "example.com/x:1", map[string]string{"k8s-app": "cilium"})}, nil, nodes, Fail,
			[]string{"Cilium: DaemonSet cilium-system/agent (by its pod label k8s-app=cilium)"}},
		{"flannel by image behind a mirror", []appsv1.DaemonSet{daemonSet("kube-flannel", "net", "mirror.example.com:5000/flannel/flannel:v0.25.1@sha256:abc", nil)}, nil, nodes, Fail,
			[]string{"Flannel: DaemonSet kube-flannel/net (by its image mirror.example.com:5000/flannel/flannel:v0.25.1@sha256:abc)"}},
		{"weave, antrea, kube-router", []appsv1.DaemonSet{daemonSet("kube-system", "weave-net", "weaveworks/weave-kube:2.8.1", nil), daemonSet("kube-system", "antrea-agent", "antrea/antrea-agent-ubuntu:v2.0.0", nil), daemonSet("kube-system", "kr", "cloudnativelabs/kube-router:v2.1.0", nil)}, nil, nodes, Fail,
			[]string{"Weave Net: DaemonSet kube-system/weave-net", "Antrea: DaemonSet kube-system/antrea-agent", "kube-router: DaemonSet kube-system/kr (by its image"}},
		{"a node annotation", nil, nil, []corev1.Node{annotated}, Fail,
			[]string{"Calico: node worker-1's annotation projectcalico.org/IPv4Address, projectcalico.org/IPv4IPIPTunnelAddr"}},
		{"a pod on another network's address", romanaDSs, []corev1.Pod{runningPod("default", "web-1", "10.244.1.7", "worker-0", false, nil)}, nodes, Fail,
			[]string{"pod default/web-1 has 10.244.1.7 on worker-0", "outside Romana's range 10.112.0.0/12"}},
		{"a 2016 install on its own --cidr is not another network", []appsv1.DaemonSet{daemonSet("kube-system", "romana-services", "quay.io/romana/services:v0.9.3", map[string]string{"app": "romana-services"}, "--cidr=10.0.0.0/16")},
			[]corev1.Pod{runningPod("default", "old", "10.0.3.4", "worker-0", false, nil)}, nodes, Pass, []string{"10.112.0.0/12, 10.0.0.0/16"}},
		{"a pod on the node's address (hostPort-like, runtime reports the host IP)", nil, []corev1.Pod{runningPod("default", "h", "172.18.0.20", "worker-0", false, nil)}, nodes, Pass, nil},
		{"Romana's own pod off the pod network", nil, []corev1.Pod{runningPod("kube-system", "romana-services-abc", "10.9.9.9", "worker-0", false, map[string]string{"app.kubernetes.io/name": "romana"})}, nodes, Pass, nil},
		{"pods beyond five are counted", nil, []corev1.Pod{
			runningPod("a", "p1", "10.244.1.1", "w", false, nil), runningPod("a", "p2", "10.244.1.2", "w", false, nil), runningPod("a", "p3", "10.244.1.3", "w", false, nil),
			runningPod("a", "p4", "10.244.1.4", "w", false, nil), runningPod("a", "p5", "10.244.1.5", "w", false, nil), runningPod("a", "p6", "10.244.1.6", "w", false, nil)}, nodes, Fail,
			[]string{"and 1 more pods"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := otherCNI("kube-system", romana, tt.dss, tt.pods, tt.nodes)
			text := c.Message + "; " + c.Fix
			if c.Name != "other-cni" || c.Severity != tt.want {
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

func TestImageRepo(t *testing.T) {
	for in, want := range map[string]string{
		"calico/node":                           "calico/node",
		"docker.io/calico/node:v3.27.0":         "calico/node",
		"localhost:5000/cilium/cilium@sha256:1": "cilium/cilium",
		"quay.io/romana/agent:v0.9.3.5":         "romana/agent",
		"ghcr.io/flannel-io/flannel:v0.25.1":    "flannel-io/flannel",
	} {
		if got := imageRepo(in); got != want {
			t.Errorf("imageRepo(%q) = %q, want %q", in, got, want)
		}
	}
}
