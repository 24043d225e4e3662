package main

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/romana/romanactl/internal/diag"
	"github.com/romana/romanactl/internal/install"
)

// readBundle extracts a sysdump into name -> content.
func readBundle(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(gz)
	out := map[string]string{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(tr)
		out[strings.TrimPrefix(h.Name, "romana-sysdump/")] = string(b)
	}
}

// TestClusterSysdump: on the real control plane, a bundle with every item the issue
// lists, an index naming each file's source, the simulated nodes' missing container logs
// recorded as failed items (not fatal), and no Secret data: the password is searched
// for in plain text and base64 in every file. An absent release still gives a bundle.
func TestClusterSysdump(t *testing.T) {
	cluster(t)
	mustOK(t, rc(t, "install", "--skip-check", "images-exist"))
	pw := password(t)
	out := filepath.Join(t.TempDir(), "dump.tar.gz")
	r := mustOK(t, rc(t, "sysdump", "-o", out, "--since", "1h"))
	if !strings.Contains(r.stdout, "Wrote "+out) || !strings.Contains(r.stdout, "✓ release/manifest.yaml") {
		t.Errorf("output:\n%s", r.stdout)
	}
	files := readBundle(t, out)
	for _, want := range []string{"index.json", "release/history.json", "release/status.json", "release/values.yaml", "release/manifest.yaml",
		"cluster/daemonsets.yaml", "cluster/pods.yaml", "cluster/events.yaml", "cluster/nodes.yaml", "cluster/servicecidrs.yaml",
		"cluster/kubeadm-config.yaml", "preflight.json"} {
		if _, ok := files[want]; !ok {
			t.Errorf("the bundle lacks %s", want)
		}
	}
	var idx diag.Index
	if err := json.Unmarshal([]byte(files["index.json"]), &idx); err != nil {
		t.Fatal(err)
	}
	for _, it := range idx.Items {
		if _, ok := files[it.File]; !ok || it.Source == "" {
			t.Errorf("index item %+v has no file or no source", it)
		}
	}
	logFailures := 0
	for _, it := range idx.Failed {
		if strings.HasPrefix(it.File, "logs/") && it.Error != "" {
			logFailures++
		}
	}
	if logFailures == 0 {
		t.Errorf("kwok pods have no container logs, yet no log failure is recorded: %+v\n%s", idx.Failed, files["index.json"])
	}
	if !strings.Contains(files["preflight.json"], `"version-skew"`) || !strings.Contains(files["preflight.json"], "made with chart romana") {
		t.Errorf("preflight.json lacks version-skew's check of the release:\n%s", files["preflight.json"])
	}
	if !strings.Contains(files["release/history.json"], `"romanaVersion": "v0.9.3.5"`) {
		t.Errorf("release/history.json lacks the tag revision 1 deployed:\n%s", files["release/history.json"])
	}
	if !strings.Contains(files["release/manifest.yaml"], "password: <hidden>") || !strings.Contains(files["cluster/kubeadm-config.yaml"], "serviceSubnet") {
		t.Error("the manifest's Secret is not masked, or kubeadm-config was masked too")
	}
	for name, content := range files {
		for _, secret := range []string{pw, base64.StdEncoding.EncodeToString([]byte(pw))} {
			if strings.Contains(content, secret) {
				t.Fatalf("%s contains the datastore password", name)
			}
		}
	}

	// No release: still a bundle, the release items recorded as failed.
	mustOK(t, rc(t, "uninstall", "--timeout=60s"))
	out2 := filepath.Join(t.TempDir(), "dump2.tar.gz")
	mustOK(t, rc(t, "sysdump", "-o", out2))
	files = readBundle(t, out2)
	idx = diag.Index{}
	_ = json.Unmarshal([]byte(files["index.json"]), &idx)
	failed := map[string]bool{}
	for _, it := range idx.Failed {
		failed[it.File] = true
	}
	if !failed["release/values.yaml"] || files["cluster/nodes.yaml"] == "" || files["preflight.json"] == "" {
		t.Errorf("without a release: failed %v, files %d", failed, len(files))
	}
	// An existing file is never overwritten.
	if r := rc(t, "sysdump", "-o", out2); r.code != 1 || !strings.Contains(r.stderr, "file exists") {
		t.Errorf("overwrite: exit %d %s", r.code, r.stderr)
	}
}

// TestClusterSysdumpOfA2016Install: a 2016 install made with kubectl apply keeps the
// datastore password in plain env, in its pods, and in kubectl's last-applied
// annotation. The bundle holds Romana's DaemonSets and pods (found by the 2016 names
// and labels), with the annotation dropped and the env value masked, and no other
// software's objects: the password and a foreign DaemonSet's token are searched for in
// every file, in plain text and base64.
func TestClusterSysdumpOfA2016Install(t *testing.T) {
	originalSpecs(t)
	c := cluster(t)
	ctx := context.Background()
	pw := testPassword(t)
	// romana-services without its 2016 nodeSelector (no node has the role label), so
	// that its pods, with the password in their env, exist.
	applySpec(t, "romana-kubeadm.yml", pw, func(ds *appsv1.DaemonSet) {
		if ds.Name == "romana-services" {
			ds.Spec.Template.Spec.NodeSelector = nil
		}
	})
	token := testPassword(t)
	foreign := &appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Name: "other-vendor", Namespace: "kube-system"},
		Spec: appsv1.DaemonSetSpec{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "other-vendor"}},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "other-vendor"}},
				// hostNetwork: on this cluster kwok gives pod-network pods its nodes'
				// podCIDR addresses, which the pre-flight's other-cni rightly names as
				// another network's (a real 2016 cluster gives them Romana's).
				Spec: corev1.PodSpec{HostNetwork: true, Containers: []corev1.Container{{Name: "c", Image: "example.invalid/other:1", Env: []corev1.EnvVar{{Name: "API_TOKEN", Value: token}}}}}}}}
	if _, err := c.Client.AppsV1().DaemonSets("kube-system").Create(ctx, foreign, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = c.Client.AppsV1().DaemonSets("kube-system").Delete(context.Background(), foreign.Name, metav1.DeleteOptions{})
	}()
	deadline := time.Now().Add(60 * time.Second)
	for {
		l, err := c.Client.CoreV1().Pods("kube-system").List(ctx, metav1.ListOptions{LabelSelector: "app in (romana-services,other-vendor)"})
		if err == nil && len(l.Items) >= 2 && strings.Contains(fmt.Sprint(l.Items), "romana-services") && strings.Contains(fmt.Sprint(l.Items), "other-vendor") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no romana-services and other-vendor pods after 60s: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}

	out := filepath.Join(t.TempDir(), "dump.tar.gz")
	r := mustOK(t, rc(t, "sysdump", "-o", out))
	assertNoPassword(t, "sysdump's output", r.stdout+r.stderr, pw)
	files := readBundle(t, out)
	dss, pods := files["cluster/daemonsets.yaml"], files["cluster/pods.yaml"]
	for _, want := range []string{"name: romana-services", "name: romana-agent", "value: (value hidden)"} {
		if !strings.Contains(dss, want) {
			t.Errorf("cluster/daemonsets.yaml lacks %q:\n%s", want, dss)
		}
	}
	if !strings.Contains(pods, "app: romana-services") || !strings.Contains(pods, "value: (value hidden)") {
		t.Errorf("cluster/pods.yaml lacks the 2016 pods, or their password env unmasked:\n%s", pods)
	}
	for name, content := range files {
		assertNoPassword(t, name, content, pw)
		assertNoPassword(t, name+" (the foreign token)", content, token)
		if strings.Contains(content, "other-vendor") {
			t.Errorf("%s holds another software's objects:\n%s", name, content)
		}
		// managedFields may name the annotation's field (f:kubectl…), never its value.
		if strings.Contains(strings.ReplaceAll(content, "f:"+install.LastApplied, ""), install.LastApplied) {
			t.Errorf("%s holds kubectl's last-applied annotation:\n%s", name, content)
		}
	}
}
