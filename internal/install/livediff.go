package install

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/pmezard/go-difflib/difflib"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
	"k8s.io/cli-runtime/pkg/resource"
	"k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/yaml"
)

// liveObject is one object of a manifest with its live state.
type liveObject struct {
	key  string // Kind/name
	info *resource.Info
	// desired is the object as the manifest renders it, as JSON.
	desired []byte
	// live is the object in the cluster (nil when absent).
	live *unstructured.Unstructured
}

// fetchLive builds the manifest's objects and reads each one's live state, in parallel.
func (c *Client) fetchLive(ctx context.Context, manifest string) ([]*liveObject, error) {
	infos, err := c.Cfg.KubeClient.Build(strings.NewReader(manifest), false)
	if err != nil {
		return nil, fmt.Errorf("build the objects: %w", err)
	}
	out := make([]*liveObject, len(infos))
	errs := make([]error, len(infos))
	var wg sync.WaitGroup
	for i, info := range infos {
		wg.Add(1)
		go func() {
			defer wg.Done()
			desired, err := runtime.Encode(unstructured.UnstructuredJSONScheme, info.Object)
			if err != nil {
				errs[i] = err
				return
			}
			o := &liveObject{key: info.Mapping.GroupVersionKind.Kind + "/" + info.Name, info: info, desired: desired}
			obj, err := resource.NewHelper(info.Client, info.Mapping).Get(info.Namespace, info.Name)
			switch {
			case apierrors.IsNotFound(err):
			case err != nil:
				errs[i] = fmt.Errorf("read %s: %w", o.key, err)
				return
			default:
				u, ok := obj.(*unstructured.Unstructured)
				if !ok {
					errs[i] = fmt.Errorf("read %s: unexpected %T", o.key, obj)
					return
				}
				o.live = u
			}
			out[i] = o
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// threeWayPatch is the patch Helm's upgrade sends for one object: a strategic merge
// patch from original (the last revision's object) to modified (the new one), applied
// over current (the live one), so that live changes to fields the chart sets are
// overwritten and other live fields are kept.
func threeWayPatch(o *liveObject, original, modified []byte) ([]byte, error) {
	typed, err := scheme.Scheme.New(o.info.Mapping.GroupVersionKind)
	if err != nil {
		return nil, fmt.Errorf("%s: not a built-in kind: %w", o.key, err)
	}
	meta, err := strategicpatch.NewPatchMetaFromStruct(typed)
	if err != nil {
		return nil, err
	}
	current, err := json.Marshal(o.live.Object)
	if err != nil {
		return nil, err
	}
	return strategicpatch.CreateThreeWayMergePatch(original, modified, current, meta, true)
}

// Drift names the objects whose live state differs from the last revision in fields
// the chart sets (someone's `kubectl edit`): an upgrade puts the chart's values back.
type Drift struct {
	Object string `json:"object"`
	// Patch is what re-applying the revision would change, as a JSON patch body.
	Patch string `json:"patch"`
}

// drift compares the live objects with the manifest they were deployed from.
func drift(objs []*liveObject, deployed map[string][]byte) []Drift {
	var out []Drift
	for _, o := range objs {
		orig, ok := deployed[o.key]
		if o.live == nil || !ok {
			continue
		}
		p, err := threeWayPatch(o, orig, orig)
		if err != nil || string(p) == "{}" {
			continue
		}
		out = append(out, Drift{Object: o.key, Patch: maskPatch(o.key, string(p))})
	}
	return out
}

// maskPatch hides a Secret's data in a drift patch.
func maskPatch(key, p string) string {
	if strings.HasPrefix(key, "Secret/") {
		return `{"data": "(changed, value hidden)"}`
	}
	return p
}

// manifestJSON splits a manifest into Kind/name -> the object as JSON.
func manifestJSON(manifest string) map[string][]byte {
	out := map[string][]byte{}
	for key, doc := range objects(manifest) {
		if j, err := yaml.YAMLToJSON([]byte(doc)); err == nil {
			out[key] = j
		}
	}
	return out
}

// LiveDiff is what an upgrade from the deployed manifest to the new one would change
// in the cluster, object by object: each object's live state against the API server's
// answer to a server-side dry run of the very patch the upgrade sends. A live edit
// shows up (and is marked drift), defaults the API server fills in do not, and a
// Secret's data shows only as "changed (value hidden)".
func (c *Client) LiveDiff(ctx context.Context, deployedManifest, newManifest string) ([]ObjectDiff, error) {
	return c.liveDiff(ctx, deployedManifest, newManifest, false)
}

// liveDiff is LiveDiff; withKept adds, per object, the fields set outside the release
// that the upgrade keeps (Kept), which an upgrade's diff must show and a take-over's
// (migrate) need not.
func (c *Client) liveDiff(ctx context.Context, deployedManifest, newManifest string, withKept bool) ([]ObjectDiff, error) {
	objs, err := c.fetchLive(ctx, newManifest)
	if err != nil {
		return nil, err
	}
	deployed := manifestJSON(deployedManifest)
	drifted := map[string]bool{}
	for _, d := range drift(objs, deployed) {
		drifted[d.Object] = true
	}
	seen := map[string]bool{}
	var out []ObjectDiff
	for _, o := range objs {
		seen[o.key] = true
		if o.live == nil {
			out = append(out, unifiedDiff(o.key, "added", "", cleanYAML(o.key, o.desired, nil, true)))
			continue
		}
		orig, ok := deployed[o.key]
		if !ok {
			orig, _ = json.Marshal(o.live.Object) // not in the release yet: Helm adopts it as it is
		}
		patch, err := threeWayPatch(o, orig, o.desired)
		if err != nil {
			return nil, err
		}
		liveJSON, _ := json.Marshal(o.live.Object)
		change := "changed"
		afterJSON, replaced := liveJSON, false
		if string(patch) != "{}" {
			after, err := resource.NewHelper(o.info.Client, o.info.Mapping).DryRun(true).
				Patch(o.info.Namespace, o.info.Name, types.StrategicMergePatchType, patch, nil)
			if err != nil {
				// Refused in place (an immutable field): the upgrade replaces the object.
				change = "replaced (" + strings.TrimSpace(err.Error()) + ")"
				afterJSON, replaced = o.desired, true
			} else {
				afterJSON, _ = json.Marshal(after)
			}
		}
		if drifted[o.key] {
			change += "; the live object was changed outside the release (kubectl edit?): the upgrade overwrites those changes"
		}
		d := ObjectDiff{Object: o.key, Change: change}
		if from, to := cleanYAML(o.key, liveJSON, afterJSON, false), cleanYAML(o.key, afterJSON, liveJSON, true); from != to {
			d = unifiedDiff(o.key, change, from, to)
		}
		if withKept && !replaced {
			if d.Kept, err = c.kept(o, afterJSON); err != nil {
				return nil, err
			}
		}
		switch {
		case d.Diff != "":
		case d.Kept != nil:
			d.Change = keptChange
		default:
			continue
		}
		out = append(out, d)
	}
	for key, orig := range deployed {
		if !seen[key] {
			out = append(out, unifiedDiff(key, "removed", cleanYAML(key, orig, nil, false), ""))
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Object < out[j].Object })
	return out, nil
}

func unifiedDiff(key, change, from, to string) ObjectDiff {
	return ObjectDiff{Object: key, Change: change, Diff: unifiedDiffText("live "+key, "upgrade "+key, from, to)}
}

func unifiedDiffText(fromFile, toFile, from, to string) string {
	d, _ := difflib.GetUnifiedDiffString(difflib.UnifiedDiff{
		A: difflib.SplitLines(from), B: difflib.SplitLines(to),
		FromFile: fromFile, ToFile: toFile, Context: 3,
	})
	return d
}

// cleanYAML renders an object for a diff: without what the API server keeps for
// itself (managedFields, resourceVersion, uid, timestamps, generation, status), and
// with a Secret's data replaced by markers: "(value hidden)", except on the target side
// of a diff where it differs from other: "(changed, value hidden)", so the change shows
// as a line and the value never does.
func cleanYAML(key string, obj, other []byte, target bool) string {
	var m, o map[string]any
	if json.Unmarshal(obj, &m) != nil {
		return ""
	}
	_ = json.Unmarshal(other, &o)
	for _, f := range [][]string{{"metadata", "managedFields"}, {"metadata", "resourceVersion"}, {"metadata", "uid"},
		{"metadata", "creationTimestamp"}, {"metadata", "generation"}, {"status"},
		{"metadata", "annotations", "deprecated.daemonset.template.generation"}} {
		unstructured.RemoveNestedField(m, f...)
	}
	if ann, ok, _ := unstructured.NestedMap(m, "metadata", "annotations"); ok && len(ann) == 0 {
		unstructured.RemoveNestedField(m, "metadata", "annotations")
	}
	if strings.HasPrefix(key, "Secret/") {
		for _, field := range []string{"data", "stringData"} {
			data, _, _ := unstructured.NestedMap(m, field)
			odata, _, _ := unstructured.NestedMap(o, field)
			for k, v := range data {
				marker := "(value hidden)"
				if target && other != nil && fmt.Sprint(odata[k]) != fmt.Sprint(v) {
					marker = "(changed, value hidden)"
				}
				data[k] = marker
			}
			if data != nil {
				_ = unstructured.SetNestedMap(m, data, field)
			}
		}
	}
	y, err := yaml.Marshal(m)
	if err != nil {
		return ""
	}
	return string(y)
}
