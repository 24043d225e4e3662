package install

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

func fakeDS(name string, gen, observed int64, desired, ready, updated int32) *appsv1.DaemonSet {
	return &appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "kube-system", Generation: gen},
		Status: appsv1.DaemonSetStatus{ObservedGeneration: observed, DesiredNumberScheduled: desired, NumberReady: ready, UpdatedNumberScheduled: updated}}
}

// TestWaitFollowsTheRollout: the wait follows the DaemonSets by watch, reports nodes
// updated over total while the agent rolls, and returns as soon as the status says
// every node runs the new agent, not at a poll tick.
func TestWaitFollowsTheRollout(t *testing.T) {
	nodes := []*corev1.Node{{ObjectMeta: metav1.ObjectMeta{Name: "a"}}, {ObjectMeta: metav1.ObjectMeta{Name: "b"}}, {ObjectMeta: metav1.ObjectMeta{Name: "c"}}}
	cs := fake.NewClientset(nodes[0], nodes[1], nodes[2],
		fakeDS("romana-services", 2, 2, 1, 1, 1), fakeDS("romana-agent", 2, 2, 3, 3, 1))
	var mu sync.Mutex
	var lines []string
	done := make(chan error, 1)
	go func() {
		done <- Wait(context.Background(), cs, WaitOptions{Namespace: "kube-system", Timeout: 10 * time.Second, Services: true}, func(s string) {
			mu.Lock()
			lines = append(lines, s)
			mu.Unlock()
		})
	}()
	time.Sleep(300 * time.Millisecond)
	select {
	case err := <-done:
		t.Fatalf("returned while 1 of 3 agents was updated: %v %v", err, lines)
	default:
	}
	ds := cs.AppsV1().DaemonSets("kube-system")
	if _, err := ds.UpdateStatus(context.Background(), fakeDS("romana-agent", 2, 2, 3, 2, 2), metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	start := time.Now()
	if _, err := ds.UpdateStatus(context.Background(), fakeDS("romana-agent", 2, 2, 3, 3, 3), metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
		if lag := time.Since(start); lag > 200*time.Millisecond {
			t.Errorf("saw ready %v after the status said so", lag)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("did not return after the rollout finished: %v", lines)
	}
	mu.Lock()
	defer mu.Unlock()
	got := strings.Join(lines, "\n")
	for _, want := range []string{"waiting: romana-services 1/1 ready, romana-agent 3/3 ready, 1/3 updated (3 nodes)",
		"waiting: romana-services 1/1 ready, romana-agent 2/3 ready, 2/3 updated (3 nodes)",
		"ready: romana-services 1/1 ready, romana-agent 3/3 ready (3 nodes)"} {
		if !strings.Contains(got, want) {
			t.Errorf("progress lacks %q:\n%s", want, got)
		}
	}
}
