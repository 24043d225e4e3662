package testcluster

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"golang.org/x/mod/modfile"
	"golang.org/x/mod/semver"
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
		if pc, err := netip.ParsePrefix(n.Spec.PodCIDR); err != nil || !netip.MustParsePrefix(c.ClusterCIDR).Contains(pc.Addr()) {
			t.Errorf("node %s podCIDR %q", n.Name, n.Spec.PodCIDR)
		}
	}
	// The binaries of the minor asked for run, stamped with the version its module pins.
	if want := pinnedVersion(t, c.Minor); c.Version != want {
		t.Fatalf("server version %s, want %s (test/controlplane/%s)", c.Version, want, c.Minor)
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

// pinnedVersion is the k8s.io/kubernetes version test/controlplane/<minor>/go.mod requires.
func pinnedVersion(t *testing.T, minor string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("../../test/controlplane", minor, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	f, err := modfile.ParseLax("go.mod", b, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range f.Require {
		if r.Mod.Path == "k8s.io/kubernetes" {
			return r.Mod.Version
		}
	}
	t.Fatalf("test/controlplane/%s/go.mod requires no k8s.io/kubernetes", minor)
	return ""
}

// TestDefaultMinorIsTheNewest: tests, make and CI run the newest minor the project
// builds; adding a newer module without moving DefaultMinor fails here.
func TestDefaultMinorIsTheNewest(t *testing.T) {
	entries, err := os.ReadDir("../../test/controlplane")
	if err != nil {
		t.Fatal(err)
	}
	var minors []string
	for _, e := range entries {
		if e.IsDir() {
			minors = append(minors, e.Name())
		}
	}
	slices.SortFunc(minors, func(a, b string) int { return semver.Compare("v"+a, "v"+b) })
	if len(minors) < 3 || minors[len(minors)-1] != DefaultMinor {
		t.Fatalf("minors %v: DefaultMinor %s is not the newest (or fewer than three)", minors, DefaultMinor)
	}
	for _, m := range minors {
		if !strings.HasPrefix(pinnedVersion(t, m), "v"+m+".") {
			t.Errorf("test/controlplane/%s pins %s", m, pinnedVersion(t, m))
		}
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}
