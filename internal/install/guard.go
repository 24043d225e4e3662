package install

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"helm.sh/helm/v3/pkg/release"
	"helm.sh/helm/v3/pkg/storage/driver"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/romana/romanactl/internal/lock"
	"github.com/romana/romanactl/internal/values"
)

// PasswordSecret is the Secret that holds the datastore password.
const PasswordSecret = "romana-datastore"

// locked runs fn while holding the release's Lease. fn's context is cancelled when the
// Lease is lost (another command took it after this one could not renew it), so a
// command that cannot renew stops waiting; from then on it writes nothing (see
// mayWrite). The Lease is released on return, SIGINT/SIGTERM included: the release uses
// a context that outlives the command's.
func (c *Client) locked(ctx context.Context, fn func(ctx context.Context) error) error {
	l, err := lock.Acquire(ctx, c.Kube, c.Namespace, ReleaseName, lock.Options{Command: c.Command,
		Watching: func(h lock.Holder, until time.Time) {
			c.progress("the Lease of %s (`romanactl %s`) was last renewed at %s by its clock; watching it until %s (this machine's clock) before taking it over",
				h.Identity, h.Command, h.Renewed.Format(time.RFC3339), until.Format(time.RFC3339))
		}})
	if err != nil {
		return err
	}
	c.Debug.Printf("romanactl: Lease %s/romanactl-%s acquired for `romanactl %s`", c.Namespace, ReleaseName, lock.RedactCommand(c.Command))
	if l.TakenOver != nil {
		c.progress("took over the Lease of %s (`romanactl %s`), which %s", l.TakenOver.Identity, l.TakenOver.Command, takenOverWhy(l.TakenOver))
	}
	// leaseCtx ends only with the Lease: the clean-up after a failure survives
	// SIGINT/SIGTERM, but not the loss of the Lease. wctx ends with either.
	leaseCtx, leaseCancel := context.WithCancelCause(context.WithoutCancel(ctx))
	wctx, cancel := context.WithCancelCause(ctx)
	stopWatch := make(chan struct{})
	go func() {
		select {
		case <-l.Lost():
			leaseCancel(l.LostErr())
			cancel(l.LostErr())
		case <-stopWatch:
		}
	}()
	c.lease = &heldLease{lock: l, ctx: leaseCtx}
	defer func() {
		close(stopWatch)
		cancel(nil)
		leaseCancel(nil)
		c.lease = nil
		rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer rcancel()
		rerr := l.Release(rctx)
		c.Debug.Printf("romanactl: Lease released (%v)", errOrOK(rerr))
	}()
	err = fn(wctx)
	var stopped *LeaseLostError
	if lerr := l.LostErr(); lerr != nil && err != nil && !errors.As(err, &stopped) {
		return fmt.Errorf("%w (%v)", err, lerr)
	}
	return err
}

// heldLease is the release's Lease while an operation holds it.
type heldLease struct {
	lock *lock.Lock
	// ctx is cancelled when the Lease is lost, and by nothing else.
	ctx context.Context
}

// LeaseLostError is the failure of a command that lost the release's Lease (or could
// not confirm it still held it) and so stopped writing. It is an operational failure
// (exit 1).
type LeaseLostError struct {
	Why error
	msg string
}

func (e *LeaseLostError) Error() string { return e.msg }
func (e *LeaseLostError) Unwrap() error { return e.Why }

// mayWrite says whether this process may write to the release now: nil outside the
// Lease (no operation holds it) or while the Lease is confirmed; otherwise why not (a
// *lock.LostError when another command holds it). Every write an operation makes after
// its first one asks it first: once the Lease is lost, this process writes nothing
// more, so it can never undo or overwrite the work of the command that took over.
func (c *Client) mayWrite(ctx context.Context) error {
	if c.lease == nil {
		return nil
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), lock.RenewEvery)
	defer cancel()
	if err := c.lease.lock.Check(cctx); err != nil {
		var lost *lock.LostError
		if errors.As(err, &lost) {
			return err
		}
		return fmt.Errorf("could not confirm that this command still holds the Lease %s/romanactl-%s: %w", c.Namespace, ReleaseName, err)
	}
	return nil
}

// leaseLost is the loss of the Lease, if it was lost (no request is made).
func (c *Client) leaseLost() error {
	if c.lease == nil {
		return nil
	}
	return c.lease.lock.LostErr()
}

// cleanupCtx is the context of a clean-up after a failure (an --atomic rollback or
// undo, recover): not cancelled by SIGINT/SIGTERM, since stopping half-way would leave
// the state the clean-up is meant to end, but cancelled when the Lease is lost.
func (c *Client) cleanupCtx(ctx context.Context, timeout time.Duration) (context.Context, context.CancelFunc) {
	base := context.WithoutCancel(ctx)
	if c.lease != nil {
		base = c.lease.ctx
	}
	return context.WithTimeout(base, timeout)
}

// stopped is the error of a command that may not write any more (why, from mayWrite).
// did says what the command had done until then; the release's state is read again, so
// the message says where things stand, and how to go on.
func (c *Client) stopped(why error, did string) error {
	state := "the release could not be read"
	if last, err := c.lastOrNone(); err == nil && last != nil {
		state = fmt.Sprintf("release %s is now at revision %d (%s)", ReleaseName, last.Version, last.Info.Status)
	} else if err == nil {
		state = fmt.Sprintf("there is no release %s now", ReleaseName)
	}
	next := "Run `romanactl status` to see what the other command did"
	var lost *lock.LostError
	if !errors.As(why, &lost) {
		next = "Run `romanactl status` to see where the release stands"
	}
	return &LeaseLostError{Why: why, msg: fmt.Sprintf("%v. This command wrote nothing after that: %s; %s. "+
		"%s; if the release is pending, `romanactl recover` ends it once no command holds the Lease",
		why, did, state, next)}
}

func takenOverWhy(h *lock.Holder) string {
	if time.Now().After(h.Expires) {
		return "expired at " + h.Expires.Format(time.RFC3339)
	}
	return "ran on this host and is gone"
}

// changedUnder is the error of a command that planned on one revision and, holding the
// Lease, found another: it writes nothing, so the other command's work stands.
func (c *Client) changedUnder(ctx context.Context, planned string, now *release.Release) error {
	who := ""
	if id, cmd, ended := lock.LastHolder(ctx, c.Kube, c.Namespace, ReleaseName); id != "" {
		who = fmt.Sprintf(" by %s (`romanactl %s`, done %s)", id, cmd, ended.Format(time.RFC3339))
	}
	state := "is gone"
	if now != nil {
		state = fmt.Sprintf("is now at revision %d (%s)", now.Version, now.Info.Status)
	}
	return fmt.Errorf("release %s in %s changed while this command was preparing: it planned on %s, and the release %s%s. "+
		"Nothing was written by this command; run it again to apply it on top of the current revision", ReleaseName, c.Namespace, planned, state, who)
}

// pendingError explains a release whose newest record is pending-*: a command holding
// the Lease is named; otherwise it is either a helm CLI at work or a killed command,
// and `romanactl recover` ends the latter. A command that holds the Lease itself
// (rollback, upgrade under the Lease) is no other command at work: naming the Lease's
// holder would name this very process, and a retry would say the same.
func (c *Client) pendingError(ctx context.Context, rel *release.Release) error {
	if c.lease == nil {
		if h, err := lock.Current(ctx, c.Kube, c.Namespace, ReleaseName); err == nil && h != nil {
			return &lock.HeldError{Release: ReleaseName, Namespace: c.Namespace, Holder: *h, Now: time.Now()}
		}
	}
	return fmt.Errorf("release %s in %s is %s at revision %d (since %s): an operation is in progress outside romanactl (a helm CLI), or one was killed. "+
		"If nothing is running, `romanactl recover` ends it safely (`romanactl recover --dry-run` shows how)",
		ReleaseName, c.Namespace, rel.Info.Status, rel.Version, rel.Info.LastDeployed.Format(time.RFC3339))
}

// helmPending recognises the Helm SDK's own pending-* refusal (its errPending is not
// exported), which a helm CLI running at the same time causes.
func helmPending(err error) bool {
	return err != nil && strings.Contains(err.Error(), "another operation (install/upgrade/rollback) is in progress")
}

// wroteRevision says whether this process stored revision version: Helm returns a
// release object on some failures before it stored anything, and another writer (a
// helm CLI) may have stored that version instead. Only a stored record with our
// timestamp is ours.
func (c *Client) wroteRevision(rel *release.Release, version int) bool {
	if rel == nil || rel.Info == nil {
		return false
	}
	stored, err := c.Cfg.Releases.Get(ReleaseName, version)
	if err != nil {
		return false
	}
	return stored.Info != nil && stored.Info.LastDeployed.Equal(rel.Info.LastDeployed)
}

// secretExists says whether the password Secret exists. Any answer but "found" or "not
// found" is an error: a failed read must never be taken for "absent", or a failed
// install would delete a password that the datastore on the hosts depends on.
func (c *Client) secretExists(ctx context.Context) (bool, error) {
	_, err := c.Kube.CoreV1().Secrets(c.Namespace).Get(ctx, PasswordSecret, metav1.GetOptions{})
	switch {
	case err == nil:
		return true, nil
	case apierrors.IsNotFound(err):
		return false, nil
	default:
		return false, fmt.Errorf("read Secret %s/%s (the datastore password) before any write: %w; nothing was written",
			c.Namespace, PasswordSecret, err)
	}
}

// servicesPodsSeen says whether any romana-services pod exists, or the DaemonSet ever
// scheduled one: such a pod may have initialised the datastore with the password.
// An error counts as "seen": when in doubt, the password is kept.
func (c *Client) servicesPodsSeen(ctx context.Context) bool {
	pods, err := c.Kube.CoreV1().Pods(c.Namespace).List(ctx, metav1.ListOptions{LabelSelector: "app=romana-services"})
	if err != nil || len(pods.Items) > 0 {
		return true
	}
	ds, err := c.Kube.AppsV1().DaemonSets(c.Namespace).Get(ctx, "romana-services", metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return false
	}
	return err != nil || ds.Status.CurrentNumberScheduled > 0 || ds.Status.NumberMisscheduled > 0
}

// manifestPassword is the base64 password of the Secret in a rendered manifest, "" if
// the manifest has none (the static-Pod form still has one).
func manifestPassword(manifest string) string {
	var obj struct {
		Data map[string]string `json:"data"`
	}
	if doc, ok := objects(manifest)["Secret/"+PasswordSecret]; !ok || yaml.Unmarshal([]byte(doc), &obj) != nil {
		return ""
	}
	return obj.Data["password"]
}

// checkPasswordKept refuses an operation whose manifest would put a different password
// in the Secret than the one deployed: the datastore on the hosts was initialised with
// the old one. It happens when someone deleted the Secret (the chart then generates a
// new password).
func checkPasswordKept(namespace, oldManifest, newManifest string) error {
	was, will := manifestPassword(oldManifest), manifestPassword(newManifest)
	if was == "" || will == "" || was == will {
		return nil
	}
	return values.Inputf("this would change the datastore password in Secret %s (was its Secret deleted?), and the datastore on the hosts "+
		"was initialised with the old one. Restore the Secret from the deployed revision first:\n"+
		"  helm get manifest %s -n %s | yq 'select(.kind == \"Secret\" and .metadata.name == \"%s\")' | kubectl apply -f -",
		PasswordSecret, ReleaseName, namespace, PasswordSecret)
}

// lastOrNone is the newest release record, or nil when there is none.
// Newest is the release's newest revision, or nil when there is none.
func (c *Client) Newest(ctx context.Context) (*release.Release, error) {
	last, err := c.newest(ctx)
	if errors.Is(err, driver.ErrReleaseNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read release history: %w", err)
	}
	return last, nil
}

func (c *Client) lastOrNone() (*release.Release, error) {
	last, err := c.Cfg.Releases.Last(ReleaseName)
	if errors.Is(err, driver.ErrReleaseNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read release history: %w", err)
	}
	return last, nil
}

// reachable asks the API server's /readyz with a short deadline. A failure path checks
// it before clean-up writes: against an API server that is gone, each of those would
// wait out the request timeout, and the command would run far past its --timeout.
func (c *Client) reachable(ctx context.Context) error {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 3*time.Second)
	defer cancel()
	return c.Kube.CoreV1().RESTClient().Get().AbsPath("/readyz").Do(rctx).Error()
}

func errOrOK(err error) string {
	if err != nil {
		return err.Error()
	}
	return "ok"
}
