package install

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chartutil"
	kubefake "helm.sh/helm/v3/pkg/kube/fake"
	"helm.sh/helm/v3/pkg/release"
	"helm.sh/helm/v3/pkg/storage"
	"helm.sh/helm/v3/pkg/storage/driver"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	romana "github.com/romana/romanactl"
	"github.com/romana/romanactl/internal/values"
)

// The upgrade logic on Helm's in-memory storage driver and fake kube client, as Helm's
// own action tests run: between the pure unit tests and the real cluster.

func testClient(t *testing.T, objs ...corev1.Service) *Client {
	t.Helper()
	cfg := &action.Configuration{
		Releases:     storage.Init(driver.NewMemory()),
		KubeClient:   &kubefake.PrintingKubeClient{Out: io.Discard},
		Capabilities: chartutil.DefaultCapabilities,
		Log:          func(string, ...any) {},
	}
	cs := fake.NewSimpleClientset()
	for i := range objs {
		if _, err := cs.CoreV1().Services(objs[i].Namespace).Create(context.Background(), &objs[i], metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	return &Client{Cfg: cfg, Kube: cs, Namespace: DefaultNamespace, Progress: io.Discard}
}

func testChart(t *testing.T) *chart.Chart {
	t.Helper()
	ch, err := romana.Chart()
	if err != nil {
		t.Fatal(err)
	}
	return ch
}

// store records a revision as Helm would.
func store(t *testing.T, c *Client, ch *chart.Chart, version int, status release.Status, config map[string]any, manifest string) *release.Release {
	t.Helper()
	r := &release.Release{Name: ReleaseName, Namespace: c.Namespace, Version: version, Chart: ch, Config: config, Manifest: manifest,
		Info: &release.Info{Status: status}}
	if err := c.Cfg.Releases.Create(r); err != nil {
		t.Fatal(err)
	}
	return r
}

const digest = "sha256:0123456789012345678901234567890123456789012345678901234567890123"

func TestUpgradeValuesReuseThenReset(t *testing.T) {
	ch := testChart(t)
	last := map[string]any{
		"services": map[string]any{"namespaces": int64(8)},
		"image":    map[string]any{"tag": "v0.9.3.6", "digests": map[string]any{"agent": digest}},
	}
	res, err := UpgradeValues(ch, last, values.Options{Flags: map[string]string{"tag": "v0.9.3.7"}}, false)
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := values.Lookup(res.Supplied, "services.namespaces"); n != int64(8) {
		t.Errorf("the last revision's --namespaces was not reused: %v", n)
	}
	if tag, _ := values.LookupString(res.Supplied, "image.tag"); tag != "v0.9.3.7" {
		t.Errorf("this command's --tag did not win: %s", tag)
	}
	if d, ok := values.Lookup(res.Supplied, "image.digests.agent"); ok {
		t.Errorf("a digest pinned for the old tag was reused: %v", d)
	}
	if d, _ := values.LookupString(last, "image.digests.agent"); d != digest {
		t.Error("withoutDigests changed the stored config it was given")
	}
	res, err = UpgradeValues(ch, last, values.Options{}, true)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := values.Lookup(res.Supplied, "services.namespaces"); ok {
		t.Error("--reset-values kept the last revision's values")
	}
	if n, _ := values.Lookup(res.Effective, "services.namespaces"); n == nil {
		t.Error("after a reset the chart default is gone")
	}
	// A reused value that the new chart refuses is refused (exit 2), not deployed.
	_, err = UpgradeValues(ch, map[string]any{"services": map[string]any{"nodes": int64(128)}}, values.Options{}, false)
	if !values.IsInputError(err) || !strings.Contains(err.Error(), "services.nodes") {
		t.Errorf("a stored value the new chart refuses: %v", err)
	}
}

func TestIsNoOp(t *testing.T) {
	ch := testChart(t)
	cfg := map[string]any{"image": map[string]any{"tag": "v0.9.3.6"}}
	base := func() *plannedUpgrade {
		return &plannedUpgrade{
			last: &release.Release{Chart: ch, Config: cfg, Manifest: "m", Info: &release.Info{Status: release.StatusDeployed}},
			dry:  &release.Release{Chart: ch, Config: map[string]any{"image": map[string]any{"tag": "v0.9.3.6"}}, Manifest: "m"},
		}
	}
	if !base().isNoOp() {
		t.Error("the same chart, values and manifest is not a no-op")
	}
	p := base()
	p.dry.Manifest = "m2"
	if p.isNoOp() {
		t.Error("another manifest is a no-op")
	}
	p = base()
	p.last.Info.Status = release.StatusFailed
	if p.isNoOp() {
		t.Error("re-applying over a failed revision is a no-op")
	}
	p = base()
	p.dry.Config = map[string]any{"image": map[string]any{"tag": "v0.9.3.7"}}
	if p.isNoOp() {
		t.Error("other values with the same manifest are a no-op (the release would not record them)")
	}
	// int64 from --set and float64 from a stored release are the same value.
	p = base()
	p.last.Config = map[string]any{"services": map[string]any{"namespaces": float64(8)}}
	p.dry.Config = map[string]any{"services": map[string]any{"namespaces": int64(8)}}
	if !p.isNoOp() {
		t.Error("8 and 8.0 differ")
	}
}

func TestMarkFailedJudgesTheStoredRecord(t *testing.T) {
	c := testClient(t)
	ch := testChart(t)
	deployed := store(t, c, ch, 1, release.StatusDeployed, nil, "")
	c.markFailed(deployed, errors.New("wait timed out"))
	got, _ := c.Cfg.Releases.Get(ReleaseName, 1)
	if got.Info.Status != release.StatusFailed || got.Info.Description != "romanactl: wait timed out" {
		t.Errorf("a deployed revision whose wait failed: %s %q", got.Info.Status, got.Info.Description)
	}
	pending := store(t, c, ch, 2, release.StatusPendingUpgrade, nil, "")
	c.markFailed(pending, errors.New("killed"))
	if got, _ := c.Cfg.Releases.Get(ReleaseName, 2); got.Info.Status != release.StatusFailed {
		t.Errorf("a pending revision: %s", got.Info.Status)
	}
	superseded := store(t, c, ch, 3, release.StatusSuperseded, nil, "")
	c.markFailed(superseded, errors.New("x"))
	if got, _ := c.Cfg.Releases.Get(ReleaseName, 3); got.Info.Status != release.StatusSuperseded {
		t.Errorf("a superseded revision was marked: %s", got.Info.Status)
	}
	// Helm's in-memory copy may say failed while the store says deployed: the store wins.
	r4 := store(t, c, ch, 4, release.StatusDeployed, nil, "")
	mem := *r4
	mem.Info = &release.Info{Status: release.StatusFailed}
	c.markFailed(&mem, errors.New("store failed"))
	if got, _ := c.Cfg.Releases.Get(ReleaseName, 4); got.Info.Status != release.StatusFailed {
		t.Errorf("judged by the in-memory copy: %s", got.Info.Status)
	}
}

func rootManifest(ip string) string {
	return "---\n# Source: romana/templates/root-service.yaml\napiVersion: v1\nkind: Service\nmetadata:\n  name: romana-root\n  namespace: kube-system\nspec:\n  clusterIP: " + ip + "\n  ports:\n    - name: root\n      port: 9600\n"
}

func TestRollBackToTheLastGoodRevision(t *testing.T) {
	live := corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "romana-root", Namespace: DefaultNamespace},
		Spec: corev1.ServiceSpec{ClusterIP: "10.96.99.98", Ports: []corev1.ServicePort{{Port: 9600}}}}
	c := testClient(t, live)
	ch := testChart(t)
	if _, err := c.lastGood(0); err == nil {
		t.Error("a good revision in an empty history")
	}
	store(t, c, ch, 1, release.StatusSuperseded, nil, rootManifest("10.96.99.99"))
	store(t, c, ch, 2, release.StatusDeployed, nil, rootManifest("10.96.99.99"))
	store(t, c, ch, 3, release.StatusFailed, nil, rootManifest("10.96.99.98"))
	if v, err := c.lastGood(0); err != nil || v != 2 {
		t.Fatalf("last good: %d %v, want 2", v, err)
	}

	// A plain rollback to 2 would move romana-root's clusterIP: refused, nothing stored.
	_, err := c.rollbackLocked(context.Background(), RollbackOptions{Revision: 2}, false)
	if !values.IsInputError(err) || !strings.Contains(err.Error(), "would change romanaRoot.clusterIP from 10.96.99.98 to 10.96.99.99") {
		t.Fatalf("rollback across a clusterIP change: %v", err)
	}
	if last, _ := c.Cfg.Releases.Last(ReleaseName); last.Version != 3 {
		t.Fatalf("a refused rollback stored revision %d", last.Version)
	}
	// What rollbackToGood does (without its wait, which needs running DaemonSets):
	// recreate the Service and end on a new deployed revision with revision 2's manifest.
	target, _ := c.lastGood(0)
	rel, err := c.rollbackLocked(context.Background(), RollbackOptions{Revision: target, RecreateRootService: true}, true)
	if err != nil {
		t.Fatal(err)
	}
	if rel == nil || rel.Version != 4 || rel.Info.Status != release.StatusDeployed || rel.Manifest != rootManifest("10.96.99.99") {
		t.Fatalf("rolled back to %+v", rel)
	}
	if _, err := c.Kube.CoreV1().Services(DefaultNamespace).Get(context.Background(), "romana-root", metav1.GetOptions{}); err == nil {
		t.Error("romana-root with the wrong clusterIP was not deleted for recreation")
	}
	// A pending newest revision is refused to a plain rollback, and taken by recovery.
	store(t, c, ch, 5, release.StatusPendingUpgrade, nil, rootManifest("10.96.99.99"))
	if _, err := c.rollbackLocked(context.Background(), RollbackOptions{Revision: 4}, false); err == nil || !strings.Contains(err.Error(), "recover") {
		t.Errorf("a rollback over a pending revision: %v", err)
	}
}
