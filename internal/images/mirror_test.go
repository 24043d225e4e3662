package images

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/romana/romanactl/internal/registrytest"
)

// newRegistry starts a real registry server (go-containerregistry's) on loopback.
func newRegistry(t *testing.T) string {
	t.Helper()
	host, stop := registrytest.Start()
	t.Cleanup(stop)
	return host
}

// seed pushes a random single-arch image, or a two-platform index, and returns its digest.
func seed(t *testing.T, ref string, multiArch bool) v1.Hash {
	t.Helper()
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if multiArch {
		idx, err := registrytest.Index("amd64", "arm64")
		if err != nil {
			t.Fatal(err)
		}
		if err := remote.WriteIndex(r, idx); err != nil {
			t.Fatal(err)
		}
		d, _ := idx.Digest()
		return d
	}
	img, err := random.Image(512, 2)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(r, img); err != nil {
		t.Fatal(err)
	}
	d, _ := img.Digest()
	return d
}

func head(t *testing.T, ref string) (*v1.Descriptor, error) {
	t.Helper()
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	return remote.Head(r)
}

func TestMirror(t *testing.T) {
	ctx := context.Background()
	src, dst := newRegistry(t), newRegistry(t)
	refs := []string{src + "/romana/services:v1", src + "/romana/agent:v1", src + "/romana/mysql:5"}
	want := map[string]v1.Hash{
		"services": seed(t, refs[0], false),
		"agent":    seed(t, refs[1], true), // a two-platform index
		"mysql":    seed(t, refs[2], false),
	}
	to := dst + "/mirror"
	o := Options{Insecure: true}

	// A dry run plans and writes nothing.
	o.DryRun = true
	s := Mirror(ctx, refs, to, o)
	if s.Planned != 3 || s.Copied != 0 {
		t.Fatalf("dry run: %+v", s)
	}
	if _, err := head(t, to+"/services:v1"); err == nil {
		t.Fatal("a dry run wrote to the destination")
	}
	o.DryRun = false

	s = Mirror(ctx, refs, to, o)
	if s.Copied != 3 || s.Fail != 0 {
		t.Fatalf("first mirror: %+v", s)
	}
	for n, d := range want {
		tag := map[string]string{"services": "v1", "agent": "v1", "mysql": "5"}[n]
		got, err := head(t, to+"/"+n+":"+tag)
		if err != nil || got.Digest != d {
			t.Fatalf("%s: digest %v, want %v (%v)", n, got, d, err)
		}
	}
	// The index is still multi-arch, with both platforms.
	r, _ := name.ParseReference(to+"/agent:v1", name.Insecure)
	idx, err := remote.Index(r)
	if err != nil {
		t.Fatal(err)
	}
	m, _ := idx.IndexManifest()
	if len(m.Manifests) != 2 || m.Manifests[0].Platform == nil || m.Manifests[1].Platform.Architecture != "arm64" {
		t.Fatalf("index at the destination: %+v", m.Manifests)
	}
	for _, res := range s.Results {
		if res.Source == refs[1] && res.Platforms != 2 {
			t.Errorf("platforms reported: %d", res.Platforms)
		}
	}

	// A second run copies nothing.
	if s := Mirror(ctx, refs, to, o); s.Copied != 0 || s.Skipped != 3 {
		t.Fatalf("second mirror: %+v", s)
	}
	// After one image is deleted at the destination, only that one is copied.
	dref, _ := name.ParseReference(to+"/mysql:5", name.Insecure)
	if err := remote.Delete(dref); err != nil {
		t.Fatal(err)
	}
	s = Mirror(ctx, refs, to, o)
	if s.Copied != 1 || s.Skipped != 2 || s.Results[2].Outcome != Copied {
		t.Fatalf("after a delete: %+v", s)
	}

	// A missing source image fails clearly; the others are still copied.
	fresh := dst + "/other"
	s = Mirror(ctx, append([]string{src + "/romana/missing:1"}, refs...), fresh, o)
	if s.Fail != 1 || s.Copied != 3 || !strings.Contains(s.Results[0].Error, "not found") || !strings.Contains(s.Results[0].Error, src+"/romana/missing:1") {
		t.Fatalf("missing source: %+v", s)
	}
}

func TestMirrorAuthRefused(t *testing.T) {
	src := newRegistry(t)
	ref := src + "/romana/services:v1"
	seed(t, ref, false)
	// A destination that wants credentials nobody has.
	deny := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
		http.Error(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`, http.StatusUnauthorized)
	}))
	t.Cleanup(deny.Close)
	s := Mirror(context.Background(), []string{ref}, strings.TrimPrefix(deny.URL, "http://")+"/mirror", Options{Insecure: true})
	if s.Fail != 1 || !strings.Contains(s.Results[0].Error, "auth:") || !strings.Contains(s.Results[0].Error, "docker login") {
		t.Fatalf("%+v", s)
	}
}

func TestResolve(t *testing.T) {
	src := newRegistry(t)
	ref := src + "/romana/agent:v1"
	d := seed(t, ref, true)
	got, err := Resolve(context.Background(), []string{ref}, Options{Insecure: true})
	if err != nil || got[ref] != d.String() {
		t.Fatalf("%v %v", got, err)
	}
	if _, err := Resolve(context.Background(), []string{src + "/romana/none:1"}, Options{Insecure: true}); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Fatalf("%v", err)
	}
}

func TestListAndNames(t *testing.T) {
	m := "---\nkind: DaemonSet\nspec:\n  template:\n    spec:\n      initContainers:\n        - name: i\n          image: r/x/init:1\n      containers:\n        - name: a\n          image: r/x/a:1\n        - name: b\n          image: r/x/a:1\n---\nkind: Pod\nspec:\n  containers:\n    - image: reg:5000/m@sha256:" + strings.Repeat("a", 64) + "\n"
	imgs, err := List(m)
	if err != nil || len(imgs) != 3 || imgs[0].Name != "a" || imgs[1].Name != "init" || imgs[2].Name != "m" {
		t.Fatalf("%+v %v", imgs, err)
	}
	if d, _ := Destination("quay.io/romana/services:v0.9.3.5", "reg.example.com:5000/mirror/", false); d != "reg.example.com:5000/mirror/services:v0.9.3.5" {
		t.Errorf("destination %s", d)
	}
	dig := "sha256:" + strings.Repeat("b", 64)
	if d, _ := Destination("reg:5000/x/mysql@"+dig, "mirror.local/o", false); d != "mirror.local/o/mysql@"+dig {
		t.Errorf("destination of a digest reference: %s", d)
	}
}
