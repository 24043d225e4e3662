package install

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/pmezard/go-difflib/difflib"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
	"k8s.io/cli-runtime/pkg/resource"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/yaml"

	"github.com/romana/romanactl/internal/migrate"
	"github.com/romana/romanactl/internal/values"
)

// FindManifestInstall reads the objects of an install made with `kubectl apply` of the
// original manifests: romana-services, romana-agent and romana-root in the namespace,
// belonging to no Helm release, and the Secrets the datastore password may be in.
func (c *Client) FindManifestInstall(ctx context.Context) (migrate.Found, error) {
	ns := c.Namespace
	var f migrate.Found
	if last, err := c.lastOrNone(); err != nil {
		return f, err
	} else if last != nil {
		return f, values.Inputf("release %s already exists in %s (revision %d): there is nothing to migrate", ReleaseName, ns, last.Version)
	}
	owned := func(m metav1.Object) error {
		if r := m.GetAnnotations()["meta.helm.sh/release-name"]; r != "" {
			return values.Inputf("%s belongs to Helm release %s: migrate takes over only a manifest install", m.GetName(), r)
		}
		return nil
	}
	if ds, err := c.Kube.AppsV1().DaemonSets(ns).Get(ctx, "romana-services", metav1.GetOptions{}); err == nil {
		f.Services = ds
	} else if !apierrors.IsNotFound(err) {
		return f, err
	} else if f.StaticPod, err = c.findStaticServices(ctx); err != nil {
		return f, err
	} else if f.StaticPod != nil {
		if f.Env, f.EnvReason, err = DetectEnv(ctx, c.Kube); err != nil {
			return f, err
		}
	}
	if ds, err := c.Kube.AppsV1().DaemonSets(ns).Get(ctx, "romana-agent", metav1.GetOptions{}); err == nil {
		f.Agent = ds
	} else if !apierrors.IsNotFound(err) {
		return f, err
	}
	if svc, err := c.Kube.CoreV1().Services(ns).Get(ctx, "romana-root", metav1.GetOptions{}); err == nil {
		f.Root = svc
	} else if !apierrors.IsNotFound(err) {
		return f, err
	}
	if f.Agent == nil || f.Root == nil || f.Services == nil && f.StaticPod == nil {
		return f, values.Inputf("no manifest install of Romana in %s: migrate needs romana-services (a DaemonSet, or a static Pod's mirror Pod), "+
			"DaemonSet romana-agent and Service romana-root", ns)
	}
	objs := []metav1.Object{f.Agent, f.Root}
	var pod *corev1.PodSpec
	if f.Services != nil {
		objs, pod = append(objs, f.Services), &f.Services.Spec.Template.Spec
	} else {
		pod = &f.StaticPod.Spec
	}
	for _, m := range objs {
		if err := owned(m); err != nil {
			return f, err
		}
	}
	f.Secrets = map[string]*corev1.Secret{}
	for _, ct := range pod.Containers {
		for _, e := range ct.Env {
			if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
				if s, err := c.Kube.CoreV1().Secrets(ns).Get(ctx, e.ValueFrom.SecretKeyRef.Name, metav1.GetOptions{}); err == nil {
					f.Secrets[s.Name] = s
				}
			}
		}
	}
	return f, nil
}

// mirrorAnnotation is what the kubelet puts on the API object of a static Pod.
const mirrorAnnotation = "kubernetes.io/config.mirror"

// findStaticServices finds romana-services run as a static Pod: the mirror Pods
// labelled app=romana-services. With several masters there is one per master; they
// must agree, since one set of values is derived from them. A Pod with the label that
// is not a mirror Pod is no install migrate knows.
func (c *Client) findStaticServices(ctx context.Context) (*corev1.Pod, error) {
	pods, err := c.Kube.CoreV1().Pods(c.Namespace).List(ctx, metav1.ListOptions{LabelSelector: "app=romana-services"})
	if err != nil {
		return nil, fmt.Errorf("list romana-services Pods: %w", err)
	}
	var mirror []corev1.Pod
	for _, p := range pods.Items {
		// A DaemonSet's pod (one being deleted after an earlier DaemonSet went, say) is
		// not a static Pod, and not a stray one either.
		if p.DeletionTimestamp != nil || slices.ContainsFunc(p.OwnerReferences, func(o metav1.OwnerReference) bool { return o.Kind == "DaemonSet" }) {
			continue
		}
		if _, ok := p.Annotations[mirrorAnnotation]; !ok {
			return nil, values.Inputf("Pod %s/%s is labelled app=romana-services but is neither a DaemonSet's Pod nor a static Pod's mirror: migrate cannot take it over; "+
				"delete it and run `romanactl install`", p.Namespace, p.Name)
		}
		mirror = append(mirror, p)
	}
	if len(mirror) == 0 {
		return nil, nil
	}
	slices.SortFunc(mirror, func(a, b corev1.Pod) int { return strings.Compare(a.Name, b.Name) })
	for _, p := range mirror[1:] {
		if !equality.Semantic.DeepEqual(p.Spec.Containers, mirror[0].Spec.Containers) || !equality.Semantic.DeepEqual(p.Spec.Volumes, mirror[0].Spec.Volumes) {
			return nil, values.Inputf("static Pods %s and %s differ in their containers or volumes: make the manifest files on the masters agree, then run migrate", mirror[0].Name, p.Name)
		}
	}
	return &mirror[0], nil
}

// SelectorsMatch refuses DaemonSets whose selectors are not the chart's: a selector is
// immutable, so Helm could not take them over in place.
func SelectorsMatch(f migrate.Found) error {
	var bad []string
	sel := map[string]*metav1.LabelSelector{"romana-agent": f.Agent.Spec.Selector}
	if f.Services != nil {
		sel["romana-services"] = f.Services.Spec.Selector
	}
	for name, ds := range sel {
		want := map[string]string{"app": name}
		if ds == nil || len(ds.MatchExpressions) > 0 || fmt.Sprint(ds.MatchLabels) != fmt.Sprint(want) {
			bad = append(bad, fmt.Sprintf("DaemonSet %s selects %v, the chart %v", name, ds, want))
		}
	}
	if len(bad) > 0 {
		return values.Inputf("cannot take over in place: %s; a selector is immutable, so the DaemonSet would have to be recreated (delete it and run `romanactl install`)", strings.Join(bad, "; "))
	}
	return nil
}

// WritePasswordSecret makes the release's password Secret hold the password the
// datastore was initialised with, so that the chart's lookup keeps it.
func (c *Client) WritePasswordSecret(ctx context.Context, password string) error {
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: PasswordSecret, Namespace: c.Namespace}, Type: corev1.SecretTypeOpaque,
		Data: map[string][]byte{"password": []byte(password)}}
	_, err := c.Kube.CoreV1().Secrets(c.Namespace).Create(ctx, s, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		cur, gerr := c.Kube.CoreV1().Secrets(c.Namespace).Get(ctx, PasswordSecret, metav1.GetOptions{})
		if gerr != nil {
			return gerr
		}
		cur.Data = s.Data
		_, err = c.Kube.CoreV1().Secrets(c.Namespace).Update(ctx, cur, metav1.UpdateOptions{})
	}
	if err != nil {
		return fmt.Errorf("write Secret %s: %w", PasswordSecret, err)
	}
	return nil
}

// PrepareTakeOver changes the live objects where Helm's take-over cannot: Helm patches
// with the rendered objects as the original, so it only adds and replaces, never
// removes what the chart does not render. On romana-services it would add valueFrom
// beside the spec's plain MYSQL_ROOT_PASSWORD value (which the API server refuses), and
// add the control-plane label beside the 2016 role label in the nodeSelector (which no
// node matches): one update reads the password from the release's Secret and sets the
// chart's nodeSelector (one rolling update, to the same password). And on every object
// it takes over it removes kubectl's last-applied annotation, which keeps the 2016
// password in plain text for anyone who may read DaemonSets in the namespace, and which
// a later `kubectl apply` would wrongly diff against; and it hands the fields kubectl
// wrote to FieldManager, as an upgrade does romanactl's old name's (fieldmanager.go),
// so that helm 4's server-side apply does not conflict with them. On romana-agent, with
// cni.plugin=romanactl (any value but "upstream"), it removes the 2016 container's
// mounts of the host's CNI directories: kept, they would make the agent's entrypoint
// install v0.9.3.5's docker wrapper over the plugin the chart's init container
// installed (the entrypoint installs it wherever they are mounted).
func (c *Client) PrepareTakeOver(ctx context.Context, nodeSelector map[string]string, cniPlugin string) error {
	dss := c.Kube.AppsV1().DaemonSets(c.Namespace)
	// Each change is a read, a change and an update, retried on a conflict: the
	// DaemonSet controller writes the status of both while their pods come and go, and
	// an update from a stale read is refused.
	for _, p := range []struct {
		name, what string
		change     func(*appsv1.DaemonSet) bool
	}{
		{"romana-services", "point romana-services at Secret " + PasswordSecret, func(ds *appsv1.DaemonSet) bool { return prepareServices(ds, nodeSelector) }},
		{"romana-agent", "remove the CNI directories' mounts from romana-agent (cni.plugin=" + cniPlugin + ")", func(ds *appsv1.DaemonSet) bool { return prepareAgent(ds, cniPlugin) }},
	} {
		err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
			ds, err := dss.Get(ctx, p.name, metav1.GetOptions{})
			switch {
			case apierrors.IsNotFound(err):
				return nil // romana-services as a static Pod: the release leaves it alone
			case err != nil:
				return err
			case !p.change(ds):
				return nil
			}
			_, err = dss.Update(ctx, ds, metav1.UpdateOptions{FieldManager: FieldManager})
			return err
		})
		if err != nil {
			return fmt.Errorf("%s: %w", p.what, err)
		}
	}
	// Last, one merge patch per object taken over: kubectl's last-applied annotation
	// goes, and the fields kubectl's managers claim go to FieldManager (isKubectl).
	// Helm's adoption writes as FieldManager but leaves kubectl's claims beside its
	// own, and helm 4's server-side apply (`helm upgrade --server-side=true`) refuses
	// to change a field another manager claims: the release would move to it once and
	// then conflict on the first value it changes. The resourceVersion makes a write
	// in between a conflict, retried from a fresh read.
	for _, o := range []struct {
		kind  string
		get   func() (metav1.Object, error)
		patch func([]byte) error
	}{
		{"DaemonSet/romana-services", func() (metav1.Object, error) { return dss.Get(ctx, "romana-services", metav1.GetOptions{}) }, func(p []byte) error {
			_, err := dss.Patch(ctx, "romana-services", types.MergePatchType, p, metav1.PatchOptions{FieldManager: FieldManager})
			return err
		}},
		{"DaemonSet/romana-agent", func() (metav1.Object, error) { return dss.Get(ctx, "romana-agent", metav1.GetOptions{}) }, func(p []byte) error {
			_, err := dss.Patch(ctx, "romana-agent", types.MergePatchType, p, metav1.PatchOptions{FieldManager: FieldManager})
			return err
		}},
		{"Service/romana-root", func() (metav1.Object, error) {
			return c.Kube.CoreV1().Services(c.Namespace).Get(ctx, "romana-root", metav1.GetOptions{})
		}, func(p []byte) error {
			_, err := c.Kube.CoreV1().Services(c.Namespace).Patch(ctx, "romana-root", types.MergePatchType, p, metav1.PatchOptions{FieldManager: FieldManager})
			return err
		}},
	} {
		err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
			m, err := o.get()
			if apierrors.IsNotFound(err) {
				return nil
			}
			if err != nil {
				return err
			}
			var drop map[string]any
			if _, ok := m.GetAnnotations()[LastApplied]; ok {
				drop = map[string]any{"annotations": map[string]any{LastApplied: nil}}
			}
			p, err := handOverPatch(m, isKubectl, drop)
			if err != nil || p == nil {
				return err
			}
			return o.patch(p)
		})
		if err != nil {
			return fmt.Errorf("remove kubectl's %s annotation from %s and hand kubectl's fields to field manager %q: %w", LastApplied, o.kind, FieldManager, err)
		}
	}
	return nil
}

// cniMounts are the volumes through which v0.9.3.5's agent entrypoint installs its
// CNI plugin and config on the host (the 2016 spec's names, which the chart keeps).
var cniMounts = map[string]bool{"host-cni-bin": true, "host-cni-net-d": true}

// prepareAgent makes PrepareTakeOver's change to romana-agent in ds, and says whether
// there was one: with any plugin but upstream, its container no longer mounts the
// host's CNI directories.
func prepareAgent(ds *appsv1.DaemonSet, cniPlugin string) bool {
	if cniPlugin == "upstream" {
		return false
	}
	changed := false
	for i := range ds.Spec.Template.Spec.Containers {
		ct := &ds.Spec.Template.Spec.Containers[i]
		kept := ct.VolumeMounts[:0]
		for _, m := range ct.VolumeMounts {
			if cniMounts[m.Name] {
				changed = true
				continue
			}
			kept = append(kept, m)
		}
		ct.VolumeMounts = kept
	}
	return changed
}

// prepareServices makes PrepareTakeOver's changes to romana-services in ds, and says
// whether there were any.
func prepareServices(ds *appsv1.DaemonSet, nodeSelector map[string]string) bool {
	changed := false
	for i := range ds.Spec.Template.Spec.Containers {
		for j, e := range ds.Spec.Template.Spec.Containers[i].Env {
			if e.Name == "MYSQL_ROOT_PASSWORD" && e.Value != "" {
				ds.Spec.Template.Spec.Containers[i].Env[j] = corev1.EnvVar{Name: e.Name, ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
					LocalObjectReference: corev1.LocalObjectReference{Name: PasswordSecret}, Key: "password"}}}
				changed = true
			}
		}
	}
	if fmt.Sprint(ds.Spec.Template.Spec.NodeSelector) != fmt.Sprint(nodeSelector) {
		ds.Spec.Template.Spec.NodeSelector = nodeSelector
		changed = true
	}
	if _, ok := ds.Annotations[LastApplied]; ok {
		delete(ds.Annotations, LastApplied)
		changed = true
	}
	return changed
}

// TakeOverPlan is what migrate does to the cluster, object by object.
type TakeOverPlan struct {
	// Adopted are the live objects taken over in place, each with the fields that change.
	Adopted []AdoptedObject
	// Created are the release's objects that do not exist yet ("Kind/name"). The
	// chart's hooks are not among them: Helm runs its pre-delete cleanup only at
	// uninstall and its test Pod only for `helm test`, so an install creates neither.
	Created []string
	// Diffs are each object's unified diff, live against what migrate leaves.
	Diffs []ObjectDiff
}

// AdoptedObject is one live object migrate takes over in place.
type AdoptedObject struct {
	// Object is "Kind/name".
	Object string
	// Changes are the fields that change ("metadata.labels",
	// "spec.template.spec.containers[romana-datastore]"), at most four levels deep.
	Changes []string
	// Refused is the API server's refusal of the change, if it refused it: migrate
	// would stop there.
	Refused string
}

// isHook says whether a rendered object (JSON) is a Helm hook.
func isHook(obj []byte) bool {
	u := &unstructured.Unstructured{}
	if u.UnmarshalJSON(obj) != nil {
		return false
	}
	_, ok := u.GetAnnotations()["helm.sh/hook"]
	return ok
}

// TakeOverDiff is what migrate changes in the cluster, object by object: each live
// object against the API server's answer to a dry-run update to the state migrate
// leaves, PrepareTakeOver's changes followed by Helm's adoption patch. Helm adopts with
// the rendered object as the original (an install with TakeOwnership updates from the
// rendered list to itself), so that patch adds and replaces fields and removes none; a
// diff from the live object, as for an object new to a release, would show removals
// that never happen. Every env value that carries the datastore password (by its name,
// or equal to password or to a plain password env value anywhere in the live objects)
// shows as Hidden on both sides, as does kubectl's last-applied annotation, so that its
// removal shows but not the copy of the password it holds. manifest's hooks are left
// out: migrate creates none of them.
func (c *Client) TakeOverDiff(ctx context.Context, manifest string, nodeSelector map[string]string, password, cniPlugin string) (*TakeOverPlan, error) {
	objs, err := c.fetchLive(ctx, manifest)
	if err != nil {
		return nil, err
	}
	known := []string{password}
	for _, o := range objs {
		if o.live != nil {
			known = append(known, PasswordsIn(o.live.Object)...)
		}
	}
	masked := func(key string, obj, other []byte, target bool) string {
		mask := func(b []byte) []byte {
			var m any
			if json.Unmarshal(b, &m) != nil {
				return nil
			}
			MaskPasswords(m, known, false)
			out, _ := json.Marshal(m)
			return out
		}
		return cleanYAML(key, mask(obj), mask(other), target)
	}
	plan := &TakeOverPlan{}
	for _, o := range objs {
		if isHook(o.desired) {
			continue
		}
		if o.live == nil {
			plan.Created = append(plan.Created, o.key)
			plan.Diffs = append(plan.Diffs, takeOverDiff(o.key, "created", "", masked(o.key, o.desired, nil, true)))
			continue
		}
		prepared := o.live.DeepCopy()
		if ann := prepared.GetAnnotations(); ann != nil {
			delete(ann, LastApplied)
			prepared.SetAnnotations(ann)
		}
		if o.key == "DaemonSet/romana-services" || o.key == "DaemonSet/romana-agent" {
			ds := &appsv1.DaemonSet{}
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(prepared.Object, ds); err != nil {
				return nil, fmt.Errorf("read %s: %w", o.key, err)
			}
			if o.key == "DaemonSet/romana-services" {
				prepareServices(ds, nodeSelector)
			} else {
				prepareAgent(ds, cniPlugin)
			}
			m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(ds)
			if err != nil {
				return nil, err
			}
			prepared.Object = m
		}
		adopt := *o
		adopt.live = prepared
		patch, err := threeWayPatch(&adopt, o.desired, o.desired)
		if err != nil {
			return nil, err
		}
		preparedJSON, err := json.Marshal(prepared.Object)
		if err != nil {
			return nil, err
		}
		typed, err := scheme.Scheme.New(o.info.Mapping.GroupVersionKind)
		if err != nil {
			return nil, fmt.Errorf("%s: not a built-in kind: %w", o.key, err)
		}
		merged, err := strategicpatch.StrategicMergePatch(preparedJSON, patch, typed)
		if err != nil {
			return nil, fmt.Errorf("%s: apply the take-over patch: %w", o.key, err)
		}
		target := &unstructured.Unstructured{}
		if err := target.UnmarshalJSON(merged); err != nil {
			return nil, err
		}
		// Without a resourceVersion the dry run replaces whatever is current: the
		// DaemonSet controller writes status between the read and this call, and the
		// diff is of the spec, so a conflict would refuse a take-over that works.
		target.SetResourceVersion("")
		a := AdoptedObject{Object: o.key}
		change := "taken over in place"
		afterJSON := merged
		after, err := resource.NewHelper(o.info.Client, o.info.Mapping).DryRun(true).Replace(o.info.Namespace, o.info.Name, false, target)
		if err != nil {
			a.Refused = strings.TrimSpace(err.Error())
			change = "refused by the API server (" + a.Refused + "): migrate would stop here"
		} else if afterJSON, err = json.Marshal(after); err != nil {
			return nil, err
		}
		liveJSON, err := json.Marshal(o.live.Object)
		if err != nil {
			return nil, err
		}
		from, to := masked(o.key, liveJSON, afterJSON, false), masked(o.key, afterJSON, liveJSON, true)
		a.Changes = changedFields(from, to)
		plan.Adopted = append(plan.Adopted, a)
		if from != to {
			plan.Diffs = append(plan.Diffs, takeOverDiff(o.key, change, from, to))
		}
	}
	sort.Slice(plan.Adopted, func(i, j int) bool { return plan.Adopted[i].Object < plan.Adopted[j].Object })
	sort.Strings(plan.Created)
	sort.Slice(plan.Diffs, func(i, j int) bool { return plan.Diffs[i].Object < plan.Diffs[j].Object })
	return plan, nil
}

// takeOverDiff is one object's diff, its sides labelled for what migrate does: the
// live object, and the object taken over (or created) by migrate.
func takeOverDiff(key, change, from, to string) ObjectDiff {
	d, _ := difflib.GetUnifiedDiffString(difflib.UnifiedDiff{
		A: difflib.SplitLines(from), B: difflib.SplitLines(to),
		FromFile: "live " + key, ToFile: "after migrate (" + change + ") " + key, Context: 3,
	})
	return ObjectDiff{Object: key, Change: change, Diff: d}
}

// changedFields lists where two renderings (YAML, as cleanYAML makes them) of one
// object differ, as field paths at most four levels deep: containers by name; labels,
// annotations, selectors and any other list as a whole.
func changedFields(from, to string) []string {
	var a, b map[string]any
	_ = yaml.Unmarshal([]byte(from), &a)
	_ = yaml.Unmarshal([]byte(to), &b)
	var out []string
	var walk func(path string, x, y any)
	walk = func(path string, x, y any) {
		if equality.Semantic.DeepEqual(x, y) {
			return
		}
		// Four levels (spec.template.spec.containers[romana-agent]) say what changes; the
		// diff says how.
		leaf := strings.Count(path, ".") >= 3 || strings.HasSuffix(path, ".labels") || strings.HasSuffix(path, ".annotations") ||
			strings.HasSuffix(path, "Selector") || strings.HasSuffix(path, ".matchLabels")
		xm, xok := x.(map[string]any)
		ym, yok := y.(map[string]any)
		if xok && yok && !leaf {
			for _, k := range slices.Sorted(maps.Keys(merge(xm, ym))) {
				p := k
				if path != "" {
					p = path + "." + k
				}
				walk(p, xm[k], ym[k])
			}
			return
		}
		xl, yl := named(x), named(y)
		if xl != nil && yl != nil && strings.HasSuffix(path, ".containers") {
			for _, n := range slices.Sorted(maps.Keys(merge(xl, yl))) {
				walk(path+"["+n+"]", xl[n], yl[n])
			}
			return
		}
		out = append(out, path)
	}
	walk("", a, b)
	return out
}

// merge is the union of two maps' keys, each with y's value.
func merge(x, y map[string]any) map[string]any {
	out := maps.Clone(x)
	if out == nil {
		out = map[string]any{}
	}
	maps.Copy(out, y)
	return out
}

// named is a list whose items all have a name, by name; nil for any other value.
func named(v any) map[string]any {
	l, ok := v.([]any)
	if !ok || len(l) == 0 {
		return nil
	}
	out := map[string]any{}
	for _, it := range l {
		m, ok := it.(map[string]any)
		n, _ := m["name"].(string)
		if !ok || n == "" {
			return nil
		}
		out[n] = it
	}
	return out
}

// DropPasswordRevisions deletes the ControllerRevisions of romana-services that hold a
// plain-text password, in their pod template or in a copy of kubectl's annotation: the DaemonSet controller keeps the templates
// from before the take-over (revisionHistoryLimit, 10 by default) for `kubectl rollout
// undo`, and with them the 2016 password, readable by anyone who may read
// ControllerRevisions in the namespace. Going back to such a revision would undo the
// take-over anyway. It returns how many it deleted.
func (c *Client) DropPasswordRevisions(ctx context.Context) (int, error) {
	dss := c.Kube.AppsV1().DaemonSets(c.Namespace)
	ds, err := dss.Get(ctx, "romana-services", metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return 0, nil // a static Pod: no DaemonSet history
	}
	if err != nil {
		return 0, err
	}
	var tmpl any
	if b, err := json.Marshal(ds.Spec.Template); err != nil || json.Unmarshal(b, &tmpl) != nil || len(PasswordsIn(tmpl)) > 0 {
		// PrepareTakeOver has not run (a refused install): the current revision holds the
		// password, and the controller would only make it again.
		return 0, nil
	}
	// A controller that has not yet seen the new template would make the old revision
	// again after it is deleted.
	deadline := time.Now().Add(30 * time.Second)
	for ds.Status.ObservedGeneration < ds.Generation {
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("the DaemonSet controller has not observed romana-services generation %d after 30s (observed %d)", ds.Generation, ds.Status.ObservedGeneration)
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
		if ds, err = dss.Get(ctx, "romana-services", metav1.GetOptions{}); err != nil {
			return 0, err
		}
	}
	sel, err := metav1.LabelSelectorAsSelector(ds.Spec.Selector)
	if err != nil {
		return 0, err
	}
	crs := c.Kube.AppsV1().ControllerRevisions(c.Namespace)
	l, err := crs.List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
	if err != nil {
		return 0, fmt.Errorf("list the ControllerRevisions of romana-services: %w", err)
	}
	n := 0
	for _, cr := range l.Items {
		if !metav1.IsControlledBy(&cr, ds) {
			continue
		}
		// The controller copies the DaemonSet's annotations too, kubectl's last-applied
		// one included.
		var obj any
		if b, err := json.Marshal(cr); err != nil || json.Unmarshal(b, &obj) != nil || len(PasswordsIn(obj)) == 0 {
			continue
		}
		if err := crs.Delete(ctx, cr.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return n, fmt.Errorf("delete ControllerRevision %s, which holds the 2016 password in plain text: %w", cr.Name, err)
		}
		n++
	}
	return n, nil
}
