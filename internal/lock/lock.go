// Package lock serialises romanactl's writes to one Helm release with a
// coordination.k8s.io/v1 Lease in the release's namespace.
//
// Helm's only guard is the pending-* status of the newest release record, which has no
// owner and no expiry: a killed helm leaves it for ever, and two helm processes that
// read the release at the same moment both go ahead. The Lease has an owner (user, host,
// pid), says what it runs and since when, and expires Duration after its last renewal,
// so a killed holder blocks others for at most Duration. A holder on this same host whose
// process is gone is taken over at once.
//
// The Lease is written with the API server's optimistic concurrency (resourceVersion):
// of two processes that find it free, exactly one create or update succeeds.
package lock

import (
	"context"
	"errors"
	"fmt"
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
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"
)

const (
	// Duration is how long a Lease lives after its last renewal. A killed holder
	// blocks other commands for at most this long.
	Duration = 15 * time.Second
	// RenewEvery is how often a holder renews: three renewals fit in one Duration, so
	// a slow API server does not make a live holder look dead.
	RenewEvery = 4 * time.Second

	annCommand = "romanactl.romana.io/command"
	annHost    = "romanactl.romana.io/host"
	annPID     = "romanactl.romana.io/pid"
	annUser    = "romanactl.romana.io/user"
	// annStart is the holder's process start time (clock ticks since boot, from
	// /proc/PID/stat): a pid the kernel reused for another process does not count as
	// the holder being alive.
	annStart = "romanactl.romana.io/pid-start"
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
	Since    time.Time // when it was acquired
	Renewed  time.Time // last renewal
	Expires  time.Time // Renewed + Duration
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
	return fmt.Sprintf("release %s in %s is locked by %s, running `romanactl %s` since %s (%s ago); "+
		"its Lease %s/%s expires at %s (in %s) unless renewed. Wait for it to finish, then run this command again",
		e.Release, e.Namespace, h.Identity, h.Command, h.Since.Format(time.RFC3339), e.Now.Sub(h.Since).Round(time.Second),
		e.Namespace, Name(e.Release), h.Expires.Format(time.RFC3339), left)
}

// Options tune Acquire. Zero values take the defaults.
type Options struct {
	Command    string
	Duration   time.Duration
	RenewEvery time.Duration
	// Now and Alive are for tests: the clock, and whether the process pid, started at
	// start ("" when unknown), still runs on this host.
	Now   func() time.Time
	Alive func(pid int, start string) bool
	Host  string
	PID   int
	User  string
}

func (o *Options) defaults() {
	if o.Duration == 0 {
		o.Duration = Duration
	}
	if o.RenewEvery == 0 {
		o.RenewEvery = RenewEvery
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Alive == nil {
		o.Alive = pidAlive
	}
	if o.Host == "" {
		o.Host, _ = os.Hostname()
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

// Lock is a held Lease.
type Lock struct {
	cs        kubernetes.Interface
	ns, name  string
	o         Options
	mu        sync.Mutex
	lease     *coordv1.Lease
	stop      chan struct{}
	done      chan struct{}
	lost      chan struct{}
	lostErr   error
	released  bool
	TakenOver *Holder // set when a dead or expired holder's Lease was taken over
}

// Acquire takes the release's Lease, or returns a *HeldError naming the live holder.
// A Lease that expired, or whose holder ran on this host and is gone, is taken over.
// On success a goroutine renews the Lease until Release.
func Acquire(ctx context.Context, cs kubernetes.Interface, namespace, release string, o Options) (*Lock, error) {
	o.defaults()
	l := &Lock{cs: cs, ns: namespace, name: Name(release), o: o,
		stop: make(chan struct{}), done: make(chan struct{}), lost: make(chan struct{})}
	leases := cs.CoordinationV1().Leases(namespace)
	now := o.Now()
	want := l.desired(nil, now)
	cur, err := leases.Get(ctx, l.name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		created, err := leases.Create(ctx, want, metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			return nil, l.heldNow(ctx, release)
		}
		if err != nil {
			return nil, fmt.Errorf("create Lease %s/%s: %w", namespace, l.name, err)
		}
		l.lease = created
	case err != nil:
		return nil, fmt.Errorf("read Lease %s/%s: %w", namespace, l.name, err)
	default:
		if h, live := l.liveHolder(cur, now); live {
			return nil, &HeldError{Release: release, Namespace: namespace, Holder: h, Now: now}
		} else if h.Identity != "" {
			l.TakenOver = &h
		}
		want = l.desired(cur, now)
		updated, err := leases.Update(ctx, want, metav1.UpdateOptions{})
		if apierrors.IsConflict(err) {
			// Someone else took it between our read and our write.
			return nil, l.heldNow(ctx, release)
		}
		if err != nil {
			return nil, fmt.Errorf("take Lease %s/%s: %w", namespace, l.name, err)
		}
		l.lease = updated
	}
	go l.renew()
	return l, nil
}

// heldNow reads the Lease after losing a race for it and reports its holder.
func (l *Lock) heldNow(ctx context.Context, release string) error {
	cur, err := l.cs.CoordinationV1().Leases(l.ns).Get(ctx, l.name, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("lost the race for Lease %s/%s, and cannot read it: %w", l.ns, l.name, err)
	}
	h := holderOf(cur, l.o.Duration)
	return &HeldError{Release: release, Namespace: l.ns, Holder: h, Now: l.o.Now()}
}

// liveHolder says who holds cur and whether that holder still counts.
func (l *Lock) liveHolder(cur *coordv1.Lease, now time.Time) (Holder, bool) {
	h := holderOf(cur, l.o.Duration)
	if h.Identity == "" {
		return h, false // released
	}
	if !now.Before(h.Expires) {
		return h, false // expired: its holder stopped renewing
	}
	if h.Host == l.o.Host && h.PID > 0 && !l.o.Alive(h.PID, cur.Annotations[annStart]) {
		return h, false // its process on this host is gone
	}
	return h, true
}

// LastHolder reports who released the Lease last, if anyone did.
func LastHolder(ctx context.Context, cs kubernetes.Interface, namespace, release string) (identity, command string, ended time.Time) {
	cur, err := cs.CoordinationV1().Leases(namespace).Get(ctx, Name(release), metav1.GetOptions{})
	if err != nil {
		return "", "", time.Time{}
	}
	a := cur.Annotations
	ended, _ = time.Parse(time.RFC3339, a[annLastEnded])
	return a[annLastHolder], a[annLastCommand], ended
}

// Current reports the live holder of the release's Lease, if there is one.
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
	if h, live := l.liveHolder(cur, time.Now()); live {
		return &h, nil
	}
	return nil, nil
}

func holderOf(cur *coordv1.Lease, d time.Duration) Holder {
	h := Holder{}
	if cur.Spec.HolderIdentity != nil {
		h.Identity = *cur.Spec.HolderIdentity
	}
	a := cur.Annotations
	h.Command, h.Host, h.User = a[annCommand], a[annHost], a[annUser]
	h.PID, _ = strconv.Atoi(a[annPID])
	if cur.Spec.AcquireTime != nil {
		h.Since = cur.Spec.AcquireTime.Time
	}
	if cur.Spec.RenewTime != nil {
		h.Renewed = cur.Spec.RenewTime.Time
	}
	if cur.Spec.LeaseDurationSeconds != nil {
		d = time.Duration(*cur.Spec.LeaseDurationSeconds) * time.Second
	}
	h.Expires = h.Renewed.Add(d)
	return h
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
	id := fmt.Sprintf("%s@%s pid %d", l.o.User, l.o.Host, l.o.PID)
	secs := int32(l.o.Duration / time.Second)
	t := metav1.NewMicroTime(now)
	lease.Spec.HolderIdentity = &id
	lease.Spec.LeaseDurationSeconds = &secs
	lease.Spec.AcquireTime = &t
	lease.Spec.RenewTime = &t
	lease.Annotations[annCommand] = l.o.Command
	lease.Annotations[annHost] = l.o.Host
	lease.Annotations[annPID] = strconv.Itoa(l.o.PID)
	lease.Annotations[annUser] = l.o.User
	if st := processStart(l.o.PID); st != "" {
		lease.Annotations[annStart] = st
	} else {
		delete(lease.Annotations, annStart)
	}
	return lease
}

// renew keeps the Lease alive until Release. If a renewal finds the Lease taken by
// someone else (it expired while this process could not reach the API server), the
// lock is lost: Lost is closed and the caller must stop writing.
func (l *Lock) renew() {
	defer close(l.done)
	t := time.NewTicker(l.o.RenewEvery)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), l.o.RenewEvery)
		l.mu.Lock()
		next := l.lease.DeepCopy()
		rt := metav1.NewMicroTime(l.o.Now())
		next.Spec.RenewTime = &rt
		updated, err := l.cs.CoordinationV1().Leases(l.ns).Update(ctx, next, metav1.UpdateOptions{})
		cancel()
		if err == nil {
			l.lease = updated
		} else if apierrors.IsConflict(err) || apierrors.IsNotFound(err) {
			l.lostErr = fmt.Errorf("lost Lease %s/%s: another command took it after it expired (this command could not renew it in time)", l.ns, l.name)
			close(l.lost)
			l.mu.Unlock()
			return
		}
		// Other errors (API server unreachable): keep trying; the Lease stays ours until
		// it expires, and a conflict on a later renewal tells us if it was taken.
		l.mu.Unlock()
	}
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

// Release stops renewing and frees the Lease, recording this process as its last
// holder. It is safe to call more than once; a Lease that was lost is left alone.
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
	next := l.lease.DeepCopy()
	next.Annotations[annLastHolder] = *next.Spec.HolderIdentity
	next.Annotations[annLastCommand] = next.Annotations[annCommand]
	next.Annotations[annLastEnded] = l.o.Now().UTC().Format(time.RFC3339)
	for _, k := range []string{annCommand, annHost, annPID, annUser, annStart} {
		delete(next.Annotations, k)
	}
	next.Spec.HolderIdentity = nil
	next.Spec.AcquireTime, next.Spec.RenewTime = nil, nil
	// A transient failure (the API server restarting) is retried a few times; a
	// conflict or a vanished Lease means it is someone else's already.
	backoff := wait.Backoff{Steps: 3, Duration: 200 * time.Millisecond, Factor: 1}
	err := retry.OnError(backoff, func(err error) bool {
		return !apierrors.IsConflict(err) && !apierrors.IsNotFound(err) && ctx.Err() == nil
	}, func() error {
		_, err := l.cs.CoordinationV1().Leases(l.ns).Update(ctx, next, metav1.UpdateOptions{})
		return err
	})
	if apierrors.IsConflict(err) || apierrors.IsNotFound(err) {
		return nil // someone else's now
	}
	return err
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

// CommandLine joins a command's words for the Lease record.
func CommandLine(args []string) string { return strings.Join(args, " ") }
