// Package images lists the images a rendered Romana install pulls, copies them to
// another registry (multi-arch, digest-preserving, idempotent), and resolves them to
// digests. It never prints: progress goes to a callback.
package images

import (
	"fmt"
	"path"
	"sort"

	"github.com/google/go-containerregistry/pkg/name"

	"helm.sh/helm/v3/pkg/releaseutil"
	"sigs.k8s.io/yaml"
)

// Image is one image reference an install pulls.
type Image struct {
	// Name is the image's last path element, without tag or digest ("services").
	Name string `json:"name"`
	// Image is the full reference ("quay.io/romana/services:v0.9.3.5").
	Image string `json:"image"`
}

// List returns every image referenced by a container or init container of any object
// in the manifests, sorted and without duplicates. It reads the rendered objects, not
// a hand-kept list: a container added to the chart shows up with no other change.
func List(manifests ...string) ([]Image, error) {
	seen := map[string]bool{}
	for _, m := range manifests {
		for _, doc := range releaseutil.SplitManifests(m) {
			var obj any
			if err := yaml.Unmarshal([]byte(doc), &obj); err != nil {
				return nil, fmt.Errorf("parse rendered manifest: %w", err)
			}
			collect(obj, seen)
		}
	}
	var out []Image
	for ref := range seen {
		out = append(out, Image{Name: NameOf(ref), Image: ref})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Image < out[j].Image })
	return out, nil
}

// collect walks any object and records the image of every entry of a "containers" or
// "initContainers" list, wherever the pod spec sits (DaemonSet, Pod, Job, ...).
func collect(v any, seen map[string]bool) {
	switch x := v.(type) {
	case map[string]any:
		for k, child := range x {
			if k == "containers" || k == "initContainers" || k == "ephemeralContainers" {
				if list, ok := child.([]any); ok {
					for _, c := range list {
						if cm, ok := c.(map[string]any); ok {
							if img, ok := cm["image"].(string); ok && img != "" {
								seen[img] = true
							}
						}
					}
				}
			}
			collect(child, seen)
		}
	case []any:
		for _, child := range x {
			collect(child, seen)
		}
	}
}

// NameOf is an image reference's last path element without tag or digest:
// quay.io/romana/agent:v1 -> agent, registry:5000/x/mysql@sha256:... -> mysql.
func NameOf(ref string) string {
	r, err := name.ParseReference(ref, name.WeakValidation)
	if err != nil {
		return ""
	}
	return path.Base(r.Context().RepositoryStr())
}
