package images

import (
	"archive/tar"
	"context"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	romana "github.com/romana/romanactl"
	"github.com/romana/romanactl/internal/chartsrc"
)

// airgapSource is a source registry with services (one image), agent (a two-platform
// index) and mysql, and the digests of each.
func airgapSource(t *testing.T) ([]string, map[string]v1.Hash) {
	t.Helper()
	src := newRegistry(t)
	refs := []string{src + "/romana/agent:v1", src + "/romana/mysql:5", src + "/romana/services:v1"}
	return refs, map[string]v1.Hash{"agent": seed(t, refs[0], true), "mysql": seed(t, refs[1], false), "services": seed(t, refs[2], false)}
}

// refusing is a real registry whose pushes of manifests under a name containing
// refuse are answered 403 while on is set.
func refusing(t *testing.T, refuse string) (string, *atomic.Bool) {
	t.Helper()
	on := &atomic.Bool{}
	on.Store(true)
	reg := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if on.Load() && r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/manifests/") && strings.Contains(r.URL.Path, refuse) {
			http.Error(w, `{"errors":[{"code":"DENIED","message":"push refused by policy"}]}`, http.StatusForbidden)
			return
		}
		reg.ServeHTTP(w, r)
	}))
	t.Cleanup(s.Close)
	return strings.TrimPrefix(s.URL, "http://"), on
}

func TestSaveLoad(t *testing.T) {
	ctx := context.Background()
	refs, want := airgapSource(t)
	ch, err := romana.Chart()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	out := filepath.Join(dir, "romana-images.tar")
	var bytesSeen atomic.Int64
	arch, err := Save(ctx, refs, out, SaveOptions{Options: Options{Insecure: true}, Chart: ch,
		Bytes: func(_ string, done, total int64) {
			if done > total {
				t.Errorf("progress %d of %d", done, total)
			}
			bytesSeen.Store(done)
		}})
	if err != nil {
		t.Fatal(err)
	}
	if bytesSeen.Load() == 0 {
		t.Error("no byte progress was reported")
	}
	if len(arch.Images) != 3 || arch.Chart == nil || arch.Chart.Name != "romana" {
		t.Fatalf("archive: %+v", arch)
	}
	for _, e := range arch.Images {
		if e.Digest != want[e.Name].String() {
			t.Errorf("%s saved as %s, source has %s", e.Name, e.Digest, want[e.Name])
		}
		if e.Name == "agent" && (len(e.Platforms) != 2 || !e.isIndex()) {
			t.Errorf("agent: want the whole two-platform index: %+v", e)
		}
	}
	if names := tarNames(t, out); !names["oci-layout"] || !names["index.json"] || !names[ArchiveManifest] {
		t.Errorf("not an OCI image layout with a table of contents: %v", names)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".*partial*")); len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}

	dst, on := refusing(t, "/agent/")
	to := dst + "/air"
	// The registry refuses agent: the others go, agent has no tag, and the error says so.
	_, s, err := Load(ctx, out, to, LoadOptions{Options: Options{Insecure: true}})
	if err != nil {
		t.Fatal(err)
	}
	if s.Copied != 3 || s.Fail != 1 || !strings.Contains(failed(s), "push refused by policy") {
		t.Fatalf("load with agent refused: %+v", s)
	}
	if _, err := head(t, to+"/agent:v1"); err == nil {
		t.Error("a refused push left a tag")
	}
	// A retry finishes: agent alone is pushed, the others are skipped.
	on.Store(false)
	_, s, err = Load(ctx, out, to, LoadOptions{Options: Options{Insecure: true}})
	if err != nil || s.Copied != 1 || s.Skipped != 3 || s.Fail != 0 {
		t.Fatalf("retry: %+v %v", s, err)
	}
	for n, d := range want {
		got, err := head(t, to+"/"+n+":"+map[string]string{"agent": "v1", "mysql": "5", "services": "v1"}[n])
		if err != nil || got.Digest != d {
			t.Errorf("%s at the destination: %v %v, want %s", n, got, err, d)
		}
	}
	// The chart is a Helm OCI artifact that Helm's registry client pulls.
	loaded, err := chartsrc.Load("oci://"+to+"/romana", chartsrc.Options{Version: ch.Metadata.Version, PlainHTTP: true})
	if err != nil || loaded.Metadata.Version != ch.Metadata.Version || len(loaded.Templates) != len(ch.Templates) {
		t.Fatalf("pull the loaded chart: %v", err)
	}
	// Idempotent: nothing to push the third time.
	if _, s, err = Load(ctx, out, to, LoadOptions{Options: Options{Insecure: true}}); err != nil || s.Skipped != 4 || s.Copied != 0 {
		t.Fatalf("third load: %+v %v", s, err)
	}
}

func (e ArchiveEntry) isIndex() bool {
	return strings.Contains(e.MediaType, "index") || strings.Contains(e.MediaType, "list")
}

func failed(s Summary) string {
	var b strings.Builder
	for _, r := range s.Results {
		b.WriteString(r.Error)
	}
	return b.String()
}

func TestSavePlatform(t *testing.T) {
	ctx := context.Background()
	refs, want := airgapSource(t)
	src, _ := name.ParseReference(refs[0], name.Insecure)
	idx, err := remote.Index(src)
	if err != nil {
		t.Fatal(err)
	}
	im, _ := idx.IndexManifest()
	var arm v1.Hash
	for _, m := range im.Manifests {
		if m.Platform.Architecture == "arm64" {
			arm = m.Digest
		}
	}
	out := filepath.Join(t.TempDir(), "arm.tar")
	p, _ := ParsePlatform("linux/arm64")
	arch, err := Save(ctx, refs, out, SaveOptions{Options: Options{Insecure: true}, Platforms: []v1.Platform{p}})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range arch.Images {
		if e.Name == "agent" && (e.Digest != arm.String() || e.SourceDigest != want["agent"].String()) {
			t.Errorf("agent for linux/arm64: %+v, want the arm64 image %s", e, arm)
		}
	}
	dst := newRegistry(t)
	if _, s, err := Load(ctx, out, dst+"/x", LoadOptions{Options: Options{Insecure: true}}); err != nil || s.Copied != 3 {
		t.Fatalf("load: %+v %v", s, err)
	}
	if got, err := head(t, dst+"/x/agent:v1"); err != nil || got.Digest != arm {
		t.Errorf("agent loaded as %v %v, want the arm64 image %s", got, err, arm)
	}
	// A platform no index has is named with what there is.
	p, _ = ParsePlatform("linux/s390x")
	_, err = Save(ctx, refs, filepath.Join(t.TempDir(), "x.tar"), SaveOptions{Options: Options{Insecure: true}, Platforms: []v1.Platform{p}})
	if err == nil || !strings.Contains(err.Error(), "has none of linux/s390x; it has linux/amd64, linux/arm64") {
		t.Errorf("unknown platform: %v", err)
	}
	if _, err := ParsePlatform("amd64"); err == nil {
		t.Error("ParsePlatform took amd64")
	}
}

// A save that fails leaves the file that was there, and no temporary file.
func TestSaveFailureLeavesNothing(t *testing.T) {
	refs, _ := airgapSource(t)
	dir := t.TempDir()
	out := filepath.Join(dir, "romana-images.tar")
	if err := os.WriteFile(out, []byte("the old archive"), 0o644); err != nil {
		t.Fatal(err)
	}
	missing := strings.Replace(refs[2], ":v1", ":v2", 1)
	_, err := Save(context.Background(), append(refs, missing), out, SaveOptions{Options: Options{Insecure: true}})
	if err == nil || !strings.Contains(err.Error(), "read "+missing+": not found") {
		t.Fatalf("want the missing image named: %v", err)
	}
	if b, _ := os.ReadFile(out); string(b) != "the old archive" {
		t.Error("a failed save changed the file")
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("a failed save left files: %v", entries)
	}

	// A registry that fails in the middle of the blobs: the file written so far is
	// not left behind, and the old one stays.
	reg := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	var blobs atomic.Int32
	flaky := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/blobs/") && blobs.Add(1) > 3 {
			http.Error(w, "boom", http.StatusInternalServerError)
			return
		}
		reg.ServeHTTP(w, r)
	}))
	t.Cleanup(flaky.Close)
	host := strings.TrimPrefix(flaky.URL, "http://")
	var mid []string
	for _, n := range []string{"agent:v1", "mysql:5", "services:v1"} {
		mid = append(mid, host+"/romana/"+n)
		seed(t, host+"/romana/"+n, n == "agent:v1")
	}
	_, err = Save(context.Background(), mid, out, SaveOptions{Options: Options{Insecure: true}})
	if err == nil || !strings.Contains(err.Error(), "HTTP 500") {
		t.Fatalf("want the registry's failure mid-save: %v", err)
	}
	if blobs.Load() <= 3 {
		t.Fatal("the failure came before any blob was written: the test would prove nothing")
	}
	if b, _ := os.ReadFile(out); string(b) != "the old archive" {
		t.Error("a save that failed mid-way changed the file")
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("a save that failed mid-way left files: %v", entries)
	}
}

// Bad archives are refused before anything is pushed, each with its own reason.
func TestLoadBadArchive(t *testing.T) {
	ctx := context.Background()
	refs, _ := airgapSource(t)
	dir := t.TempDir()
	good := filepath.Join(dir, "good.tar")
	if _, err := Save(ctx, refs, good, SaveOptions{Options: Options{Insecure: true}}); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	write := func(n string, b []byte) string {
		p := filepath.Join(dir, n)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	damaged := append([]byte{}, data...)
	// A byte inside the first blob's data (after its 512-byte header) is flipped.
	damaged[600] ^= 0xff
	tests := []struct {
		name, path, want string
	}{
		{"missing", filepath.Join(dir, "nope.tar"), "does not exist; write one with `romanactl images save -o nope.tar`"},
		{"truncated", write("cut.tar", data[:len(data)/2]), "is cut short"},
		{"not a tar", write("text.tar", []byte(strings.Repeat("hello\n", 200))), "is not a complete tar"},
		{"docker save", write("docker.tar", tarOf(t, map[string]string{"manifest.json": "[]", "repositories": "{}"})), "a `docker save` tarball, not an OCI image layout"},
		{"layout of another tool", write("oci.tar", tarOf(t, map[string]string{"oci-layout": `{"imageLayoutVersion":"1.0.0"}`, "index.json": `{"schemaVersion":2,"manifests":[]}`})), "without romana-images.json"},
		{"damaged blob", write("damaged.tar", damaged), "does not have that digest: the archive is damaged"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dst := newRegistry(t)
			_, s, err := Load(ctx, tt.path, dst+"/x", LoadOptions{Options: Options{Insecure: true}})
			if err == nil || !errors.Is(err, ErrBadArchive) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("want %q, got %v", tt.want, err)
			}
			if len(s.Results) != 0 {
				t.Errorf("pushed something: %+v", s)
			}
			if _, err := head(t, dst+"/x/mysql:5"); err == nil {
				t.Error("an image reached the registry")
			}
		})
	}
}

func tarNames(t *testing.T, p string) map[string]bool {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]bool{}
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out[h.Name] = true
	}
}

func tarOf(t *testing.T, files map[string]string) []byte {
	t.Helper()
	var b strings.Builder
	tw := tar.NewWriter(&b)
	for n, c := range files {
		if err := tw.WriteHeader(&tar.Header{Name: n, Mode: 0o644, Size: int64(len(c)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(c)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return []byte(b.String())
}
