package install

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

// TestCleanupReportsNameEveryAgentNode: the reports come from the cleanup pods'
// termination messages, and every node the agent ran on is in the result: one whose
// cleanup pod never ran, one whose cleanup ended without a report, and one with no
// cleanup pod at all are each named with their reason, not left out of the count.
func TestCleanupReportsNameEveryAgentNode(t *testing.T) {
	pod := func(name, app, node string, init *corev1.ContainerStateTerminated) *corev1.Pod {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "kube-system", Labels: map[string]string{"app": app},
			OwnerReferences: []metav1.OwnerReference{{UID: "this-run"}}}, Spec: corev1.PodSpec{NodeName: node}}
		if init != nil {
			p.Status.InitContainerStatuses = []corev1.ContainerStatus{{Name: cleanupContainer, State: corev1.ContainerState{Terminated: init}}}
		}
		return p
	}
	report := "romana-cleanup: removed interface romana-gw\nromana-cleanup: done: removed 1, failed 0\n"
	cs := fake.NewClientset(
		pod("agent-a", "romana-agent", "a", nil), pod("agent-b", "romana-agent", "b", nil),
		pod("agent-c", "romana-agent", "c", nil), pod("agent-d", "romana-agent", "d", nil),
		pod("cleanup-a", CleanupName, "a", &corev1.ContainerStateTerminated{Message: report}),
		pod("cleanup-b", CleanupName, "b", nil),
		pod("cleanup-c", CleanupName, "c", &corev1.ContainerStateTerminated{ExitCode: 0}),
	)
	c := &Client{Kube: cs, Namespace: "kube-system"}
	ctx := context.Background()
	agent, err := c.podNodes(ctx, agentSelector)
	if err != nil {
		t.Fatal(err)
	}
	// A pod of an earlier run, on the node with no pod of this run, does not count.
	stale := pod("cleanup-d-old", CleanupName, "d", &corev1.ContainerStateTerminated{Message: report})
	stale.OwnerReferences[0].UID = "an-earlier-run"
	if _, err := cs.CoreV1().Pods("kube-system").Create(ctx, stale, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	reports, err := c.reports(ctx, CleanupName, "this-run")
	if err != nil {
		t.Fatal(err)
	}
	got := agentReports(agent, reports)
	if len(got) != 4 {
		t.Fatalf("want a report for each of the 4 agent nodes, got %+v", got)
	}
	// The pod that ended without a report is named with how it ended: it is deleted
	// with the cleanup, its log with it (issue #18's trial: the message had <namespace>
	// and <pod> placeholders in a kubectl logs for a pod already gone).
	want := map[string]string{"b": "did not finish before the timeout", "c": "cleanup pod kube-system/cleanup-c ended without one (exit code 0)", "d": "no cleanup pod ran there (the agent ran there"}
	for _, r := range got {
		if r.Node == "a" {
			if !r.Cleaned() || r.Removed != 1 || r.Lines[0] != "removed interface romana-gw" {
				t.Errorf("a: %+v", r)
			}
			continue
		}
		if r.Cleaned() || !strings.Contains(r.Error, want[r.Node]) {
			t.Errorf("%s: want an error with %q, got %+v", r.Node, want[r.Node], r)
		}
	}
}
