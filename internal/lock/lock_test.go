package lock

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	coordv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

// These tests cover the lock's own decisions (who holds it, when it is free, when it
// is lost) with an injected clock and a fake API server for Leases that enforces
// resourceVersion, as the real one does, and can apply a write but lose its answer.
// The race between real processes is tested against the real API server in
// cmd/romanactl.

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// skewed is this clock read by a machine whose clock is off by off.
func (c *clock) skewed(off time.Duration) func() time.Time {
	return func() time.Time { return c.now().Add(off) }
}

var t0 = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

// leaseServer is a fake API server for Leases: every write must carry the stored
// resourceVersion (else 409 Conflict), and dropAnswers makes the next creates or
// updates apply but answer with a timeout, as when a connection is lost after the server wrote.
type leaseServer struct {
	mu          sync.Mutex
	leases      map[string]*coordv1.Lease
	rv          int
	dropAnswers int
	updates     int
}

var leaseGR = schema.GroupResource{Group: "coordination.k8s.io", Resource: "leases"}

func newServer() (*leaseServer, *fake.Clientset) {
	s := &leaseServer{leases: map[string]*coordv1.Lease{}}
	cs := fake.NewClientset()
	cs.PrependReactor("*", "leases", s.react)
	return s, cs
}

func (s *leaseServer) react(a k8stesting.Action) (bool, runtime.Object, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	key := a.GetNamespace() + "/"
	// By verb: an UpdateAction is also a CreateAction (both carry an object).
	switch a.GetVerb() {
	case "get":
		a := a.(k8stesting.GetAction)
		cur, ok := s.leases[key+a.GetName()]
		if !ok {
			return true, nil, apierrors.NewNotFound(leaseGR, a.GetName())
		}
		return true, cur.DeepCopy(), nil
	case "create":
		obj := a.(k8stesting.CreateAction).GetObject().(*coordv1.Lease).DeepCopy()
		if _, ok := s.leases[key+obj.Name]; ok {
			return true, nil, apierrors.NewAlreadyExists(leaseGR, obj.Name)
		}
		s.rv++
		obj.ResourceVersion = strconv.Itoa(s.rv)
		s.leases[key+obj.Name] = obj
		if s.dropAnswers > 0 {
			s.dropAnswers--
			return true, nil, apierrors.NewTimeoutError("the answer was lost", 1)
		}
		return true, obj.DeepCopy(), nil
	case "update":
		obj := a.(k8stesting.UpdateAction).GetObject().(*coordv1.Lease).DeepCopy()
		cur, ok := s.leases[key+obj.Name]
		if !ok {
			return true, nil, apierrors.NewNotFound(leaseGR, obj.Name)
		}
		if obj.ResourceVersion != cur.ResourceVersion {
			return true, nil, apierrors.NewConflict(leaseGR, obj.Name, errors.New("the object has been modified; please apply your changes to the latest version and try again"))
		}
		s.rv++
		s.updates++
		obj.ResourceVersion = strconv.Itoa(s.rv)
		s.leases[key+obj.Name] = obj
		if s.dropAnswers > 0 {
			s.dropAnswers--
			return true, nil, apierrors.NewTimeoutError("the answer was lost", 1)
		}
		return true, obj.DeepCopy(), nil
	case "delete":
		delete(s.leases, key+a.(k8stesting.DeleteAction).GetName())
		return true, nil, nil
	}
	return false, nil, nil
}

func (s *leaseServer) get(ns string) *coordv1.Lease {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.leases[ns+"/romanactl-romana"].DeepCopy()
}

// steal writes the Lease as another holder would, straight into the store.
func (s *leaseServer) steal(ns, who string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cur := s.leases[ns+"/romanactl-romana"]
	cur.Spec.HolderIdentity = &who
	cur.Annotations[annCommand] = "upgrade --tag=theirs"
	cur.Annotations[annToken] = "theirs"
	s.rv++
	cur.ResourceVersion = strconv.Itoa(s.rv)
}

// opts are one process's options: its clock, where it runs, and whether the holder
// pids it asks about run. Sleep advances the shared clock (and runs during, the other
// processes' doings while this one watches).
func opts(c *clock, now func() time.Time, host, hostID string, pid int, alive bool, during func()) Options {
	if now == nil {
		now = c.now
	}
	return Options{Command: "upgrade --tag=v1", Now: now, Host: host, HostID: hostID, PID: pid, User: "ops",
		Alive: func(int, string) bool { return alive }, RenewEvery: time.Hour,
		Sleep: func(_ context.Context, d time.Duration) error {
			c.add(d)
			if during != nil {
				during()
			}
			return nil
		}}
}

func TestSecondHolderIsRefusedWithTheHolderNamed(t *testing.T) {
	_, cs := newServer()
	c := &clock{t: t0}
	l, err := Acquire(context.Background(), cs, "kube-system", "romana", opts(c, nil, "host-a", "boot-a ns-a", 100, true, nil))
	if err != nil {
		t.Fatal(err)
	}
	c.add(5 * time.Second)
	_, err = Acquire(context.Background(), cs, "kube-system", "romana", opts(c, nil, "host-b", "boot-b ns-b", 200, true, nil))
	var held *HeldError
	if !errors.As(err, &held) {
		t.Fatalf("want a HeldError, got %v", err)
	}
	for _, want := range []string{"locked by ops@host-a pid 100", "`romanactl upgrade --tag=v1`", "since 2026-11-27T12:00:00Z (5s ago)",
		"Lease kube-system/romanactl-romana expires at 2026-11-27T12:00:15Z (in 10s)"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in: %v", want, err)
		}
	}
	// Released, it is free, and it remembers who had it.
	if err := l.Release(context.Background()); err != nil {
		t.Fatal(err)
	}
	if id, cmd, _ := LastHolder(context.Background(), cs, "kube-system", "romana"); id != "ops@host-a pid 100" || cmd != "upgrade --tag=v1" {
		t.Errorf("last holder %q %q", id, cmd)
	}
	l2, err := Acquire(context.Background(), cs, "kube-system", "romana", opts(c, nil, "host-b", "boot-b ns-b", 200, true, nil))
	if err != nil {
		t.Fatalf("a released Lease must be free: %v", err)
	}
	if l2.TakenOver != nil {
		t.Errorf("a released Lease is not a take-over: %+v", l2.TakenOver)
	}
	_ = l2.Release(context.Background())
}

// A Lease that looks lapsed is taken over only after this reader has seen it
// unchanged for a whole lease duration, on its own clock.
func TestLapsedLeaseIsTakenOverAfterWatchingIt(t *testing.T) {
	_, cs := newServer()
	c := &clock{t: t0}
	if _, err := Acquire(context.Background(), cs, "ns", "romana", opts(c, nil, "host-a", "boot-a ns-a", 100, true, nil)); err != nil {
		t.Fatal(err)
	}
	// Not lapsed by its renewTime: refused at once, without watching.
	c.add(Duration - 100*time.Millisecond)
	if _, err := Acquire(context.Background(), cs, "ns", "romana", opts(c, nil, "host-b", "boot-b ns-b", 200, true, nil)); err == nil {
		t.Fatal("a live Lease was taken")
	}
	if c.now() != t0.Add(Duration-100*time.Millisecond) {
		t.Fatal("a fresh Lease was watched instead of refused")
	}
	c.add(time.Second)
	var watched Holder
	o := opts(c, nil, "host-b", "boot-b ns-b", 200, true, nil)
	o.Watching = func(h Holder, _ time.Time) { watched = h }
	start := c.now()
	l, err := Acquire(context.Background(), cs, "ns", "romana", o)
	if err != nil {
		t.Fatalf("a lapsed Lease must be taken over: %v", err)
	}
	if waited := c.now().Sub(start); waited < Duration {
		t.Errorf("took the Lease over after watching it %s, less than %s", waited, Duration)
	}
	if watched.Identity != "ops@host-a pid 100" {
		t.Errorf("the watch was not reported: %+v", watched)
	}
	if l.TakenOver == nil || l.TakenOver.Identity != "ops@host-a pid 100" {
		t.Errorf("take-over not reported: %+v", l.TakenOver)
	}
	lease, _ := cs.CoordinationV1().Leases("ns").Get(context.Background(), "romanactl-romana", metav1.GetOptions{})
	if *lease.Spec.HolderIdentity != "ops@host-b pid 200" || *lease.Spec.LeaseDurationSeconds != 15 {
		t.Errorf("lease after take-over: %+v", lease.Spec)
	}
}

// Two operators whose clocks differ by 20 s: neither's renewTime is trusted on the
// other's clock.
func TestClockSkew(t *testing.T) {
	for _, tt := range []struct {
		name string
		// skew of the holder's clock against the reader's
		skew        time.Duration
		holderLives bool
		wantTaken   bool
	}{
		{"a live holder 20 s behind is not taken over", -20 * time.Second, true, false},
		{"a live holder 20 s ahead is not taken over", 20 * time.Second, true, false},
		{"a dead holder 20 s behind is taken over after one lease duration", -20 * time.Second, false, true},
		{"a dead holder 40 s ahead is taken over after one lease duration", 40 * time.Second, false, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, cs := newServer()
			c := &clock{t: t0}
			holder, err := Acquire(context.Background(), cs, "ns", "romana", opts(c, c.skewed(tt.skew), "host-a", "boot-a ns-a", 100, true, nil))
			if err != nil {
				t.Fatal(err)
			}
			c.add(time.Second)
			// While the reader watches, a live holder renews every RenewEvery.
			lastRenew := c.now()
			during := func() {
				if tt.holderLives && c.now().Sub(lastRenew) >= RenewEvery {
					lastRenew = c.now()
					if err := holder.renewNow(context.Background()); err != nil {
						t.Errorf("renew: %v", err)
					}
				}
			}
			start := c.now()
			l, err := Acquire(context.Background(), cs, "ns", "romana", opts(c, nil, "host-b", "boot-b ns-b", 200, true, during))
			if !tt.wantTaken {
				var held *HeldError
				if !errors.As(err, &held) {
					t.Fatalf("a live holder with a clock off by %s was taken over: %v", tt.skew, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("a dead holder was not taken over: %v", err)
			}
			if waited := c.now().Sub(start); waited < Duration || waited > Duration+2*Poll {
				t.Errorf("taken over after %s, want one lease duration (%s)", waited, Duration)
			}
			if l.TakenOver == nil {
				t.Error("take-over not reported")
			}
		})
	}
}

func TestDeadHolderOnThisHostIsTakenOverAtOnce(t *testing.T) {
	_, cs := newServer()
	c := &clock{t: t0}
	if _, err := Acquire(context.Background(), cs, "ns", "romana", opts(c, nil, "host-a", "boot-a ns-a", 100, true, nil)); err != nil {
		t.Fatal(err)
	}
	c.add(time.Second)
	// Same host, pid alive: refused.
	if _, err := Acquire(context.Background(), cs, "ns", "romana", opts(c, nil, "host-a", "boot-a ns-a", 101, true, nil)); err == nil {
		t.Fatal("a live holder on this host was taken over")
	}
	// Same hostname, but another pid namespace (another container) or another boot:
	// this process cannot see the holder's pids, so the Lease counts.
	for _, other := range []string{"boot-a ns-z", "boot-z ns-a", ""} {
		if _, err := Acquire(context.Background(), cs, "ns", "romana", opts(c, nil, "host-a", other, 101, false, nil)); err == nil {
			t.Fatalf("a holder in host-id %q was judged by the pids of host-id %q", "boot-a ns-a", other)
		}
	}
	// Same host, pid gone: taken at once, long before expiry.
	l, err := Acquire(context.Background(), cs, "ns", "romana", opts(c, nil, "host-a", "boot-a ns-a", 101, false, nil))
	if err != nil || l.TakenOver == nil {
		t.Fatalf("a dead holder on this host must be taken over: %v", err)
	}
	if c.now() != t0.Add(time.Second) {
		t.Error("a dead holder on this host was watched before the take-over")
	}
	// Another host cannot know whether a pid runs elsewhere: the Lease counts.
	c.add(time.Second)
	if _, err := Acquire(context.Background(), cs, "ns", "romana", opts(c, nil, "host-z", "boot-z ns-z", 300, false, nil)); err == nil {
		t.Fatal("a holder on another host was judged by this host's pids")
	}
}

// A renewal that the API server applied but whose answer was lost makes the next
// renewal conflict; the Lease is still ours, and must not be declared lost.
func TestLostRenewalAnswerIsNotALostLease(t *testing.T) {
	s, cs := newServer()
	c := &clock{t: t0}
	l, err := Acquire(context.Background(), cs, "ns", "romana", opts(c, nil, "host-a", "boot-a ns-a", 100, true, nil))
	if err != nil {
		t.Fatal(err)
	}
	c.add(RenewEvery)
	s.dropAnswers = 1
	if err := l.renewNow(context.Background()); err == nil || !strings.Contains(err.Error(), "the answer was lost") {
		t.Fatalf("the dropped answer was not an error: %v", err)
	}
	c.add(RenewEvery)
	if err := l.renewNow(context.Background()); err != nil {
		t.Fatalf("the renewal after a lost answer: %v", err)
	}
	if l.LostErr() != nil {
		t.Fatalf("declared lost after its own renewal's answer was lost: %v", l.LostErr())
	}
	if got := s.get("ns").Spec.RenewTime.Time; !got.Equal(c.now()) {
		t.Errorf("renewTime %s, want %s", got, c.now())
	}
	// Release after a lost answer frees the Lease too.
	c.add(RenewEvery)
	s.dropAnswers = 1
	_ = l.renewNow(context.Background())
	if err := l.Release(context.Background()); err != nil {
		t.Fatal(err)
	}
	if h := s.get("ns").Spec.HolderIdentity; h != nil {
		t.Errorf("not released after a lost answer: held by %s", *h)
	}
}

// A Conflict because another holder has the Lease is a lost Lease: Lost closes, Check
// refuses, and Release leaves the other holder's Lease alone.
func TestLeaseTakenByAnotherIsLost(t *testing.T) {
	s, cs := newServer()
	c := &clock{t: t0}
	l, err := Acquire(context.Background(), cs, "ns", "romana", opts(c, nil, "host-a", "boot-a ns-a", 100, true, nil))
	if err != nil {
		t.Fatal(err)
	}
	s.steal("ns", "ops@host-b pid 200")
	if err := l.Check(context.Background()); err != nil {
		t.Fatalf("within half a lease duration of a confirmed renewal Check needs no request: %v", err)
	}
	c.add(RenewEvery)
	err = l.renewNow(context.Background())
	var lost *LostError
	if !errors.As(err, &lost) || lost.By != "ops@host-b pid 200" {
		t.Fatalf("want a LostError naming the new holder, got %v", err)
	}
	select {
	case <-l.Lost():
	default:
		t.Fatal("Lost not closed")
	}
	for _, want := range []string{"lost Lease ns/romanactl-romana to ops@host-b pid 200 (`romanactl upgrade --tag=theirs`)", "another command holds it now, as happens when this command's renewals do not reach the API server for 15s"} {
		if !strings.Contains(l.LostErr().Error(), want) {
			t.Errorf("missing %q in %v", want, l.LostErr())
		}
	}
	if err := l.Check(context.Background()); !errors.As(err, &lost) {
		t.Errorf("Check after the loss: %v", err)
	}
	before := s.updates
	if err := l.Release(context.Background()); err != nil {
		t.Fatal(err)
	}
	if s.updates != before || *s.get("ns").Spec.HolderIdentity != "ops@host-b pid 200" {
		t.Error("Release wrote over the new holder's Lease")
	}
}

// Check renews at once when the last confirmed renewal is older than half a lease
// duration, and so finds a Lease that another command took while this one could not
// renew.
func TestCheckRenewsAStaleLease(t *testing.T) {
	s, cs := newServer()
	c := &clock{t: t0}
	l, err := Acquire(context.Background(), cs, "ns", "romana", opts(c, nil, "host-a", "boot-a ns-a", 100, true, nil))
	if err != nil {
		t.Fatal(err)
	}
	c.add(Duration / 2)
	before := s.updates
	if err := l.Check(context.Background()); err != nil || s.updates != before+1 {
		t.Fatalf("Check of a stale Lease: %v, %d renewals", err, s.updates-before)
	}
	c.add(Duration)
	s.steal("ns", "ops@host-b pid 200")
	var lost *LostError
	if err := l.Check(context.Background()); !errors.As(err, &lost) {
		t.Fatalf("Check of a Lease taken meanwhile: %v", err)
	}
}

func TestDeletedLeaseIsLost(t *testing.T) {
	_, cs := newServer()
	c := &clock{t: t0}
	l, err := Acquire(context.Background(), cs, "ns", "romana", opts(c, nil, "host-a", "boot-a ns-a", 100, true, nil))
	if err != nil {
		t.Fatal(err)
	}
	if err := cs.CoordinationV1().Leases("ns").Delete(context.Background(), "romanactl-romana", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := l.renewNow(context.Background()); err == nil || !strings.Contains(err.Error(), "it was deleted") {
		t.Fatalf("renewal of a deleted Lease: %v", err)
	}
}

func TestRedactCommand(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"upgrade --tag=v0.9.3", "upgrade --tag=v0.9.3"},
		{"install --chart=oci://bob:s3cret@registry.example.com/romana", "install --chart=oci://REDACTED@registry.example.com/romana"},
		{"install --set=agent.kubernetesAPI=https://u:p@10.0.0.1:6443/x", "install --set=agent.kubernetesAPI=https://REDACTED@10.0.0.1:6443/x"},
		{"install --chart=https://token@example.com/c.tgz --tag=v1", "install --chart=https://REDACTED@example.com/c.tgz --tag=v1"},
		{"install --set=a=http://u:p%zz@h/", "install --set=a=http://REDACTED@h/"},
		{"install --chart=https://example.com/c.tgz", "install --chart=https://example.com/c.tgz"},
	} {
		if got := RedactCommand(tt.in); got != tt.want {
			t.Errorf("RedactCommand(%q) = %q, want %q", tt.in, got, tt.want)
		}
		if strings.Contains(RedactCommand(tt.in), "s3cret") {
			t.Errorf("credential kept: %q", tt.in)
		}
	}
}

func TestHostID(t *testing.T) {
	id := HostID()
	boot, _ := os.ReadFile("/proc/sys/kernel/random/boot_id")
	ns, _ := os.Readlink("/proc/self/ns/pid")
	if id == "" || id != strings.TrimSpace(string(boot))+" "+ns || !strings.HasPrefix(ns, "pid:[") {
		t.Fatalf("HostID %q (boot %q, pid ns %q)", id, boot, ns)
	}
	if hostID("", "pid:[1]") != "" || hostID("b", "") != "" {
		t.Error("a half-known host id counts")
	}
}

func TestRealPidAlive(t *testing.T) {
	me := os.Getpid()
	start := processStart(me)
	if start == "" {
		t.Fatal("no start time for this process")
	}
	if !pidAlive(me, start) || !pidAlive(me, "") {
		t.Error("this process runs")
	}
	// The same pid with another start time is another process: the holder is gone.
	if pidAlive(me, start+"1") {
		t.Error("a reused pid was taken for the holder")
	}
	if pidAlive(1<<22, "") { // above the kernel's pid_max
		t.Error("an impossible pid runs")
	}
}

// A Release that could not be made says so: the Lease then lapses on its own.
func TestReleaseWithoutTimeSaysSo(t *testing.T) {
	s, cs := newServer()
	c := &clock{t: t0}
	l, err := Acquire(context.Background(), cs, "ns", "romana", opts(c, nil, "host-a", "boot-a ns-a", 100, true, nil))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := l.Release(ctx); err == nil || !strings.Contains(err.Error(), "release Lease ns/romanactl-romana") {
		t.Fatalf("a Release that wrote nothing: %v", err)
	}
	if h := s.get("ns").Spec.HolderIdentity; h == nil || *h != "ops@host-a pid 100" {
		t.Errorf("holder after a Release without time: %v", h)
	}
}

// The answer to the write that takes the Lease may be lost too: the Lease is ours
// nonetheless, and the command goes on instead of failing with the Lease held.
func TestLostAnswerToTheTakingWrite(t *testing.T) {
	for _, released := range []bool{false, true} {
		t.Run(fmt.Sprintf("released=%v", released), func(t *testing.T) {
			s, cs := newServer()
			c := &clock{t: t0}
			if released {
				l, err := Acquire(context.Background(), cs, "ns", "romana", opts(c, nil, "host-a", "boot-a ns-a", 100, true, nil))
				if err != nil {
					t.Fatal(err)
				}
				if err := l.Release(context.Background()); err != nil {
					t.Fatal(err)
				}
			}
			s.dropAnswers = 1 // the create of a new Lease, or the update of a released one
			l, err := Acquire(context.Background(), cs, "ns", "romana", opts(c, nil, "host-b", "boot-b ns-b", 200, true, nil))
			if err != nil {
				t.Fatalf("the Lease is ours, its answer was lost: %v", err)
			}
			c.add(RenewEvery)
			if err := l.renewNow(context.Background()); err != nil {
				t.Fatalf("renewal: %v", err)
			}
		})
	}
}
