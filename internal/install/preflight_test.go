package install

import (
	"context"
	"net/netip"
	"slices"
	"strings"
	"testing"

	authv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/romana/romanactl/internal/values"
)

// Unit tests of the pre-flight logic on a fake clientset. Each behaviour is also proven
// against the real API server in cmd/romanactl/cluster_test.go.

func node(name, ip, podCIDR string, labels map[string]string) *corev1.Node {
	return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
		Spec:   corev1.NodeSpec{PodCIDR: podCIDR, PodCIDRs: []string{podCIDR}},
		Status: corev1.NodeStatus{Addresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: ip}}}}
}

func TestAddressPlanCheck(t *testing.T) {
	nodes := []corev1.Node{*node("a", "10.0.0.5", "10.244.0.0/24", nil)}
	svc := netip.MustParsePrefix("10.96.0.0/12")
	tests := []struct {
		cidr string
		want Severity
		msg  string
	}{
		{"100.112.0.0/12", Pass, ""},
		{"10.96.0.0/11", Fail, "the service range 10.96.0.0/12"},
		{"10.0.0.0/16", Fail, "node a's InternalIP 10.0.0.5"},
		{"10.240.0.0/12", Fail, "node a's podCIDR 10.244.0.0/24"},
	}
	for _, tt := range tests {
		c := addressPlan(netip.MustParsePrefix(tt.cidr), svc, nodes)
		if c.Severity != tt.want || !strings.Contains(c.Message, tt.msg) {
			t.Errorf("%s: %+v", tt.cidr, c)
		}
	}
}

func TestPlacementCheck(t *testing.T) {
	cp := *node("cp", "10.0.0.1", "", map[string]string{"node-role.kubernetes.io/control-plane": ""})
	cp.Spec.Taints = []corev1.Taint{{Key: "node-role.kubernetes.io/control-plane", Effect: corev1.TaintEffectNoSchedule}}
	nodes := []corev1.Node{cp, *node("w", "10.0.0.2", "", nil)}
	tol := []corev1.Toleration{{Key: "node-role.kubernetes.io/control-plane", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}}
	sel := map[string]any{"node-role.kubernetes.io/control-plane": ""}
	if c := placement(sel, tol, nodes); c.Severity != Pass || !strings.Contains(c.Message, "cp") {
		t.Errorf("%+v", c)
	}
	if c := placement(map[string]any{"kubernetes.io/role": "master"}, tol, nodes); c.Severity != Fail || !strings.Contains(c.Message, "no node matches services.nodeSelector") {
		t.Errorf("%+v", c)
	}
	if c := placement(sel, nil, nodes); c.Severity != Fail || !strings.Contains(c.Message, "cp (node-role.kubernetes.io/control-plane=:NoSchedule)") {
		t.Errorf("untolerated taint: %+v", c)
	}
	if c := agentCoverage([]corev1.Toleration{{Operator: corev1.TolerationOpExists}}, nodes); c.Severity != Pass {
		t.Errorf("%+v", c)
	}
	if c := agentCoverage(nil, nodes); c.Severity != Warn || !strings.Contains(c.Message, "romana-agent will not run on cp") {
		t.Errorf("%+v", c)
	}
}

func TestClusterIPFree(t *testing.T) {
	held := func(ns, name string) *networkingv1.IPAddress {
		return &networkingv1.IPAddress{ObjectMeta: metav1.ObjectMeta{Name: "10.96.0.50"},
			Spec: networkingv1.IPAddressSpec{ParentRef: &networkingv1.ParentReference{Resource: "services", Namespace: ns, Name: name}}}
	}
	ip := netip.MustParseAddr("10.96.0.50")
	for _, tt := range []struct {
		objs []runtime.Object
		want Severity
		msg  string
	}{
		{nil, Pass, "is free"},
		{[]runtime.Object{held("default", "web")}, Fail, "already held by Service default/web"},
		{[]runtime.Object{held("kube-system", "romana-root")}, Pass, "is free (or already romana-root's)"},
	} {
		c := clusterIPFree(&pfState{ctx: context.Background(), cs: fake.NewClientset(tt.objs...), apis: NetworkingAPIs{IPAddresses: true}, in: PreflightInput{Namespace: "kube-system"}, clusterIP: ip})
		if c.Severity != tt.want || !strings.Contains(c.Message, tt.msg) {
			t.Errorf("%+v", c)
		}
	}
	// Where the IPAddress API is not served, the Services are listed instead (the
	// real-cluster proof runs on an older minor: TestClusterServiceRangeSources).
	svc := func(ns, name string) *corev1.Service {
		return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Spec: corev1.ServiceSpec{ClusterIP: "10.96.0.50", ClusterIPs: []string{"10.96.0.50"}}}
	}
	for _, tt := range []struct {
		objs []runtime.Object
		want Severity
		msg  string
	}{
		{nil, Pass, "is free"},
		{[]runtime.Object{svc("default", "web"), held("default", "stale")}, Fail, "already held by Service default/web"},
		{[]runtime.Object{svc("kube-system", "romana-root")}, Pass, "is free (or already romana-root's)"},
	} {
		c := clusterIPFree(&pfState{ctx: context.Background(), cs: fake.NewClientset(tt.objs...), apis: NetworkingAPIs{}, in: PreflightInput{Namespace: "kube-system"}, clusterIP: ip})
		if c.Severity != tt.want || !strings.Contains(c.Message, tt.msg) {
			t.Errorf("without the IPAddress API: %+v", c)
		}
	}
}

func TestDiscoverNetworkingAPIs(t *testing.T) {
	cs := fake.NewClientset()
	if a := DiscoverNetworkingAPIs(cs); a.ServiceCIDRs || a.IPAddresses {
		t.Errorf("nothing served, got %+v", a)
	}
	cs.Fake.Resources = []*metav1.APIResourceList{{GroupVersion: "networking.k8s.io/v1", APIResources: []metav1.APIResource{{Name: "servicecidrs"}, {Name: "ipaddresses"}, {Name: "networkpolicies"}}}}
	if a := DiscoverNetworkingAPIs(cs); !a.ServiceCIDRs || !a.IPAddresses {
		t.Errorf("both served, got %+v", a)
	}
}

func TestServiceRangeSources(t *testing.T) {
	ctx := context.Background()
	ip := netip.MustParseAddr("10.96.0.50")
	sc := &networkingv1.ServiceCIDR{ObjectMeta: metav1.ObjectMeta{Name: "kubernetes"}, Spec: networkingv1.ServiceCIDRSpec{CIDRs: []string{"10.0.0.0/16"}}}
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "kubeadm-config", Namespace: "kube-system"},
		Data: map[string]string{"ClusterConfiguration": "networking:\n  serviceSubnet: 10.96.0.0/12\n"}}
	// The ServiceCIDR API wins over kubeadm-config.
	served := NetworkingAPIs{ServiceCIDRs: true, IPAddresses: true}
	p, src, _ := ServiceRange(ctx, fake.NewClientset(sc, cm), served, "kube-system", ip, int64(9600))
	if p.String() != "10.0.0.0/16" || src != "ServiceCIDR kubernetes" {
		t.Errorf("got %s from %s", p, src)
	}
	// Not served: the ServiceCIDR is not asked for, kubeadm-config tells.
	p, src, _ = ServiceRange(ctx, fake.NewClientset(sc, cm), NetworkingAPIs{}, "kube-system", ip, int64(9600))
	if p.String() != "10.96.0.0/12" || src != "kubeadm-config" {
		t.Errorf("got %s from %s", p, src)
	}
	p, src, _ = ServiceRange(ctx, fake.NewClientset(cm), served, "kube-system", ip, int64(9600))
	if p.String() != "10.96.0.0/12" || src != "kubeadm-config" {
		t.Errorf("got %s from %s", p, src)
	}
}

func TestDetectEnv(t *testing.T) {
	ctx := context.Background()
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "kubeadm-config", Namespace: "kube-system"}}
	kops := node("n", "10.0.0.1", "", map[string]string{"kops.k8s.io/instancegroup": "nodes"})
	for _, tt := range []struct {
		objs []runtime.Object
		want string
	}{{[]runtime.Object{cm}, "kubeadm"}, {[]runtime.Object{kops}, "kops"}, {nil, "custom"}} {
		got, why, err := DetectEnv(ctx, fake.NewClientset(tt.objs...))
		if err != nil || got != tt.want || why == "" {
			t.Errorf("want %s, got %s (%s) %v", tt.want, got, why, err)
		}
	}
}

func TestCheckSkips(t *testing.T) {
	if err := CheckSkips([]string{"agent-cluster-ip-cidr", "kops-network-cidr"}); err != nil {
		t.Error(err)
	}
	if err := CheckSkips([]string{"cluster-ip-free"}); err == nil || !values.IsInputError(err) || !strings.Contains(err.Error(), "only ‼ checks can be skipped") {
		t.Errorf("%v", err)
	}
	if err := CheckSkips([]string{"nope"}); err == nil || !strings.Contains(err.Error(), "unknown check") {
		t.Errorf("%v", err)
	}
}

func TestPreflightFailsWithoutPermissions(t *testing.T) {
	cs := fake.NewClientset(node("cp", "172.18.0.10", "10.244.0.0/24", map[string]string{"node-role.kubernetes.io/control-plane": ""}))
	// Every access review is denied but those about pods.
	cs.PrependReactor("create", "selfsubjectaccessreviews", func(a k8stesting.Action) (bool, runtime.Object, error) {
		sar := a.(k8stesting.CreateAction).GetObject().(*authv1.SelfSubjectAccessReview)
		sar.Status.Allowed = sar.Spec.ResourceAttributes.Resource == "pods"
		return true, sar, nil
	})
	eff := map[string]any{
		"services":   map[string]any{"cidr": "100.112.0.0/12", "deploy": "daemonSet", "nodeSelector": map[string]any{"node-role.kubernetes.io/control-plane": ""}},
		"romanaRoot": map[string]any{"clusterIP": "10.99.99.99", "port": int64(9600)},
		"agent":      map[string]any{"clusterIPCIDR": "10.96.0.0/12"},
	}
	r, err := Preflight(context.Background(), cs, PreflightInput{Namespace: "kube-system", Env: "kubeadm", Effective: eff, Version: "v0.4.0"})
	if err != nil {
		t.Fatal(err)
	}
	// Every check reported is in the one list, in its order (--skip-check and the
	// README read that list): -o json's "name" is one of those stable names.
	names := CheckNames(false)
	last := -1
	for _, c := range r.Checks {
		i := slices.Index(names, c.Name)
		if i < 0 || i < last {
			t.Errorf("check %s is not in install.Checks, or out of its order", c.Name)
		}
		last = i
	}
	for _, want := range []string{"version-skew", "other-cni", "ip-family"} {
		if !slices.ContainsFunc(r.Checks, func(c Check) bool { return c.Name == want }) {
			t.Errorf("check %s did not run", want)
		}
	}
	// With kops, the three kops checks appear, each named in the list.
	rk, err := Preflight(context.Background(), cs, PreflightInput{Namespace: "kube-system", Env: "kops", Effective: eff})
	if err != nil {
		t.Fatal(err)
	}
	kops := 0
	for _, c := range rk.Checks {
		if strings.HasPrefix(c.Name, "kops-") && slices.Contains(names, c.Name) {
			kops++
		}
	}
	if kops != 3 {
		t.Errorf("%d kops checks", kops)
	}
	failed := r.Failed()
	if len(failed) != 1 || failed[0].Name != "permissions" || !strings.Contains(failed[0].Message, "you may not get daemonsets.apps") ||
		strings.Contains(failed[0].Message, "pods") {
		t.Fatalf("%+v", r.Checks)
	}
	pe := &PreflightError{Report: r}
	if !values.IsInputError(pe) || !strings.Contains(pe.Error(), "nothing was changed") {
		t.Errorf("%v", pe)
	}
}

// TestPreflightErrorOnWarnings: --fail-on=warning's error names the ‼ checks, and not
// those acknowledged with --skip-check; it is an input error (exit 2).
func TestPreflightErrorOnWarnings(t *testing.T) {
	r := &Report{Checks: []Check{{Name: "a", Severity: Pass}, {Name: "ip-family", Severity: Warn, Message: "dual-stack", Fix: "acknowledge"}, {Name: "romana-compat", Severity: Skipped}}}
	if len(r.Warned()) != 1 {
		t.Fatalf("%v", r.Warned())
	}
	pe := &PreflightError{Report: r, Warnings: true}
	msg := pe.Error()
	if !values.IsInputError(pe) || !strings.Contains(msg, "‼ ip-family: dual-stack; acknowledge") || strings.Contains(msg, "romana-compat") || !strings.Contains(msg, "--fail-on=warning") {
		t.Errorf("%s", msg)
	}
}

// TestDiffShowsAPasswordChangeHidden: a Secret whose data changes shows as a changed
// line, "(changed, value hidden)"; neither value appears, and an unchanged Secret shows
// no change at all.
func TestDiffShowsAPasswordChangeHidden(t *testing.T) {
	live := []byte(`{"apiVersion":"v1","kind":"Secret","metadata":{"name":"romana-datastore","uid":"u1","resourceVersion":"7"},"data":{"password":"c2VjcmV0MQ=="}}`)
	next := []byte(`{"apiVersion":"v1","kind":"Secret","metadata":{"name":"romana-datastore","uid":"u1","resourceVersion":"8"},"data":{"password":"c2VjcmV0Mg=="}}`)
	d := unifiedDiff("Secret/romana-datastore", "changed", cleanYAML("Secret/romana-datastore", live, next, false), cleanYAML("Secret/romana-datastore", next, live, true))
	if !strings.Contains(d.Diff, "-  password: (value hidden)") || !strings.Contains(d.Diff, "+  password: (changed, value hidden)") {
		t.Errorf("the change is not shown:\n%s", d.Diff)
	}
	for _, secret := range []string{"c2VjcmV0MQ==", "c2VjcmV0Mg==", "secret1", "secret2"} {
		if strings.Contains(d.Diff, secret) {
			t.Errorf("the diff shows %s", secret)
		}
	}
	if strings.Contains(d.Diff, "resourceVersion") || strings.Contains(d.Diff, "uid") {
		t.Errorf("server-kept fields in the diff:\n%s", d.Diff)
	}
	if a, b := cleanYAML("Secret/x", live, live, false), cleanYAML("Secret/x", live, live, true); a != b {
		t.Errorf("an unchanged Secret differs:\n%s\n%s", a, b)
	}
}

func TestPlanCapacity(t *testing.T) {
	for _, tt := range []struct {
		room  int64
		nodes int
		want  Severity
		msg   string
	}{
		{256, 4, Pass, "makes room for 256 nodes; the cluster has 4"},
		{256, 256, Pass, "the cluster has 256"},
		{256, 257, Fail, "the cluster has 257 nodes, but the address plan makes room for 256"},
		{256, 1001, Fail, "give --nodes=1024 or more"},
		{0, 3, Warn, "cannot tell"},
	} {
		c := planCapacity(tt.room, tt.nodes)
		if c.Severity != tt.want || !strings.Contains(c.Message+" "+c.Fix, tt.msg) {
			t.Errorf("%v nodes=%d: %+v", tt.room, tt.nodes, c)
		}
	}
}

// TestPodAdmissionNamespaceMissing (issue #18's trial): -n of a namespace that does not
// exist is said as such, with how to create it, not as an admission refusal whose fix
// is to label a namespace that is not there.
func TestPodAdmissionNamespaceMissing(t *testing.T) {
	manifest := "---\napiVersion: apps/v1\nkind: DaemonSet\nmetadata:\n  name: romana-agent\nspec:\n  template:\n    spec:\n      containers:\n      - name: a\n        image: x\n"
	c := podAdmission(context.Background(), fake.NewClientset(), "romana", manifest)
	if c.Severity != Fail || !strings.Contains(c.Message, "namespace romana does not exist") || !strings.Contains(c.Fix, "kubectl create namespace romana") {
		t.Errorf("missing namespace: %+v", c)
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "romana"}}
	if c := podAdmission(context.Background(), fake.NewClientset(ns), "romana", manifest); c.Severity != Pass {
		t.Errorf("existing namespace: %+v", c)
	}
}
