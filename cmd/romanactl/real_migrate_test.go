package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/romana/romanactl/internal/testcluster"
)

// TestClusterRealMigrate: the 2016 kubeadm install (the seed spec, applied with
// kubectl apply as TestClusterMigrateKubeadmSpec applies it) runs the real v0.9.3.5
// programs on a control-plane node and two workers; pods on two workers get their
// addresses from it and ping each other. `romanactl migrate` takes it over in place,
// which replaces every Romana pod with the chart's, while the pods keep pinging: lost
// pings stay under the bound, and a pod created afterwards gets an address through
// the plugin the chart's agents installed and reaches the old pods.
func TestClusterRealMigrate(t *testing.T) {
	originalSpecs(t)
	ctx, cancel := context.WithTimeout(context.Background(), 12*time.Minute)
	defer cancel()
	rc := startRealCluster(t, ctx, 2, testcluster.RuntimeDocker)
	const cp, w0, w1 = "control-plane-0", "worker-0", "worker-1"

	// What a 2016 kubeadm master had: the role label the spec's nodeSelector picks, and
	// the API server's insecure port on 127.0.0.1:8080, the services' default
	// --api-server. Kubernetes removed that port in 1.20, so kubectl proxy, as the
	// admin, stands in for it on the control-plane node.
	// Its taint was an alpha annotation (scheduler.alpha.kubernetes.io/taints) that
	// today's scheduler does not read, and the spec has no toleration for the
	// control-plane taint of today.
	patch := `{"metadata":{"labels":{"kubeadm.alpha.kubernetes.io/role":"master"}},"spec":{"taints":null}}`
	if _, err := rc.Client.CoreV1().Nodes().Patch(ctx, cp, types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	kubectl, _ := filepath.Abs("../../bin/kubectl")
	insecure, err := rc.nodes.Node(cp).NodeCommand(ctx, nil, kubectl, "--kubeconfig", rc.KubeconfigPath, "proxy", "--address=127.0.0.1", "--port=8080")
	if err != nil {
		t.Fatal(err)
	}
	var proxyOut strings.Builder
	insecure.Stdout, insecure.Stderr = &proxyOut, &proxyOut
	if err := insecure.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Kill(-insecure.Process.Pid, syscall.SIGKILL); _ = insecure.Wait() })

	// A 2016 kubeadm cluster (1.5) enforced no RBAC: every ServiceAccount could do
	// anything, and the 2016 services' kube-cni-proxy runs kubectl in the pod, as
	// kube-system's default account, to read each new pod. Give that account the same.
	crb := &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "test-2016-no-rbac"},
		RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "cluster-admin"},
		Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Namespace: "kube-system", Name: "default"}}}
	if _, err := rc.Client.RbacV1().ClusterRoleBindings().Create(ctx, crb, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	pw := testPassword(t)
	applySpecTo(t, rc.Client, rc.KubeconfigPath, pw, nil, "romana-kubeadm.yml")
	rc.secret = pw

	// The 2016 install comes up: every node registers and gets its plugin.
	cpIP := testcluster.RealNodeIP(0)
	if err := eventually(ctx, 6*time.Minute, func() error {
		var hosts []romanaHost
		if err := rc.getJSON(t, cp, "http://"+cpIP+":9603/hosts", &hosts); err != nil {
			return err
		}
		if len(hosts) != 3 {
			return fmt.Errorf("%d hosts registered: %+v", len(hosts), hosts)
		}
		return nil
	}); err != nil {
		t.Fatalf("the 2016 install never registered its nodes: %v\nromana-services:\n%s\nagent on %s:\n%s\nkubectl proxy on :8080:\n%s", err,
			rc.containerLog(t, "romana-services", cp, "romana-services"), w0, rc.containerLog(t, "romana-agent", w0, "romana-agent"), proxyOut.String())
	}
	a := rc.startPod(t, ctx, "old-a", w0)
	b := rc.startPod(t, ctx, "old-b", w1)
	if out, err := rc.nodes.Node(w0).ExecInContainer(a.UID, "main", "ping", "-c", "3", "-W", "2", b.Status.PodIP); err != nil {
		t.Fatalf("under the 2016 install, %s (%s) cannot ping %s (%s): %v\n%s", a.Name, a.Status.PodIP, b.Name, b.Status.PodIP, err, out)
	}
	oldAgent := rc.podOf(t, "romana-agent", w0).UID
	oldServices := rc.podOf(t, "romana-services", cp).UID

	// The take-over, while a pings b every 0.2 s.
	ping, err := rc.nodes.Node(w0).ContainerCommand(a.UID, "main", "ping", "-i", "0.2", "-w", "400", "-W", "1", b.Status.PodIP)
	if err != nil {
		t.Fatal(err)
	}
	var pingOut strings.Builder
	ping.Stdout, ping.Stderr = &pingOut, &pingOut
	if err := ping.Start(); err != nil {
		t.Fatal(err)
	}
	r := run(t, append([]string{"migrate", "--skip-check", "images-exist", "--timeout=5m"}, rc.kc...)...)
	t.Logf("romanactl migrate:\n%s%s", rc.hide(r.stdout), rc.hide(r.stderr))
	if r.code != 0 {
		_ = ping.Process.Kill()
		_ = ping.Wait()
		t.Fatalf("migrate: exit %d\nservices:\n%s", r.code, rc.containerLog(t, "romana-services", cp, "romana-services"))
	}
	if !strings.Contains(r.stdout, "Migrated: release romana, revision 1, deployed") {
		t.Errorf("migrate did not say it took the install over:\n%s", rc.hide(r.stdout))
	}
	// Every Romana pod is the chart's now: the services run beside the API proxy.
	newServices := rc.podOf(t, "romana-services", cp)
	if newServices.UID == oldServices || rc.podOf(t, "romana-agent", w0).UID == oldAgent {
		t.Error("migrate left the 2016 pods in place: the take-over's rollout did not happen")
	}
	if names := containerNames(newServices.Spec.Containers); !strings.Contains(names, "romana-api-proxy") {
		t.Errorf("the services pod after migrate has containers %s, not the chart's", names)
	}

	// A pod created after the take-over gets an address through the plugin the chart's
	// agent installed, and its node reaches it; a new connection from another node's
	// pod to it is dropped by the restarted agents' policy rules (expectAgentPyDrop).
	for _, name := range []string{cp, w0, w1} {
		if err := rc.romanactlPlugin(name); err != nil {
			t.Errorf("after migrate, %v\npods on the node:\n%s", err, rc.podsOn(t, name))
		}
	}
	d := rc.startPod(t, ctx, "new-d", w1)
	if out, err := rc.inNode(t, w1, "ping", "-c", "2", "-W", "2", d.Status.PodIP); err != nil {
		t.Errorf("%s cannot reach its own new pod %s (%s) after migrate: %v\n%s", w1, d.Name, d.Status.PodIP, err, out)
	}
	expectAgentPyDrop(t, rc, a, w1, d)
	time.Sleep(5 * time.Second)
	_ = ping.Process.Signal(syscall.SIGINT)
	_ = ping.Wait()
	sent, received := pingCounts(pingOut.String())
	lost := sent - received
	t.Logf("pings from %s to %s through migrate: %d sent, %d lost", a.Name, b.Name, sent, lost)
	if sent < 50 || lost*100 > sent*5 {
		t.Errorf("pings through migrate: %d sent, %d lost (the bound is 5%%):\n%s", sent, lost, pingOut.String())
	}
}

// containerNames lists a pod's containers by name, for a message.
func containerNames(cs []corev1.Container) string {
	var names []string
	for _, c := range cs {
		names = append(names, c.Name)
	}
	return strings.Join(names, ", ")
}

// podsOn lists the pods bound to a node with their phase and start, for a failure.
func (rc *realCluster) podsOn(t *testing.T, node string) string {
	t.Helper()
	l, err := rc.Client.CoreV1().Pods("").List(context.Background(), metav1.ListOptions{FieldSelector: "spec.nodeName=" + node})
	if err != nil {
		return err.Error()
	}
	var b strings.Builder
	for _, p := range l.Items {
		fmt.Fprintf(&b, "%s/%s %s %s created %s deleting %v\n", p.Namespace, p.Name, p.UID, p.Status.Phase, p.CreationTimestamp.Format(time.TimeOnly), p.DeletionTimestamp)
	}
	return b.String()
}
