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
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

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
	// AllowDowngrade lets the upgrade take the release to an older chart than the one
	// that made its newest revision (refused otherwise: checkDowngrade).
	AllowDowngrade bool
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
		supplied = values.Layer(withoutDigests(last), given)
	}
	effective, err := values.Effective(ch, supplied)
	if err != nil {
		return nil, &values.InputError{Err: err}
	}
	if err := values.ValidateWith(ch, supplied, effective, o.Hints); err != nil {
		return nil, err
	}
	return &values.Resolved{Supplied: supplied, Effective: effective}, nil
}

// withStored adds the last revision's values to o's hints: a value a suggestion gives
// for a missing or refused key is the release's own first.
func withStored(o values.Options, last *release.Release) values.Options {
	o.Hints.Stored = last.Config
	o.Hints.StoredFrom = fmt.Sprintf("revision %d", last.Version)
	return o
}

// withoutDigests drops the digests pinned at the last revision: they pin the images
// of that revision's tags, so reusing them would silently undo a new --tag. An upgrade
// pins again only with --pin-digests.
func withoutDigests(config map[string]any) map[string]any {
	out := values.Layer(config, nil)
	for _, k := range values.DigestKeys {
		unstructured.RemoveNestedField(out, strings.Split(k, ".")...)
	}
	return out
}

// UpgradeResolved returns the values an upgrade with o would deploy, without writing.
func (c *Client) UpgradeResolved(ctx context.Context, o UpgradeOptions) (*values.Resolved, error) {
	last, err := c.lastRelease(ctx)
	if err != nil {
		return nil, err
	}
	return UpgradeValues(o.Chart, last.Config, withStored(o.Values, last), o.ResetValues)
}

func (c *Client) lastRelease(ctx context.Context) (*release.Release, error) {
	last, err := c.newest(ctx)
	if errors.Is(err, driver.ErrReleaseNotFound) {
		return nil, noRelease(c.Namespace, "; `romanactl install` installs it")
	}
	if err != nil {
		return nil, fmt.Errorf("read release history: %w", err)
	}
	if last.Info.Status.IsPending() {
		return nil, c.pendingError(ctx, last)
	}
	return last, nil
}

// plan computes an upgrade with a server-side dry run: validated values, the immutable
// clusterIP rule, and the manifest it would deploy. It writes nothing.
func (c *Client) plan(ctx context.Context, o UpgradeOptions) (*plannedUpgrade, error) {
	last, err := c.lastRelease(ctx)
	if err != nil {
		return nil, err
	}
	res, err := UpgradeValues(o.Chart, last.Config, withStored(o.Values, last), o.ResetValues)
	if err != nil {
		return nil, err
	}
	p := &plannedUpgrade{last: last, resolved: res}
	p.newIP, _ = values.LookupString(res.Effective, "romanaRoot.clusterIP")
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
	// The dry run takes the newest record just read, instead of reading and decoding
	// the whole history again (a no-op upgrade's largest cost).
	dryCfg := *c.Cfg
	dryCfg.Releases = c.withNewest(last)
	if dryCfg.Capabilities == nil {
		if dryCfg.Capabilities, err = c.freshCapabilities(); err != nil {
			return nil, classify(err)
		}
	}
	up := newUpgrade(&dryCfg, c.Namespace, o)
	up.DryRun = true
	// UpgradeValues has run values.Validate, which checks them against this chart's
	// values.schema.json: a second compile and run of the schema would find nothing.
	up.SkipSchemaValidation = true
	up.DryRunOption = "server" // lookup sees the live password Secret, as the real upgrade will
	dry, err := up.RunWithContext(ctx, ReleaseName, o.Chart, res.Supplied)
	if err != nil {
		return nil, classify(err)
	}
	p.dry = dry
	return p, nil
}

func (c *Client) newUpgrade(o UpgradeOptions) *action.Upgrade {
	return newUpgrade(c.Cfg, c.Namespace, o)
}

func newUpgrade(cfg *action.Configuration, namespace string, o UpgradeOptions) *action.Upgrade {
	up := action.NewUpgrade(cfg)
	up.Namespace = namespace
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
	if err := c.checkEnvMatches(ctx, o.Env, o.Skip); err != nil {
		return nil, err
	}
	p, err := c.plan(ctx, o)
	if err != nil {
		return nil, err
	}
	if err := checkDowngrade(p.last, o.Chart, o.AllowDowngrade); err != nil {
		return nil, err
	}
	unverified := p.last.Info.Status == release.StatusDeployed && Unverified(p.last)
	// Live edits to fields the chart sets (kubectl edit) are put back by the upgrade,
	// as Helm's three-way patch does; say so first, and do not call it a no-op.
	drifted, live, err := c.liveDrift(ctx, p)
	if err != nil {
		return nil, err
	}
	for _, d := range drifted {
		c.progress("‼ %s was changed outside the release (kubectl edit?); this upgrade overwrites those changes: %s", d.Object, shorten(d.Patch, 300))
	}
	// Nothing to change means nothing to check: a no-op writes nothing and needs no
	// pre-flight (which is the slow part of a no-op, with its access reviews).
	if p.isNoOp() && len(drifted) == 0 {
		// Fields set outside the release that the chart does not set are kept by
		// Helm's three-way patch: a no-op must not hide them.
		kept, err := c.keptOf(live)
		if err != nil {
			return nil, err
		}
		res := &Result{Release: p.last, NoOp: true, Kept: kept}
		// Nothing to change, but the deployed revision was never seen ready: the wait
		// its command did not finish is this one's to do, and its mark to write.
		if unverified && o.Wait {
			if err := c.locked(ctx, func(ctx context.Context) error { return c.verifyLocked(ctx, p.last, o.Timeout) }); err != nil {
				return nil, err
			}
			res.Verified = true
		}
		return res, nil
	}
	if unverified {
		c.progress("‼ revision %d was never verified ready (the command that made it stopped during its wait); this upgrade starts from its values. "+
			"If they are what failed, `romanactl recover` first returns to the newest good revision (`romanactl recover --dry-run` names it)", p.last.Version)
	}
	if p.last.Info.Status == release.StatusFailed && !MadeByRomanactl(p.last) {
		c.progress("‼ %s; this upgrade starts from revision %d's values and replaces it", c.failedOutside(p.last), p.last.Version)
	}
	if err := checkPasswordKept(c.Namespace, p.last.Manifest, p.dry.Manifest); err != nil {
		return nil, err
	}
	report, err := c.preflight(ctx, o.Chart, p.resolved, o.Env, o.EnvReason, o.Skip, p.dry.Manifest, p.last)
	if err != nil {
		return nil, err
	}
	res := &Result{Report: report}
	err = c.locked(ctx, func(ctx context.Context) error {
		rel, err := c.upgradeLocked(ctx, o, p)
		res.Release = rel
		return err
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

// upgradeLocked applies a planned upgrade; the caller holds the Lease.
//
// Helm's apply runs on a context that nothing cancels: Helm's RunWithContext returns
// at a cancel while its goroutine goes on applying, and records the revision failed
// while that goroutine may still record it deployed. So SIGINT/SIGTERM and the loss of
// the Lease stop the wait, never the apply. Helm's own writes of the release record
// within the apply (pending-upgrade, then deployed or failed) are part of the apply and
// happen even if the Lease was lost meanwhile: stopping them would leave the revision
// pending-upgrade and half applied. After the apply, a command that lost the Lease
// writes nothing: no failure record, no rollback, no romana-root put back.
func (c *Client) upgradeLocked(ctx context.Context, o UpgradeOptions, p *plannedUpgrade) (*release.Release, error) {
	// The plan was made from reads before the Lease: if another command wrote a
	// revision since, this one was planned on a stale release and must not write.
	now, err := c.lastOrNone()
	if err != nil {
		return nil, err
	}
	if now == nil || now.Version != p.last.Version || now.Info.Status != p.last.Info.Status {
		if now != nil && now.Info.Status.IsPending() && now.Version == p.last.Version+1 {
			return nil, c.pendingError(ctx, now)
		}
		return nil, c.changedUnder(ctx, fmt.Sprintf("revision %d (%s)", p.last.Version, p.last.Info.Status), now)
	}
	if err := c.mayWrite(ctx); err != nil {
		return nil, c.stopped(err, "it had not started")
	}
	// Deleting romana-root and Helm's apply, which creates it again with the new
	// address, are one step: no check of the Lease comes between them.
	var deletedRoot *corev1.Service
	if o.RecreateRootService && p.oldIP != "" && p.oldIP != p.newIP {
		c.progress("deleting romana-root (%s) to recreate it with %s", p.oldIP, p.newIP)
		if deletedRoot, err = c.deleteRoot(ctx); err != nil {
			return nil, err
		}
	}
	c.handOver(ctx, p.last.Manifest)
	up := c.newUpgrade(o)
	up.Labels = waitLabels(p.last.Version+1, o.Wait, c.Version)
	rel, err := up.RunWithContext(context.WithoutCancel(ctx), ReleaseName, o.Chart, p.resolved.Supplied)
	if err != nil && !c.wroteRevision(rel, p.last.Version+1) {
		// Nothing of ours was stored, so there is nothing to roll back: rolling back
		// here would undo another command's revision.
		wrote := "nothing was written by this command"
		if deletedRoot != nil {
			wrote = c.putBackRoot(ctx, deletedRoot, p.last.Version) + "; nothing else was written by this command"
		}
		if helmPending(err) {
			return nil, fmt.Errorf("upgrade refused: %w (a helm CLI is changing romana at the same time); %s", err, wrote)
		}
		return nil, fmt.Errorf("upgrade failed before anything was stored, nothing to roll back: %w; %s", classify(err), wrote)
	}
	// Lost during the apply: a failed apply is not recorded or rolled back, and a good
	// one is not waited for. A good apply that is not to be waited for is done.
	if lerr := c.leaseLost(); lerr != nil && (err != nil || o.Wait) {
		return nil, c.stopped(lerr, fmt.Sprintf("Helm's apply of revision %d ran to its end (%s)", p.last.Version+1, applied(err)))
	}
	// Helm's last step, the update of the revision's record from pending-upgrade to
	// deployed, failed after an apply that succeeded: Helm returns the release as
	// deployed with that error. The objects are the new revision's, so the record is
	// written again rather than the upgrade taken for failed and rolled back; if it
	// cannot be, the release stays pending, and only recover ends that.
	if err != nil && rel != nil && rel.Info != nil && rel.Info.Status == release.StatusDeployed {
		if rerr := c.endPendingUpgrade(ctx, rel); rerr != nil {
			return nil, fmt.Errorf("revision %d was applied, but its record stays pending-upgrade: Helm's last update of it failed (%v), and so did romanactl's (%v). "+
				"A pending release blocks every later command: when the API server takes writes again, `romanactl recover` ends it (`romanactl status` shows where it stands)",
				rel.Version, classify(err), rerr)
		}
		c.progress("‼ Helm's last update of revision %d's record failed (%v); romanactl wrote it again: deployed", rel.Version, classify(err))
		err = nil
	}
	if err == nil && o.Wait {
		err = c.waitFor(ctx, "upgraded to", rel, o.Timeout)
		if lerr := c.leaseLost(); err != nil && lerr != nil {
			return nil, c.stopped(lerr, fmt.Sprintf("revision %d was applied; the wait for Romana stopped, and the revision was neither marked failed nor rolled back", rel.Version))
		}
	}
	if err == nil {
		if o.Wait {
			c.verified(ctx, rel)
		}
		return rel, nil
	}
	err = classify(err)
	if rerr := c.reachable(ctx); rerr != nil {
		// No read of the history here: against an API server that is gone it would
		// wait out the request timeout.
		return nil, fmt.Errorf("upgrade failed: %w; the API server does not answer now (%v), so revision %d was neither marked failed nor rolled back. "+
			"When it answers again: `romanactl status`, then `romanactl recover` if the release is pending, else %s",
			err, rerr, p.last.Version+1, unreadBack)
	}
	back := c.backTo(p.last.Version)
	if werr := c.mayWrite(ctx); werr != nil {
		return nil, c.stopped(werr, fmt.Sprintf("revision %d failed (%v) and was neither marked failed nor rolled back", p.last.Version+1, err))
	}
	// Helm stored the revision as deployed before the wait failed: record the failure,
	// so `helm list` and status tell the truth. Whether or not that record succeeds, the
	// revision to return to is chosen among those not newer than the one this command
	// started from, so the revision that just failed is never taken for a good one.
	markNote := ""
	if merr := c.markFailed(rel, err); merr != nil {
		markNote = fmt.Sprintf(" (recording revision %d as failed failed too: %v)", p.last.Version+1, merr)
	}
	rootNote := ""
	if deletedRoot != nil {
		if n := c.putBackRoot(ctx, deletedRoot, p.last.Version); n != "" {
			rootNote = "; " + n
		}
	}
	if !o.Atomic {
		return nil, fmt.Errorf("upgrade failed, release left as failed%s (%s): %w%s", markNote, back, err, rootNote)
	}
	target, good, rerr := c.rollbackToGood(ctx, o.Timeout, p.last.Version)
	var lost *LeaseLostError
	if errors.As(rerr, &lost) {
		return nil, fmt.Errorf("upgrade failed: %w%s%s; --atomic rollback stopped: %w", err, markNote, rootNote, rerr)
	}
	if rerr != nil {
		when := "Next"
		if c.reachable(ctx) != nil {
			when, back = "The API server does not answer now; when it answers again", unreadBack
		}
		return nil, fmt.Errorf("upgrade failed: %w%s%s; --atomic rollback failed too: %v. %s: `romanactl status`, "+
			"then `romanactl recover` if the release is pending, else %s", err, markNote, rootNote, rerr, when, back)
	}
	return nil, fmt.Errorf("upgrade failed: %w%s; --atomic: rolled back, revision %d (a copy of good revision %d) is now deployed", err, markNote, good.Version, target)
}

// applied says how Helm's apply ended, for a message.
func applied(err error) string {
	if err != nil {
		return "it failed: " + classify(err).Error()
	}
	return "it succeeded"
}

// rollbackToGood rolls back to the newest revision, not newer than upTo, that was
// deployed successfully, recreating romana-root when its clusterIP differs: it restores
// a known-good revision, whose agents point at that revision's address. A cancelled ctx
// (SIGINT/SIGTERM) does not stop it; the loss of the Lease does. The caller holds the
// Lease.
func (c *Client) rollbackToGood(ctx context.Context, timeout time.Duration, upTo int) (int, *release.Release, error) {
	target, err := c.lastGood(upTo)
	if err != nil {
		return 0, nil, err
	}
	rctx, cancel := c.cleanupCtx(ctx, timeout+time.Minute)
	defer cancel()
	good, err := c.rollbackLocked(rctx, RollbackOptions{Revision: target, Wait: true, Timeout: timeout, RecreateRootService: true}, true)
	return target, good, err
}

// lastGood is the newest good revision (see good: deployed or superseded, and not left
// unverified by a wait that never finished) not newer than upTo (0: any).
func (c *Client) lastGood(upTo int) (int, error) {
	hist, err := c.Cfg.Releases.History(ReleaseName)
	if err != nil {
		return 0, err
	}
	target := 0
	for _, r := range hist {
		if upTo > 0 && r.Version > upTo {
			continue
		}
		if good(r) && r.Version > target {
			target = r.Version
		}
	}
	if target == 0 {
		return 0, errors.New("no good revision to roll back to (none is deployed or superseded and either verified ready or made without romanactl's wait)")
	}
	return target, nil
}

// unreadBack is backTo's advice when the history cannot be read now.
const unreadBack = "`romanactl rollback N` returns to revision N; the newest good one is the newest deployed or superseded revision in `romanactl history` whose description ends in \"verified ready by romanactl\" (or that was made without romanactl's wait)"

// backTo says how to return to the newest good revision not newer than upTo, for a
// message.
func (c *Client) backTo(upTo int) string {
	if n, err := c.lastGood(upTo); err == nil {
		return fmt.Sprintf("`romanactl rollback %d` returns to revision %d, the newest good one", n, n)
	}
	return "no earlier revision is known to be good (`romanactl history` lists them)"
}

// Diff returns what an upgrade with the same options would change, per object, as
// unified diffs. It writes nothing.
func (c *Client) Diff(ctx context.Context, o UpgradeOptions) ([]ObjectDiff, error) {
	p, err := c.plan(ctx, o)
	if err != nil {
		return nil, err
	}
	return c.liveDiff(ctx, p.last.Manifest, p.dry.Manifest, true)
}

// RollbackOptions tune Rollback.
type RollbackOptions struct {
	// Revision to return to; 0 is the previous one.
	Revision int
	Wait     bool
	Timeout  time.Duration
	// RecreateRootService allows a rollback to a revision with another
	// romanaRoot.clusterIP: romana-root is deleted and created again within it.
	RecreateRootService bool
}

// Rollback rolls the release back, holding the Lease, and returns the new revision.
func (c *Client) Rollback(ctx context.Context, o RollbackOptions) (*release.Release, error) {
	var rel *release.Release
	err := c.locked(ctx, func(ctx context.Context) error {
		var err error
		rel, err = c.rollbackLocked(ctx, o, false)
		return err
	})
	return rel, err
}

// rollbackLocked rolls back; the caller holds the Lease. A pending newest record is
// refused unless recovering, which is the one path meant to end it.
func (c *Client) rollbackLocked(ctx context.Context, o RollbackOptions, recovering bool) (*release.Release, error) {
	last, err := c.Cfg.Releases.Last(ReleaseName)
	if errors.Is(err, driver.ErrReleaseNotFound) {
		return nil, noRelease(c.Namespace, ": nothing to roll back")
	}
	if err != nil {
		return nil, fmt.Errorf("read release history: %w", err)
	}
	if last.Info.Status.IsPending() && !recovering {
		return nil, c.pendingError(ctx, last)
	}
	version := o.Revision
	if version == 0 {
		version = last.Version - 1
	}
	target, err := c.Cfg.Releases.Get(ReleaseName, version)
	if err != nil {
		return nil, values.Inputf("rollback: release %s has no revision %d (see `romanactl history`)", ReleaseName, version)
	}
	if err := c.mayWrite(ctx); err != nil {
		return nil, c.stopped(err, fmt.Sprintf("the rollback to revision %d had not started", version))
	}
	// The clusterIP rule of upgrade holds here too: Helm would roll the agents back to
	// the old address and then fail on the immutable Service, leaving them pointing at
	// an address where no root Service exists.
	deletedRoot, err := c.rootServiceFor(ctx, target, o.RecreateRootService, "rollback")
	if err != nil {
		return nil, err
	}
	c.handOver(ctx, last.Manifest)
	rb := action.NewRollback(c.Cfg)
	rb.Version = version
	rb.MaxHistory = MaxHistory
	rb.Wait = false
	if err := rb.Run(ReleaseName); err != nil {
		note := c.endPendingRollback(last.Version+1, version, err)
		if deletedRoot != nil {
			note += "; " + c.putBackRoot(ctx, deletedRoot, version)
		}
		return nil, fmt.Errorf("rollback: %w%s", classify(err), note)
	}
	rel, err := c.Cfg.Releases.Last(ReleaseName)
	if err != nil {
		return nil, err
	}
	// Helm's rollback copied its target's labels; this revision's own wait decides.
	if lerr := c.setWaitLabel(rel, o.Wait); lerr != nil {
		c.progress("‼ %v: if this command stops during its wait, revision %d may count as good", lerr, rel.Version)
	}
	if o.Wait {
		if err := c.waitFor(ctx, "rolled back:", rel, o.Timeout); err != nil {
			if lerr := c.leaseLost(); lerr != nil {
				return rel, c.stopped(lerr, fmt.Sprintf("revision %d (a copy of revision %d) was applied; the wait for Romana stopped, and it was not marked failed", rel.Version, version))
			}
			if merr := c.markFailed(rel, err); merr != nil {
				return rel, fmt.Errorf("%w (recording revision %d as failed failed too: %v)", err, rel.Version, merr)
			}
			return rel, err
		}
		c.verified(ctx, rel)
	}
	return rel, nil
}

// endPendingRollback records as failed the pending-rollback record that a failed
// Helm rollback to version left as revision rev: Helm stores it before its apply and
// updates it only at the end, so an error in between (an API error on that last
// update, a manifest that does not build) leaves it pending-rollback, which blocks
// every later command until recover. It says what it did, for the error message.
func (c *Client) endPendingRollback(rev, version int, cause error) string {
	st, err := c.Cfg.Releases.Get(ReleaseName, rev)
	// Ours: Helm's rollback to version wrote this description when it stored it.
	if err != nil || !st.Info.Status.IsPending() || st.Info.Description != fmt.Sprintf("Rollback to %d", version) {
		return ""
	}
	was := st.Info.Status
	if merr := c.markFailed(st, cause); merr != nil {
		return fmt.Sprintf("; revision %d is left %s (recording it as failed failed too: %v): `romanactl recover` ends it", rev, was, merr)
	}
	return fmt.Sprintf("; revision %d, which Helm left %s, was recorded as failed", rev, was)
}

// rootServiceFor makes romana-root ready for target's manifest: when target's clusterIP
// differs from the live one, refuse (exit 2), or with recreate delete the Service so
// that the operation creates it again with target's address, and return it as it was
// (for putBackRoot).
func (c *Client) rootServiceFor(ctx context.Context, target *release.Release, recreate bool, op string) (*corev1.Service, error) {
	want := manifestClusterIP(target.Manifest)
	svc, err := c.Kube.CoreV1().Services(c.Namespace).Get(ctx, "romana-root", metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read romana-root: %w", err)
	}
	have := svc.Spec.ClusterIP
	if want == "" || have == want {
		return nil, nil
	}
	if !recreate {
		return nil, values.Inputf("%s to revision %d would change romanaRoot.clusterIP from %s to %s, but a Service's clusterIP is immutable; "+
			"pass --recreate-root-service to delete and recreate romana-root within the %s (agents lose root until they restart with the address)",
			op, target.Version, have, want, op)
	}
	c.progress("deleting romana-root (%s) to recreate it with %s (revision %d)", have, want, target.Version)
	return c.deleteRoot(ctx)
}

// deleteRoot deletes romana-root, so that the operation that follows creates it with
// another clusterIP (clusterIP is immutable), and returns it as it was, for putBackRoot
// (nil when there was none).
func (c *Client) deleteRoot(ctx context.Context) (*corev1.Service, error) {
	svcs := c.Kube.CoreV1().Services(c.Namespace)
	svc, err := svcs.Get(ctx, "romana-root", metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read romana-root: %w", err)
	}
	// The UID precondition: delete the Service just read, not one created since.
	err = svcs.Delete(ctx, "romana-root", metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &svc.UID}})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("delete romana-root: %w; nothing was changed", err)
	}
	return svc, nil
}

// putBackRoot creates romana-root again as it was before deleteRoot, when the
// operation that was to recreate it failed and left none, and says what it did (for
// the error message; "" when the Service exists). A command that lost its Lease does
// not write it, and says so. revision is the deployed revision whose manifest has the
// Service, for the way out.
func (c *Client) putBackRoot(ctx context.Context, saved *corev1.Service, revision int) string {
	if saved == nil {
		return ""
	}
	ctx, cancel := c.cleanupCtx(ctx, time.Minute)
	defer cancel()
	svcs := c.Kube.CoreV1().Services(c.Namespace)
	fix := fmt.Sprintf("`romanactl rollback %d` creates it again from revision %d", revision, revision)
	_, err := svcs.Get(ctx, "romana-root", metav1.GetOptions{})
	if err == nil {
		return ""
	}
	if !apierrors.IsNotFound(err) {
		return fmt.Sprintf("romana-root was deleted to recreate it, and whether it exists again cannot be read (%v): `romanactl status` tells; if it is missing, %s", err, fix)
	}
	if werr := c.mayWrite(ctx); werr != nil {
		return fmt.Sprintf("romana-root was deleted to recreate it and is not put back, because %v: the agents have no root; once no command holds the Lease, %s", werr, fix)
	}
	svc := saved.DeepCopy()
	svc.ResourceVersion, svc.UID, svc.Generation = "", "", 0
	svc.CreationTimestamp, svc.DeletionTimestamp, svc.ManagedFields = metav1.Time{}, nil, nil
	svc.Status = corev1.ServiceStatus{}
	if _, err := svcs.Create(ctx, svc, metav1.CreateOptions{FieldManager: FieldManager}); err != nil {
		return fmt.Sprintf("romana-root was deleted to recreate it and could not be put back (%v): the agents have no root; %s", err, fix)
	}
	return fmt.Sprintf("romana-root, deleted to recreate it, was put back as it was (clusterIP %s)", svc.Spec.ClusterIP)
}

// manifestClusterIP is romana-root's clusterIP in a rendered manifest.
func manifestClusterIP(manifest string) string {
	var obj struct {
		Spec struct {
			ClusterIP string `json:"clusterIP"`
		}
	}
	if doc, ok := objects(manifest)["Service/romana-root"]; !ok || yaml.Unmarshal([]byte(doc), &obj) != nil {
		return ""
	}
	return obj.Spec.ClusterIP
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

// liveDrift reads the deployed objects and names those edited outside the release; it
// returns the objects read too.
func (c *Client) liveDrift(ctx context.Context, p *plannedUpgrade) ([]Drift, []*liveObject, error) {
	objs, err := c.fetchLive(ctx, p.last.Manifest)
	if err != nil {
		return nil, nil, err
	}
	return drift(objs, manifestJSON(p.last.Manifest)), objs, nil
}

func shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// endPendingUpgrade stores rel, which Helm applied and meant to record as deployed, over
// its pending-upgrade record, trying a few times (the failure Helm met is usually a
// passing one). A record another command changed meanwhile is left alone.
func (c *Client) endPendingUpgrade(ctx context.Context, rel *release.Release) error {
	var err error
	for attempt := 0; attempt < 5; attempt++ {
		if attempt > 0 {
			time.Sleep(time.Duration(attempt) * 300 * time.Millisecond)
		}
		if err = c.mayWrite(ctx); err != nil {
			return err
		}
		var stored *release.Release
		if stored, err = c.Cfg.Releases.Get(rel.Name, rel.Version); err != nil {
			continue
		}
		if stored.Info.Status != release.StatusPendingUpgrade || !stored.Info.LastDeployed.Equal(rel.Info.LastDeployed) {
			if stored.Info.Status == release.StatusDeployed {
				return nil
			}
			return fmt.Errorf("revision %d is %s now, changed by another command", rel.Version, stored.Info.Status)
		}
		if err = c.Cfg.Releases.Update(rel); err == nil {
			return nil
		}
	}
	return err
}

// verifyLocked waits for rel, the deployed revision that was never verified ready, and
// marks it verified; the caller holds the Lease. It writes nothing else, and nothing
// at all when Romana is not ready: the revision stays unverified.
func (c *Client) verifyLocked(ctx context.Context, rel *release.Release, timeout time.Duration) error {
	now, err := c.lastOrNone()
	if err != nil {
		return err
	}
	if now == nil || now.Version != rel.Version || now.Info.Status != rel.Info.Status {
		return c.changedUnder(ctx, fmt.Sprintf("revision %d (%s)", rel.Version, rel.Info.Status), now)
	}
	c.progress("revision %d was never verified ready (the command that made it stopped during its wait): waiting for it now", rel.Version)
	if err := c.waitFor(ctx, "verifying", rel, timeout); err != nil {
		if lerr := c.leaseLost(); lerr != nil {
			return c.stopped(lerr, fmt.Sprintf("the wait for revision %d stopped, and it stays unverified", rel.Version))
		}
		return fmt.Errorf("revision %d, never verified ready, is not ready now either: %w; nothing was written and it stays unverified. "+
			"`romanactl recover` returns to the newest good revision (`romanactl recover --dry-run` names it)", rel.Version, classify(err))
	}
	if err := c.markVerified(ctx, rel); err != nil {
		return fmt.Errorf("Romana is ready, but revision %d could not be recorded as verified: %w", rel.Version, err)
	}
	return nil
}
