package install

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"time"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/release"
	"helm.sh/helm/v3/pkg/storage/driver"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/romana/romanactl/internal/values"
)

// UpgradeOptions tune Upgrade and Diff.
type UpgradeOptions struct {
	Chart *chart.Chart
	// Values are the values given to this command (flags, -f, --set; an --env file only
	// when given), before the reuse of the last revision's.
	Values         values.Options
	ResetValues    bool
	Env, EnvReason string
	Wait           bool
	Timeout        time.Duration
	Atomic         bool
	// RecreateRootService allows a new romanaRoot.clusterIP: the Service is deleted
	// and created again within the upgrade, since clusterIP is immutable.
	RecreateRootService bool
	Skip                []string
}

// plannedUpgrade is an upgrade computed but not yet applied.
type plannedUpgrade struct {
	last     *release.Release
	resolved *values.Resolved
	dry      *release.Release
	oldIP    string
	newIP    string
}

// UpgradeValues computes the values of an upgrade, reset-then-reuse: the new chart's
// defaults, then the values the user supplied at the last revision, then this
// command's. With reset, the last revision's are dropped.
func UpgradeValues(ch *chart.Chart, last map[string]any, o values.Options, reset bool) (*values.Resolved, error) {
	given, err := values.Supplied(ch, o)
	if err != nil {
		return nil, err
	}
	supplied := given
	if !reset {
		supplied = values.MergeMaps(withoutDigests(last), given)
	}
	effective, err := values.Effective(ch, supplied)
	if err != nil {
		return nil, &values.InputError{Err: err}
	}
	if err := values.Validate(ch, supplied, effective); err != nil {
		return nil, err
	}
	return &values.Resolved{Supplied: supplied, Effective: effective}, nil
}

// withoutDigests drops the digests pinned at the last revision: they pin the images
// of that revision's tags, so reusing them would silently undo a new --tag. An upgrade
// pins again only with --pin-digests.
func withoutDigests(config map[string]any) map[string]any {
	out := values.MergeMaps(config, nil)
	for _, k := range values.DigestKeys {
		parts := strings.Split(k, ".")
		m := out
		for i, p := range parts {
			if i == len(parts)-1 {
				delete(m, p)
				break
			}
			next, ok := m[p].(map[string]any)
			if !ok {
				break
			}
			cp := values.MergeMaps(next, nil)
			m[p] = cp
			m = cp
		}
	}
	return out
}

// UpgradeResolved returns the values an upgrade with o would deploy, without writing.
func (c *Client) UpgradeResolved(o UpgradeOptions) (*values.Resolved, error) {
	last, err := c.lastRelease()
	if err != nil {
		return nil, err
	}
	return UpgradeValues(o.Chart, last.Config, o.Values, o.ResetValues)
}

func (c *Client) lastRelease() (*release.Release, error) {
	last, err := c.Cfg.Releases.Last(ReleaseName)
	if errors.Is(err, driver.ErrReleaseNotFound) {
		return nil, values.Inputf("no release %s in %s: use `romanactl install`", ReleaseName, c.Namespace)
	}
	if err != nil {
		return nil, fmt.Errorf("read release history: %w", err)
	}
	if last.Info.Status.IsPending() {
		return nil, fmt.Errorf("release %s is %s: another operation is in progress (or was killed); `romanactl rollback` ends it", ReleaseName, last.Info.Status)
	}
	return last, nil
}

// plan computes an upgrade with a server-side dry run: validated values, the immutable
// clusterIP rule, and the manifest it would deploy. It writes nothing.
func (c *Client) plan(ctx context.Context, o UpgradeOptions) (*plannedUpgrade, error) {
	last, err := c.lastRelease()
	if err != nil {
		return nil, err
	}
	res, err := UpgradeValues(o.Chart, last.Config, o.Values, o.ResetValues)
	if err != nil {
		return nil, err
	}
	p := &plannedUpgrade{last: last, resolved: res}
	p.newIP, _ = lookupString(res.Effective, "romanaRoot.clusterIP")
	if svc, err := c.Kube.CoreV1().Services(c.Namespace).Get(ctx, "romana-root", metav1.GetOptions{}); err == nil {
		p.oldIP = svc.Spec.ClusterIP
	} else if !apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("read romana-root: %w", err)
	}
	if p.oldIP != "" && p.oldIP != p.newIP && !o.RecreateRootService {
		return nil, values.Inputf("romanaRoot.clusterIP (--cluster-ip) would change from %s to %s, but a Service's clusterIP is immutable "+
			"(the API server answers \"spec.clusterIPs[0]: may not change once set\"); pass --recreate-root-service to delete and recreate "+
			"romana-root within the upgrade (agents lose root until they restart with the new address)", p.oldIP, p.newIP)
	}
	up := c.newUpgrade(o)
	up.DryRun = true
	up.DryRunOption = "server" // lookup sees the live password Secret, as the real upgrade will
	dry, err := up.RunWithContext(ctx, ReleaseName, o.Chart, res.Supplied)
	if err != nil {
		return nil, classify(err)
	}
	p.dry = dry
	return p, nil
}

func (c *Client) newUpgrade(o UpgradeOptions) *action.Upgrade {
	up := action.NewUpgrade(c.Cfg)
	up.Namespace = c.Namespace
	up.MaxHistory = MaxHistory
	// The values passed are already the full reset-then-reuse merge.
	up.ResetValues = true
	up.Wait = false // romanactl waits itself: see Wait
	// As for install: the API server validates what it is sent, and Helm's client-side
	// OpenAPI validation costs most of the client's time (~70% of a no-op's).
	up.DisableOpenAPIValidation = true
	return up
}

// isNoOp: the same chart, the same values and the same manifest as the last revision.
func (p *plannedUpgrade) isNoOp() bool {
	return p.last.Info.Status == release.StatusDeployed &&
		p.dry.Manifest == p.last.Manifest &&
		p.dry.Chart.Metadata.Version == p.last.Chart.Metadata.Version &&
		reflect.DeepEqual(normalize(p.dry.Config), normalize(p.last.Config))
}

// Upgrade upgrades the release: validation, the clusterIP rule and the pre-flight
// first; nothing at all when nothing would change; a rollback to the last good
// revision when it fails and Atomic is set.
func (c *Client) Upgrade(ctx context.Context, o UpgradeOptions) (*Result, error) {
	if err := CheckSkips(o.Skip); err != nil {
		return nil, err
	}
	p, err := c.plan(ctx, o)
	if err != nil {
		return nil, err
	}
	// Nothing to change means nothing to check: a no-op writes nothing and needs no
	// pre-flight (which is the slow part of a no-op, with its access reviews).
	if p.isNoOp() {
		return &Result{Release: p.last, NoOp: true}, nil
	}
	report, err := c.preflight(ctx, o.Chart, p.resolved, o.Env, o.EnvReason, o.Skip)
	if err != nil {
		return nil, err
	}
	res := &Result{Report: report}
	if o.RecreateRootService && p.oldIP != "" && p.oldIP != p.newIP {
		c.progress("deleting romana-root (%s) to recreate it with %s", p.oldIP, p.newIP)
		err := c.Kube.CoreV1().Services(c.Namespace).Delete(ctx, "romana-root", metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("delete romana-root: %w", err)
		}
	}
	rel, err := c.newUpgrade(o).RunWithContext(ctx, ReleaseName, o.Chart, p.resolved.Supplied)
	if err == nil && o.Wait {
		err = c.waitFor(ctx, "upgraded to", rel, o.Timeout)
	}
	if err == nil {
		res.Release = rel
		return res, nil
	}
	err = classify(err)
	// Helm stored the revision as deployed before the wait failed: record the failure
	// first, so it is never taken for the good revision to return to.
	c.markFailed(rel, err)
	if !o.Atomic {
		return nil, fmt.Errorf("upgrade failed, release left as failed (`romanactl rollback` returns to revision %d): %w", p.last.Version, err)
	}
	target, good, rerr := c.rollbackToGood(ctx, o.Timeout)
	if rerr != nil {
		return nil, fmt.Errorf("upgrade failed: %w; --atomic rollback failed too: %v", err, rerr)
	}
	return nil, fmt.Errorf("upgrade failed: %w; --atomic: rolled back, revision %d (a copy of good revision %d) is now deployed", err, good.Version, target)
}

// rollbackToGood rolls back to the newest revision that was deployed successfully.
// A cancelled ctx (SIGINT/SIGTERM) must not stop it.
func (c *Client) rollbackToGood(ctx context.Context, timeout time.Duration) (int, *release.Release, error) {
	hist, err := c.Cfg.Releases.History(ReleaseName)
	if err != nil {
		return 0, nil, err
	}
	target := 0
	for _, r := range hist {
		if (r.Info.Status == release.StatusDeployed || r.Info.Status == release.StatusSuperseded) && r.Version > target {
			target = r.Version
		}
	}
	if target == 0 {
		return 0, nil, errors.New("no good revision to roll back to")
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout+time.Minute)
	defer cancel()
	if err := c.Rollback(rctx, target, true, timeout); err != nil {
		return 0, nil, err
	}
	good, err := c.Cfg.Releases.Last(ReleaseName)
	return target, good, err
}

// Diff returns what an upgrade with the same options would change, per object, as
// unified diffs. It writes nothing.
func (c *Client) Diff(ctx context.Context, o UpgradeOptions) ([]ObjectDiff, error) {
	p, err := c.plan(ctx, o)
	if err != nil {
		return nil, err
	}
	return DiffManifests(p.last.Manifest, p.dry.Manifest), nil
}

// Rollback rolls the release back to revision (0: the previous one) and, when wait is
// set, waits for Romana.
func (c *Client) Rollback(ctx context.Context, revision int, wait bool, timeout time.Duration) error {
	if _, err := c.Cfg.Releases.Last(ReleaseName); errors.Is(err, driver.ErrReleaseNotFound) {
		return values.Inputf("no release %s in %s", ReleaseName, c.Namespace)
	}
	rb := action.NewRollback(c.Cfg)
	rb.Version = revision
	rb.MaxHistory = MaxHistory
	rb.Wait = false
	if err := rb.Run(ReleaseName); err != nil {
		if errors.Is(err, driver.ErrReleaseNotFound) || errors.Is(err, driver.ErrNoDeployedReleases) {
			return values.Inputf("rollback: %v", err)
		}
		return fmt.Errorf("rollback: %w", err)
	}
	if !wait {
		return nil
	}
	rel, err := c.Cfg.Releases.Last(ReleaseName)
	if err != nil {
		return err
	}
	return c.waitFor(ctx, "rolled back:", rel, timeout)
}

func lookupString(vals map[string]any, key string) (string, bool) {
	v, ok := values.Lookup(vals, key)
	s, _ := v.(string)
	return s, ok
}

// normalize round-trips values through JSON types, so that int64(2) from --set and
// float64(2) from a stored release compare equal.
func normalize(m map[string]any) any {
	var out any
	b, err := json.Marshal(m)
	if err != nil {
		return m
	}
	_ = json.Unmarshal(b, &out)
	return out
}
