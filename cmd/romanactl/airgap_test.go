package main

import (
	"archive/tar"
	"bytes"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/romana/romanactl/internal/registrytest"
)

// chartTags are the tags of the chart's images as registrytest seeds them.
var chartTags = map[string]string{"services": "v0.9.3.7", "agent": "v0.9.3.7", "mysql": "5", "kubectl": "v1.34.0", "busybox": "1.37", "romanactl-cni": "0.1.0"}

// saved writes an images archive of the chart's images from a seeded source registry
// and returns its path and the source digests by name.
func saved(t *testing.T, extra ...string) (string, map[string]string) {
	t.Helper()
	src, digests := srcRegistry(t, "v0.9.3.7")
	out := filepath.Join(t.TempDir(), "romana-images.tar")
	r := run(t, append([]string{"images", "save", "-o", out, "--registry", src + "/romana", "--tag", "v0.9.3.7", "--insecure"}, extra...)...)
	if r.code != 0 || !strings.Contains(r.stdout, "saved 6 images and chart romana ") || !strings.Contains(r.stdout, "romanactl images load "+out+" --to REGISTRY/ORG") {
		t.Fatalf("images save: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	return out, digests
}

// TestImagesSaveLoadCLI: save from one registry, load into another (digests kept, the
// chart readable by --chart oci://), load again (everything skipped), a registry that
// refuses one push (exit 1, named; a retry finishes), and bad input (exit 2, nothing
// pushed).
func TestImagesSaveLoadCLI(t *testing.T) {
	out, digests := saved(t)
	if strings.Contains(run(t, "images", "save", "--help").stdout, "\r") {
		t.Fatal("help has a carriage return")
	}
	var refuse atomic.Bool
	refuse.Store(true)
	reg := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if refuse.Load() && r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/services/manifests/") {
			http.Error(w, `{"errors":[{"code":"DENIED","message":"quota exceeded"}]}`, http.StatusForbidden)
			return
		}
		reg.ServeHTTP(w, r)
	}))
	t.Cleanup(s.Close)
	to := strings.TrimPrefix(s.URL, "http://") + "/air"

	r := run(t, "images", "load", out, "--to", to, "--insecure")
	if r.code != 1 || !strings.Contains(r.stdout, "pushed 6, skipped 0 (already there), failed 1") || !strings.Contains(r.stdout, "✗ services: push "+to+"/services:v0.9.3.7: auth: the registry refused") ||
		!strings.Contains(r.stderr, "run the same command again once the registry takes them") {
		t.Fatalf("load with a refused push: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if strings.Contains(r.stdout+r.stderr, "\r") {
		t.Error("byte progress was printed though stderr is no terminal")
	}
	refuse.Store(false)
	r = mustOK(t, run(t, "images", "load", out, "--to", to, "--insecure"))
	if !strings.Contains(r.stdout, "pushed 1, skipped 6 (already there), failed 0") || !strings.Contains(r.stdout, "= agent already at "+to+"/agent:v0.9.3.7") {
		t.Fatalf("retry:\n%s", r.stdout)
	}
	for n, d := range digests {
		ref, _ := name.ParseReference(to+"/"+n+":"+chartTags[n], name.Insecure)
		if got, err := remote.Head(ref); err != nil || got.Digest.String() != d {
			t.Errorf("%s at the destination: %v %v, want %s", n, got, err, d)
		}
	}
	r = mustOK(t, run(t, "images", "load", out, "--to", to, "--insecure"))
	if !strings.Contains(r.stdout, "pushed 0, skipped 7 (already there), failed 0") {
		t.Errorf("third load:\n%s", r.stdout)
	}
	// The loaded chart is the chart: romanactl renders from it.
	tpl := mustOK(t, run(t, "template", "--chart", "oci://"+to+"/romana", "--version", "0.1.0", "--plain-http", "--registry", to, "--tag", "v0.9.3.7"))
	if !strings.Contains(tpl.stdout, to+"/agent:v0.9.3.7") {
		t.Errorf("template from the loaded chart:\n%.400s", tpl.stdout)
	}

	// Bad input: exit 2, said why, nothing pushed.
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cut := filepath.Join(dir, "cut.tar")
	_ = os.WriteFile(cut, data[:len(data)/3], 0o644)
	other := filepath.Join(dir, "other.tar")
	_ = os.WriteFile(other, tarOf(t, map[string]string{"manifest.json": "[]"}), 0o644)
	empty, stop := registrytest.Start()
	t.Cleanup(stop)
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"images", "load", filepath.Join(dir, "nope.tar"), "--to", empty + "/x", "--insecure"}, "nope.tar does not exist; write one with `romanactl images save -o nope.tar`"},
		{[]string{"images", "load", cut, "--to", empty + "/x", "--insecure"}, "cut short"},
		{[]string{"images", "load", other, "--to", empty + "/x", "--insecure"}, "a `docker save` tarball, not an OCI image layout"},
		{[]string{"images", "load", out}, "--to is required"},
		{[]string{"images", "load", out, "--to", "Registry.example.com/Romana"}, "upper case"},
		{[]string{"images", "load", "--to", empty + "/x"}, "images load takes one FILE"},
		{[]string{"images", "save"}, "-o is required"},
		{[]string{"images", "save", "-o", dir}, "is a directory"},
		{[]string{"images", "save", "-o", filepath.Join(dir, "x.tar"), "--platform", "amd64"}, `--platform "amd64": not os/arch`},
	} {
		r := run(t, tt.args...)
		if r.code != 2 || !strings.Contains(r.stderr, tt.want) {
			t.Errorf("%v: exit %d, want 2 with %q\n%s%s", tt.args, r.code, tt.want, r.stdout, r.stderr)
		}
	}
	ref, _ := name.ParseReference(empty+"/x/mysql:5", name.Insecure)
	if _, err := remote.Head(ref); err == nil {
		t.Error("a refused archive pushed an image")
	}
	if _, err := os.Stat(filepath.Join(dir, "x.tar")); err == nil {
		t.Error("a refused save wrote its file")
	}
}

// TestImagesSavePlatformCLI: --platform keeps one platform of the agent index, and a
// platform no index has is refused (exit 2) naming the ones there are.
func TestImagesSavePlatformCLI(t *testing.T) {
	all, _ := saved(t)
	one, _ := saved(t, "--platform", "linux/arm64")
	a, _ := os.Stat(all)
	b, _ := os.Stat(one)
	if b.Size() >= a.Size() {
		t.Errorf("the linux/arm64 archive (%d bytes) is not smaller than the whole one (%d)", b.Size(), a.Size())
	}
	src, _ := srcRegistry(t, "v0.9.3.7")
	r := run(t, "images", "save", "-o", filepath.Join(t.TempDir(), "x.tar"), "--registry", src+"/romana", "--tag", "v0.9.3.7", "--insecure", "--platform", "linux/s390x")
	if r.code != 2 || !strings.Contains(r.stderr, "has none of linux/s390x; it has linux/amd64, linux/arm64") {
		t.Errorf("unknown platform: exit %d\n%s", r.code, r.stderr)
	}
}

// TestImagesProgressOnATerminal runs the real binary with stderr on a terminal
// (script(1) gives it a pty): the bytes of each image are shown on one rewritten line.
// With stderr on a pipe (TestImagesSaveLoadCLI) they are not.
func TestImagesProgressOnATerminal(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: builds the binary")
	}
	script, err := exec.LookPath("script")
	if err != nil {
		t.Fatalf("script(1) not found (util-linux; make host-tools): %v", err)
	}
	bin := filepath.Join(t.TempDir(), "romanactl")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	src, _ := srcRegistry(t, "v0.9.3.7")
	out := filepath.Join(t.TempDir(), "x.tar")
	cmdline := bin + " images save -o " + out + " --registry " + src + "/romana --tag v0.9.3.7 --insecure"
	got, err := exec.Command(script, "-qec", cmdline, "/dev/null").CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", cmdline, err, got)
	}
	if !strings.Contains(string(got), "\r\033[K  agent: ") || !strings.Contains(string(got), " / ") {
		t.Errorf("no byte progress on a terminal:\n%q", got)
	}
}

func tarOf(t *testing.T, files map[string]string) []byte {
	t.Helper()
	var b bytes.Buffer
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
	return b.Bytes()
}

// TestClusterImagesLoadedInstall: the air-gapped flow ends in an install. The source
// registry is gone after the save; the images are loaded into another registry, and
// `install --registry` against it passes images-exist, and --pin-digests pins the
// digests the source had.
func TestClusterImagesLoadedInstall(t *testing.T) {
	cluster(t)
	src, digests := srcRegistry(t, "v0.9.3.7")
	out := filepath.Join(t.TempDir(), "romana-images.tar")
	mustOK(t, run(t, "images", "save", "-o", out, "--registry", src+"/romana", "--tag", "v0.9.3.7", "--insecure"))
	inside, stop := registrytest.Start()
	t.Cleanup(stop)
	reg := inside + "/romana"
	mustOK(t, run(t, "images", "load", out, "--to", reg, "--insecure"))
	r := mustOK(t, rc(t, "install", "--registry", reg, "--tag", "v0.9.3.7", "--pin-digests", "--insecure"))
	if !strings.Contains(r.stdout, "✓ images-exist") || !strings.Contains(r.stdout, "all 6 images exist") {
		t.Errorf("images-exist against the loaded registry:\n%s", r.stdout)
	}
	for _, n := range []string{"agent", "services", "mysql"} {
		if !strings.Contains(r.stdout, "pinned "+reg+"/"+n+":"+chartTags[n]+" -> "+digests[n]) {
			t.Errorf("%s not pinned to the source's digest %s:\n%s", n, digests[n], r.stdout)
		}
	}
	if img := ds(t, "romana-agent").Spec.Template.Spec.Containers[0].Image; img != reg+"/agent@"+digests["agent"] {
		t.Errorf("agent image %s, want %s", img, reg+"/agent@"+digests["agent"])
	}
}
