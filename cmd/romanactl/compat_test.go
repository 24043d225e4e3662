package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/romana/romanactl/internal/install"
	"github.com/romana/romanactl/internal/registrytest"
)

// TestClusterImagesExist: before any write, the pre-flight asks the registry for every
// image of the release. A tag that is not there is ✗ (exit 2, nothing written); a
// registry nobody answers for is ‼, named as such; all present is ✓.
func TestClusterImagesExist(t *testing.T) {
	cluster(t)
	src, _ := srcRegistry(t, "v0.9.3.7")
	reg := src + "/romana"

	r := mustOK(t, rc(t, "check", "--pre", "--registry", reg, "--tag", "v0.9.3.7"))
	if !strings.Contains(r.stdout, "✓ images-exist") || !strings.Contains(r.stdout, "all 6 images exist") {
		t.Errorf("all present:\n%s", r.stdout)
	}

	// A tag nobody pushed: ✗, exit 2, the image named; install writes nothing.
	r = rc(t, "install", "--registry", reg, "--tag", "v0.9.3.6")
	if r.code != 2 || !strings.Contains(r.stdout, "✗ images-exist") || !strings.Contains(r.stdout, reg+"/agent:v0.9.3.6 (not found") ||
		!strings.Contains(r.stdout, reg+"/services:v0.9.3.6") || strings.Contains(r.stdout, "mysql:5 (") {
		t.Fatalf("missing tag: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if n := len(releaseSecrets(t)); n != 0 {
		t.Fatalf("a refused install stored %d release revisions", n)
	}

	// Only the agent is missing: only it is named.
	only, stop := registrytest.Start()
	t.Cleanup(stop)
	for n, tag := range registrytest.ChartImages("v0.9.3.7") {
		if n == "agent" {
			continue
		}
		ref, _ := name.ParseReference(only+"/romana/"+n+":"+tag, name.Insecure)
		img, _ := random.Image(64, 1)
		if err := remote.Write(ref, img); err != nil {
			t.Fatal(err)
		}
	}
	r = rc(t, "check", "--pre", "--registry", only+"/romana", "--tag", "v0.9.3.7")
	if r.code != 2 || !strings.Contains(r.stdout, "✗ images-exist") || !strings.Contains(r.stdout, "not in the registry: "+only+"/romana/agent:v0.9.3.7 (not found") ||
		strings.Contains(r.stdout, "services:v0.9.3.7 (") {
		t.Fatalf("agent missing: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	// A registry nobody answers at (a closed loopback port stands for an air gap): ‼,
	// and the install goes on.
	r = rc(t, "check", "--pre", "--registry", "127.0.0.1:1/romana", "-o", "json")
	var rep install.Report
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("%v\n%s%s", err, r.stdout, r.stderr)
	}
	found := false
	for _, c := range rep.Checks {
		if c.Name == "images-exist" {
			found = true
			// One short line that names the registry and why; each image's answer
			// is in detail.
			if c.Severity != install.Warn || !strings.Contains(c.Message, "could not confirm 6 of 6 images, no answer from 127.0.0.1:1: network") ||
				len(c.Message) > 250 || len(c.Detail) != 6 || !strings.Contains(c.Detail[0], "(network: ") {
				t.Errorf("unreachable registry: %+v", c)
			}
		}
	}
	if !found {
		t.Errorf("no images-exist check in %s", r.stdout)
	}
	// In the table the line stays short; --debug lists each image.
	r = rc(t, "check", "--pre", "--registry", "127.0.0.1:1/romana", "--debug")
	for _, l := range strings.Split(r.stdout, "\n") {
		if strings.Contains(l, "images-exist") && len(l) > 250 {
			t.Errorf("a %d-character images-exist line:\n%s", len(l), l)
		}
	}
	if !strings.Contains(r.stderr, "romanactl: images-exist: 127.0.0.1:1/romana/agent:") || strings.Contains(r.stdout, "127.0.0.1:1/romana/agent:") {
		t.Errorf("--debug does not list each image, or the table does:\n%s\n%s", r.stdout, r.stderr)
	}
}

// TestClusterRomanaCompat: the pre-flight says, from chart/compat.yaml and the
// cluster's discovery, that v0.9.3's listener watches NetworkPolicies under an API
// group this cluster does not serve, naming the cluster version; a tag of no known
// line is "unknown", not a pass; a v2.x tag is refused before any request.
func TestClusterRomanaCompat(t *testing.T) {
	c := cluster(t)
	r := mustOK(t, rc(t, "check", "--pre"))
	sv, err := c.Client.Discovery().ServerVersion()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"‼ romana-compat", "tag v0.9.3.5 (line v0.9.3)", "extensions/v1beta1", "this cluster (" + sv.GitVersion + ") does not serve", "NetworkPolicies will NOT be enforced"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("check --pre lacks %q:\n%s", want, r.stdout)
		}
	}
	r = mustOK(t, rc(t, "check", "--pre", "--tag", "my-own-build"))
	if !strings.Contains(r.stdout, "‼ romana-compat") || !strings.Contains(r.stdout, "unknown: tag my-own-build belongs to no Romana line") {
		t.Errorf("unknown tag:\n%s", r.stdout)
	}
	// Acknowledged, it shows as skipped.
	r = mustOK(t, rc(t, "check", "--pre", "--skip-check", "romana-compat"))
	if !strings.Contains(r.stdout, "- romana-compat") {
		t.Errorf("--skip-check romana-compat:\n%s", r.stdout)
	}
	r = rc(t, "install", "--tag", "v2.0.1")
	if r.code != 2 || !strings.Contains(r.stderr, `image.tag (--tag) "v2.0.1": a tag of Romana's v2.x line, which this chart cannot drive`) || strings.Contains(r.stdout, "Pre-flight") {
		t.Fatalf("v2 tag: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}
