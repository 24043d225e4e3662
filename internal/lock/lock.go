// Package lock serialises romanactl's writes to one Helm release with a
// coordination.k8s.io/v1 Lease in the release's namespace.
//
// Helm's only guard is the pending-* status of the newest release record, which has no
// owner and no expiry: a killed helm leaves it for ever, and two helm processes that
// read the release at the same moment both go ahead. The Lease has an owner (user, host,
// pid), says what it runs and since when, and lapses Duration after it stops changing,
// so a killed holder blocks others for a bounded time. A holder on this same host (the
// same boot and pid namespace) whose process is gone is taken over at once.
//
// Expiry is judged as client-go's leader election judges it: from when this reader
// last saw the Lease change, on the reader's own clock. The holder's renewTime comes
// from the holder's clock, and two operators' clocks may differ by more than Duration;
// comparing it with ours would let a live holder be taken over.
//
// The Lease is written with the API server's optimistic concurrency (resourceVersion):
// of two processes that find it free, exactly one create or update succeeds.
package lock

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/user"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	coordv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

const (
	// Duration is how long a Lease lives once it stops changing. A killed holder
	// blocks other commands for at most about twice this long (see Acquire).
	Duration = 15 * time.Second
	// RenewEvery is how often a holder renews: three renewals fit in one Duration, so
	// a slow API server does not make a live holder look dead.
	RenewEvery = 4 * time.Second
	// Poll is how often Acquire re-reads a Lease that it watches for expiry.
	Poll = time.Second

	annCommand = "romanactl.romana.io/command"
	annHost    = "romanactl.romana.io/host"
	annPID     = "romanactl.romana.io/pid"
	annUser    = "romanactl.romana.io/user"
	// annHostID is the holder's boot id and pid namespace: containers that share a
	// hostname but not a pid namespace cannot judge each other's pids, and a host
	// that rebooted has none of the old pids.
	annHostID = "romanactl.romana.io/host-id"
	// annStart is the holder's process start time (clock ticks since boot, from
	// /proc/PID/stat): a pid the kernel reused for another process does not count as
	// the holder being alive.
	annStart = "romanactl.romana.io/pid-start"
	// annToken is random per acquisition: after a Conflict, a holder recognises its
	// own Lease by it, even if another process has the same user, hostname and pid.
	annToken = "romanactl.romana.io/token"
	// annLast* record who held the Lease last, after it is released: a command that
	// planned on an older revision can then say who changed the release under it.
	annLastHolder  = "romanactl.romana.io/last-holder"
	annLastCommand = "romanactl.romana.io/last-command"
	annLastEnded   = "romanactl.romana.io/last-ended"
)

// Name is the Lease's name for a release.
func Name(release string) string { return "romanactl-" + release }

// Holder describes who holds (or held) a Lease.
type Holder struct {
	Identity string    // user@host pid N
	User     string    //
	Host     string    //
	PID      int       //
	Command  string    // e.g. "upgrade --tag=v0.9.3"
	Since    time.Time // when it was acquired (the holder's clock)
	Renewed  time.Time // last renewal (the holder's clock)
	// Expires is when this reader would take the Lease over if it saw no renewal
	// before: on the reader's clock.
	Expires time.Time
}

// HeldError is returned when another live holder has the Lease. It is an operational
// failure (exit 1): running the command again later is the fix.
type HeldError struct {
	Release, Namespace string
	Holder             Holder
	Now                time.Time
}

func (e *HeldError) Error() string {
	h := e.Holder
	left := h.Expires.Sub(e.Now).Round(time.Second)
	if left < 0 {
		left = 0
	}
	ago := e.Now.Sub(h.Since).Round(time.Second)
	if ago < 0 {
		ago = 0 // the holder's clock is ahead of ours
	}
	return fmt.Sprintf("release %s in %s is locked by %s, running `romanactl %s` since %s (%s ago); "+
		"its Lease %s/%s expires at %s (in %s) unless renewed. Wait for it to finish, then run this command again",
		e.Release, e.Namespace, h.Identity, h.Command, h.Since.Format(time.RFC3339), ago,
		e.Namespace, Name(e.Release), h.Expires.Format(time.RFC3339), left)
}

// LostError says that another command holds the Lease this process held: this
// process must not write to the release any more.
type LostError struct {
	Namespace, Name string
	// By is the new holder's identity and command ("" when the Lease was deleted).
	By, Command string
}

func (e *LostError) Error() string {
	if e.By == "" {
		return fmt.Sprintf("lost Lease %s/%s: it was deleted while this command held it", e.Namespace, e.Name)
	}
	return fmt.Sprintf("lost Lease %s/%s to %s (`romanactl %s`): another command holds it now, as happens when this command's renewals do not reach the API server for %s",
		e.Namespace, e.Name, e.By, e.Command, Duration)
}

// Options tune Acquire. Zero values take the defaults.
type Options struct {
	Command    string
	Duration   time.Duration
	RenewEvery time.Duration
	Poll       time.Duration
	// Now, Sleep and Alive are for tests: the clock, a pause on it, and whether the
	// process pid, started at start ("" when unknown), still runs on this host.
	Now   func() time.Time
	Sleep func(ctx context.Context, d time.Duration) error
	Alive func(pid int, start string) bool
	// Host is the hostname, shown to people; HostID decides "the same host" (boot id
	// and pid namespace; "" when unknown: then no holder counts as on this host).
	Host   string
	HostID string
	PID    int
	User   string
	// Watching is told when Acquire watches a Lease that looks lapsed, before it
	// takes it over (a progress line for the user; it may wait up to Duration).
	Watching func(h Holder, until time.Time)
}

func (o *Options) defaults() {
	if o.Duration == 0 {
		o.Duration = Duration
	}
	if o.RenewEvery == 0 {
		o.RenewEvery = RenewEvery
	}
	if o.Poll == 0 {
		o.Poll = Poll
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Sleep == nil {
		o.Sleep = sleep
	}
	if o.Alive == nil {
		o.Alive = pidAlive
	}
	if o.Host == "" {
		o.Host, _ = os.Hostname()
	}
	if o.HostID == "" {
		o.HostID = HostID()
	}
	if o.PID == 0 {
		o.PID = os.Getpid()
	}
	if o.User == "" {
		if u, err := user.Current(); err == nil {
			o.User = u.Username
		} else {
			o.User = "uid" + strconv.Itoa(os.Getuid())
		}
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Lock is a held Lease.
type Lock struct {
	cs       kubernetes.Interface
	ns, name string
	o        Options
	token    string
	// mu guards lease, confirmed and released, and serialises writes of the Lease.
	mu    sync.Mutex
	lease *coordv1.Lease
	// confirmed is when the last write of the Lease that the API server confirmed was
	// sent, on this process's clock: no other reader can take the Lease over before
	// confirmed+Duration.
	confirmed time.Time
	released  bool
	stop      chan struct{}
	done      chan struct{}
	lost      chan struct{}
	lostOnce  sync.Once
	lostErr   error
	TakenOver *Holder // set when a lapsed or dead holder's Lease was taken over
}

// Acquire takes the release's Lease, or returns a *HeldError naming the live holder.
//
// A released Lease is taken at once, and so is one whose holder ran on this host and
// is gone. Any other holder is judged by what this process sees: a Lease whose renewTime
// is recent by this clock is refused at once (its holder is probably alive); one that
// looks lapsed (or whose renewTime is far in this clock's future) is watched, and taken
// over only when it has not changed for Duration on this clock. A renewal seen while
// watching means the holder is alive: refused.
//
// On success a goroutine renews the Lease until Release.
func Acquire(ctx context.Context, cs kubernetes.Interface, namespace, release string, o Options) (*Lock, error) {
	o.defaults()
	l := &Lock{cs: cs, ns: namespace, name: Name(release), o: o, token: newToken(),
		stop: make(chan struct{}), done: make(chan struct{}), lost: make(chan struct{})}
	leases := cs.CoordinationV1().Leases(namespace)
	var observedRV string
	var observedAt time.Time
	watching := false
	for {
		now := o.Now()
		cur, err := leases.Get(ctx, l.name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			created, err := leases.Create(ctx, l.desired(nil, now), metav1.CreateOptions{})
			if apierrors.IsAlreadyExists(err) {
				continue // another command created it first: judge it
			}
			if err != nil {
				if created = l.landed(ctx); created == nil {
					return nil, fmt.Errorf("create Lease %s/%s: %w", namespace, l.name, err)
				}
			}
			l.lease, l.confirmed = created, now
			break
		}
		if err != nil {
			return nil, fmt.Errorf("read Lease %s/%s: %w", namespace, l.name, err)
		}
		changed := cur.ResourceVersion != observedRV
		if changed {
			observedRV, observedAt = cur.ResourceVersion, now
		}
		h := holderOf(cur, o.Duration, observedAt)
		switch {
		case h.Identity == "":
			// Released: free.
		case l.sameHostDead(cur, h):
			l.TakenOver = &h
		case watching && changed:
			// It changed while we watched it: its holder renews, so it is alive.
			return nil, &HeldError{Release: release, Namespace: namespace, Holder: h, Now: now}
		case !watching && l.looksFresh(h, now):
			h.Expires = h.Renewed.Add(l.leaseDuration(cur))
			return nil, &HeldError{Release: release, Namespace: namespace, Holder: h, Now: now}
		case now.Sub(observedAt) < l.leaseDuration(cur):
			if !watching && o.Watching != nil {
				o.Watching(h, observedAt.Add(l.leaseDuration(cur)))
			}
			watching = true
			if err := o.Sleep(ctx, o.Poll); err != nil {
				return nil, fmt.Errorf("watch Lease %s/%s held by %s: %w", namespace, l.name, h.Identity, err)
			}
			continue
		default:
			// Unchanged for a whole lease duration on our clock: its holder stopped.
			l.TakenOver = &h
		}
		updated, err := leases.Update(ctx, l.desired(cur, now), metav1.UpdateOptions{})
		if apierrors.IsConflict(err) {
			// Someone else wrote it between our read and our write: judge it again.
			l.TakenOver = nil
			continue
		}
		if err != nil {
			if updated = l.landed(ctx); updated == nil {
				return nil, fmt.Errorf("take Lease %s/%s: %w", namespace, l.name, err)
			}
		}
		l.lease, l.confirmed = updated, now
		break
	}
	go l.renew()
	return l, nil
}

// landed reads the Lease after a write whose answer was an error: the API server may
// have applied it and the answer been lost on the way. It returns the Lease if it is
// this process's now, else nil.
func (l *Lock) landed(ctx context.Context) *coordv1.Lease {
	cur, err := l.cs.CoordinationV1().Leases(l.ns).Get(ctx, l.name, metav1.GetOptions{})
	if err != nil || !l.ours(cur) {
		return nil
	}
	return cur
}

// looksFresh: the holder's last renewal, read on our clock, is within one lease
// duration (a little into our future included, for clocks that differ slightly). It is
// a reason to refuse at once, never one to take over.
func (l *Lock) looksFresh(h Holder, now time.Time) bool {
	return h.Renewed.After(now.Add(-l.o.Duration)) && h.Renewed.Before(now.Add(l.o.Duration))
}

// sameHostDead: the holder ran on this host (same boot, same pid namespace) and its
// process is gone.
func (l *Lock) sameHostDead(cur *coordv1.Lease, h Holder) bool {
	id := cur.Annotations[annHostID]
	return id != "" && id == l.o.HostID && h.PID > 0 && !l.o.Alive(h.PID, cur.Annotations[annStart])
}

func (l *Lock) leaseDuration(cur *coordv1.Lease) time.Duration {
	if cur.Spec.LeaseDurationSeconds != nil && *cur.Spec.LeaseDurationSeconds > 0 {
		return time.Duration(*cur.Spec.LeaseDurationSeconds) * time.Second
	}
	return l.o.Duration
}

// LastHolder reports who released the Lease last, if anyone did.
func LastHolder(ctx context.Context, cs kubernetes.Interface, namespace, release string) (identity, command string, ended time.Time) {
	cur, err := cs.CoordinationV1().Leases(namespace).Get(ctx, Name(release), metav1.GetOptions{})
	if err != nil {
		return "", "", time.Time{}
	}
	a := cur.Annotations
	ended, _ = time.Parse(time.RFC3339, a[annLastEnded])
	return a[annLastHolder], RedactCommand(a[annLastCommand]), ended
}

// Current reports the holder of the release's Lease for messages (status, a pending
// release), from one read: a released Lease, a dead holder on this host, and one whose
// renewTime looks lapsed on this clock count as no holder. It is a hint for people and
// decides nothing: only Acquire takes a Lease over, and it watches first.
func Current(ctx context.Context, cs kubernetes.Interface, namespace, release string) (*Holder, error) {
	cur, err := cs.CoordinationV1().Leases(namespace).Get(ctx, Name(release), metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	l := &Lock{o: Options{}}
	l.o.defaults()
	now := l.o.Now()
	h := holderOf(cur, l.o.Duration, time.Time{})
	h.Expires = h.Renewed.Add(l.leaseDuration(cur))
	if h.Identity == "" || l.sameHostDead(cur, h) || !l.looksFresh(h, now) {
		return nil, nil
	}
	return &h, nil
}

// holderOf reads the holder from a Lease; Expires is observed+duration.
func holderOf(cur *coordv1.Lease, d time.Duration, observed time.Time) Holder {
	h := Holder{}
	if cur.Spec.HolderIdentity != nil {
		h.Identity = *cur.Spec.HolderIdentity
	}
	a := cur.Annotations
	// Redacted on reading too: a Lease written by an older romanactl may carry a
	// credential in its command line.
	h.Command, h.Host, h.User = RedactCommand(a[annCommand]), a[annHost], a[annUser]
	h.PID, _ = strconv.Atoi(a[annPID])
	if cur.Spec.AcquireTime != nil {
		h.Since = cur.Spec.AcquireTime.Time
	}
	if cur.Spec.RenewTime != nil {
		h.Renewed = cur.Spec.RenewTime.Time
	}
	if cur.Spec.LeaseDurationSeconds != nil && *cur.Spec.LeaseDurationSeconds > 0 {
		d = time.Duration(*cur.Spec.LeaseDurationSeconds) * time.Second
	}
	h.Expires = observed.Add(d)
	return h
}

func (l *Lock) identity() string { return fmt.Sprintf("%s@%s pid %d", l.o.User, l.o.Host, l.o.PID) }

// ours: cur is the Lease as this process holds it (perhaps at a newer version than
// the one it last saw, when the answer to a write was lost).
func (l *Lock) ours(cur *coordv1.Lease) bool {
	return cur.Spec.HolderIdentity != nil && *cur.Spec.HolderIdentity == l.identity() && cur.Annotations[annToken] == l.token
}

// desired is the Lease as this process holds it, built on cur (nil: a new one).
func (l *Lock) desired(cur *coordv1.Lease, now time.Time) *coordv1.Lease {
	lease := &coordv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: l.name, Namespace: l.ns}}
	if cur != nil {
		lease = cur.DeepCopy()
	}
	if lease.Annotations == nil {
		lease.Annotations = map[string]string{}
	}
	if lease.Labels == nil {
		lease.Labels = map[string]string{}
	}
	lease.Labels["app.kubernetes.io/managed-by"] = "romanactl"
	id := l.identity()
	secs := int32(l.o.Duration / time.Second)
	t := metav1.NewMicroTime(now)
	lease.Spec.HolderIdentity = &id
	lease.Spec.LeaseDurationSeconds = &secs
	lease.Spec.AcquireTime = &t
	lease.Spec.RenewTime = &t
	lease.Annotations[annCommand] = RedactCommand(l.o.Command)
	lease.Annotations[annHost] = l.o.Host
	lease.Annotations[annPID] = strconv.Itoa(l.o.PID)
	lease.Annotations[annUser] = l.o.User
	lease.Annotations[annToken] = l.token
	setOrDelete(lease.Annotations, annHostID, l.o.HostID)
	setOrDelete(lease.Annotations, annStart, processStart(l.o.PID))
	return lease
}

func setOrDelete(m map[string]string, k, v string) {
	if v == "" {
		delete(m, k)
		return
	}
	m[k] = v
}

// renew keeps the Lease alive until Release. If a renewal finds the Lease held by
// another command (it lapsed while this process could not reach the API server), the
// lock is lost: Lost is closed and the caller must stop writing.
func (l *Lock) renew() {
	defer close(l.done)
	t := time.NewTicker(l.o.RenewEvery)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-l.lost:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), l.o.RenewEvery)
		_ = l.renewNow(ctx)
		cancel()
	}
}

// renewNow is one renewal.
func (l *Lock) renewNow(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.renewLocked(ctx)
}

// renewLocked writes a new renewTime. A Conflict or NotFound does not by itself mean
// the Lease is lost: the answer to an earlier renewal that the API server applied may
// have been lost, so the Lease is read again, and it is lost only when another holder
// has it (or it is gone). Other errors (API server unreachable) are returned and the
// Lease stays ours until it lapses; a later renewal tells. l.mu is held.
func (l *Lock) renewLocked(ctx context.Context) error {
	if err := l.LostErr(); err != nil {
		return err
	}
	leases := l.cs.CoordinationV1().Leases(l.ns)
	base := l.lease
	for attempt := 0; ; attempt++ {
		sent := l.o.Now()
		next := base.DeepCopy()
		rt := metav1.NewMicroTime(sent)
		next.Spec.RenewTime = &rt
		updated, err := leases.Update(ctx, next, metav1.UpdateOptions{})
		if err == nil {
			l.lease, l.confirmed = updated, sent
			return nil
		}
		if !apierrors.IsConflict(err) && !apierrors.IsNotFound(err) {
			return fmt.Errorf("renew Lease %s/%s: %w", l.ns, l.name, err)
		}
		cur, gerr := leases.Get(ctx, l.name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(gerr):
			return l.markLost(&LostError{Namespace: l.ns, Name: l.name})
		case gerr != nil:
			return fmt.Errorf("renew Lease %s/%s: %v; reading it again: %w", l.ns, l.name, err, gerr)
		case !l.ours(cur):
			h := holderOf(cur, l.o.Duration, time.Time{})
			return l.markLost(&LostError{Namespace: l.ns, Name: l.name, By: h.Identity, Command: h.Command})
		case attempt >= 2:
			return fmt.Errorf("renew Lease %s/%s: still conflicting after reading it again: %w", l.ns, l.name, err)
		}
		// Still ours, at a version we did not see: renew on top of it.
		l.lease, base = cur, cur
	}
}

func (l *Lock) markLost(err error) error {
	l.lostOnce.Do(func() {
		l.lostErr = err
		close(l.lost)
	})
	return l.LostErr()
}

// Lost is closed when the Lease was taken by another command.
func (l *Lock) Lost() <-chan struct{} { return l.lost }

// LostErr says why the lock was lost (nil while it is held).
func (l *Lock) LostErr() error {
	select {
	case <-l.lost:
		return l.lostErr
	default:
		return nil
	}
}

// Check says whether this process may write now. It is nil when the API server
// confirmed a renewal recently enough that no other reader can have taken the Lease
// over; otherwise it renews at once and reports the outcome: a *LostError when
// another command holds the Lease, another error when the renewal could not be made.
func (l *Lock) Check(ctx context.Context) error {
	if err := l.LostErr(); err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.released {
		return fmt.Errorf("the Lease %s/%s was released already", l.ns, l.name)
	}
	if l.o.Now().Sub(l.confirmed) < l.o.Duration/2 {
		return nil
	}
	return l.renewLocked(ctx)
}

// Release stops renewing and frees the Lease, recording this process as its last
// holder. It is safe to call more than once; a Lease that was lost is left alone. A
// Conflict is judged as in renewal: the Lease is read again, and released if it is
// still ours.
func (l *Lock) Release(ctx context.Context) error {
	l.mu.Lock()
	if l.released {
		l.mu.Unlock()
		return nil
	}
	l.released = true
	l.mu.Unlock()
	close(l.stop)
	<-l.done
	if l.LostErr() != nil {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	leases := l.cs.CoordinationV1().Leases(l.ns)
	base := l.lease
	var err error
	for attempt := 0; attempt < 4 && ctx.Err() == nil; attempt++ {
		if attempt > 0 {
			_ = l.o.Sleep(ctx, 200*time.Millisecond)
		}
		_, err = leases.Update(ctx, l.releasedCopy(base), metav1.UpdateOptions{})
		if err == nil {
			return nil
		}
		if !apierrors.IsConflict(err) && !apierrors.IsNotFound(err) {
			continue // transient (the API server restarting): try again
		}
		cur, gerr := leases.Get(ctx, l.name, metav1.GetOptions{})
		if apierrors.IsNotFound(gerr) || (gerr == nil && !l.ours(cur)) {
			return nil // someone else's now, or gone
		}
		if gerr == nil {
			base = cur // ours at a version whose answer we lost
		}
	}
	if err == nil {
		err = ctx.Err() // never tried: the caller gave no time
	}
	if err != nil {
		return fmt.Errorf("release Lease %s/%s: %w", l.ns, l.name, err)
	}
	return nil
}

// Delete stops renewing and deletes the Lease, if it is still this process's: what an
// uninstall does last, since with no release left there is nothing to lock, and a
// Lease left behind is an object of Romana's in the namespace that nothing removes.
// The delete is conditional on the Lease's resourceVersion (and uid), so a Lease
// another command took meanwhile is left to it; after it, Release does nothing. A
// Lease that was lost is left alone, as Release leaves it.
func (l *Lock) Delete(ctx context.Context) error {
	l.mu.Lock()
	if l.released {
		l.mu.Unlock()
		return fmt.Errorf("the Lease %s/%s was released already", l.ns, l.name)
	}
	l.released = true
	l.mu.Unlock()
	close(l.stop)
	<-l.done
	if err := l.LostErr(); err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	leases := l.cs.CoordinationV1().Leases(l.ns)
	base := l.lease
	var err error
	for attempt := 0; attempt < 4 && ctx.Err() == nil; attempt++ {
		if attempt > 0 {
			_ = l.o.Sleep(ctx, 200*time.Millisecond)
		}
		rv, uid := base.ResourceVersion, base.UID
		err = leases.Delete(ctx, l.name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{ResourceVersion: &rv, UID: &uid}})
		if err == nil || apierrors.IsNotFound(err) {
			return nil
		}
		if !apierrors.IsConflict(err) {
			continue // transient (the API server restarting): try again
		}
		cur, gerr := leases.Get(ctx, l.name, metav1.GetOptions{})
		if apierrors.IsNotFound(gerr) {
			return nil
		}
		if gerr == nil && !l.ours(cur) {
			return fmt.Errorf("the Lease %s/%s is another command's now: %w", l.ns, l.name, err)
		}
		if gerr == nil {
			base = cur // ours at a version whose answer we lost
		}
	}
	if err == nil {
		err = ctx.Err()
	}
	// Not deleted: released at least, so that the next command need not wait it out.
	if _, uerr := leases.Update(ctx, l.releasedCopy(base), metav1.UpdateOptions{}); uerr == nil {
		return fmt.Errorf("delete Lease %s/%s: %w (it was released)", l.ns, l.name, err)
	}
	return fmt.Errorf("delete Lease %s/%s: %w", l.ns, l.name, err)
}

// releasedCopy is base as a released Lease that remembers this process as its last holder.
func (l *Lock) releasedCopy(base *coordv1.Lease) *coordv1.Lease {
	next := base.DeepCopy()
	next.Annotations[annLastHolder] = l.identity()
	next.Annotations[annLastCommand] = RedactCommand(l.o.Command)
	next.Annotations[annLastEnded] = l.o.Now().UTC().Format(time.RFC3339)
	for _, k := range []string{annCommand, annHost, annPID, annUser, annStart, annHostID, annToken} {
		delete(next.Annotations, k)
	}
	next.Spec.HolderIdentity = nil
	next.Spec.AcquireTime, next.Spec.RenewTime = nil, nil
	return next
}

func newToken() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// HostID identifies this host for "is the holder's pid still running": the boot id
// (a reboot ends every pid) and this process's pid namespace (containers sharing a
// hostname see different pids). "" when /proc cannot tell.
func HostID() string {
	boot, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return ""
	}
	ns, err := os.Readlink("/proc/self/ns/pid")
	if err != nil {
		return ""
	}
	return hostID(strings.TrimSpace(string(boot)), ns)
}

func hostID(boot, pidns string) string {
	if boot == "" || pidns == "" {
		return ""
	}
	return boot + " " + pidns
}

// pidAlive says whether the process pid runs on this host and, when start is known,
// is the same process that took the Lease (not a later one that got the pid).
func pidAlive(pid int, start string) bool {
	err := syscall.Kill(pid, 0)
	if err != nil && !errors.Is(err, syscall.EPERM) {
		return false
	}
	if start == "" {
		return true
	}
	now := processStart(pid)
	return now == "" || now == start
}

// processStart is a process's start time in clock ticks since boot (field 22 of
// /proc/PID/stat), "" where /proc cannot tell.
func processStart(pid int) string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return ""
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return ""
	}
	f := strings.Fields(s[i+1:])
	// After "pid (comm)", field 3 (state) is f[0]; starttime, field 22, is f[19].
	if len(f) < 20 {
		return ""
	}
	return f[19]
}

// CommandLine joins a command's words for the Lease record, with any credential in a
// URL (user:password@) removed.
func CommandLine(args []string) string { return RedactCommand(strings.Join(args, " ")) }

// RedactCommand removes the user information (user:password@) of every URL in a
// recorded command line: a --chart or a --set value may be such a URL, and the Lease is
// readable by anyone who may read Leases in the namespace.
func RedactCommand(cmd string) string {
	words := strings.Split(cmd, " ")
	for i, w := range words {
		words[i] = redactWord(w)
	}
	return strings.Join(words, " ")
}

// redactWord redacts "scheme://user:pass@host…" wherever it starts in w (after
// "--flag=" or "key=").
func redactWord(w string) string {
	i := strings.Index(w, "://")
	if i < 0 {
		return w
	}
	start := strings.LastIndexAny(w[:i], "=,") + 1
	u, err := url.Parse(w[start:])
	if err != nil || u.User == nil {
		// Unparseable: drop everything between :// and the last @ of the host part.
		rest := w[i+3:]
		if at := strings.LastIndexByte(strings.SplitN(rest, "/", 2)[0], '@'); at >= 0 {
			return w[:i+3] + "REDACTED@" + rest[at+1:]
		}
		return w
	}
	u.User = url.User("REDACTED")
	return w[:start] + u.String()
}
