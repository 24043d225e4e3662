package testcluster

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestClusterRunsADaemonSet proves the local control plane is real enough for romanactl:
// nodes become Ready with podCIDRs, and a DaemonSet's pods are scheduled and Running.
func TestClusterRunsADaemonSet(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: needs the control plane binaries (make controlplane)")
	}
	ctx := context.Background()
	c, err := Start(ctx, Options{BinDir: "../../bin", Dir: t.TempDir(), Workers: 3, Log: testWriter{t}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop()
	nodes, err := c.Client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil || len(nodes.Items) != 4 {
		t.Fatalf("nodes: %v %d", err, len(nodes.Items))
	}
	for _, n := range nodes.Items {
		if !strings.HasPrefix(n.Spec.PodCIDR, "10.244.") {
			t.Errorf("node %s podCIDR %q", n.Name, n.Spec.PodCIDR)
		}
	}
	sv, err := c.Client.Discovery().ServerVersion()
	if err != nil || sv.GitVersion != KubernetesVersion {
		t.Fatalf("server version %v %v", sv, err)
	}
	labels := map[string]string{"app": "probe"}
	ds := &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: "probe", Namespace: "default"},
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					Tolerations: []corev1.Toleration{{Operator: corev1.TolerationOpExists}},
					Containers:  []corev1.Container{{Name: "c", Image: "example.invalid/probe:1"}},
				},
			},
		},
	}
	if _, err := c.Client.AppsV1().DaemonSets("default").Create(ctx, ds, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		got, err := c.Client.AppsV1().DaemonSets("default").Get(ctx, "probe", metav1.GetOptions{})
		if err == nil && got.Status.DesiredNumberScheduled == 4 && got.Status.NumberReady == 4 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("DaemonSet not 4/4 ready: %+v", got.Status)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if _, err := os.Stat(c.KubeconfigPath); err != nil {
		t.Fatal(err)
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}
