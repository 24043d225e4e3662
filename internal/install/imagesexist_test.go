package install

import (
	"context"
	"strings"
	"testing"

	"github.com/romana/romanactl/internal/images"
)

// TestImagesExistSummarises: unanswered registries give one short ‼ line naming each
// registry and why, not every image with its full error; the per-image answers are in
// Detail, for -o json and --debug.
func TestImagesExistSummarises(t *testing.T) {
	// Closed loopback ports stand for registries nobody answers at (an air gap).
	manifest := `apiVersion: v1
kind: Pod
metadata:
  name: a
spec:
  containers:
  - name: a
    image: 127.0.0.1:1/romana/agent:v0.9.3
  - name: b
    image: 127.0.0.1:1/romana/services:v0.9.3
  - name: c
    image: 127.0.0.1:2/library/mysql:5
`
	c := imagesExist(context.Background(), manifest, images.Options{})
	if c.Severity != Warn {
		t.Fatalf("%+v", c)
	}
	want := "could not confirm 3 of 3 images, no answer from 127.0.0.1:1: network; 127.0.0.1:2: network; an air-gapped cluster may pull from a mirror"
	if c.Message != want {
		t.Errorf("message:\n got %s\nwant %s", c.Message, want)
	}
	if !strings.Contains(c.Fix, "--debug or -o json") {
		t.Errorf("the fix does not say where the detail is: %s", c.Fix)
	}
	if len(c.Detail) != 3 {
		t.Fatalf("detail: %q", c.Detail)
	}
	for i, img := range []string{"127.0.0.1:1/romana/agent:v0.9.3", "127.0.0.1:1/romana/services:v0.9.3", "127.0.0.1:2/library/mysql:5"} {
		if !strings.HasPrefix(c.Detail[i], img+" (network: ") {
			t.Errorf("detail %d: %s", i, c.Detail[i])
		}
	}
}
