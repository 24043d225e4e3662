package main

import (
	"io/fs"
	"maps"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestClusterNoOpReadsOneRecord: a no-op upgrade reads only what it needs of the
// release's history. With several revisions stored, it lists the records once (by
// their metadata) and reads one Secret, the newest; Helm's Storage.Last, which it used
// twice, lists every record with its data and decodes each. --debug shows every
// request. Nor does it rewrite the kubeconfig's discovery cache (Helm's upgrade
// invalidates it to read the cluster's capabilities, and writes a file per API group).
func TestClusterNoOpReadsOneRecord(t *testing.T) {
	cluster(t)
	mustOK(t, rc(t, "install", "--skip-check", "images-exist", "--wait=false"))
	for _, iface := range []string{"eth1", "eth2", "eth0"} {
		mustOK(t, rc(t, "upgrade", "--nat-interface="+iface, "--wait=false"))
	}
	r := mustOK(t, rc(t, "upgrade", "--debug"))
	if !strings.Contains(r.stdout, "No changes: revision 4 is already deployed") {
		t.Fatalf("not a no-op at revision 4:\n%s", r.stdout)
	}
	lists := regexp.MustCompile(`(?m)GET \S+/namespaces/kube-system/secrets\?labelSelector=name%3Dromana%2Cowner%3Dhelm\S* 200`).FindAllString(r.stderr, -1)
	reads := regexp.MustCompile(`(?m)GET \S+/namespaces/kube-system/secrets/sh\.helm\.release\.v1\.romana\.v(\d+)\S* 200`).FindAllStringSubmatch(r.stderr, -1)
	if len(lists) != 1 || len(reads) != 1 || reads[0][1] != "4" {
		t.Errorf("a no-op upgrade with 4 revisions listed the records %d time(s) and read %d record(s) (%v), want one list and one read of revision 4:\n%s",
			len(lists), len(reads), reads, r.stderr)
	}

	// The discovery cache, once written, is read, not rewritten.
	cache := t.TempDir()
	mustOK(t, rc(t, "upgrade", "--cache-dir", cache))
	before := modTimes(t, cache)
	if len(before) == 0 {
		t.Fatal("no discovery cache written")
	}
	mustOK(t, rc(t, "upgrade", "--cache-dir", cache))
	if after := modTimes(t, cache); !maps.Equal(before, after) {
		t.Errorf("a no-op upgrade rewrote the discovery cache: %d files before, %d after, or their times changed", len(before), len(after))
	}
}

// modTimes is every file under dir with its modification time.
func modTimes(t *testing.T, dir string) map[string]time.Time {
	t.Helper()
	out := map[string]time.Time{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		out[p] = info.ModTime()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}
