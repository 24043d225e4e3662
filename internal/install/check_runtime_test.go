package install

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	romana "github.com/romana/romanactl"
)

// TestContainerRuntimeCheck: nodes that report each runtime. With the upstream plugin,
// Docker nodes pass; containerd or CRI-O nodes fail, named by runtime, and the fix
// names romanactl's plugin; a runtime nobody knows warns; a line without a runtime
// need (a tag of no known line) passes. With romanactl's plugin every runtime passes,
// a mixed cluster too, and the check says which nodes run which.
func TestContainerRuntimeCheck(t *testing.T) {
	ch, err := romana.Chart()
	if err != nil {
		t.Fatal(err)
	}
	node := func(name, rt string) corev1.Node {
		return corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}, Status: corev1.NodeStatus{NodeInfo: corev1.NodeSystemInfo{ContainerRuntimeVersion: rt}}}
	}
	tests := []struct {
		name   string
		plugin string
		tag    string
		nodes  []corev1.Node
		want   Severity
		in     []string
	}{
		{"docker everywhere", "upstream", "", []corev1.Node{node("a", "docker://28.2.2"), node("b", "docker://20.10.7")}, Pass, []string{"all 2 node(s) run docker"}},
		{"containerd and cri-o", "upstream", "v0.9.3.5", []corev1.Node{node("a", "docker://28.2.2"), node("w2", "containerd://2.1.0"), node("w1", "containerd://1.7.1"), node("c", "cri-o://1.30.0")},
			Fail, []string{"containerd on w1, w2; cri-o on c", "docker run quay.io/romana/cni", "Docker Engine with cri-dockerd", "--cni-plugin=romanactl"}},
		{"unknown runtime", "upstream", "v0.9.3", []corev1.Node{node("a", "kwok-v0.8.0"), node("b", "")}, Warn, []string{"(none) on b; kwok-v0.8.0 on a", "--skip-check container-runtime"}},
		{"many nodes are counted, not all listed", "upstream", "", []corev1.Node{node("n1", "containerd://2"), node("n2", "containerd://2"), node("n3", "containerd://2"), node("n4", "containerd://2"), node("n5", "containerd://2"), node("n6", "containerd://2"), node("n7", "containerd://2")},
			Fail, []string{"containerd on n1, n2, n3, n4, n5 and 2 more"}},
		{"a tag of no known line needs nothing", "upstream", "my-build-7", []corev1.Node{node("a", "containerd://2.1.0")}, Pass, []string{"no container runtime is known to be needed"}},
		{"romanactl's plugin on a mixed cluster", "romanactl", "v0.9.3.5", []corev1.Node{node("a", "docker://28.2.2"), node("w1", "containerd://2.1.0"), node("c", "cri-o://1.30.0")},
			Pass, []string{"cni.plugin=romanactl", "every runtime", "containerd on w1; cri-o on c; docker on a"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := containerRuntime(ch, tt.tag, tt.plugin, tt.nodes)
			text := c.Message + "; " + c.Fix
			if c.Name != "container-runtime" || c.Severity != tt.want {
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
