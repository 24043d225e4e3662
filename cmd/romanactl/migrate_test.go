package main

import (
	"context"
	"os"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/romana/romanactl/internal/migrate"
)

// applySpec creates the objects of an original manifest as `kubectl apply` does on a
// cluster of today: the extensions/v1beta1 DaemonSets as apps/v1, with the selector the
// conversion took from the template's labels. edit may change a DaemonSet first.
func applySpec(t *testing.T, file string, edit func(*appsv1.DaemonSet)) {
	t.Helper()
	data, err := os.ReadFile("../../../shared/seed/original-specs/" + file)
	if err != nil {
		t.Fatal(err)
	}
	f, err := migrate.ParseSpec(data)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, ds := range []*appsv1.DaemonSet{f.Services, f.Agent} {
		if edit != nil {
			edit(ds)
		}
		if _, err := shared.Client.AppsV1().DaemonSets(ds.Namespace).Create(ctx, ds, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := shared.Client.CoreV1().Services(f.Root.Namespace).Create(ctx, f.Root, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// TestClusterMigrateKubeadmSpec: the 2016 kubeadm spec, applied as today's API server
// stores it, is taken over in place as revision 1 of release romana: the UIDs and the
// clusterIP are unchanged, the password is the spec's "romana", helm lists the release,
// and a following upgrade keeps the derived values. A spec with an unknown arg is
// refused, naming it, with nothing written.
func TestClusterMigrateKubeadmSpec(t *testing.T) {
	c := cluster(t)
	ctx := context.Background()

	applySpec(t, "romana-kubeadm.yml", func(ds *appsv1.DaemonSet) {
		if ds.Name == "romana-agent" {
			ds.Spec.Template.Spec.Containers[0].Args = append(ds.Spec.Template.Spec.Containers[0].Args, "--mtu=1400")
		}
	})
	r := rc(t, "migrate")
	if r.code != 2 || !strings.Contains(r.stderr, "arg --mtu=1400") || !strings.Contains(r.stderr, "nothing was changed") {
		t.Fatalf("unknown arg: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if len(releaseSecrets(t)) != 0 {
		t.Fatal("a refused migrate stored a release")
	}
	cleanup(t)

	applySpec(t, "romana-kubeadm.yml", nil)
	uid := map[string]string{}
	for _, n := range []string{"romana-services", "romana-agent"} {
		uid[n] = string(ds(t, n).UID)
	}
	svc, _ := c.Client.CoreV1().Services("kube-system").Get(ctx, "romana-root", metav1.GetOptions{})
	uid["romana-root"] = string(svc.UID)

	r = mustOK(t, rc(t, "migrate", "--dry-run"))
	for _, want := range []string{"environment kubeadm", "# services.cidr: from DaemonSet romana-services container romana-services arg --cidr",
		"# romanaRoot.clusterIP: from Service romana-root spec.clusterIP", "Datastore password: from DaemonSet romana-services container romana-datastore env MYSQL_ROOT_PASSWORD",
		"# DaemonSet/romana-agent changed", "# dry run: nothing was written"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("--dry-run lacks %q:\n%s", want, r.stdout)
		}
	}
	if len(releaseSecrets(t)) != 0 {
		t.Fatal("--dry-run wrote a release")
	}
	if y := mustOK(t, rc(t, "migrate", "--dry-run", "-o", "yaml")).stdout; !strings.Contains(y, "cidr: 100.112.0.0/12") || strings.Contains(y, "romana\n") && strings.Contains(y, "password") {
		t.Errorf("-o yaml:\n%s", y)
	}

	r = mustOK(t, rc(t, "migrate", "--skip-check", "images-exist", "--timeout=2m"))
	if !strings.Contains(r.stdout, "Migrated: release romana, revision 1, deployed") || !strings.Contains(r.stdout, "To rotate it") {
		t.Fatalf("migrate:\n%s%s", r.stdout, r.stderr)
	}
	for _, n := range []string{"romana-services", "romana-agent"} {
		d := ds(t, n)
		if string(d.UID) != uid[n] || d.Annotations["meta.helm.sh/release-name"] != "romana" || d.Labels["app.kubernetes.io/managed-by"] != "Helm" {
			t.Errorf("%s: UID %s (was %s), annotations %v", n, d.UID, uid[n], d.Annotations)
		}
	}
	svc, _ = c.Client.CoreV1().Services("kube-system").Get(ctx, "romana-root", metav1.GetOptions{})
	if string(svc.UID) != uid["romana-root"] || svc.Spec.ClusterIP != "10.99.99.99" {
		t.Errorf("romana-root: UID %s (was %s), clusterIP %s", svc.UID, uid["romana-root"], svc.Spec.ClusterIP)
	}
	if p := password(t); p != "romana" {
		t.Errorf("the password is %q, not the spec's", p)
	}
	out, err := runHelmEnv(t, helmBinary(t), []string{"KUBECONFIG=" + shared.KubeconfigPath}, "list", "-n", "kube-system")
	if err != nil || !strings.Contains(out, "romana") || !strings.Contains(out, "deployed") {
		t.Errorf("helm list: %v\n%s", err, out)
	}
	mustOK(t, rc(t, "upgrade", "--tag=v0.9.3", "--skip-check", "images-exist"))
	args := strings.Join(ds(t, "romana-services").Spec.Template.Spec.Containers[1].Args, " ")
	if !strings.Contains(args, "--cidr=100.112.0.0/12") || password(t) != "romana" {
		t.Errorf("after upgrade: %s", args)
	}
}
