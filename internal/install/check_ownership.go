package install

import (
	"context"
	"fmt"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// ownership: an object the chart creates that already exists but belongs to no release
// romana in this namespace (a 2016 `kubectl apply` install, or another release) would
// make Helm stop half-way; say which, and what to do, before anything is written.
func ownership(ctx context.Context, cs kubernetes.Interface, ns string, adopt bool) Check {
	type obj struct {
		kind string
		get  func() (metav1.Object, error)
	}
	objs := []obj{
		{"DaemonSet " + ns + "/romana-agent", func() (metav1.Object, error) {
			return cs.AppsV1().DaemonSets(ns).Get(ctx, "romana-agent", metav1.GetOptions{})
		}},
		{"DaemonSet " + ns + "/romana-services", func() (metav1.Object, error) {
			return cs.AppsV1().DaemonSets(ns).Get(ctx, "romana-services", metav1.GetOptions{})
		}},
		{"Service " + ns + "/romana-root", func() (metav1.Object, error) {
			return cs.CoreV1().Services(ns).Get(ctx, "romana-root", metav1.GetOptions{})
		}},
		{"ClusterRole romana-services", func() (metav1.Object, error) {
			return cs.RbacV1().ClusterRoles().Get(ctx, "romana-services", metav1.GetOptions{})
		}},
		{"ClusterRoleBinding romana-services", func() (metav1.Object, error) {
			return cs.RbacV1().ClusterRoleBindings().Get(ctx, "romana-services", metav1.GetOptions{})
		}},
	}
	var foreign, owned []string
	for _, o := range objs {
		m, err := o.get()
		if err != nil {
			continue // absent (or unreadable: the permissions check says so)
		}
		a := m.GetAnnotations()
		relName, relNS := a["meta.helm.sh/release-name"], a["meta.helm.sh/release-namespace"]
		switch {
		case relName == ReleaseName && relNS == ns:
		case relName != "":
			owned = append(owned, fmt.Sprintf("%s belongs to Helm release %s in %s", o.kind, relName, relNS))
		default:
			foreign = append(foreign, o.kind)
		}
	}
	if adopt && len(owned) == 0 && len(foreign) > 0 {
		return Check{Name: "ownership", Severity: Pass, Message: fmt.Sprintf("%s belong(s) to no Helm release: migrate takes them over in place", strings.Join(foreign, ", "))}
	}
	var msgs []string
	if len(owned) > 0 {
		msgs = append(msgs, strings.Join(owned, "; "))
	}
	if len(foreign) > 0 {
		msgs = append(msgs, fmt.Sprintf("%s already exist(s) and belong(s) to no Helm release (an earlier kubectl apply of the 2016 manifests?)", strings.Join(foreign, ", ")))
	}
	if len(msgs) > 0 {
		return Check{Name: "ownership", Severity: Fail,
			Message: strings.Join(msgs, "; ") + fmt.Sprintf(", not to release %s in %s", ReleaseName, ns),
			Fix:     "uninstall the release that owns them, or delete the objects (kubectl delete ...), or run romanactl in the namespace of the release that owns them"}
	}
	return Check{Name: "ownership", Severity: Pass, Message: "no object the chart creates exists outside the release"}
}
