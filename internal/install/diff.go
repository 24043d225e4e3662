package install

import (
	"sort"
	"strings"

	"github.com/pmezard/go-difflib/difflib"
	"helm.sh/helm/v3/pkg/releaseutil"
)

// ObjectDiff is the change to one object.
type ObjectDiff struct {
	// Object is "Kind/name".
	Object string `json:"object"`
	// Change is added, removed or changed.
	Change string `json:"change"`
	Diff   string `json:"diff"`
}

// DiffManifests compares two release manifests object by object. Secret data is masked
// on both sides: a diff shows that the password changed, never what it is.
func DiffManifests(from, to string) []ObjectDiff {
	a, b := objects(MaskSecrets(from)), objects(MaskSecrets(to))
	keys := map[string]bool{}
	for k := range a {
		keys[k] = true
	}
	for k := range b {
		keys[k] = true
	}
	var names []string
	for k := range keys {
		names = append(names, k)
	}
	sort.Strings(names)
	var out []ObjectDiff
	for _, k := range names {
		x, y := a[k], b[k]
		if x == y {
			continue
		}
		change := "changed"
		switch {
		case x == "":
			change = "added"
		case y == "":
			change = "removed"
		}
		d, _ := difflib.GetUnifiedDiffString(difflib.UnifiedDiff{
			A: difflib.SplitLines(x), B: difflib.SplitLines(y),
			FromFile: "deployed " + k, ToFile: "upgrade " + k, Context: 3,
		})
		out = append(out, ObjectDiff{Object: k, Change: change, Diff: d})
	}
	return out
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
