package install

import (
	"context"
	"fmt"
	"strings"
	"sync"

	authv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// permissions asks the API server, with SelfSubjectAccessReviews, whether the user may
// do everything an install does: every kind the chart creates, every verb, the
// Secrets that Helm keeps releases in, and the Lease that romanactl locks with.
func permissions(ctx context.Context, cs kubernetes.Interface, ns string) Check {
	type need struct{ group, resource, ns string }
	needs := []need{
		{"apps", "daemonsets", ns}, {"", "services", ns}, {"", "secrets", ns}, {"", "serviceaccounts", ns}, {"", "pods", ns}, {"", "configmaps", ns},
		{"rbac.authorization.k8s.io", "clusterroles", ""}, {"rbac.authorization.k8s.io", "clusterrolebindings", ""},
		// romanactl's own lock (internal/lock).
		{"coordination.k8s.io", "leases", ns},
	}
	verbs := []string{"get", "list", "create", "update", "patch", "delete"}
	type review struct {
		n       need
		verb    string
		allowed bool
		err     error
	}
	var reviews []*review
	for _, n := range needs {
		for _, v := range verbs {
			if n.resource == "pods" && v != "get" && v != "list" && v != "create" && v != "delete" {
				continue // pods: only the helm test hook and status
			}
			if n.resource == "leases" && v != "get" && v != "create" && v != "update" {
				continue // the lock reads, creates and updates its Lease
			}
			reviews = append(reviews, &review{n: n, verb: v})
		}
	}
	// The reviews are independent: ask them all at once rather than one round trip
	// after another.
	var wg sync.WaitGroup
	for _, r := range reviews {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sar := &authv1.SelfSubjectAccessReview{Spec: authv1.SelfSubjectAccessReviewSpec{
				ResourceAttributes: &authv1.ResourceAttributes{Namespace: r.n.ns, Verb: r.verb, Group: r.n.group, Resource: r.n.resource}}}
			res, err := cs.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, sar, metav1.CreateOptions{})
			r.err = err
			r.allowed = err == nil && res.Status.Allowed
		}()
	}
	wg.Wait()
	var missing []string
	for _, r := range reviews {
		if r.err != nil {
			return Check{Name: "permissions", Severity: Fail, Message: fmt.Sprintf("cannot ask the API server about permissions: %v", r.err)}
		}
		if !r.allowed {
			g := r.n.group
			if g == "" {
				g = "core"
			}
			missing = append(missing, fmt.Sprintf("%s %s.%s", r.verb, r.n.resource, g))
		}
	}
	if len(missing) > 0 {
		return Check{Name: "permissions", Severity: Fail, Message: "you may not " + strings.Join(missing, ", "), Fix: "run as a cluster admin (installing a CNI needs cluster-wide RBAC)"}
	}
	return Check{Name: "permissions", Severity: Pass, Message: fmt.Sprintf("allowed to manage every kind the chart creates in %s and cluster-wide", ns)}
}
