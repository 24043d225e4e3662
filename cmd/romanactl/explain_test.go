package main

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/romana/romanactl/internal/install"
)

// Failures that explain themselves, on the real control plane: Pod Security refusals
// before any write, the wait's reasons, status's wiring checks, and ownership naming
// the release that owns an object.

func TestClusterPodSecurityRefusedBeforeAnyWrite(t *testing.T) {
	cluster(t)
	ctx := context.Background()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "romana-restricted",
		Labels: map[string]string{"pod-security.kubernetes.io/enforce": "restricted"}}}
	if _, err := shared.Client.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = shared.Client.CoreV1().Namespaces().Delete(ctx, "romana-restricted", metav1.DeleteOptions{})
	}()
	r := rc(t, "check", "--pre", "-n", "romana-restricted")
	if r.code != 2 || !strings.Contains(r.stdout, "✗ pod-admission") || !strings.Contains(r.stdout, "violates PodSecurity \"restricted:latest\"") ||
		!strings.Contains(r.stdout, "pod-security.kubernetes.io/enforce=privileged") {
		t.Fatalf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = rc(t, "install", "-n", "romana-restricted")
	if r.code != 2 || !strings.Contains(r.stderr, "pod-admission") {
		t.Fatalf("install into a restricted namespace: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	l, err := shared.Client.CoreV1().Secrets("romana-restricted").List(ctx, metav1.ListOptions{})
	if err != nil || len(l.Items) != 0 {
		t.Fatalf("a refused install wrote Secrets: %v %d", err, len(l.Items))
	}
	if _, err := shared.Client.AppsV1().DaemonSets("romana-restricted").Get(ctx, "romana-agent", metav1.GetOptions{}); err == nil {
		t.Fatal("a refused install created the agent DaemonSet")
	}
	// kube-system is privileged: the same check passes there.
	r = mustOK(t, rc(t, "check", "--pre"))
	if !strings.Contains(r.stdout, "✓ pod-admission") {
		t.Errorf("pod-admission in kube-system:\n%s", r.stdout)
	}
}

func TestClusterWaitNamesFailedCreate(t *testing.T) {
	cluster(t)
	ctx := context.Background()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "romana-psa"}}
	if _, err := shared.Client.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = rc(t, "uninstall", "-n", "romana-psa", "--timeout=60s")
		_ = shared.Client.CoreV1().Namespaces().Delete(ctx, "romana-psa", metav1.DeleteOptions{})
	}()
	mustOK(t, rc(t, "install", "-n", "romana-psa", "--cluster-ip=10.96.55.55"))
	// The namespace turns restricted after the install (a policy rolled out later):
	// replacement pods are refused, which only the DaemonSet's events say.
	patch := []byte(`{"metadata":{"labels":{"pod-security.kubernetes.io/enforce":"restricted"}}}`)
	if _, err := shared.Client.CoreV1().Namespaces().Patch(ctx, "romana-psa", types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := shared.Client.CoreV1().Pods("romana-psa").DeleteCollection(ctx, metav1.DeleteOptions{GracePeriodSeconds: new(int64)},
		metav1.ListOptions{LabelSelector: "app=romana-agent"}); err != nil {
		t.Fatal(err)
	}
	// The wait judges the DaemonSet's status (as kubectl rollout status does): let the
	// controller record the deletion first, or there is nothing to wait for.
	if err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		d, err := shared.Client.AppsV1().DaemonSets("romana-psa").Get(ctx, "romana-agent", metav1.GetOptions{})
		return err == nil && d.Status.NumberReady < d.Status.DesiredNumberScheduled, nil
	}); err != nil {
		// Older DaemonSet controllers (1.25) return from a sync whose pod creation failed
		// before they update the status, so it keeps saying ready. Only an older minor of
		// make test-matrix may show that; on the default minor it is a failure.
		evs, _ := shared.Client.CoreV1().Events("romana-psa").List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=romana-agent,reason=FailedCreate"})
		if len(evs.Items) > 0 {
			skipOnOlderMinor(t, "Kubernetes "+shared.Version+": the DaemonSet controller records FailedCreate but leaves the status at ready after a failed pod creation, so no status-based wait (romanactl's, kubectl rollout status) can see it")
		}
		t.Fatalf("the DaemonSet controller never recorded the deleted pods in its status: %v", err)
	}
	err := install.Wait(ctx, shared.Client, install.WaitOptions{Namespace: "romana-psa", Timeout: 6 * time.Second, Services: true}, func(string) {})
	if err == nil || !strings.Contains(err.Error(), "romana-agent cannot create pods (FailedCreate") || !strings.Contains(err.Error(), "violates PodSecurity") {
		t.Fatalf("wait: %v", err)
	}
}

func TestClusterStatusChecksWiring(t *testing.T) {
	cluster(t)
	ctx := context.Background()
	mustOK(t, rc(t, "install"))
	r := mustOK(t, rc(t, "status"))
	if strings.Contains(r.stdout, "wiring") {
		t.Fatalf("a sound install reported wiring problems:\n%s", r.stdout)
	}
	// An agent pointing elsewhere (someone's kubectl edit).
	agent := ds(t, "romana-agent")
	args := agent.Spec.Template.Spec.Containers[0].Args
	for i, a := range args {
		if strings.HasPrefix(a, "--romana-root=") {
			args[i] = "--romana-root=http://10.96.1.1:9600"
		}
	}
	agent.Spec.Template.Spec.Containers[0].Args = args
	if _, err := shared.Client.AppsV1().DaemonSets("kube-system").Update(ctx, agent, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	r = rc(t, "status")
	if r.code != 1 || !strings.Contains(r.stdout, "✗ wiring: romana-agent runs with --romana-root=http://10.96.1.1:9600 but romana-root is 10.99.99.99:9600") ||
		strings.Contains(r.stderr, "DaemonSets above") {
		t.Fatalf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	mustOK(t, rc(t, "upgrade", "--tag=v0.9.3")) // puts the chart's args back
	// A selector that matches nothing.
	patch := []byte(`{"spec":{"selector":{"app":"nothing"}}}`)
	if _, err := shared.Client.CoreV1().Services("kube-system").Patch(ctx, "romana-root", types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	r = rc(t, "status")
	// The selector as kubectl writes one, and the error says the wiring is the problem
	// (the DaemonSets are fine).
	if r.code != 1 || !strings.Contains(r.stdout, "romana-root's selector app=nothing matches no pod") ||
		!strings.HasSuffix(r.stderr, "Error: romana is not healthy: the wiring is broken (see ✗ wiring above)\n") {
		t.Fatalf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

func TestClusterOwnershipNamesTheRelease(t *testing.T) {
	cluster(t)
	ctx := context.Background()
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "romana-root", Namespace: "kube-system",
		Annotations: map[string]string{"meta.helm.sh/release-name": "network", "meta.helm.sh/release-namespace": "kube-system"}},
		Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 9600}}}}
	if _, err := shared.Client.CoreV1().Services("kube-system").Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = shared.Client.CoreV1().Services("kube-system").Delete(ctx, "romana-root", metav1.DeleteOptions{})
	}()
	r := rc(t, "check", "--pre")
	if r.code != 2 || !strings.Contains(r.stdout, "Service kube-system/romana-root belongs to Helm release network in kube-system") {
		t.Fatalf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

// TestClusterUpgradeRefusesANewPassword: with the Secret deleted, the chart would
// generate a new password; the upgrade is refused before any write, with the way to
// restore the Secret, and the restore command given works.
func TestClusterUpgradeRefusesANewPassword(t *testing.T) {
	cluster(t)
	ctx := context.Background()
	mustOK(t, rc(t, "install"))
	if err := shared.Client.CoreV1().Secrets("kube-system").Delete(ctx, "romana-datastore", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	r := rc(t, "upgrade", "--tag=v0.9.3")
	if r.code != 2 || !strings.Contains(r.stderr, "this would change the datastore password in Secret romana-datastore") ||
		!strings.Contains(r.stderr, "helm get manifest romana -n kube-system") {
		t.Fatalf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if n := len(releaseSecrets(t)); n != 1 {
		t.Fatalf("a refused upgrade wrote a revision (%d)", n)
	}
	if _, err := shared.Client.CoreV1().Secrets("kube-system").Get(ctx, "romana-datastore", metav1.GetOptions{}); err == nil {
		t.Fatal("a refused upgrade created a new password Secret")
	}
}
