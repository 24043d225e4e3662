package install

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/cli-runtime/pkg/resource"
)

// Kept is what an upgrade keeps of one object's live state that the chart does not
// set: a field someone added by hand (`kubectl set env`, a rollout restart's
// annotation, a label). Helm's three-way patch removes only what the last revision set
// and the new one does not, so such a field survives this upgrade, every later one and
// every rollback, while `helm get manifest` never shows it.
type Kept struct {
	// By names the field managers other than Helm's that wrote the object (e.g.
	// kubectl-set, kubectl-edit, kubectl-rollout).
	By []string `json:"by"`
	// Diff is a unified diff from the object as the chart alone makes it to the object
	// the upgrade leaves: its + lines are the kept fields.
	Diff string `json:"diff"`
	// Remove is a kubectl command that removes them (a JSON patch of "remove" ops on the
	// object as the upgrade leaves it), or "" when no op can name them.
	Remove string `json:"remove,omitempty"`
}

// keptChange is the Change of an ObjectDiff that has kept fields and nothing else.
const keptChange = "kept"

// helmMarks are what Helm adds to every object it owns beside the manifest.
var helmMarks = []struct{ field, key string }{
	{"labels", "app.kubernetes.io/managed-by"},
	{"annotations", "meta.helm.sh/release-name"},
	{"annotations", "meta.helm.sh/release-namespace"},
}

// foreignManagers names the field managers that wrote obj other than the release's
// writers: Helm under its usual names (helm, romanactl, this binary, which is the name
// the SDK writes as) and any manager that set Helm's release-name annotation (a helm
// binary of another name that created the object). Status writers (the DaemonSet
// controller) are not counted. An object no one else wrote has nothing kept, and costs
// no request to check.
func foreignManagers(obj *unstructured.Unstructured) []string {
	writers := map[string]bool{"helm": true, "romanactl": true, filepath.Base(os.Args[0]): true}
	var out []string
	for _, e := range obj.GetManagedFields() {
		if e.Subresource != "" || writers[e.Manager] || slices.Contains(out, e.Manager) {
			continue
		}
		if e.Operation != metav1.ManagedFieldsOperationUpdate && e.Operation != metav1.ManagedFieldsOperationApply {
			continue
		}
		if e.FieldsV1 != nil && strings.Contains(string(e.FieldsV1.Raw), `"f:meta.helm.sh/release-name"`) {
			continue
		}
		out = append(out, e.Manager)
	}
	sort.Strings(out)
	return out
}

// kept compares the object as the upgrade leaves it (afterJSON) with the object as the
// chart alone makes it: the API server's answer to a server-side dry run of replacing
// it with the desired manifest (plus Helm's ownership marks), so that every default
// the server fills in is on both sides and only hand-made fields differ. It asks only
// for objects that another field manager wrote. nil when nothing is kept.
func (c *Client) kept(o *liveObject, afterJSON []byte) (*Kept, error) {
	by := foreignManagers(o.live)
	if len(by) == 0 {
		return nil, nil
	}
	var desired map[string]any
	if err := json.Unmarshal(o.desired, &desired); err != nil {
		return nil, err
	}
	u := &unstructured.Unstructured{Object: desired}
	for _, m := range helmMarks {
		live, _, _ := unstructured.NestedStringMap(o.live.Object, "metadata", m.field)
		if v, ok := live[m.key]; ok {
			marks, _, _ := unstructured.NestedStringMap(u.Object, "metadata", m.field)
			if marks == nil {
				marks = map[string]string{}
			}
			marks[m.key] = v
			_ = unstructured.SetNestedStringMap(u.Object, marks, "metadata", m.field)
		}
	}
	// No resourceVersion: an unconditional update, which every kind of the chart
	// allows, so a controller's status write in between is no conflict.
	u.SetResourceVersion("")
	clean, err := resource.NewHelper(o.info.Client, o.info.Mapping).DryRun(true).Replace(o.info.Namespace, o.info.Name, false, u)
	if apierrors.IsInvalid(err) {
		// The chart's object cannot replace the live one in place (an immutable
		// field): the upgrade would replace it whole, and nothing is kept.
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%s: dry-run replace with the chart's object: %w", o.key, err)
	}
	cleanJSON, err := json.Marshal(clean)
	if err != nil {
		return nil, err
	}
	from := cleanYAML(o.key, cleanJSON, afterJSON, false)
	to := cleanYAML(o.key, afterJSON, cleanJSON, true)
	if from == to {
		return nil, nil
	}
	k := &Kept{By: by, Diff: unifiedDiffText("chart "+o.key, "upgrade "+o.key, from, to)}
	var cm, am map[string]any
	if json.Unmarshal(cleanJSON, &cm) != nil || json.Unmarshal(afterJSON, &am) != nil {
		return k, nil
	}
	// Of the metadata only labels and annotations are the user's; the status is the
	// controllers'.
	var ops []string
	for _, field := range []string{"labels", "annotations"} {
		have, _, _ := unstructured.NestedStringMap(am, "metadata", field)
		want, _, _ := unstructured.NestedStringMap(cm, "metadata", field)
		for _, key := range sortedKeys(have) {
			if _, in := want[key]; !in {
				ops = append(ops, "/metadata/"+field+"/"+pointerEscape(key))
			}
		}
	}
	delete(am, "metadata")
	delete(am, "status")
	ops = append(removals(cm, am, ""), ops...)
	if len(ops) > 0 {
		k.Remove = kubectlRemove(o, ops)
	}
	return k, nil
}

// removals lists, as JSON pointers, what after has and clean does not: map keys, and
// list elements matched by their merge key (name, mountPath, containerPort), the
// highest index first so that the ops apply in order. A list without such a key is
// replaced whole by Helm's patch, so nothing in it is kept.
func removals(clean, after any, path string) []string {
	var out []string
	switch a := after.(type) {
	case map[string]any:
		cm, _ := clean.(map[string]any)
		for _, key := range sortedKeys(a) {
			p := path + "/" + pointerEscape(key)
			cv, ok := cm[key]
			if !ok {
				out = append(out, p)
				continue
			}
			out = append(out, removals(cv, a[key], p)...)
		}
	case []any:
		cl, _ := clean.([]any)
		key := mergeKey(a)
		if key == "" {
			return nil
		}
		byKey := map[string]any{}
		for _, e := range cl {
			if m, ok := e.(map[string]any); ok {
				byKey[fmt.Sprint(m[key])] = e
			}
		}
		for i := len(a) - 1; i >= 0; i-- {
			m, _ := a[i].(map[string]any)
			p := path + "/" + strconv.Itoa(i)
			ce, ok := byKey[fmt.Sprint(m[key])]
			if !ok {
				out = append(out, p)
				continue
			}
			out = append(out, removals(ce, a[i], p)...)
		}
	}
	return out
}

// mergeKey is the key that identifies the elements of a list of maps, as the strategic
// merge patch keys containers, env, volumes, volumeMounts and ports.
func mergeKey(l []any) string {
	for _, key := range []string{"name", "mountPath", "containerPort"} {
		all := len(l) > 0
		for _, e := range l {
			m, ok := e.(map[string]any)
			if _, has := m[key]; !ok || !has {
				all = false
				break
			}
		}
		if all {
			return key
		}
	}
	return ""
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// pointerEscape escapes a key for a JSON pointer (RFC 6901).
func pointerEscape(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}

// kubectlRemove is the kubectl command that applies ops as a JSON patch.
func kubectlRemove(o *liveObject, ops []string) string {
	type op struct {
		Op   string `json:"op"`
		Path string `json:"path"`
	}
	patch := make([]op, len(ops))
	for i, p := range ops {
		patch[i] = op{"remove", p}
	}
	b, _ := json.Marshal(patch)
	res := o.info.Mapping.Resource.Resource
	if g := o.info.Mapping.Resource.Group; g != "" {
		res += "." + g
	}
	ns := ""
	if o.info.Namespaced() {
		ns = "-n " + o.info.Namespace + " "
	}
	return fmt.Sprintf("kubectl %spatch %s %s --type=json -p '%s'", ns, res, o.info.Name, strings.ReplaceAll(string(b), "'", `'\''`))
}

// keptOf is what a no-op upgrade keeps of objs that the chart does not set, per object.
func (c *Client) keptOf(objs []*liveObject) ([]ObjectDiff, error) {
	var out []ObjectDiff
	for _, o := range objs {
		if o.live == nil {
			continue
		}
		liveJSON, err := json.Marshal(o.live.Object)
		if err != nil {
			return nil, err
		}
		k, err := c.kept(o, liveJSON)
		if err != nil {
			return nil, err
		}
		if k != nil {
			out = append(out, ObjectDiff{Object: o.key, Change: keptChange, Kept: k})
		}
	}
	return out, nil
}
