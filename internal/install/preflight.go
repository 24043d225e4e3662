package install

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	authv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/klog/v2"
	"sigs.k8s.io/yaml"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chartutil"

	"github.com/romana/romanactl/internal/images"
	"github.com/romana/romanactl/internal/values"
)

// Severity of a pre-flight check's outcome.
type Severity string

const (
	// Pass is ✓.
	Pass Severity = "pass"
	// Warn is ‼: install goes on; --skip-check NAME acknowledges it.
	Warn Severity = "warn"
	// Fail is ✗: install and upgrade stop before any write.
	Fail Severity = "fail"
	// Skipped is a ‼ check the user acknowledged with --skip-check.
	Skipped Severity = "skipped"
)

// Symbol is how a severity prints.
func (s Severity) Symbol() string {
	return map[Severity]string{Pass: "✓", Warn: "‼", Fail: "✗", Skipped: "-"}[s]
}

// Check is one pre-flight result.
type Check struct {
	Name     string   `json:"name"`
	Severity Severity `json:"severity"`
	Message  string   `json:"message"`
	Fix      string   `json:"fix,omitempty"`
}

// Report is the outcome of the pre-flight.
type Report struct {
	Environment string  `json:"environment"`
	ServiceCIDR string  `json:"serviceCIDR,omitempty"`
	Checks      []Check `json:"checks"`
}

// Failed returns the ✗ checks.
func (r *Report) Failed() []Check {
	var out []Check
	for _, c := range r.Checks {
		if c.Severity == Fail {
			out = append(out, c)
		}
	}
	return out
}

// PreflightError is returned when a ✗ check stops an install or upgrade: invalid input
// for this cluster, so it exits 2.
type PreflightError struct{ Report *Report }

func (e *PreflightError) Error() string {
	var lines []string
	for _, c := range e.Report.Failed() {
		l := fmt.Sprintf("  ✗ %s: %s", c.Name, c.Message)
		if c.Fix != "" {
			l += "; " + c.Fix
		}
		lines = append(lines, l)
	}
	return fmt.Sprintf("pre-flight failed, nothing was changed:\n%s", strings.Join(lines, "\n"))
}

// Unwrap makes a PreflightError an input error (exit 2).
func (e *PreflightError) Unwrap() error {
	return &values.InputError{Err: fmt.Errorf("pre-flight failed")}
}

// WarnChecks are the ‼ checks, the only ones --skip-check accepts.
var WarnChecks = []string{"agent-cluster-ip-cidr", "agent-coverage", "romana-compat", "images-exist", "kops-single-subnet", "kops-network-cidr", "kops-source-dest-check"}

// AllChecks names every check, for messages.
var AllChecks = []string{"kubernetes-version", "permissions", "service-range", "agent-cluster-ip-cidr", "cluster-ip-free", "ownership", "pod-admission",
	"images-exist", "romana-compat", "address-plan", "placement", "agent-coverage", "environment", "kops-single-subnet", "kops-network-cidr", "kops-source-dest-check"}

// CheckSkips validates --skip-check names: unknown names and ✗-kind checks are refused.
func CheckSkips(skips []string) error {
	for _, s := range skips {
		switch {
		case slices.Contains(WarnChecks, s):
		case slices.Contains(AllChecks, s):
			return values.Inputf("--skip-check %s: only ‼ checks can be skipped (%s); a ✗ check means the install would break the cluster", s, strings.Join(WarnChecks, ", "))
		default:
			return values.Inputf("--skip-check %q: unknown check; the ‼ checks are %s", s, strings.Join(WarnChecks, ", "))
		}
	}
	return nil
}

// PreflightInput is what the pre-flight checks.
type PreflightInput struct {
	Namespace string
	// Env is the environment in use and why it was chosen.
	Env, EnvReason string
	// Effective are the validated values.
	Effective map[string]any
	// KubeVersion is the chart's kubeVersion constraint.
	KubeVersion string
	// Skip are the ‼ checks the user acknowledged (--skip-check).
	Skip []string
	// Manifest is the rendered release; its DaemonSets' pod templates are sent to the
	// API server as Pods with a server-side dry run (pod-admission), and its images are
	// looked up in their registries (images-exist). Empty skips both.
	Manifest string
	// Chart is the chart being installed: its compat.yaml and appVersion say what the
	// chosen Romana line can do on this cluster (romana-compat). Nil skips the check.
	Chart *chart.Chart
	// Registry is how images-exist reaches registries (--insecure, test transports).
	Registry images.Options
}

// registryDeadline bounds images-exist: an air-gapped cluster costs this much, once.
const registryDeadline = 5 * time.Second

// Preflight runs every check against the live cluster. It only reads (and makes
// server-side dry-run requests, which write nothing).
func Preflight(ctx context.Context, cs kubernetes.Interface, in PreflightInput) (*Report, error) {
	r := &Report{Environment: in.Env}
	add := func(c Check) {
		if c.Severity == Warn && slices.Contains(in.Skip, c.Name) {
			c.Severity = Skipped
		}
		r.Checks = append(r.Checks, c)
	}
	str := func(k string) string { v, _ := values.Lookup(in.Effective, k); s, _ := v.(string); return s }

	// Kubernetes version.
	sv, err := cs.Discovery().ServerVersion()
	if err != nil {
		return nil, fmt.Errorf("reach the API server: %w", err)
	}
	if in.KubeVersion != "" && !chartutil.IsCompatibleRange(in.KubeVersion, sv.GitVersion) {
		add(Check{Name: "kubernetes-version", Severity: Fail, Message: fmt.Sprintf("the cluster runs %s; the chart needs %s", sv.GitVersion, in.KubeVersion), Fix: "upgrade the cluster"})
	} else {
		add(Check{Name: "kubernetes-version", Severity: Pass, Message: fmt.Sprintf("%s satisfies %s", sv.GitVersion, in.KubeVersion)})
	}

	add(permissions(ctx, cs, in.Namespace))

	clusterIP, _ := netip.ParseAddr(str("romanaRoot.clusterIP"))
	romanaCIDR, _ := netip.ParsePrefix(str("services.cidr"))
	agentCIDR, _ := netip.ParsePrefix(str("agent.clusterIPCIDR"))
	port, _ := values.Lookup(in.Effective, "romanaRoot.port")

	svcRange, source, dryRunErr := ServiceRange(ctx, cs, in.Namespace, clusterIP, port)
	switch {
	case svcRange.IsValid():
		r.ServiceCIDR = svcRange.String()
		if svcRange.Contains(clusterIP) {
			add(Check{Name: "service-range", Severity: Pass, Message: fmt.Sprintf("romanaRoot.clusterIP %s is inside the service range %s (from %s)", clusterIP, svcRange, source)})
		} else {
			add(Check{Name: "service-range", Severity: Fail,
				Message: fmt.Sprintf("romanaRoot.clusterIP (--cluster-ip) %s is outside the service range %s reported by the cluster (%s)", clusterIP, svcRange, source),
				Fix:     fmt.Sprintf("pick an address inside it, e.g. --cluster-ip=%s --cluster-ip-cidr=%s", exampleIP(svcRange), svcRange)})
		}
		if agentCIDR != svcRange {
			add(Check{Name: "agent-cluster-ip-cidr", Severity: Warn,
				Message: fmt.Sprintf("agent.clusterIPCIDR (--cluster-ip-cidr) %s differs from the cluster's service range %s: the agent would NAT service traffic it should not, or miss some", agentCIDR, svcRange),
				Fix:     fmt.Sprintf("use --cluster-ip-cidr=%s", svcRange)})
		} else {
			add(Check{Name: "agent-cluster-ip-cidr", Severity: Pass, Message: fmt.Sprintf("agent.clusterIPCIDR matches the service range %s", svcRange)})
		}
	case dryRunErr != nil:
		add(Check{Name: "service-range", Severity: Fail, Message: fmt.Sprintf("the API server refuses romanaRoot.clusterIP (--cluster-ip) %s: %v", clusterIP, dryRunErr), Fix: "pick an address inside the cluster's service range"})
	default:
		add(Check{Name: "service-range", Severity: Pass, Message: fmt.Sprintf("the API server accepts romanaRoot.clusterIP %s (server-side dry run); the range itself is not published", clusterIP)})
	}

	add(clusterIPFree(ctx, cs, in.Namespace, clusterIP))
	add(ownership(ctx, cs, in.Namespace))
	if in.Manifest != "" {
		add(podAdmission(ctx, cs, in.Namespace, in.Manifest))
		add(imagesExist(ctx, in.Manifest, in.Registry))
	}
	if in.Chart != nil {
		add(romanaCompat(cs, in.Chart, str("image.tag"), sv.GitVersion))
	}

	nodes, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list nodes: %w", err)
	}
	add(addressPlan(romanaCIDR, svcRange, nodes.Items))
	if v, _ := values.Lookup(in.Effective, "services.deploy"); v == "daemonSet" {
		sel, _ := values.Lookup(in.Effective, "services.nodeSelector")
		tol, _ := values.Lookup(in.Effective, "services.tolerations")
		add(placement(sel, tolerations(tol), nodes.Items))
	} else {
		add(Check{Name: "placement", Severity: Pass, Message: "services.deploy=staticPod: romana-services runs from /etc/kubernetes/manifests, not the release"})
	}
	agentTol, _ := values.Lookup(in.Effective, "agent.tolerations")
	add(agentCoverage(tolerations(agentTol), nodes.Items))
	add(Check{Name: "environment", Severity: Pass, Message: fmt.Sprintf("%s: %s", in.Env, in.EnvReason)})
	if in.Env == "kops" {
		add(Check{Name: "kops-single-subnet", Severity: Warn, Message: "an automated Romana install supports a single subnet only", Fix: "run the cluster in one subnet"})
		add(Check{Name: "kops-network-cidr", Severity: Warn, Message: "kops' default --network-cidr 172.20.0.0/16 is too large for this setup", Fix: "create the cluster with --network-cidr=172.20.0.0/21"})
		add(Check{Name: "kops-source-dest-check", Severity: Warn, Message: "EC2 SourceDestCheck is on by default, which drops pod traffic between hosts", Fix: "disable SourceDestCheck on every instance"})
	}
	return r, nil
}

// ServiceRange discovers the cluster's service cluster-IP range: the ServiceCIDR API
// (networking.k8s.io/v1), then kubeadm-config, then the error of a server-side dry-run
// create of the root Service, which names the valid range when the address is outside
// it. It returns an invalid prefix when no source tells; dryRunErr is the dry run's
// error when it failed for another reason.
func ServiceRange(ctx context.Context, cs kubernetes.Interface, ns string, clusterIP netip.Addr, port any) (netip.Prefix, string, error) {
	if list, err := cs.NetworkingV1().ServiceCIDRs().List(ctx, metav1.ListOptions{}); err == nil {
		for _, sc := range list.Items {
			for _, c := range sc.Spec.CIDRs {
				if p, err := netip.ParsePrefix(c); err == nil && p.Addr().Is4() && sc.Name == "kubernetes" {
					return p, "ServiceCIDR kubernetes", nil
				}
			}
		}
	}
	if cm, err := cs.CoreV1().ConfigMaps("kube-system").Get(ctx, "kubeadm-config", metav1.GetOptions{}); err == nil {
		var cc struct {
			Networking struct {
				ServiceSubnet string `json:"serviceSubnet"`
			} `json:"networking"`
		}
		if yaml.Unmarshal([]byte(cm.Data["ClusterConfiguration"]), &cc) == nil {
			for _, s := range strings.Split(cc.Networking.ServiceSubnet, ",") {
				if p, err := netip.ParsePrefix(strings.TrimSpace(s)); err == nil && p.Addr().Is4() {
					return p, "kubeadm-config", nil
				}
			}
		}
	}
	if !clusterIP.IsValid() {
		return netip.Prefix{}, "", nil
	}
	p, _ := port.(int64)
	if f, ok := port.(float64); ok {
		p = int64(f)
	}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "romanactl-preflight-", Namespace: ns},
		Spec:       corev1.ServiceSpec{ClusterIP: clusterIP.String(), Ports: []corev1.ServicePort{{Name: "root", Port: int32(p), TargetPort: intstr.FromInt32(int32(p))}}},
	}
	_, err := cs.CoreV1().Services(ns).Create(ctx, svc, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
	if err == nil {
		return netip.Prefix{}, "", nil
	}
	// "... is not in the valid range. The range of valid IPs is 10.96.0.0/12"
	if m := validRangeRE.FindStringSubmatch(err.Error()); m != nil {
		if pr, perr := netip.ParsePrefix(m[1]); perr == nil {
			return pr, "the API server's answer to a dry-run create", nil
		}
	}
	return netip.Prefix{}, "", err
}

var validRangeRE = regexp.MustCompile(`range of valid IPs is ([0-9.]+/[0-9]+)`)

// clusterIPFree checks that no other Service holds the address. A server-side dry run
// does not catch this (it allocates nothing), so ask the IPAddress API, whose objects
// are named by the address and point at their Service; without it, list Services.
func clusterIPFree(ctx context.Context, cs kubernetes.Interface, ns string, ip netip.Addr) Check {
	ours := func(sns, name string) bool { return sns == ns && name == "romana-root" }
	holder := ""
	ipa, err := cs.NetworkingV1().IPAddresses().Get(ctx, ip.String(), metav1.GetOptions{})
	switch {
	case err == nil && ipa.Spec.ParentRef != nil:
		holder = ipa.Spec.ParentRef.Namespace + "/" + ipa.Spec.ParentRef.Name
		if ipa.Spec.ParentRef.Resource == "services" && ours(ipa.Spec.ParentRef.Namespace, ipa.Spec.ParentRef.Name) {
			holder = ""
		} else if ipa.Spec.ParentRef.Resource != "services" {
			holder = ipa.Spec.ParentRef.Resource + " " + holder
		}
	case err == nil, apierrors.IsNotFound(err):
	default:
		svcs, lerr := cs.CoreV1().Services("").List(ctx, metav1.ListOptions{})
		if lerr != nil {
			return Check{Name: "cluster-ip-free", Severity: Fail, Message: fmt.Sprintf("cannot tell whether %s is free: %v", ip, lerr)}
		}
		for _, s := range svcs.Items {
			if slices.Contains(s.Spec.ClusterIPs, ip.String()) && !ours(s.Namespace, s.Name) {
				holder = s.Namespace + "/" + s.Name
			}
		}
	}
	if holder != "" {
		return Check{Name: "cluster-ip-free", Severity: Fail,
			Message: fmt.Sprintf("romanaRoot.clusterIP (--cluster-ip) %s is already held by Service %s", ip, holder),
			Fix:     "pick a free address in the service range with --cluster-ip"}
	}
	return Check{Name: "cluster-ip-free", Severity: Pass, Message: fmt.Sprintf("%s is free (or already romana-root's)", ip)}
}

// ownership: an object the chart creates that already exists but belongs to no release
// romana in this namespace (a 2016 `kubectl apply` install, or another release) would
// make Helm stop half-way; say which, and what to do, before anything is written.
func ownership(ctx context.Context, cs kubernetes.Interface, ns string) Check {
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

// addressPlan: the Romana CIDR must not overlap the service range, a node's address or a
// node's podCIDR, or pods would get addresses that route elsewhere.
func addressPlan(romana, svc netip.Prefix, nodes []corev1.Node) Check {
	var clashes []string
	if svc.IsValid() && romana.Overlaps(svc) {
		clashes = append(clashes, "the service range "+svc.String())
	}
	for _, n := range nodes {
		for _, a := range n.Status.Addresses {
			if a.Type != corev1.NodeInternalIP {
				continue
			}
			if ip, err := netip.ParseAddr(a.Address); err == nil && romana.Contains(ip) {
				clashes = append(clashes, fmt.Sprintf("node %s's InternalIP %s", n.Name, ip))
			}
		}
		cidrs := n.Spec.PodCIDRs
		if len(cidrs) == 0 && n.Spec.PodCIDR != "" {
			cidrs = []string{n.Spec.PodCIDR}
		}
		for _, c := range cidrs {
			if p, err := netip.ParsePrefix(c); err == nil && romana.Overlaps(p) {
				clashes = append(clashes, fmt.Sprintf("node %s's podCIDR %s", n.Name, p))
			}
		}
	}
	if len(clashes) > 0 {
		return Check{Name: "address-plan", Severity: Fail,
			Message: fmt.Sprintf("services.cidr (--cidr) %s overlaps %s", romana, strings.Join(clashes, ", ")),
			Fix:     "pick a Romana CIDR that no node, podCIDR or service uses"}
	}
	return Check{Name: "address-plan", Severity: Pass, Message: fmt.Sprintf("%s overlaps no node address, podCIDR or the service range", romana)}
}

// placement: the services DaemonSet must match at least one node whose taints it
// tolerates, or it schedules nothing and Romana has no root.
func placement(sel any, tols []corev1.Toleration, nodes []corev1.Node) Check {
	set := labels.Set{}
	if m, ok := sel.(map[string]any); ok {
		for k, v := range m {
			set[k] = fmt.Sprint(v)
		}
	}
	selector := labels.SelectorFromSet(set)
	var names, untolerated []string
	for _, n := range nodes {
		if !selector.Matches(labels.Set(n.Labels)) {
			continue
		}
		if t := blockingTaint(n, tols); t != "" {
			untolerated = append(untolerated, n.Name+" ("+t+")")
			continue
		}
		names = append(names, n.Name)
	}
	sort.Strings(names)
	b, _ := json.Marshal(set)
	switch {
	case len(names) > 0:
		return Check{Name: "placement", Severity: Pass, Message: fmt.Sprintf("romana-services will run on %s", strings.Join(names, ", "))}
	case len(untolerated) > 0:
		return Check{Name: "placement", Severity: Fail,
			Message: fmt.Sprintf("the nodes matching services.nodeSelector %s have taints services.tolerations do not tolerate: %s; romana-services would run nowhere", b, strings.Join(untolerated, ", ")),
			Fix:     "add a toleration for that taint to services.tolerations"}
	}
	return Check{Name: "placement", Severity: Fail,
		Message: fmt.Sprintf("no node matches services.nodeSelector %s: romana-services would run nowhere", b),
		Fix:     "label a control-plane node, or set services.nodeSelector to labels your control plane has"}
}

// agentCoverage: a node whose taints the agent does not tolerate gets no agent, and its
// pods no network. It may be deliberate (nodes that run another network), so ‼.
func agentCoverage(tols []corev1.Toleration, nodes []corev1.Node) Check {
	var missed []string
	for _, n := range nodes {
		if t := blockingTaint(n, tols); t != "" {
			missed = append(missed, n.Name+" ("+t+")")
		}
	}
	if len(missed) > 0 {
		sort.Strings(missed)
		return Check{Name: "agent-coverage", Severity: Warn,
			Message: fmt.Sprintf("romana-agent will not run on %s: agent.tolerations do not tolerate their taints, so their pods get no network, and the wait will not finish", strings.Join(missed, ", ")),
			Fix:     "keep agent.tolerations at [{operator: Exists}]"}
	}
	return Check{Name: "agent-coverage", Severity: Pass, Message: fmt.Sprintf("romana-agent tolerates the taints of all %d nodes", len(nodes))}
}

// blockingTaint returns the first NoSchedule or NoExecute taint of n that no toleration
// tolerates, as key=value:effect, or "".
func blockingTaint(n corev1.Node, tols []corev1.Toleration) string {
	for _, t := range n.Spec.Taints {
		if t.Effect != corev1.TaintEffectNoSchedule && t.Effect != corev1.TaintEffectNoExecute {
			continue
		}
		tolerated := false
		for i := range tols {
			if tols[i].ToleratesTaint(klog.Background(), &t, false) {
				tolerated = true
				break
			}
		}
		if !tolerated {
			return fmt.Sprintf("%s=%s:%s", t.Key, t.Value, t.Effect)
		}
	}
	return ""
}

// tolerations converts a values list of tolerations into API objects.
func tolerations(v any) []corev1.Toleration {
	var out []corev1.Toleration
	if b, err := json.Marshal(v); err == nil {
		_ = json.Unmarshal(b, &out)
	}
	return out
}

// permissions asks the API server, with SelfSubjectAccessReviews, whether the user may
// do everything an install does: every kind the chart creates, every verb, the
// Secrets that Helm keeps releases in, and the Lease that romanactl locks with.
func permissions(ctx context.Context, cs kubernetes.Interface, ns string) Check {
	type need struct{ group, resource, ns string }
	needs := []need{
		{"apps", "daemonsets", ns}, {"", "services", ns}, {"", "secrets", ns}, {"", "serviceaccounts", ns}, {"", "pods", ns},
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

// DetectEnv picks the environment for --env=auto: kubeadm-config means kubeadm; the kops
// instance-group node label means kops; anything else is custom.
func DetectEnv(ctx context.Context, cs kubernetes.Interface) (env, reason string, err error) {
	_, err = cs.CoreV1().ConfigMaps("kube-system").Get(ctx, "kubeadm-config", metav1.GetOptions{})
	switch {
	case err == nil:
		return "kubeadm", "ConfigMap kube-system/kubeadm-config exists", nil
	case !apierrors.IsNotFound(err):
		return "", "", fmt.Errorf("read kubeadm-config: %w", err)
	}
	nodes, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: "kops.k8s.io/instancegroup", Limit: 1})
	if err != nil {
		return "", "", fmt.Errorf("list nodes: %w", err)
	}
	if len(nodes.Items) > 0 {
		return "kops", fmt.Sprintf("node %s has the kops.k8s.io/instancegroup label", nodes.Items[0].Name), nil
	}
	return "custom", "neither kubeadm-config nor kops node labels found", nil
}

// exampleIP is values.ExampleClusterIP for a message: a range too small for any
// Service says so.
func exampleIP(svc netip.Prefix) string {
	if ip, ok := values.ExampleClusterIP(svc); ok {
		return ip.String()
	}
	return "(none: the range is too small)"
}
