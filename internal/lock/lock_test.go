package lock

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

// These tests cover the lock's own decisions (who holds it, when it is free) on a fake
// clientset. The race between two processes (optimistic concurrency on the Lease) is
// the API server's, and is tested against the real one in cmd/romanactl.

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func opts(c *clock, host string, pid int, alive bool) Options {
	return Options{Command: "upgrade --tag=v1", Now: c.now, Host: host, PID: pid, User: "ops",
		Alive: func(int, string) bool { return alive }, RenewEvery: time.Hour}
}

func TestSecondHolderIsRefusedWithTheHolderNamed(t *testing.T) {
	cs := fake.NewClientset()
	c := &clock{time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)}
	l, err := Acquire(context.Background(), cs, "kube-system", "romana", opts(c, "host-a", 100, true))
	if err != nil {
		t.Fatal(err)
	}
	c.t = c.t.Add(5 * time.Second)
	_, err = Acquire(context.Background(), cs, "kube-system", "romana", opts(c, "host-b", 200, true))
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
	l2, err := Acquire(context.Background(), cs, "kube-system", "romana", opts(c, "host-b", 200, true))
	if err != nil {
		t.Fatalf("a released Lease must be free: %v", err)
	}
	if l2.TakenOver != nil {
		t.Errorf("a released Lease is not a take-over: %+v", l2.TakenOver)
	}
	_ = l2.Release(context.Background())
}

func TestExpiredLeaseIsTakenOver(t *testing.T) {
	cs := fake.NewClientset()
	c := &clock{time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)}
	if _, err := Acquire(context.Background(), cs, "ns", "romana", opts(c, "host-a", 100, true)); err != nil {
		t.Fatal(err)
	}
	// Not yet expired: 14.9s after the last renewal.
	c.t = c.t.Add(Duration - 100*time.Millisecond)
	if _, err := Acquire(context.Background(), cs, "ns", "romana", opts(c, "host-b", 200, true)); err == nil {
		t.Fatal("a live Lease was taken")
	}
	c.t = c.t.Add(200 * time.Millisecond)
	l, err := Acquire(context.Background(), cs, "ns", "romana", opts(c, "host-b", 200, true))
	if err != nil {
		t.Fatalf("an expired Lease must be taken over: %v", err)
	}
	if l.TakenOver == nil || l.TakenOver.Identity != "ops@host-a pid 100" {
		t.Errorf("take-over not reported: %+v", l.TakenOver)
	}
	lease, _ := cs.CoordinationV1().Leases("ns").Get(context.Background(), "romanactl-romana", metav1.GetOptions{})
	if *lease.Spec.HolderIdentity != "ops@host-b pid 200" || *lease.Spec.LeaseDurationSeconds != 15 {
		t.Errorf("lease after take-over: %+v", lease.Spec)
	}
}

func TestDeadHolderOnThisHostIsTakenOverAtOnce(t *testing.T) {
	cs := fake.NewClientset()
	c := &clock{time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)}
	if _, err := Acquire(context.Background(), cs, "ns", "romana", opts(c, "host-a", 100, true)); err != nil {
		t.Fatal(err)
	}
	c.t = c.t.Add(time.Second)
	// Same host, pid alive: refused.
	if _, err := Acquire(context.Background(), cs, "ns", "romana", opts(c, "host-a", 101, true)); err == nil {
		t.Fatal("a live holder on this host was taken over")
	}
	// Same host, pid gone: taken at once, long before expiry.
	l, err := Acquire(context.Background(), cs, "ns", "romana", opts(c, "host-a", 101, false))
	if err != nil || l.TakenOver == nil {
		t.Fatalf("a dead holder on this host must be taken over: %v", err)
	}
	// Another host cannot know whether a pid runs elsewhere: the Lease counts.
	c.t = c.t.Add(time.Second)
	if _, err := Acquire(context.Background(), cs, "ns", "romana", opts(c, "host-z", 300, false)); err == nil {
		t.Fatal("a holder on another host was judged by this host's pids")
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
