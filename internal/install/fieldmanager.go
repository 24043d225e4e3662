package install

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	"helm.sh/helm/v3/pkg/kube"
	"helm.sh/helm/v3/pkg/release"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/cli-runtime/pkg/resource"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"
)

// FieldManager is the name romanactl writes the release's objects under: "helm", the
// helm CLI's own name (both Helm SDKs default to the binary's base name).
//
// The name decides whether a romanactl-made release can move to server-side apply with
// the helm 4 CLI (`helm upgrade --server-side=true`). On that move helm 4 first hands
// the fields its own client-side writes own (manager "helm", operation Update) to its
// server-side apply (csaupgrade, client-go's tool for the move), and then applies. Fields
// that another manager wrote stay that manager's, and server-side apply refuses to
// change a field another manager owns: under the SDK's default name ("romanactl", or
// "romanactl.test" in the tests) every field of the release conflicts as soon as the
// applied value differs from the live one, which for the atomic fields (a container's
// args, an env's fieldRef that the API server filled with apiVersion: v1) is at once
// ("conflict with \"romanactl\" using apps/v1 ...").
//
// Under Helm's name the move is clean: the fields go to helm's apply and nobody else
// keeps a claim. --force-conflicts is the other way out, and a worse one: it takes only
// the fields that conflict, and every field whose value agreed stays shared with the
// old manager, so a field a later chart drops is not removed by helm's apply.
//
// Writing as "helm" says what the objects are: a Helm release, whatever the client
// (their app.kubernetes.io/managed-by label says Helm too). romanactl's own objects
// outside the release (the Lease, the node cleanup, the release records) keep the
// client's default name, romanactl.
const FieldManager = "helm"

// LegacyFieldManager is the name romanactl wrote the release's objects under before
// FieldManager: the SDK's default, the binary's base name.
const LegacyFieldManager = "romanactl"

// useFieldManager makes the Helm SDK write as FieldManager. The SDK reads a package
// variable (kube.ManagedFieldsManager) at every write; romanactl never wants another.
func useFieldManager() { kube.ManagedFieldsManager = FieldManager }

// handOverFields gives the fields that romanactl wrote under LegacyFieldManager, in the
// live objects of manifest, to FieldManager: each object's top-level Update entry of the
// old name is merged into FieldManager's Update entry of the same API version (the
// union of the two field sets), and the old entry is gone. Nothing else of the object
// changes. Without it a release that an older romanactl made would keep the old claims
// on every field no later upgrade changed, and the move to helm 4's server-side apply
// would still conflict on them. It says how many objects it handed over.
func (c *Client) handOverFields(ctx context.Context, manifest string) (int, error) {
	objs, err := c.fetchLive(ctx, manifest)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, o := range objs {
		if o.live == nil {
			continue
		}
		patch, err := handOverPatch(o.live, isLegacy, nil)
		if err != nil {
			return n, fmt.Errorf("%s: %w", o.key, err)
		}
		if patch == nil {
			continue
		}
		h := resource.NewHelper(o.info.Client, o.info.Mapping).WithFieldManager(FieldManager)
		if _, err := h.Patch(o.info.Namespace, o.info.Name, types.MergePatchType, patch, nil); err != nil {
			return n, fmt.Errorf("%s: hand its fields from field manager %q to %q: %w", o.key, LegacyFieldManager, FieldManager, err)
		}
		n++
	}
	return n, nil
}

// handOverPatch is the merge patch that gives obj's fields claimed by the entries old
// picks to FieldManager (handedOver), with the metadata in meta (e.g. an annotation to
// drop) beside them; nil when there is nothing to write. A merge patch replaces the
// whole managedFields list, so it carries obj's resourceVersion: a write in between
// makes it a conflict rather than a lost entry.
func handOverPatch(obj metav1.Object, old func(metav1.ManagedFieldsEntry) bool, meta map[string]any) ([]byte, error) {
	merged, changed, err := handedOver(obj.GetManagedFields(), old)
	if err != nil {
		return nil, fmt.Errorf("read its managed fields: %w", err)
	}
	if !changed && len(meta) == 0 {
		return nil, nil
	}
	m := maps.Clone(meta)
	if m == nil {
		m = map[string]any{}
	}
	m["resourceVersion"] = obj.GetResourceVersion()
	if changed {
		m["managedFields"] = merged
	}
	return json.Marshal(map[string]any{"metadata": m})
}

// isLegacy picks LegacyFieldManager's top-level Update entries.
func isLegacy(e metav1.ManagedFieldsEntry) bool {
	return e.Manager == LegacyFieldManager && e.Operation == metav1.ManagedFieldsOperationUpdate && e.Subresource == ""
}

// isKubectl picks the top-level Update entries of kubectl's own managers:
// kubectl-client-side-apply (`kubectl apply`, which made a 2016 install),
// kubectl-edit, kubectl-patch, kubectl-set and the others, and the bare "kubectl" of
// kubectl before 1.18.
func isKubectl(e metav1.ManagedFieldsEntry) bool {
	return (e.Manager == "kubectl" || strings.HasPrefix(e.Manager, "kubectl-")) &&
		e.Operation == metav1.ManagedFieldsOperationUpdate && e.Subresource == ""
}

// handedOver is entries with the entries old picks merged into FieldManager's Update
// entry of the same API version; changed is false when old picked none.
func handedOver(entries []metav1.ManagedFieldsEntry, old func(metav1.ManagedFieldsEntry) bool) ([]metav1.ManagedFieldsEntry, bool, error) {
	if !slices.ContainsFunc(entries, old) {
		return entries, false, nil
	}
	var out []metav1.ManagedFieldsEntry
	for _, e := range entries {
		if old(e) {
			e.Manager = FieldManager
		}
		i := slices.IndexFunc(out, func(x metav1.ManagedFieldsEntry) bool {
			return x.Manager == e.Manager && x.Operation == e.Operation && x.APIVersion == e.APIVersion && x.Subresource == e.Subresource
		})
		if i < 0 {
			out = append(out, e)
			continue
		}
		union, err := unionFields(out[i].FieldsV1, e.FieldsV1)
		if err != nil {
			return nil, false, err
		}
		out[i].FieldsV1 = union
		if e.Time != nil && (out[i].Time == nil || out[i].Time.Before(e.Time)) {
			out[i].Time = e.Time
		}
	}
	return out, true, nil
}

// unionFields is the union of two managed-fields sets.
func unionFields(a, b *metav1.FieldsV1) (*metav1.FieldsV1, error) {
	var sa, sb fieldpath.Set
	for _, p := range []struct {
		f *metav1.FieldsV1
		s *fieldpath.Set
	}{{a, &sa}, {b, &sb}} {
		if p.f == nil || len(p.f.Raw) == 0 {
			continue
		}
		if err := p.s.FromJSON(bytes.NewReader(p.f.Raw)); err != nil {
			return nil, err
		}
	}
	raw, err := sa.Union(&sb).ToJSON()
	if err != nil {
		return nil, err
	}
	return &metav1.FieldsV1{Raw: raw}, nil
}

// handOver runs handOverFields before an upgrade or rollback and reports it. A failure
// does not stop the operation, which writes as FieldManager either way; it only leaves
// old claims that a later move to server-side apply conflicts on, and says so.
func (c *Client) handOver(ctx context.Context, manifest string) {
	n, err := c.handOverFields(ctx, manifest)
	if err != nil {
		c.progress("‼ %v; the operation goes on, but `helm upgrade --server-side=true` may conflict with %q until an upgrade hands them over", err, LegacyFieldManager)
		return
	}
	if n > 0 {
		c.progress("handed the fields of %d object(s) from field manager %q to %q (what helm 4's server-side apply takes over)", n, LegacyFieldManager, FieldManager)
	}
}

// failedOutside names a failed revision that romanactl did not make (a helm CLI wrote
// it) and the way out. A server-side apply conflict with LegacyFieldManager (helm 4's
// `--server-side=true` on a release an older romanactl made) gets its own way out.
func (c *Client) failedOutside(rel *release.Release) string {
	msg := fmt.Sprintf("revision %d was written by a helm CLI, not by romanactl, and failed: %s", rel.Version, shorten(rel.Info.Description, 400))
	if strings.Contains(rel.Info.Description, fmt.Sprintf("conflict with %q", LegacyFieldManager)) {
		msg += fmt.Sprintf("; the conflict is with field manager %q, which romanactl wrote the release under before it wrote as %q: "+
			"`romanactl upgrade` hands those fields to %q, and `helm upgrade --server-side=true` then moves the release to server-side apply",
			LegacyFieldManager, FieldManager, FieldManager)
	}
	if n, err := c.lastGood(rel.Version - 1); err == nil {
		return msg + fmt.Sprintf("; the cluster may run part of it (Helm applies object by object): `romanactl rollback %d` returns to revision %d, the newest good one, "+
			"or `romanactl upgrade` applies the chart again with revision %d's values", n, n, rel.Version)
	}
	return msg + "; the cluster may run part of it (Helm applies object by object), and no earlier revision is known to be good: `romanactl upgrade` with values that work replaces it"
}
