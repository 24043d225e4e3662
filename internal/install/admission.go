package install

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"
)

// podAdmission sends each DaemonSet's pod template to the API server as a Pod, with a
// server-side dry run, in the target namespace. Admission (Pod Security, a policy
// engine's webhook) judges pods, not DaemonSets: a refused template is accepted as a
// DaemonSet and then never gets a pod, and the install waits out its timeout with the
// reason only in the DaemonSet's events. This names it before any write.
func podAdmission(ctx context.Context, cs kubernetes.Interface, ns, manifest string) Check {
	dss := manifestDaemonSets(manifest)
	// A namespace that does not exist refuses every pod, and its label is no fix:
	// say that first (a user who may not read namespaces goes on to the dry runs).
	if _, err := cs.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{}); apierrors.IsNotFound(err) {
		return Check{Name: "pod-admission", Severity: Fail,
			Message: fmt.Sprintf("namespace %s does not exist, and romanactl does not create it (-n %s)", ns, ns),
			Fix: fmt.Sprintf("install into kube-system (the default: drop -n), or create the namespace with the Pod Security level a CNI agent needs: "+
				"kubectl create namespace %s && kubectl label namespace %s pod-security.kubernetes.io/enforce=privileged", ns, ns)}
	}
	type verdict struct {
		name string
		err  error
	}
	out := make([]verdict, len(dss))
	var wg sync.WaitGroup
	for i, ds := range dss {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pod := &corev1.Pod{
				ObjectMeta: metav1.ObjectMeta{Name: ds.Name + "-admission-check", Namespace: ns, Labels: ds.Spec.Template.Labels, Annotations: ds.Spec.Template.Annotations},
				Spec:       *ds.Spec.Template.Spec.DeepCopy(),
			}
			// Before the install its ServiceAccount does not exist yet, and the
			// ServiceAccount admission plugin would refuse the pod for that alone.
			if sa := pod.Spec.ServiceAccountName; sa != "" {
				if _, err := cs.CoreV1().ServiceAccounts(ns).Get(ctx, sa, metav1.GetOptions{}); apierrors.IsNotFound(err) {
					pod.Spec.ServiceAccountName = ""
				}
			}
			_, err := cs.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
			out[i] = verdict{ds.Name, err}
		}()
	}
	wg.Wait()
	var refused []string
	for _, v := range out {
		if v.err != nil && !apierrors.IsAlreadyExists(v.err) {
			refused = append(refused, fmt.Sprintf("%s's pods: %v", v.name, v.err))
		}
	}
	if len(refused) > 0 {
		return Check{Name: "pod-admission", Severity: Fail,
			Message: fmt.Sprintf("the API server's admission refuses pods of %s: %s", ns, strings.Join(refused, "; ")),
			Fix:     fmt.Sprintf("a CNI agent needs host namespaces, hostPath and privilege: install into a namespace whose Pod Security level is privileged (kube-system is), e.g. kubectl label namespace %s pod-security.kubernetes.io/enforce=privileged --overwrite, or exempt it in your policy engine", ns)}
	}
	return Check{Name: "pod-admission", Severity: Pass, Message: fmt.Sprintf("admission accepts the pods of %d DaemonSet(s) in %s (server-side dry run)", len(dss), ns)}
}

// manifestDaemonSets parses the DaemonSets of a rendered manifest.
func manifestDaemonSets(manifest string) []*appsv1.DaemonSet {
	var out []*appsv1.DaemonSet
	for key, doc := range objects(manifest) {
		ds := &appsv1.DaemonSet{}
		if strings.HasPrefix(key, "DaemonSet/") && yaml.Unmarshal([]byte(doc), ds) == nil {
			out = append(out, ds)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}
