package main

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"

	"github.com/romana/romanactl/internal/install"
)

// Issue #21 §4: clusters that already have a network. Each check is run on the real
// control plane with the objects that trigger it.

// acked are the two ‼ checks that do not depend on the cluster's network (see
// TestClusterEnvAutoPicksKubeadm).
var acked = []string{"--skip-check", "romana-compat", "--skip-check", "images-exist"}

// preJSON runs check --pre -o json and returns its exit code and the named check.
func preJSON(t *testing.T, name string, args ...string) (int, install.Check, string) {
	t.Helper()
	r := rc(t, append(append([]string{"check", "--pre", "-o", "json"}, acked...), args...)...)
	var rep install.Report
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("check --pre -o json: exit %d: %v\n%s%s", r.code, err, r.stdout, r.stderr)
	}
	for _, c := range rep.Checks {
		if c.Name == name {
			return r.code, c, r.stderr
		}
	}
	t.Fatalf("no check %s in %s", name, r.stdout)
	return 0, install.Check{}, ""
}

func wantCheck(t *testing.T, c install.Check, sev install.Severity, in ...string) {
	t.Helper()
	text := c.Message + "; " + c.Fix
	if c.Severity != sev {
		t.Errorf("%s: %s, want %s: %s", c.Name, c.Severity, sev, text)
	}
	for _, w := range in {
		if !strings.Contains(text, w) {
			t.Errorf("%s: want %q in %q", c.Name, w, text)
		}
	}
}

// TestClusterOtherCNI: a calico-node DaemonSet, a Flannel Node annotation and a pod on
// the cluster's own pod addresses (kwok gives it one from its node's podCIDR, as a
// bridge or Flannel would) each fail other-cni, named; a romana-services of a 2016
// install whose --cidr holds that pod's address does not.
func TestClusterOtherCNI(t *testing.T) {
	cluster(t)
	ctx := context.Background()
	cs := shared.Client
	code, c, _ := preJSON(t, "other-cni")
	if code != 0 {
		t.Fatalf("a cluster with no network: exit %d", code)
	}
	wantCheck(t, c, install.Pass, "no DaemonSet or Node annotation of Calico")

	// Calico's node agent, as its manifest names it (hostNetwork, so its pods are on
	// the nodes' addresses and only the DaemonSet gives it away).
	calico := &appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Name: "calico-node", Namespace: "kube-system"},
		Spec: appsv1.DaemonSetSpec{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"k8s-app": "calico-node"}},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"k8s-app": "calico-node"}},
				Spec: corev1.PodSpec{HostNetwork: true, Containers: []corev1.Container{{Name: "calico-node", Image: "docker.io/calico/node:v3.27.0"}}}}}}
	if _, err := cs.AppsV1().DaemonSets("kube-system").Create(ctx, calico, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cs.AppsV1().DaemonSets("kube-system").Delete(ctx, "calico-node", metav1.DeleteOptions{})
	})
	code, c, stderr := preJSON(t, "other-cni")
	if code != 2 || !strings.Contains(stderr, "✗ other-cni") {
		t.Errorf("calico-node: exit %d\n%s", code, stderr)
	}
	wantCheck(t, c, install.Fail, "Calico: DaemonSet kube-system/calico-node (by its name)", "only file in /etc/cni/net.d (romana/romana#154)", install.MigrationNote)
	// install stops before any write.
	if r := rc(t, "install", "--wait=false"); r.code != 2 || !strings.Contains(r.stderr, "Calico: DaemonSet kube-system/calico-node") {
		t.Errorf("install with calico-node: exit %d\n%s", r.code, r.stderr)
	}
	if got := romanaObjects(t); len(got) > 0 {
		t.Fatalf("a refused install created %v", got)
	}
	if err := cs.AppsV1().DaemonSets("kube-system").Delete(ctx, "calico-node", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}

	// Flannel's annotation on a node, left behind by a Flannel that is gone.
	ann := func(v any) {
		b, _ := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]any{"flannel.alpha.coreos.com/public-ip": v}}})
		if _, err := cs.CoreV1().Nodes().Patch(ctx, "worker-0", types.MergePatchType, b, metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	ann("172.18.0.20")
	t.Cleanup(func() { ann(nil) })
	code, c, _ = preJSON(t, "other-cni")
	if code != 2 {
		t.Errorf("annotation: exit %d", code)
	}
	wantCheck(t, c, install.Fail, "Flannel: node worker-0's annotation flannel.alpha.coreos.com/public-ip")
	ann(nil)

	// A running pod on the pod network, with an address no Romana gave.
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: corev1.PodSpec{NodeName: "worker-1", Containers: []corev1.Container{{Name: "web", Image: "nginx:1.27"}}}}
	if _, err := cs.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cs.CoreV1().Pods("default").Delete(ctx, "web", metav1.DeleteOptions{GracePeriodSeconds: new(int64)})
	})
	var ip string
	for deadline := time.Now().Add(30 * time.Second); ip == "" && time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		p, err := cs.CoreV1().Pods("default").Get(ctx, "web", metav1.GetOptions{})
		if err == nil && p.Status.Phase == corev1.PodRunning {
			ip = p.Status.PodIP
		}
	}
	if ip == "" || !strings.HasPrefix(ip, "10.244.") {
		t.Fatalf("pod web never ran on a podCIDR address (%q)", ip)
	}
	code, c, _ = preJSON(t, "other-cni")
	if code != 2 {
		t.Errorf("foreign pod: exit %d", code)
	}
	wantCheck(t, c, install.Fail, "pod default/web has "+ip+" on worker-1", "outside Romana's range 100.112.0.0/12")

	// A 2016 install (no Helm labels) whose romana-services gives pods 10.244.0.0/16:
	// the pod is on Romana's addresses, not another network's.
	old := &appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Name: "romana-services", Namespace: "kube-system"},
		Spec: appsv1.DaemonSetSpec{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "romana-services"}},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "romana-services"}},
				Spec: corev1.PodSpec{HostNetwork: true, NodeSelector: map[string]string{"node-role.kubernetes.io/control-plane": ""},
					Tolerations: []corev1.Toleration{{Operator: corev1.TolerationOpExists}},
					Containers:  []corev1.Container{{Name: "romana-services", Image: "quay.io/romana/services:v0.9.3", Args: []string{"--cidr=10.244.0.0/16"}}}}}}}
	if _, err := cs.AppsV1().DaemonSets("kube-system").Create(ctx, old, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	code, c, _ = preJSON(t, "other-cni")
	wantCheck(t, c, install.Pass, "10.244.0.0/16")
	if code != 2 { // ownership: the 2016 DaemonSet belongs to no release
		t.Errorf("2016 install: exit %d", code)
	}
	if err := cs.AppsV1().DaemonSets("kube-system").Delete(ctx, "romana-services", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	// The values' own range: --cidr holding the pod's address (address-plan fails it
	// for overlapping the podCIDRs; other-cni does not).
	_, c, _ = preJSON(t, "other-cni", "--cidr=10.240.0.0/12")
	wantCheck(t, c, install.Pass, "10.240.0.0/12")
}

// TestClusterIPFamily: an IPv6-only node fails ip-family; a dual-stack node and an
// IPv6 ServiceCIDR warn, and --fail-on=warning makes the warning exit 2.
func TestClusterIPFamily(t *testing.T) {
	cluster(t)
	ctx := context.Background()
	cs := shared.Client
	code, c, _ := preJSON(t, "ip-family")
	if code != 0 {
		t.Fatalf("an IPv4 cluster: exit %d", code)
	}
	// Where the ServiceCIDR API is served (1.33 on) the range comes from it, else from
	// kubeadm-config (1.25 in CI).
	hasServiceCIDRs := install.DiscoverNetworkingAPIs(cs).ServiceCIDRs
	source := "10.96.0.0/12 (kubeadm-config's serviceSubnet)"
	if hasServiceCIDRs {
		source = "10.96.0.0/12 (ServiceCIDR kubernetes)"
	}
	wantCheck(t, c, install.Pass, "IPv4 only", source)

	addNode := func(name string, ips []string, podCIDRs ...string) {
		t.Helper()
		n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: corev1.NodeSpec{PodCIDR: podCIDRs[0], PodCIDRs: podCIDRs}}
		n, err := cs.CoreV1().Nodes().Create(ctx, n, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cs.CoreV1().Nodes().Delete(ctx, name, metav1.DeleteOptions{}) })
		// The node lifecycle controller writes the new Node too (its taints), so the
		// status update is retried on a conflict, from the Node as it is now.
		err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
			cur, err := cs.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			cur.Status.Addresses = nil
			for _, ip := range ips {
				cur.Status.Addresses = append(cur.Status.Addresses, corev1.NodeAddress{Type: corev1.NodeInternalIP, Address: ip})
			}
			cur.Status.NodeInfo.ContainerRuntimeVersion = "docker://28.2.2"
			_, err = cs.CoreV1().Nodes().UpdateStatus(ctx, cur, metav1.UpdateOptions{})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	addNode("v6-only", []string{"fd00::99"}, "fd00:10:244:99::/64")
	code, c, stderr := preJSON(t, "ip-family")
	if code != 2 || !strings.Contains(stderr, "✗ ip-family") {
		t.Errorf("IPv6-only node: exit %d\n%s", code, stderr)
	}
	wantCheck(t, c, install.Fail, "IPv6-only nodes: v6-only (podCIDRs fd00:10:244:99::/64, InternalIPs fd00::99)", "Romana is IPv4 only")
	if err := cs.CoreV1().Nodes().Delete(ctx, "v6-only", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}

	addNode("dual", []string{"172.18.0.200", "fd00::200"}, "10.244.200.0/24", "fd00:10:244:200::/64")
	code, c, _ = preJSON(t, "ip-family")
	wantCheck(t, c, install.Warn, "dual-stack", "dual's podCIDRs 10.244.200.0/24, fd00:10:244:200::/64", "pods get no IPv6 address from Romana", "no endpoints on Romana's pods")
	if code != 0 {
		t.Errorf("a ‼ without --fail-on: exit %d", code)
	}
	// --fail-on=warning: the same ‼ exits 2, named; acknowledged, it does not count.
	r := rc(t, append(append([]string{"check", "--pre"}, acked...), "--fail-on=warning")...)
	if r.code != 2 || !strings.Contains(r.stderr, "‼ ip-family: the cluster is dual-stack") || !strings.Contains(r.stderr, "--fail-on=warning") {
		t.Errorf("--fail-on=warning: exit %d\n%s", r.code, r.stderr)
	}
	r = rc(t, append(append([]string{"check", "--pre"}, acked...), "--fail-on=warning", "--skip-check", "ip-family")...)
	if r.code != 0 {
		t.Errorf("--fail-on=warning with the ‼ acknowledged: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := rc(t, "check", "--pre", "--fail-on=warnings"); r.code != 2 || !strings.Contains(r.stderr, `--fail-on "warnings": must be failure`) {
		t.Errorf("--fail-on=warnings: exit %d\n%s", r.code, r.stderr)
	}
	if err := cs.CoreV1().Nodes().Delete(ctx, "dual", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}

	// A second service range of IPv6 (the ServiceCIDR API, GA in 1.33).
	if !hasServiceCIDRs {
		t.Log("no ServiceCIDR API on this server (before 1.33): no second service range to add")
		return
	}
	sc := &networkingv1.ServiceCIDR{ObjectMeta: metav1.ObjectMeta{Name: "v6"}, Spec: networkingv1.ServiceCIDRSpec{CIDRs: []string{"fd00:10:96::/112"}}}
	if _, err := cs.NetworkingV1().ServiceCIDRs().Create(ctx, sc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cs.NetworkingV1().ServiceCIDRs().Delete(ctx, "v6", metav1.DeleteOptions{})
		for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
			if _, err := cs.NetworkingV1().ServiceCIDRs().Get(ctx, "v6", metav1.GetOptions{}); apierrors.IsNotFound(err) {
				return
			}
		}
		t.Error("ServiceCIDR v6 still there after 30s")
	})
	_, c, _ = preJSON(t, "ip-family")
	wantCheck(t, c, install.Warn, "IPv6 service ranges: fd00:10:96::/112 (ServiceCIDR v6)")
}

// TestClusterVersionSkew: a release made by a newer romanactl with a newer chart warns
// version-skew; upgrade refuses the downgrade (exit 2, nothing written) unless
// --allow-downgrade.
func TestClusterVersionSkew(t *testing.T) {
	cluster(t)
	saved := version
	t.Cleanup(func() { version = saved })
	newer := copyChart(t)
	replaceIn(t, filepath.Join(newer, "Chart.yaml"), "version: 0.1.0", "version: 0.2.0")
	version = "v0.9.0"
	mustOK(t, rc(t, "install", "--chart", newer, "--wait=false"))
	recs := releaseSecrets(t)
	if len(recs) != 1 || recs[0].Labels[install.VersionLabel] != "v0.9.0" {
		var labels []map[string]string
		for _, r := range recs {
			labels = append(labels, r.Labels)
		}
		t.Fatalf("the release record does not say which romanactl made it: its labels are %v", labels)
	}
	version = "v0.4.0"
	code, c, _ := preJSON(t, "version-skew")
	wantCheck(t, c, install.Warn, "release romana revision 1 was made with chart romana 0.2.0, newer than this romanactl's chart 0.1.0",
		"made by romanactl v0.9.0, newer than this romanactl v0.4.0", "--allow-downgrade")
	if code != 0 {
		t.Errorf("a ‼: exit %d", code)
	}
	r := rc(t, "upgrade", "--wait=false")
	if r.code != 2 || !strings.Contains(r.stderr, "upgrade would downgrade release romana from chart romana 0.2.0 (revision 1) to chart romana 0.1.0") ||
		!strings.Contains(r.stderr, "--allow-downgrade") || !strings.Contains(r.stderr, "nothing was changed") {
		t.Fatalf("downgrade: exit %d\n%s", r.code, r.stderr)
	}
	if n := len(releaseSecrets(t)); n != 1 {
		t.Fatalf("a refused downgrade wrote a revision (%d records)", n)
	}
	mustOK(t, rc(t, "upgrade", "--wait=false", "--allow-downgrade"))
	code, c, _ = preJSON(t, "version-skew")
	wantCheck(t, c, install.Pass, "revision 2 was made with chart romana 0.1.0 by romanactl v0.4.0")
	if code != 0 {
		t.Errorf("after the downgrade: exit %d", code)
	}
}
