package install

import (
	"context"
	"errors"
	"fmt"
	"time"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/release"
	"helm.sh/helm/v3/pkg/storage/driver"

	"github.com/romana/romanactl/internal/lock"
)

// RecoverAction is what recover does with a release.
type RecoverAction string

const (
	// RecoverNothing: the newest record is not pending.
	RecoverNothing RecoverAction = "nothing"
	// RecoverUninstall: a first install was left pending-install; what it made is
	// removed, the password Secret kept.
	RecoverUninstall RecoverAction = "uninstall"
	// RecoverRollback: an upgrade or rollback was left pending; it is marked failed and
	// the last deployed revision is restored.
	RecoverRollback RecoverAction = "rollback"
	// RecoverUnverified: the deployed revision was made by a command whose wait never
	// finished (Helm stores deployed before romanactl's wait); the newest good revision
	// is restored.
	RecoverUnverified RecoverAction = "rollback-unverified"
)

// RecoverPlan is what recover will do, and why.
type RecoverPlan struct {
	Action   RecoverAction `json:"action"`
	Status   string        `json:"status"`
	Revision int           `json:"revision"`
	Target   int           `json:"target,omitempty"`
	Steps    []string      `json:"steps"`
	Holder   *lock.Holder  `json:"-"`
}

// RecoverOptions tune Recover.
type RecoverOptions struct {
	DryRun  bool
	Wait    bool
	Timeout time.Duration
}

// PlanRecover reads the release and says how recover would end a pending state.
func (c *Client) PlanRecover(ctx context.Context) (*RecoverPlan, error) {
	last, err := c.Cfg.Releases.Last(ReleaseName)
	if errors.Is(err, driver.ErrReleaseNotFound) {
		return nil, noRelease(c.Namespace, ": nothing to recover")
	}
	if err != nil {
		return nil, fmt.Errorf("read release history: %w", err)
	}
	p := &RecoverPlan{Status: last.Info.Status.String(), Revision: last.Version}
	switch last.Info.Status {
	case release.StatusPendingInstall:
		p.Action = RecoverUninstall
		p.Steps = []string{
			fmt.Sprintf("revision %d is pending-install: a first install was interrupted", last.Version),
			"uninstall the half-made release and every object it created",
			fmt.Sprintf("keep Secret %s/%s: a romana-services pod may have initialised the datastore with it", c.Namespace, PasswordSecret),
			"then run `romanactl install` again",
		}
	case release.StatusPendingUpgrade, release.StatusPendingRollback:
		target, err := c.lastGood(0)
		if err != nil {
			return nil, fmt.Errorf("revision %d is %s and no earlier revision was ever deployed: %w; `romanactl uninstall` removes it", last.Version, last.Info.Status, err)
		}
		p.Action, p.Target = RecoverRollback, target
		p.Steps = []string{
			fmt.Sprintf("revision %d is %s: the command that wrote it was interrupted", last.Version, last.Info.Status),
			fmt.Sprintf("mark revision %d failed", last.Version),
			fmt.Sprintf("roll back to revision %d, the newest good one (romana-root is recreated if its clusterIP differs)", target),
		}
	case release.StatusDeployed:
		if !Unverified(last) {
			p.Action = RecoverNothing
			p.Steps = []string{fmt.Sprintf("revision %d is deployed and was verified ready (or made without romanactl's wait): nothing is pending, nothing to do", last.Version)}
			break
		}
		target, err := c.lastGood(last.Version - 1)
		if err != nil {
			return nil, fmt.Errorf("revision %d is deployed but was never verified ready (the command that made it stopped during its wait), and %w; "+
				"`romanactl upgrade` with values that work replaces it", last.Version, err)
		}
		p.Action, p.Target = RecoverUnverified, target
		p.Steps = []string{
			fmt.Sprintf("revision %d is deployed but was never verified ready: the command that made it stopped during its wait, so it is not known to be good", last.Version),
			fmt.Sprintf("roll back to revision %d, the newest good one (romana-root is recreated if its clusterIP differs)", target),
		}
	default:
		p.Action = RecoverNothing
		p.Steps = []string{fmt.Sprintf("revision %d is %s: nothing is pending, nothing to do", last.Version, last.Info.Status)}
	}
	return p, nil
}

// Recover ends a release left pending by a killed command or an API server that went
// away. It holds the Lease, so it refuses while another command's Lease is live, and
// plans again under it (the release may have changed since the plan was shown).
func (c *Client) Recover(ctx context.Context, o RecoverOptions) (*RecoverPlan, *release.Release, error) {
	plan, err := c.PlanRecover(ctx)
	if err != nil || o.DryRun || plan.Action == RecoverNothing {
		return plan, nil, err
	}
	for _, s := range plan.Steps {
		c.progress("plan: %s", s)
	}
	var rel *release.Release
	err = c.locked(ctx, func(ctx context.Context) error {
		now, err := c.PlanRecover(ctx)
		if err != nil {
			return err
		}
		if now.Action != plan.Action || now.Revision != plan.Revision {
			return fmt.Errorf("release %s changed while recover was planning (now revision %d, %s); nothing was done: run `romanactl recover` again",
				ReleaseName, now.Revision, now.Status)
		}
		// The clean-up must finish even after SIGINT/SIGTERM: stopping half-way would
		// leave the state recover is meant to end. The loss of the Lease stops it.
		wctx, cancel := c.cleanupCtx(ctx, o.Timeout+2*time.Minute)
		defer cancel()
		if err := c.mayWrite(wctx); err != nil {
			return c.stopped(err, "recover had not started")
		}
		switch plan.Action {
		case RecoverUninstall:
			un := action.NewUninstall(c.Cfg)
			// Not the node-cleanup hook: Helm would create its DaemonSet and leave it behind.
			un.DisableHooks = true
			un.Wait = o.Wait
			un.Timeout = o.Timeout
			if _, err := un.Run(ReleaseName); err != nil {
				return fmt.Errorf("recover: uninstall the half-made release: %w", classify(err))
			}
			return nil
		case RecoverRollback:
			last, err := c.Cfg.Releases.Get(ReleaseName, plan.Revision)
			if err != nil {
				return err
			}
			last.SetStatus(release.StatusFailed, fmt.Sprintf("romanactl recover: %s ended (its command was interrupted)", last.Info.Status))
			if err := c.Cfg.Releases.Update(last); err != nil {
				return fmt.Errorf("recover: mark revision %d failed: %w", last.Version, err)
			}
			rel, err = c.rollbackLocked(wctx, RollbackOptions{Revision: plan.Target, Wait: o.Wait, Timeout: o.Timeout, RecreateRootService: true}, true)
			return err
		case RecoverUnverified:
			rel, err = c.rollbackLocked(wctx, RollbackOptions{Revision: plan.Target, Wait: o.Wait, Timeout: o.Timeout, RecreateRootService: true}, true)
			return err
		}
		return nil
	})
	return plan, rel, err
}
