package install

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/release"
	"helm.sh/helm/v3/pkg/storage/driver"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/resource"

	"github.com/romana/romanactl/internal/render"
	"github.com/romana/romanactl/internal/values"
)

// InstallOptions tune Install.
type InstallOptions struct {
	Chart    *chart.Chart
	Resolved *values.Resolved
	// Env and EnvReason say which environment is in use and why (for the report).
	Env, EnvReason string
	Wait           bool
	Timeout        time.Duration
	// DryRun is "" or "server" (a client dry run needs no cluster: see Render).
	DryRun string
	// Atomic removes what a failed install created.
	Atomic bool
	Skip   []string
	// Adopt takes over objects that exist outside any release (romanactl migrate):
	// the ownership check accepts them and Helm takes ownership in place. Atomic is
	// ignored: undoing would delete the running network.
	Adopt bool
	// BeforeApply runs under the Lease just before Helm applies (migrate writes the
	// password Secret there).
	BeforeApply func(ctx context.Context) error
}

// Result is what an install or upgrade did.
type Result struct {
	Release *release.Release
	Report  *Report
	// NoOp is set when an upgrade found nothing to change and wrote nothing but,
	// with Verified, the verified mark of a deployed revision that lacked it.
	NoOp bool
	// Verified: a no-op upgrade waited for the deployed revision, never verified
	// ready before, and recorded it verified.
	Verified bool
	// Kept lists, for a no-op, the objects whose live state keeps fields set outside
	// the release that the chart does not set (Helm's patch never removes them).
	Kept []ObjectDiff
	// Manifest is the rendered manifest of a dry run, Secret data masked.
	Manifest string
}

func (c *Client) progress(format string, args ...any) {
	fmt.Fprintf(c.Progress, format+"\n", args...)
}

// Install runs the pre-flight, then installs the release. No cluster write happens
// before the values are valid and every ✗ check has passed.
func (c *Client) Install(ctx context.Context, o InstallOptions) (*Result, error) {
	if err := CheckSkips(o.Skip); err != nil {
		return nil, err
	}
	last, err := c.lastOrNone()
	if err != nil {
		return nil, err
	}
	if last != nil {
		if last.Info.Status == release.StatusPendingInstall {
			return nil, c.pendingError(ctx, last)
		}
		return nil, values.Inputf("release %s already exists in %s (revision %d, %s): use `romanactl upgrade` to change it",
			ReleaseName, c.Namespace, last.Version, last.Info.Status)
	}
	// Read before anything is written: an error here stops the command.
	if _, err := c.secretExists(ctx); err != nil {
		return nil, err
	}
	c.adopt = o.Adopt
	report, err := c.preflight(ctx, o.Chart, o.Resolved, o.Env, o.EnvReason, o.Skip, "", nil)
	if err != nil {
		return nil, err
	}
	res := &Result{Report: report}
	if o.Adopt {
		o.Atomic = false
	}

	inst := action.NewInstall(c.Cfg)
	inst.ReleaseName = ReleaseName
	inst.Namespace = c.Namespace
	// romanactl waits itself (Wait), so Helm must not: its DaemonSet check passes a
	// DaemonSet with zero pods. Atomic is handled here too, since Helm's Atomic
	// forces Helm's wait.
	inst.Wait = false
	// The API server validates every object it is sent; Helm's client-side OpenAPI
	// validation repeats that after downloading and parsing the cluster's OpenAPI v3
	// documents, which is most of an install's client time. The chart's objects are
	// checked against a real API server by the tests and by --dry-run=server.
	inst.DisableOpenAPIValidation = true
	inst.TakeOwnership = o.Adopt
	inst.Labels = waitLabels(1, o.Wait, c.Version)
	for k, v := range inst.Labels {
		if v == "null" {
			delete(inst.Labels, k) // "null" deletes only in an upgrade's merge
		}
	}
	if o.DryRun == "server" {
		inst.DryRun = true
		inst.DryRunOption = "server"
		rel, err := inst.RunWithContext(ctx, o.Chart, o.Resolved.Supplied)
		if err != nil {
			return nil, classify(err)
		}
		if err := c.serverDryRun(rel.Manifest); err != nil {
			return nil, err
		}
		res.Release, res.Manifest = rel, MaskSecrets(rel.Manifest)
		return res, nil
	}
	err = c.locked(ctx, func(ctx context.Context) error {
		// Another install may have finished between the checks above and the Lease.
		if now, err := c.lastOrNone(); err != nil {
			return err
		} else if now != nil {
			return c.changedUnder(ctx, "no release", now)
		}
		secretExisted, err := c.secretExists(ctx)
		if err != nil {
			return err
		}
		if o.BeforeApply != nil {
			if err := o.BeforeApply(ctx); err != nil {
				return err
			}
		}
		if err := c.mayWrite(ctx); err != nil {
			return c.stopped(err, "Helm's install had not started")
		}
		// Helm's apply runs to its end whatever happens to ctx (see upgradeLocked).
		rel, err := inst.RunWithContext(context.WithoutCancel(ctx), o.Chart, o.Resolved.Supplied)
		if err != nil && !c.wroteRevision(rel, 1) {
			// Nothing of ours was stored (a helm CLI got there first, or the API server
			// refused the record): there is nothing to undo, and undoing would remove
			// someone else's release.
			if helmPending(err) {
				return fmt.Errorf("install refused: %w (a helm CLI is installing romana at the same time); nothing was written by this command", err)
			}
			return fmt.Errorf("install failed before anything was stored: %w", classify(err))
		}
		if lerr := c.leaseLost(); lerr != nil && (err != nil || o.Wait) {
			return c.stopped(lerr, fmt.Sprintf("Helm's install of revision 1 ran to its end (%s); nothing was undone", applied(err)))
		}
		if err == nil && o.Wait {
			err = c.waitFor(ctx, "installed", rel, o.Timeout)
			if lerr := c.leaseLost(); err != nil && lerr != nil {
				return c.stopped(lerr, "revision 1 was installed; the wait for Romana stopped, and nothing was marked failed or undone")
			}
		}
		if err == nil {
			if o.Wait {
				c.verified(ctx, rel)
			}
			res.Release = rel
			return nil
		}
		err = classify(err)
		if rerr := c.reachable(ctx); rerr != nil {
			return fmt.Errorf("install failed: %w; the API server does not answer now (%v), so nothing was undone. "+
				"When it answers again: `romanactl status`, then `romanactl recover` if the release is pending, else `romanactl uninstall`", err, rerr)
		}
		if werr := c.mayWrite(ctx); werr != nil {
			return c.stopped(werr, fmt.Sprintf("the install failed (%v); nothing was marked failed or undone", err))
		}
		if !o.Atomic {
			left := "failed (uninstall with `romanactl uninstall`)"
			if merr := c.markFailed(rel, err); merr != nil {
				left = fmt.Sprintf("as Helm recorded it: recording the failure failed (%v); `romanactl status` shows it, `romanactl recover` ends a pending one", merr)
			} else if st, gerr := c.Cfg.Releases.Get(ReleaseName, 1); gerr == nil && st.Info.Status.IsPending() {
				left = st.Info.Status.String() + ": recording the failure failed too (`romanactl recover` ends it)"
			}
			return fmt.Errorf("install failed, release left %s: %w", left, err)
		}
		return c.undoInstall(ctx, err, secretExisted)
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

// undoInstall is --atomic's clean-up of a failed install. The password Secret stays
// when it existed before, and when any romana-services pod may have started with it:
// MySQL initialises the host's data directory with the password it first sees, and a
// later install must find the same one.
func (c *Client) undoInstall(ctx context.Context, cause error, secretExisted bool) error {
	// A cancelled ctx (SIGINT/SIGTERM) must not stop the clean-up; a lost Lease does.
	cleanCtx, cancel := c.cleanupCtx(ctx, 2*time.Minute)
	defer cancel()
	podsSeen := c.servicesPodsSeen(cleanCtx)
	if err := c.mayWrite(cleanCtx); err != nil {
		return c.stopped(err, fmt.Sprintf("the install failed (%v) and was not undone", cause))
	}
	un := action.NewUninstall(c.Cfg)
	// Not the node-cleanup hook: Helm would create its DaemonSet and leave it behind.
	un.DisableHooks = true
	un.Wait = true
	un.Timeout = time.Minute
	if _, uerr := un.Run(ReleaseName); uerr != nil && !errors.Is(uerr, driver.ErrReleaseNotFound) {
		return fmt.Errorf("install failed: %w; --atomic clean-up failed too: %v (`romanactl recover` ends it)", cause, uerr)
	}
	kept := "the password Secret was kept (it existed before this install)"
	if !secretExisted {
		if podsSeen || c.servicesPodsSeen(cleanCtx) {
			kept = fmt.Sprintf("Secret %s was kept: a romana-services pod may have initialised the datastore with it", PasswordSecret)
		} else if err := c.mayWrite(cleanCtx); err != nil {
			kept = fmt.Sprintf("Secret %s was kept: %v", PasswordSecret, err)
		} else {
			// This install made the password Secret and no datastore can have used it.
			_ = c.Kube.CoreV1().Secrets(c.Namespace).Delete(cleanCtx, PasswordSecret, metav1.DeleteOptions{})
			kept = "nothing is left"
		}
	}
	return fmt.Errorf("install failed: %w; --atomic: the release and what it created were removed; %s", cause, kept)
}

// markFailed records a failure on a revision Helm stored as deployed (a failed wait),
// or left pending (it could not record the failure itself), so `helm list` and
// `romanactl status` tell the truth. It writes nothing once the Lease is lost, and
// returns why the record was not made.
func (c *Client) markFailed(rel *release.Release, cause error) error {
	if rel == nil || rel.Info == nil {
		return nil
	}
	// Judge by the stored record: Helm's in-memory copy may say failed when storing
	// that failed.
	stored, err := c.Cfg.Releases.Get(rel.Name, rel.Version)
	if err != nil {
		return fmt.Errorf("read revision %d: %w", rel.Version, err)
	}
	if stored.Info.Status != release.StatusDeployed && !stored.Info.Status.IsPending() {
		return nil
	}
	if err := c.mayWrite(context.Background()); err != nil {
		return err
	}
	stored.SetStatus(release.StatusFailed, "romanactl: "+cause.Error())
	if err := c.Cfg.Releases.Update(stored); err != nil {
		return fmt.Errorf("store revision %d as failed: %w", rel.Version, err)
	}
	rel.Info = stored.Info
	return nil
}

// preflight runs the checks and writes the report. manifest is the release the
// command would apply ("": render it here, client-side).
// last is the release's newest revision (nil for an install).
func (c *Client) preflight(ctx context.Context, ch *chart.Chart, res *values.Resolved, env, reason string, skip []string, manifest string, last *release.Release) (*Report, error) {
	if manifest == "" {
		r, err := render.Render(ch, res.Supplied, render.RenderOptions{Namespace: c.Namespace, Validated: true})
		if err != nil {
			return nil, err
		}
		manifest = r.Manifest
	}
	if env == "" {
		// An upgrade without --env keeps the environment of the stored values.
		env, _ = values.LookupString(res.Effective, "environment")
		reason = "from the release's values"
	}
	start := time.Now()
	defer func() { c.Debug.Printf("romanactl: pre-flight took %d ms", time.Since(start).Milliseconds()) }()
	report, err := Preflight(ctx, c.Kube, PreflightInput{
		Namespace: c.Namespace, Env: env, EnvReason: reason, Effective: res.Effective,
		KubeVersion: ch.Metadata.KubeVersion, Skip: skip, Manifest: manifest, Chart: ch, Registry: c.Registry, Adopt: c.adopt,
		Last: last, Version: c.Version,
	})
	if err != nil {
		return nil, err
	}
	WriteReport(c.Progress, report)
	DebugDetail(c.Debug, report)
	if len(report.Failed()) > 0 {
		return report, &PreflightError{Report: report}
	}
	return report, nil
}

// serverDryRun sends every rendered object to the API server with dryRun=All: admission,
// validation and defaulting run, nothing is stored.
func (c *Client) serverDryRun(manifest string) error {
	resources, err := c.Cfg.KubeClient.Build(strings.NewReader(manifest), true)
	if err != nil {
		return fmt.Errorf("build objects for the server-side dry run: %w", err)
	}
	var errs []error
	_ = resources.Visit(func(info *resource.Info, _ error) error {
		h := resource.NewHelper(info.Client, info.Mapping).DryRun(true)
		if _, err := h.Create(info.Namespace, true, info.Object); err != nil {
			if apierrors.IsAlreadyExists(err) {
				// Not overwrite, which reads the resourceVersion and then writes it
				// (a controller's status write in between is a conflict): the rendered
				// object has none, an unconditional update, as in kept.go.
				_, err = h.Replace(info.Namespace, info.Name, false, info.Object)
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("%s %s: %w", info.Mapping.GroupVersionKind.Kind, info.Name, err))
			}
		}
		return nil
	})
	if len(errs) > 0 {
		return &values.InputError{Err: fmt.Errorf("the API server refuses the manifests (server-side dry run):\n%w", errors.Join(errs...))}
	}
	return nil
}

// waitFor waits for Romana after an operation wrote revision rel, saying so first.
func (c *Client) waitFor(ctx context.Context, what string, rel *release.Release, timeout time.Duration) error {
	c.progress("%s revision %d; waiting for Romana (%s)", what, rel.Version, timeoutText(timeout))
	return Wait(ctx, c.Kube, WaitOptions{Namespace: c.Namespace, Timeout: timeout, Services: servicesInRelease(rel.Config)},
		func(s string) { c.progress("  %s", s) })
}

func servicesInRelease(vals map[string]any) bool {
	v, _ := values.Lookup(vals, "services.deploy")
	return v != "staticPod"
}
