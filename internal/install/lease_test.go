package install

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chartutil"
	kubefake "helm.sh/helm/v3/pkg/kube/fake"
	"helm.sh/helm/v3/pkg/release"
	"helm.sh/helm/v3/pkg/storage"
	"helm.sh/helm/v3/pkg/storage/driver"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/romana/romanactl/internal/lock"
	"github.com/romana/romanactl/internal/values"
)

// failingDriver is Helm's memory driver with chosen writes refused, as an API server
// that refuses a release Secret would.
type failingDriver struct {
	*driver.Memory
	create func(*release.Release) error
	update func(*release.Release) error
}

func (d *failingDriver) Create(key string, r *release.Release) error {
	if d.create != nil {
		if err := d.create(r); err != nil {
			return err
		}
	}
	return d.Memory.Create(key, r)
}

// Get returns a copy, as the Secret driver does (the memory driver hands out the stored
// record itself, so a change that failed to store would still show).
func (d *failingDriver) Get(key string) (*release.Release, error) {
	r, err := d.Memory.Get(key)
	if err != nil {
		return nil, err
	}
	cp, info := *r, *r.Info
	cp.Info = &info
	return &cp, nil
}

func (d *failingDriver) Update(key string, r *release.Release) error {
	if d.update != nil {
		if err := d.update(r); err != nil {
			return err
		}
	}
	return d.Memory.Update(key, r)
}

func failingClient(t *testing.T, d *failingDriver, objs ...corev1.Service) *Client {
	t.Helper()
	c := testClient(t, objs...)
	c.Cfg = &action.Configuration{
		Releases:     storage.Init(d),
		KubeClient:   &kubefake.PrintingKubeClient{Out: io.Discard},
		Capabilities: chartutil.DefaultCapabilities,
		Log:          func(string, ...any) {},
	}
	return c
}

// The wait names what ended it; the loss of the Lease is no timeout.
func TestWaitSaysWhyItStopped(t *testing.T) {
	lost := &lock.LostError{Namespace: "kube-system", Name: "romanactl-romana", By: "ops@b pid 2", Command: "upgrade"}
	for _, tt := range []struct {
		name    string
		ctx     func() (context.Context, context.CancelFunc)
		want    string
		notWant string
	}{
		{"its own timeout", func() (context.Context, context.CancelFunc) { return context.Background(), func() {} },
			"wait for Romana: timed out after 300ms", ""},
		{"SIGINT", func() (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			return ctx, func() {}
		}, "wait for Romana: interrupted", "timed out"},
		{"the Lease lost", func() (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancelCause(context.Background())
			cancel(lost)
			return ctx, func() {}
		}, "wait for Romana: stopped: lost Lease kube-system/romanactl-romana to ops@b pid 2", "timed out"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := tt.ctx()
			defer cancel()
			err := Wait(ctx, fake.NewClientset(), WaitOptions{Namespace: "kube-system", Timeout: 300 * time.Millisecond}, func(string) {})
			if err == nil || !strings.Contains(err.Error(), tt.want) || (tt.notWant != "" && strings.Contains(err.Error(), tt.notWant)) {
				t.Fatalf("want %q (and not %q), got %v", tt.want, tt.notWant, err)
			}
		})
	}
}

// When recording the failed revision fails, it still says deployed; the --atomic
// rollback must still return to the revision the command started from, not to the
// one that just failed.
func TestAtomicRollbackTargetIsNeverNewerThanTheStart(t *testing.T) {
	d := &failingDriver{Memory: driver.NewMemory()}
	c := failingClient(t, d)
	ch := testChart(t)
	store(t, c, ch, 1, release.StatusSuperseded, nil, rootManifest("10.96.99.99"))
	store(t, c, ch, 2, release.StatusSuperseded, nil, rootManifest("10.96.99.99"))
	failed := store(t, c, ch, 3, release.StatusDeployed, nil, rootManifest("10.96.99.97"))
	d.update = func(r *release.Release) error {
		if r.Version == 3 && r.Info.Status == release.StatusFailed {
			return errors.New("injected: the API server refused the record")
		}
		return nil
	}
	if err := c.markFailed(failed, errors.New("wait timed out")); err == nil || !strings.Contains(err.Error(), "store revision 3 as failed") {
		t.Fatalf("a failed record is not reported: %v", err)
	}
	if v, _ := c.lastGood(0); v != 3 {
		t.Fatalf("the set-up does not show the bug: the newest good-looking revision is %d", v)
	}
	// The upgrade started from revision 2.
	target, rel, err := c.rollbackToGood(context.Background(), 200*time.Millisecond, 2)
	if target != 2 {
		t.Fatalf("rolled back to revision %d, want 2 (the one the upgrade started from)", target)
	}
	if rel == nil || rel.Version != 4 || rel.Manifest != rootManifest("10.96.99.99") {
		t.Fatalf("rollback made %+v (%v)", rel, err)
	}
}

// --recreate-root-service deletes romana-root before Helm stores anything; when Helm
// then fails before storing, the Service is put back as it was and the message says so.
func TestRootServicePutBackWhenTheUpgradeStoresNothing(t *testing.T) {
	live := corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "romana-root", Namespace: DefaultNamespace, Labels: map[string]string{"app.kubernetes.io/managed-by": "Helm"}},
		Spec: corev1.ServiceSpec{ClusterIP: "10.96.99.98", ClusterIPs: []string{"10.96.99.98"}, Ports: []corev1.ServicePort{{Name: "root", Port: 9600}}}}
	d := &failingDriver{Memory: driver.NewMemory()}
	c := failingClient(t, d, live)
	ch := testChart(t)
	last := store(t, c, ch, 1, release.StatusDeployed, map[string]any{}, rootManifest("10.96.99.98"))
	d.create = func(r *release.Release) error {
		if r.Version == 2 {
			return errors.New("injected: the API server refused the record")
		}
		return nil
	}
	res, err := UpgradeValues(ch, nil, values.Options{Flags: map[string]string{"cluster-ip": "10.96.99.99"}}, false)
	if err != nil {
		t.Fatal(err)
	}
	p := &plannedUpgrade{last: last, resolved: res, oldIP: "10.96.99.98", newIP: "10.96.99.99"}
	_, err = c.upgradeLocked(context.Background(), UpgradeOptions{Chart: ch, RecreateRootService: true}, p)
	if err == nil || !strings.Contains(err.Error(), "upgrade failed before anything was stored") ||
		!strings.Contains(err.Error(), "romana-root, deleted to recreate it, was put back as it was (clusterIP 10.96.99.98); nothing else was written by this command") {
		t.Fatalf("message: %v", err)
	}
	svc, gerr := c.Kube.CoreV1().Services(DefaultNamespace).Get(context.Background(), "romana-root", metav1.GetOptions{})
	if gerr != nil || svc.Spec.ClusterIP != "10.96.99.98" || svc.Labels["app.kubernetes.io/managed-by"] != "Helm" {
		t.Fatalf("romana-root after the failed upgrade: %v %+v", gerr, svc)
	}
}

// The same for a rollback with --recreate-root-service (and the --atomic rollback and
// recover, which recreate it on their own): Helm's rollback stores nothing, and the
// Service is put back.
func TestRootServicePutBackWhenTheRollbackStoresNothing(t *testing.T) {
	live := corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "romana-root", Namespace: DefaultNamespace},
		Spec: corev1.ServiceSpec{ClusterIP: "10.96.99.98", ClusterIPs: []string{"10.96.99.98"}, Ports: []corev1.ServicePort{{Name: "root", Port: 9600}}}}
	d := &failingDriver{Memory: driver.NewMemory()}
	c := failingClient(t, d, live)
	ch := testChart(t)
	store(t, c, ch, 1, release.StatusSuperseded, nil, rootManifest("10.96.99.99"))
	store(t, c, ch, 2, release.StatusDeployed, nil, rootManifest("10.96.99.98"))
	d.create = func(r *release.Release) error {
		if r.Version == 3 {
			return errors.New("injected: the API server refused the record")
		}
		return nil
	}
	_, err := c.rollbackLocked(context.Background(), RollbackOptions{Revision: 1, RecreateRootService: true}, false)
	if err == nil || !strings.Contains(err.Error(), "romana-root, deleted to recreate it, was put back as it was (clusterIP 10.96.99.98)") {
		t.Fatalf("message: %v", err)
	}
	if svc, gerr := c.Kube.CoreV1().Services(DefaultNamespace).Get(context.Background(), "romana-root", metav1.GetOptions{}); gerr != nil || svc.Spec.ClusterIP != "10.96.99.98" {
		t.Fatalf("romana-root after the failed rollback: %v %+v", gerr, svc)
	}
}
