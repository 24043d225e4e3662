package install

import (
	"strings"

	"helm.sh/helm/v3/pkg/releaseutil"
)

// ObjectDiff is the change to one object.
type ObjectDiff struct {
	// Object is "Kind/name".
	Object string `json:"object"`
	// Change is added, removed, changed (with why), or kept when the upgrade changes
	// nothing but the object keeps fields set outside the release (see Kept).
	Change string `json:"change"`
	Diff   string `json:"diff,omitempty"`
	// Kept is what the upgrade keeps of the live object that the chart does not set.
	Kept *Kept `json:"kept,omitempty"`
}

// objects splits a manifest into "Kind/name" -> YAML.
func objects(manifest string) map[string]string {
	out := map[string]string{}
	for _, doc := range releaseutil.SplitManifests(manifest) {
		kind, name := field(doc, "kind: "), metadataName(doc)
		if kind == "" {
			continue
		}
		out[kind+"/"+name] = strings.TrimSpace(doc) + "\n"
	}
	return out
}

func field(doc, prefix string) string {
	for _, l := range strings.Split(doc, "\n") {
		if strings.HasPrefix(l, prefix) {
			return strings.TrimSpace(strings.TrimPrefix(l, prefix))
		}
	}
	return ""
}

func metadataName(doc string) string {
	in := false
	for _, l := range strings.Split(doc, "\n") {
		switch {
		case l == "metadata:":
			in = true
		case in && strings.HasPrefix(l, "  name: "):
			return strings.TrimSpace(strings.TrimPrefix(l, "  name: "))
		case in && !strings.HasPrefix(l, " "):
			in = false
		}
	}
	return ""
}
