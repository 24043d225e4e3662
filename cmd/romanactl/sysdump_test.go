package main

import (
	"archive/tar"
	"compress/gzip"
	"encoding/base64"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/romana/romanactl/internal/diag"
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
