package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/yaml"

	"github.com/romana/romanactl/internal/install"
	"github.com/romana/romanactl/internal/migrate"
	"github.com/romana/romanactl/internal/testcluster"
	"github.com/romana/romanactl/internal/upstream"
)

// churnStatus writes the named DaemonSets' status every 10 ms, as the DaemonSet
// controller does when pods change, so that any read-then-write of them races with
// it. The status written is read first and changes a counter no one reads
// (numberMisscheduled). The returned func stops it and says how many writes landed.
func churnStatus(t *testing.T, names ...string) func() int {
	t.Helper()
	// A client of its own, unthrottled: the shared one's rate limit (5 a second) is
	// too slow to make the race.
	cfg := rest.CopyConfig(shared.Config)
	cfg.QPS, cfg.Burst = -1, 0
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int)
	go func() {
		n := 0
		defer func() { done <- n }()
		dss := client.AppsV1().DaemonSets("kube-system")
		for ctx.Err() == nil {
			for _, name := range names {
				d, err := dss.Get(ctx, name, metav1.GetOptions{})
				if err != nil {
					continue
				}
				d.Status.NumberMisscheduled = 1 - d.Status.NumberMisscheduled
				if _, err := dss.UpdateStatus(ctx, d, metav1.UpdateOptions{}); err == nil {
					n++
				}
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()
	var n int
	stopped := false
	stop := func() int {
		if !stopped {
			stopped = true
			cancel()
			n = <-done
		}
		return n
	}
	t.Cleanup(func() { stop() })
	return stop
}

// applySpec applies an original manifest to the shared cluster as a 2016 install was
// made (applySpecTo), with the datastore password pw. edit may change a DaemonSet first.
func applySpec(t *testing.T, file, pw string, edit func(*appsv1.DaemonSet)) {
	t.Helper()
	applySpecTo(t, shared.Client, shared.KubeconfigPath, pw, edit, file)
}

// originalSpecs is the directory of the 2016 manifests, Romana's own files outside
// this repository (internal/upstream says where they are found): a test that needs
// them calls it first, so that it skips, with the reason, before starting anything.
func originalSpecs(t *testing.T) string {
	t.Helper()
	return upstream.Path(t, "seed", "original-specs")
}

// testPassword is a datastore password of the test's own, in place of the specs'
// "romana" (which is also every label's value), so that a search of an output for it,
// in plain text or base64, finds only a leak.
func testPassword(t *testing.T) string {
	t.Helper()
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return "pw-" + hex.EncodeToString(b)
}

// assertNoPassword fails the test if out holds pw, in plain text or base64.
func assertNoPassword(t *testing.T, what, out, pw string) {
	t.Helper()
	for _, s := range []string{pw, base64.StdEncoding.EncodeToString([]byte(pw))} {
		if strings.Contains(out, s) {
			t.Errorf("%s holds the datastore password (%q):\n%s", what, s, out)
		}
	}
}

// applySpecTo applies the original manifests in files to the cluster behind kubeconfig
// with the real `kubectl apply`, as a 2016 install was made, so that every object
// carries kubectl's last-applied annotation (with the plain-text password in it). The
// extensions/v1beta1 DaemonSets, which today's API server does not serve, are sent as
// apps/v1 with the selector the conversion took from the template's labels; pw replaces
// the specs' password in every env value. A static Pod manifest is published as the
// kubelet of the first control-plane node would publish it: a mirror Pod named
// <name>-<node>, bound to that node, annotated kubernetes.io/config.mirror and owned by
// the Node.
func applySpecTo(t *testing.T, cs kubernetes.Interface, kubeconfig, pw string, edit func(*appsv1.DaemonSet), files ...string) migrate.Found {
	t.Helper()
	ctx := context.Background()
	var all migrate.Found
	setPassword := func(p *corev1.PodSpec) {
		for i := range p.Containers {
			for j, e := range p.Containers[i].Env {
				if e.Name == "MYSQL_ROOT_PASSWORD" && e.Value != "" {
					p.Containers[i].Env[j].Value = pw
				}
			}
		}
	}
	var docs []string
	for _, file := range files {
		data, err := os.ReadFile(filepath.Join(originalSpecs(t), file))
		if err != nil {
			t.Fatal(err)
		}
		f, err := migrate.ParseSpec(data)
		if err != nil {
			t.Fatal(err)
		}
		var objs []any
		for _, ds := range []*appsv1.DaemonSet{f.Services, f.Agent} {
			if ds == nil {
				continue
			}
			setPassword(&ds.Spec.Template.Spec)
			if edit != nil {
				edit(ds)
			}
			objs = append(objs, ds)
		}
		if f.Root != nil {
			objs = append(objs, f.Root)
		}
		for _, o := range objs {
			y, err := yaml.Marshal(o)
			if err != nil {
				t.Fatal(err)
			}
			docs = append(docs, string(y))
		}
		if p := f.StaticPod; p != nil {
			setPassword(&p.Spec)
			node, err := cs.CoreV1().Nodes().Get(ctx, "control-plane-0", metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			p.Name += "-" + node.Name
			p.Spec.NodeName = node.Name
			isController := true
			p.Annotations = map[string]string{"kubernetes.io/config.mirror": "3b7a1c0e", "kubernetes.io/config.source": "file", "kubernetes.io/config.hash": "3b7a1c0e"}
			p.OwnerReferences = []metav1.OwnerReference{{APIVersion: "v1", Kind: "Node", Name: node.Name, UID: node.UID, Controller: &isController}}
			if all.StaticPod, err = cs.CoreV1().Pods(p.Namespace).Create(ctx, p, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
		}
	}
	if len(docs) > 0 {
		cmd := exec.Command("../../bin/kubectl", "apply", "-f", "-", "--kubeconfig", kubeconfig)
		cmd.Stdin = strings.NewReader(strings.Join(docs, "---\n"))
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("kubectl apply: %v\n%s", err, out)
		}
	}
	return all
}

// TestClusterMigrateKubeadmSpec: the 2016 kubeadm spec, applied with kubectl apply as
// today's API server stores it and with a password of the test's own, is taken over in
// place as revision 1 of release romana: the UIDs and the clusterIP are unchanged, the
// password is carried over, helm lists the release, and a following upgrade keeps the
// derived values. Neither the dry run nor the objects afterwards show the password
// (kubectl's last-applied annotation is removed), and the dry run's diff is Helm's
// adoption: a live field the chart does not render is kept, not shown removed. A spec
// with an unknown arg, an agent image on another tag and an empty --nat= is refused,
// naming each, with nothing written.
func TestClusterMigrateKubeadmSpec(t *testing.T) {
	originalSpecs(t)
	c := cluster(t)
	ctx := context.Background()
	pw := testPassword(t)

	applySpec(t, "romana-kubeadm.yml", pw, func(ds *appsv1.DaemonSet) {
		if ds.Name == "romana-agent" {
			ct := &ds.Spec.Template.Spec.Containers[0]
			ct.Args = append(ct.Args, "--mtu=1400", "--nat=")
			ct.Image = "quay.io/romana/agent:v0.9.3.5-patched"
		}
	})
	r := rc(t, "migrate")
	for _, want := range []string{"arg --mtu=1400", "arg --nat= (empty", "image quay.io/romana/agent:v0.9.3.5-patched (tag v0.9.3.5-patched", "nothing was changed"} {
		if r.code != 2 || !strings.Contains(r.stderr, want) {
			t.Errorf("refused items: exit %d, lacks %q\n%s%s", r.code, want, r.stdout, r.stderr)
		}
	}
	assertNoPassword(t, "the refusal", r.stdout+r.stderr, pw)
	if len(releaseSecrets(t)) != 0 {
		t.Fatal("a refused migrate stored a release")
	}
	cleanup(t)

	// The 2016 file as it is (extensions/v1beta1) cannot be applied to a current
	// cluster, as the README says: such a cluster uses install.
	if out, err := exec.Command("../../bin/kubectl", "apply", "--kubeconfig", shared.KubeconfigPath,
		"-f", filepath.Join(originalSpecs(t), "romana-kubeadm.yml")).CombinedOutput(); err == nil || !strings.Contains(string(out), `no matches for kind "DaemonSet" in version "extensions/v1beta1"`) {
		t.Errorf("kubectl apply of the 2016 file: %v\n%s", err, out)
	}

	const keep = "ops.example/contact"
	applySpec(t, "romana-kubeadm.yml", pw, func(ds *appsv1.DaemonSet) {
		if ds.Name == "romana-agent" {
			ds.Annotations = map[string]string{keep: "network-team"}
		}
	})
	uid := map[string]string{}
	for _, n := range []string{"romana-services", "romana-agent"} {
		d := ds(t, n)
		uid[n] = string(d.UID)
		if la := d.Annotations[install.LastApplied]; la == "" || n == "romana-services" && !strings.Contains(la, pw) {
			t.Fatalf("the fixture's %s lacks kubectl's last-applied annotation (with the password in romana-services): %v", n, d.Annotations)
		}
	}
	svc, _ := c.Client.CoreV1().Services("kube-system").Get(ctx, "romana-root", metav1.GetOptions{})
	uid["romana-root"] = string(svc.UID)

	// The DaemonSet controller writes both DaemonSets' status as their pods come and
	// go; CI once saw the plan refuse romana-agent on the conflict that makes (a read,
	// then a replace with its resourceVersion). Status written here all the time
	// while migrate plans makes that race happen on every run. It stops before the
	// migrate itself: at this pace the controller's own status writes would lose
	// every race, and migrate's wait reads them.
	stopChurn := churnStatus(t, "romana-agent", "romana-services")
	// The dry run is a short plan, then the values: no diff, no hook.
	r = mustOK(t, rc(t, "migrate", "--dry-run", "--debug"))
	for _, want := range []string{"environment kubeadm", "Plan: take it over in place as revision 1 of release romana",
		"    DaemonSet/romana-agent: changes metadata.annotations, metadata.labels, spec.template.metadata.labels, ",
		"    DaemonSet/romana-services: changes metadata.annotations, metadata.labels, spec.template.metadata.labels; pod spec: containers[romana-api-proxy], containers[romana-datastore], ",
		" nodeSelector, ", "    Service/romana-root: changes metadata.annotations, metadata.labels\n",
		"  Create: ", "Secret/romana-datastore", "ServiceAccount/romana-agent", "ConfigMap/romana-cleanup",
		"  Write Secret romana-datastore with the datastore password from DaemonSet romana-services container romana-datastore env MYSQL_ROOT_PASSWORD",
		"  Replace: DaemonSet romana-services nodeSelector kubeadm.alpha.kubernetes.io/role=master",
		"  Remove kubectl's last-applied annotation", "# services.cidr: from DaemonSet romana-services container romana-services arg --cidr",
		"# romanaRoot.clusterIP: from Service romana-root spec.clusterIP", "Dry run: nothing was written. `romanactl migrate -o diff`"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("--dry-run lacks %q:\n%s", want, r.stdout)
		}
	}
	// The chart's hooks: pre-delete node cleanup, helm test.
	hookObjects := []string{"ServiceAccount/romana-cleanup", "Role/romana-cleanup", "RoleBinding/romana-cleanup", "DaemonSet/romana-cleanup", "Job/romana-cleanup", "Pod/romana-test-root"}
	for _, hook := range append(hookObjects, "@@", "+++") {
		if strings.Contains(r.stdout, hook) {
			t.Errorf("--dry-run shows %q (a hook, or a diff):\n%s", hook, r.stdout)
		}
	}
	if n := strings.Count(r.stdout, "\n"); n > 60 {
		t.Errorf("--dry-run prints %d lines, not a short plan:\n%s", n, r.stdout)
	}
	assertNoPassword(t, "migrate --dry-run --debug", r.stdout+r.stderr, pw)
	// -o diff is each object's diff, its sides saying what migrate does.
	r = mustOK(t, rc(t, "migrate", "-o", "diff"))
	for _, want := range []string{"# DaemonSet/romana-agent taken over in place", "--- live DaemonSet/romana-agent", "+++ after migrate (taken over in place) DaemonSet/romana-agent",
		"+++ after migrate (created) Secret/romana-datastore", "# -o diff: nothing was written",
		// What PrepareTakeOver does shows, without the values.
		"-    " + install.LastApplied + ": (value hidden)", "-          value: (value hidden)", "+          valueFrom:"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("-o diff lacks %q:\n%s", want, r.stdout)
		}
	}
	for _, hook := range append(hookObjects, "+++ upgrade") {
		if strings.Contains(r.stdout, hook) {
			t.Errorf("-o diff shows %q:\n%s", hook, r.stdout)
		}
	}
	// Helm's adoption patch has the rendered object as its original: it removes nothing.
	if strings.Contains(r.stdout, "-    "+keep) {
		t.Errorf("-o diff shows %s removed, which the take-over keeps:\n%s", keep, r.stdout)
	}
	assertNoPassword(t, "migrate -o diff", r.stdout+r.stderr, pw)
	if len(releaseSecrets(t)) != 0 {
		t.Fatal("--dry-run wrote a release")
	}
	if y := mustOK(t, rc(t, "migrate", "--dry-run", "-o", "yaml")).stdout; !strings.Contains(y, "cidr: 100.112.0.0/12") {
		t.Errorf("-o yaml:\n%s", y)
	} else {
		assertNoPassword(t, "migrate --dry-run -o yaml", y, pw)
	}

	if n := stopChurn(); n < 10 {
		t.Errorf("only %d status writes while migrate planned: the race was not made", n)
	}
	r = mustOK(t, rc(t, "migrate", "--skip-check", "images-exist", "--timeout=2m", "--debug"))
	if !strings.Contains(r.stdout, "Migrated: release romana, revision 1, deployed") || !strings.Contains(r.stdout, "To rotate it") {
		t.Fatalf("migrate:\n%s%s", r.stdout, r.stderr)
	}
	// migrate says what it did, not the diff again.
	for _, want := range []string{"  Took over in place", "    DaemonSet/romana-agent: changed metadata.annotations, metadata.labels, ", "  Created: ",
		"  Wrote Secret romana-datastore", "  Replaced: DaemonSet romana-services nodeSelector", "  Removed kubectl's last-applied annotation", "Deleted "} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("migrate lacks %q:\n%s", want, r.stdout)
		}
	}
	for _, not := range append(hookObjects, "@@", "+++") {
		if strings.Contains(r.stdout, not) {
			t.Errorf("migrate prints %q (a diff, or a hook):\n%s", not, r.stdout)
		}
	}
	if !strings.Contains(r.stderr, "debug ") {
		t.Errorf("--debug wrote nothing to search:\n%s", r.stderr)
	}
	assertNoPassword(t, "migrate --debug", r.stdout+r.stderr, pw)
	for _, n := range []string{"romana-services", "romana-agent"} {
		d := ds(t, n)
		if string(d.UID) != uid[n] || d.Annotations["meta.helm.sh/release-name"] != "romana" || d.Labels["app.kubernetes.io/managed-by"] != "Helm" {
			t.Errorf("%s: UID %s (was %s), annotations %v", n, d.UID, uid[n], d.Annotations)
		}
		if _, ok := d.Annotations[install.LastApplied]; ok {
			t.Errorf("%s keeps kubectl's last-applied annotation", n)
		}
		y, _ := yaml.Marshal(d)
		assertNoPassword(t, "DaemonSet "+n+" after migrate", string(y), pw)
	}
	// The DaemonSet controller's history of the templates from before the take-over.
	crs, err := c.Client.AppsV1().ControllerRevisions("kube-system").List(ctx, metav1.ListOptions{LabelSelector: "app=romana-services"})
	if err != nil || len(crs.Items) == 0 {
		t.Errorf("no ControllerRevisions of romana-services: %v", err)
	}
	y, _ := yaml.Marshal(crs)
	assertNoPassword(t, "the ControllerRevisions of romana-services", string(y), pw)
	if ds(t, "romana-agent").Annotations[keep] != "network-team" {
		t.Errorf("the take-over removed %s, unlike its dry run", keep)
	}
	svc, _ = c.Client.CoreV1().Services("kube-system").Get(ctx, "romana-root", metav1.GetOptions{})
	if string(svc.UID) != uid["romana-root"] || svc.Spec.ClusterIP != "10.99.99.99" {
		t.Errorf("romana-root: UID %s (was %s), clusterIP %s", svc.UID, uid["romana-root"], svc.Spec.ClusterIP)
	}
	if _, ok := svc.Annotations[install.LastApplied]; ok {
		t.Error("romana-root keeps kubectl's last-applied annotation")
	}
	if p := password(t); p != pw {
		t.Errorf("the password is %q, not the spec's", p)
	}
	out, err := runHelmEnv(t, helmBinary(t), []string{"KUBECONFIG=" + shared.KubeconfigPath}, "list", "-n", "kube-system")
	if err != nil || !strings.Contains(out, "romana") || !strings.Contains(out, "deployed") {
		t.Errorf("helm list: %v\n%s", err, out)
	}
	mustOK(t, rc(t, "upgrade", "--tag=v0.9.3", "--skip-check", "images-exist"))
	args := strings.Join(ds(t, "romana-services").Spec.Template.Spec.Containers[1].Args, " ")
	if !strings.Contains(args, "--cidr=100.112.0.0/12") || password(t) != pw {
		t.Errorf("after upgrade: %s", args)
	}
}

// TestClusterMigrateFailedWaitLeavesNoPassword: a take-over whose wait times out
// (exit 1, release left failed) has already pointed romana-services at the Secret, so
// the DaemonSet's old revisions, which hold the 2016 password, are deleted all the same.
func TestClusterMigrateFailedWaitLeavesNoPassword(t *testing.T) {
	originalSpecs(t)
	c := cluster(t)
	pw := testPassword(t)
	applySpec(t, "romana-kubeadm.yml", pw, nil)
	r := rc(t, "migrate", "--skip-check", "images-exist", "--timeout=1ms")
	if r.code != 1 || !strings.Contains(r.stderr, "install failed") {
		t.Fatalf("a wait of 1ms: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	assertNoPassword(t, "the failed migrate", r.stdout+r.stderr, pw)
	crs, err := c.Client.AppsV1().ControllerRevisions("kube-system").List(context.Background(), metav1.ListOptions{LabelSelector: "app=romana-services"})
	if err != nil || len(crs.Items) == 0 {
		t.Fatalf("no ControllerRevisions of romana-services: %v", err)
	}
	y, _ := yaml.Marshal(crs)
	assertNoPassword(t, "the ControllerRevisions of romana-services after a failed migrate", string(y), pw)
	y, _ = yaml.Marshal(ds(t, "romana-services"))
	assertNoPassword(t, "DaemonSet romana-services after a failed migrate", string(y), pw)
}

// TestClusterMigrateKopsAndStaticPod runs on a second cluster that looks like one kops
// made (service range 100.64.0.0/13, pod range 100.96.0.0/11, instance-group labels, no
// kubeadm-config), where the 2016 kops spec's clusterIP 100.64.99.99 is valid:
//   - the kops spec is taken over in place like the kubeadm one;
//   - an install whose romana-services is a static Pod (the 2016 guide's manifest file,
//     seen through its mirror Pod) is taken over with romana-services left to the
//     kubelet: the release renders no romana-services DaemonSet, and the mirror Pod, the
//     agent and romana-root keep their UIDs.
func TestClusterMigrateKopsAndStaticPod(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: real-cluster tests need the control plane (make controlplane)")
	}
	originalSpecs(t)
	ctx := context.Background()
	kops, err := testcluster.Start(ctx, testcluster.Options{BinDir: "../../bin", Dir: t.TempDir(), Workers: 2,
		ServiceCIDR: "100.64.0.0/13", ClusterCIDR: "100.96.0.0/11", Kops: true})
	if err != nil {
		t.Fatal(err)
	}
	defer kops.Stop()
	cs := kops.Client
	on := func(args ...string) result { return run(t, append(args, "--kubeconfig", kops.KubeconfigPath)...) }
	// kops's three ‼ limitations are about the cloud, not this cluster; quay.io cannot be
	// reached from here.
	skips := []string{"--skip-check", "kops-single-subnet", "--skip-check", "kops-network-cidr", "--skip-check", "kops-source-dest-check", "--skip-check", "images-exist", "--timeout=2m"}
	uids := func() map[string]string {
		out := map[string]string{}
		for _, n := range []string{"romana-services", "romana-agent"} {
			if d, err := cs.AppsV1().DaemonSets("kube-system").Get(ctx, n, metav1.GetOptions{}); err == nil {
				out[n] = string(d.UID)
			}
		}
		if s, err := cs.CoreV1().Services("kube-system").Get(ctx, "romana-root", metav1.GetOptions{}); err == nil {
			out["romana-root"] = string(s.UID) + " " + s.Spec.ClusterIP
		}
		return out
	}
	pw := testPassword(t)
	secretPassword := func() string {
		s, err := cs.CoreV1().Secrets("kube-system").Get(ctx, "romana-datastore", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return string(s.Data["password"])
	}

	// The kops spec.
	applySpecTo(t, cs, kops.KubeconfigPath, pw, nil, "romana-kops.yml")
	before := uids()
	r := on(append([]string{"migrate"}, skips...)...)
	if r.code != 0 || !strings.Contains(r.stdout, "Migrated: release romana, revision 1, deployed") {
		t.Fatalf("migrate the kops spec: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if after := uids(); fmt.Sprint(after) != fmt.Sprint(before) || !strings.HasSuffix(after["romana-root"], " 100.64.99.99") {
		t.Errorf("UIDs or clusterIP changed: %v -> %v", before, after)
	}
	if p := secretPassword(); p != pw {
		t.Errorf("password %q, not the spec's", p)
	}
	for _, want := range []string{"--cidr=10.192.0.0/10"} {
		d, _ := cs.AppsV1().DaemonSets("kube-system").Get(ctx, "romana-services", metav1.GetOptions{})
		if args := strings.Join(d.Spec.Template.Spec.Containers[1].Args, " "); !strings.Contains(args, want) {
			t.Errorf("romana-services args %s lack %s", args, want)
		}
	}
	out, err := runHelmEnv(t, helmBinary(t), []string{"KUBECONFIG=" + kops.KubeconfigPath}, "get", "values", "romana", "-n", "kube-system", "-o", "json")
	if err != nil || !strings.Contains(out, `"environment":"kops"`) {
		t.Errorf("helm get values: %v\n%s", err, out)
	}
	if r := on("upgrade", "--tag=v0.9.3", "--skip-check", "images-exist", "--timeout=2m"); r.code != 0 {
		t.Fatalf("upgrade after migrate: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	d, _ := cs.AppsV1().DaemonSets("kube-system").Get(ctx, "romana-agent", metav1.GetOptions{})
	if args := strings.Join(d.Spec.Template.Spec.Containers[0].Args, " "); !strings.Contains(args, "--romana-root=http://100.64.99.99:9600") {
		t.Errorf("agent args after upgrade: %s", args)
	}
	mustOK(t, on("uninstall", "--timeout=60s"))
	_ = cs.CoreV1().Secrets("kube-system").Delete(ctx, "romana-datastore", metav1.DeleteOptions{})

	// A pod of the removed DaemonSet still terminating (kwok deletes pods a moment
	// later; a finalizer holds this one) is a leftover, not a stray romana-services.
	leftover := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "romana-services-leftover", Namespace: "kube-system",
		Labels: map[string]string{"app": "romana-services"}, Finalizers: []string{"romana.test/hold"},
		OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "DaemonSet", Name: "romana-services", UID: "0d5e6b1c-0000-4000-8000-000000000001"}}},
		Spec: corev1.PodSpec{NodeName: "worker-1", Containers: []corev1.Container{{Name: "c", Image: "example.invalid/x:1"}}}}
	if _, err := cs.CoreV1().Pods("kube-system").Create(ctx, leftover, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	_ = cs.CoreV1().Pods("kube-system").Delete(ctx, leftover.Name, metav1.DeleteOptions{})
	defer func() {
		_, _ = cs.CoreV1().Pods("kube-system").Patch(context.Background(), leftover.Name, types.MergePatchType, []byte(`{"metadata":{"finalizers":null}}`), metav1.PatchOptions{})
	}()

	// romana-services as a static Pod, with the separate agent and Service specs.
	found := applySpecTo(t, cs, kops.KubeconfigPath, pw, nil, "romana-services-manifest.yml", "romana-agent-daemonset.yml", "romana-root-service.yml")
	before = uids()
	r = mustOK(t, on("migrate", "--dry-run"))
	for _, want := range []string{"# services.deploy: from static Pod romana-services-control-plane-0 (its mirror Pod)", "deploy: staticPod",
		"environment kops", "Kept as it is: romana-services runs as a static Pod on control-plane-0", "Dry run: nothing was written",
		"    DaemonSet/romana-agent: changes ", "    Service/romana-root: changes ",
		"Warning: the static Pod's manifest file keeps the datastore password in plain text (env MYSQL_ROOT_PASSWORD), and its mirror Pod kube-system/romana-services-control-plane-0 shows it"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("--dry-run lacks %q:\n%s", want, r.stdout)
		}
	}
	// The kubelet's Pod is not the release's: the plan neither takes it over nor
	// deletes a DaemonSet history it has not got.
	if strings.Contains(r.stdout, "DaemonSet/romana-services") || strings.Contains(r.stdout, "ControllerRevisions") {
		t.Errorf("--dry-run of the static Pod install plans for a romana-services DaemonSet:\n%s", r.stdout)
	}
	assertNoPassword(t, "migrate --dry-run of the static Pod install", r.stdout+r.stderr, pw)
	r = on(append([]string{"migrate"}, skips...)...)
	if r.code != 0 || !strings.Contains(r.stdout, "Migrated: release romana, revision 1, deployed") {
		t.Fatalf("migrate the static Pod install: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if after := uids(); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("UIDs or clusterIP changed: %v -> %v", before, after)
	}
	if _, err := cs.AppsV1().DaemonSets("kube-system").Get(ctx, "romana-services", metav1.GetOptions{}); err == nil {
		t.Error("the release created a romana-services DaemonSet beside the static Pod")
	}
	mirror, err := cs.CoreV1().Pods("kube-system").Get(ctx, found.StaticPod.Name, metav1.GetOptions{})
	if err != nil || mirror.UID != found.StaticPod.UID || mirror.Annotations["meta.helm.sh/release-name"] != "" {
		t.Errorf("the mirror Pod was touched: %v %v", err, mirror.ObjectMeta)
	}
	a, _ := cs.AppsV1().DaemonSets("kube-system").Get(ctx, "romana-agent", metav1.GetOptions{})
	if a.Annotations["meta.helm.sh/release-name"] != "romana" {
		t.Errorf("romana-agent not taken over: %v", a.Annotations)
	}
	if p := secretPassword(); p != pw {
		t.Errorf("password %q, not the manifest's", p)
	}
	// A second mirror Pod that disagrees (another master's manifest edited by hand) is
	// refused before anything is written: one set of values cannot describe both.
	mustOK(t, on("uninstall", "--timeout=60s"))
	_ = cs.CoreV1().Secrets("kube-system").Delete(ctx, "romana-datastore", metav1.DeleteOptions{})
	other := found.StaticPod.DeepCopy()
	other.ObjectMeta = metav1.ObjectMeta{Name: "romana-services-control-plane-1", Namespace: "kube-system", Labels: other.Labels, Annotations: found.StaticPod.Annotations}
	other.Spec.Containers[1].Args = []string{"--cidr=10.0.0.0/8"}
	other.Spec.NodeName = "worker-0"
	if _, err := cs.CoreV1().Pods("kube-system").Create(ctx, other, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	applySpecTo(t, cs, kops.KubeconfigPath, pw, nil, "romana-agent-daemonset.yml", "romana-root-service.yml")
	r = on("migrate", "--dry-run")
	if r.code != 2 || !strings.Contains(r.stderr, "static Pods romana-services-control-plane-0 and romana-services-control-plane-1 differ") {
		t.Errorf("disagreeing static Pods: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}
