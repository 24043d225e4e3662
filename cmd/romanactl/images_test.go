package main

import (
	"encoding/json"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/romana/romanactl/internal/images"
	"github.com/romana/romanactl/internal/registrytest"
)

var imageLineRE = regexp.MustCompile(`(?m)^\s+image: "?([^"\s]+)"?$`)

// TestImagesListMatchesTemplate: the list is exactly the set of images in the render.
func TestImagesListMatchesTemplate(t *testing.T) {
	cases := [][]string{
		{"--env=kubeadm"}, {"--env=kops"},
		{"--env=custom", "--cidr=10.112.0.0/12", "--cluster-ip=10.0.0.99", "--cluster-ip-cidr=10.0.0.0/16"},
		{"--env=kubeadm", "--services-as=static-pod"},
		{"--env=kubeadm", "--registry=registry.example.com:5000/mirror", "--tag=v0.9.3"},
	}
	for _, args := range cases {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			tpl := mustOK(t, run(t, append([]string{"template"}, args...)...))
			set := map[string]bool{}
			for _, m := range imageLineRE.FindAllStringSubmatch(tpl.stdout, -1) {
				set[m[1]] = true
			}
			var want []string
			for k := range set {
				want = append(want, k)
			}
			sort.Strings(want)
			list := mustOK(t, run(t, append([]string{"images", "list"}, args...)...))
			got := strings.Fields(list.stdout)
			if strings.Join(got, " ") != strings.Join(want, " ") || len(got) != 6 {
				t.Fatalf("images list %v\ntemplate has %v", got, want)
			}
			js := mustOK(t, run(t, append([]string{"images", "list", "-o", "json"}, args...)...))
			var imgs []images.Image
			if err := json.Unmarshal([]byte(js.stdout), &imgs); err != nil || len(imgs) != 6 {
				t.Fatalf("%v %s", err, js.stdout)
			}
			for _, i := range imgs {
				if !strings.Contains(i.Image, "/"+i.Name+":") {
					t.Errorf("name %q does not match %q", i.Name, i.Image)
				}
			}
		})
	}
}

// srcRegistry is a real registry server on loopback, seeded with the chart's images
// under <host>/romana (agent as a two-platform index). It returns the host and each
// image's digest.
func srcRegistry(t *testing.T, tag string) (string, map[string]string) {
	t.Helper()
	host, stop := registrytest.Start()
	t.Cleanup(stop)
	digests, err := registrytest.Seed(host, "romana", tag)
	if err != nil {
		t.Fatal(err)
	}
	return host, digests
}

// TestImagesMirrorCLI tries the flow a new user would: list, mirror to a plain-HTTP
// local registry with --insecure, mirror again.
func TestImagesMirrorCLI(t *testing.T) {
	src, digests := srcRegistry(t, "v0.9.3.7")
	dst, stop := registrytest.Start()
	t.Cleanup(stop)
	to := dst + "/romana"
	args := []string{"--registry", src + "/romana", "--tag", "v0.9.3.7"}

	r := run(t, append([]string{"images", "mirror", "--to", to, "--insecure", "--dry-run"}, args...)...)
	if r.code != 0 || !strings.Contains(r.stdout, "dry run: 6 to copy") || !strings.Contains(r.stdout, "would copy "+src+"/romana/agent:v0.9.3.7 -> "+to+"/agent:v0.9.3.7") {
		t.Fatalf("dry run: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = run(t, append([]string{"images", "mirror", "--to", to, "--insecure"}, args...)...)
	if r.code != 0 || !strings.Contains(r.stdout, "copied 6, skipped 0, failed 0") {
		t.Fatalf("mirror: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	for n, d := range digests {
		tag := map[string]string{"services": "v0.9.3.7", "agent": "v0.9.3.7", "mysql": "5", "kubectl": "v1.34.0", "busybox": "1.37", "romanactl-cni": "0.1.0"}[n]
		ref, _ := name.ParseReference(to+"/"+n+":"+tag, name.Insecure)
		got, err := remote.Head(ref)
		if err != nil || got.Digest.String() != d {
			t.Errorf("%s at the destination: %v %v, want %s", n, got, err, d)
		}
	}
	r = run(t, append([]string{"images", "mirror", "--to", to, "--insecure"}, args...)...)
	if r.code != 0 || !strings.Contains(r.stdout, "copied 0, skipped 6, failed 0") {
		t.Fatalf("second mirror: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	// The mirrored images are where --registry looks: listing with the destination as
	// registry gives the destination references.
	l := mustOK(t, run(t, "images", "list", "--registry", to, "--tag", "v0.9.3.7"))
	if !strings.Contains(l.stdout, to+"/agent:v0.9.3.7") {
		t.Errorf("images list --registry %s:\n%s", to, l.stdout)
	}
	// A missing source image: exit 1, named, and the rest still handled.
	r = run(t, append([]string{"images", "mirror", "--to", to + "x", "--insecure", "--set", "datastore.image.tag=gone"}, args...)...)
	if r.code != 1 || !strings.Contains(r.stdout, "copied 5, skipped 0, failed 1") || !strings.Contains(r.stdout, "mysql:gone: not found") {
		t.Fatalf("missing image: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	// An unreachable registry is a network error, and says so.
	if r := run(t, "images", "mirror", "--to", to, "--registry", "127.0.0.1:1/romana"); r.code != 1 || !strings.Contains(r.stdout, "network:") {
		t.Fatalf("unreachable source: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := run(t, "images", "mirror"); r.code != 2 || !strings.Contains(r.stderr, "--to is required") {
		t.Fatalf("no --to: exit %d %s", r.code, r.stderr)
	}
}
