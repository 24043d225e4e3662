package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"helm.sh/helm/v3/pkg/release"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"

	"github.com/romana/romanactl/internal/testcluster"
)

// running is a romanactl process the test watches line by line.
type running struct {
	cmd    *exec.Cmd
	mu     sync.Mutex
	out    strings.Builder
	errb   bytes.Buffer
	lines  chan string
	exited chan struct{}
	code   int
}

// start runs romanactl in the background, its stdout read line by line.
func start(t *testing.T, kubeconfig string, args ...string) *running {
	t.Helper()
	r := &running{lines: make(chan string, 1000), exited: make(chan struct{})}
	r.cmd = exec.Command(romanactlBin(t), append(args, "--kubeconfig", kubeconfig)...)
	stdout, err := r.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	r.cmd.Stderr = &r.errb
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			r.mu.Lock()
			r.out.WriteString(sc.Text() + "\n")
			r.mu.Unlock()
			select {
			case r.lines <- sc.Text():
			default:
			}
		}
		_ = r.cmd.Wait()
		r.code = r.cmd.ProcessState.ExitCode()
		close(r.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-r.exited:
		default:
			_ = r.cmd.Process.Kill()
			<-r.exited
		}
	})
	return r
}

// until waits for a stdout line containing s.
func (r *running) until(t *testing.T, s string, timeout time.Duration) {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case l := <-r.lines:
			if strings.Contains(l, s) {
				return
			}
		case <-r.exited:
			t.Fatalf("romanactl exited (%d) before printing %q\n%s%s", r.code, s, r.stdout(), r.errb.String())
		case <-deadline:
			t.Fatalf("no %q within %s\n%s", s, timeout, r.stdout())
		}
	}
}

func (r *running) stdout() string { r.mu.Lock(); defer r.mu.Unlock(); return r.out.String() }

// wait waits for the process to end.
func (r *running) wait(t *testing.T, timeout time.Duration) {
	t.Helper()
	select {
	case <-r.exited:
	case <-time.After(timeout):
		t.Fatalf("romanactl still running %s later\n%s", timeout, r.stdout())
	}
}

const thief = "thief@elsewhere pid 1"

// stealLease makes the release's Lease another command's, as a command on another
// host would after finding it lapsed, and returns when the API server has it.
func stealLease(t *testing.T) time.Time {
	t.Helper()
	return stealLeaseOn(t, shared.Client)
}

// stealLeaseOn is stealLease on the cluster cs.
func stealLeaseOn(t *testing.T, cs kubernetes.Interface) time.Time {
	t.Helper()
	leases := cs.CoordinationV1().Leases("kube-system")
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		l, err := leases.Get(context.Background(), "romanactl-romana", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if l.Spec.HolderIdentity == nil {
			return fmt.Errorf("the Lease is not held: %+v", l.Spec)
		}
		id, now := thief, metav1.NewMicroTime(time.Now())
		l.Spec.HolderIdentity, l.Spec.AcquireTime, l.Spec.RenewTime = &id, &now, &now
		l.Annotations["romanactl.romana.io/command"] = "upgrade --tag=theirs"
		l.Annotations["romanactl.romana.io/token"] = "theirs"
		l.Annotations["romanactl.romana.io/host-id"] = "another-host"
		_, err = leases.Update(context.Background(), l, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return time.Now()
}

// giveBackLease ends the thief's hold, as its command would on exit.
func giveBackLease(t *testing.T) {
	err := shared.Client.CoordinationV1().Leases("kube-system").Delete(context.Background(), "romanactl-romana", metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		t.Fatal(err)
	}
}

// assertLeaseLostMessage: the command says it lost the Lease to whom, that it wrote
// nothing more, what state it left, and where to go on; and never calls it a timeout.
func assertLeaseLostMessage(t *testing.T, r *running, did string) {
	t.Helper()
	msg := r.errb.String()
	for _, want := range []string{"lost Lease kube-system/romanactl-romana to " + thief + " (`romanactl upgrade --tag=theirs`)",
		"This command wrote nothing after that: " + did, "romanactl status", "romanactl recover"} {
		if !strings.Contains(msg, want) {
			t.Errorf("missing %q in:\n%s", want, msg)
		}
	}
	if strings.Contains(msg, "timed out") || r.code != 1 {
		t.Errorf("exit %d; the loss of the Lease reads as a timeout or not as a failure:\n%s", r.code, msg)
	}
}

// assertNoWriteAfter: nothing the romanactl process sent after the Lease was taken
// changed the cluster, except the writes allowed (Helm's own apply in progress).
func assertNoWriteAfter(t *testing.T, p *testcluster.Proxy, since time.Time, allowed func(testcluster.Request) bool) []testcluster.Request {
	t.Helper()
	reqs := p.Requests()
	for _, w := range testcluster.AcceptedWritesSince(reqs, since) {
		if allowed == nil || !allowed(w) {
			t.Errorf("a write after the Lease was lost: %s %s (status %d)", w.Method, w.Path, w.Status)
		}
	}
	conflicts := 0
	for _, q := range reqs {
		if q.Method == "PUT" && strings.Contains(q.Path, "/leases/romanactl-romana") && q.Status == 409 && q.At.After(since) {
			conflicts++
		}
	}
	if conflicts == 0 {
		t.Errorf("no renewal met the new holder (409): the loss was not found by the renewal")
	}
	return reqs
}

// TestClusterLeaseLost takes the Lease away from a running upgrade or install, as a
// command on another host does once it found the Lease lapsed. The command must stop
// writing: the fault proxy in front of the API server sees no accepted write from it
// after the loss, except Helm's apply in progress, which runs to its end.
func TestClusterLeaseLost(t *testing.T) {
	c := cluster(t)
	p, err := c.StartProxy(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()

	t.Run("during the wait: nothing is marked failed or rolled back", func(t *testing.T) {
		defer cleanup(t)
		defer giveBackLease(t)
		mustOK(t, rc(t, "install"))
		// The agent cannot run on the tainted control-plane node: the wait goes on.
		r := start(t, p.KubeconfigPath, "upgrade", "--set-json", "agent.tolerations=[]", "--timeout=60s")
		r.until(t, "waiting for Romana", 60*time.Second)
		stolen := stealLease(t)
		r.wait(t, 20*time.Second)
		took := time.Since(stolen)
		assertLeaseLostMessage(t, r, "revision 2 was applied; the wait for Romana stopped, and the revision was neither marked failed nor rolled back")
		assertNoWriteAfter(t, p, stolen, nil)
		h := history(t)
		if last := h[len(h)-1]; last.Version != 2 || last.Info.Status != release.StatusDeployed {
			t.Errorf("want revision 2 as Helm left it (deployed), got:\n%s", describe(h))
		}
		if !strings.Contains(r.errb.String(), "release romana is now at revision 2 (deployed)") {
			t.Errorf("the state left is not named:\n%s", r.errb.String())
		}
		l, err := shared.Client.CoordinationV1().Leases("kube-system").Get(context.Background(), "romanactl-romana", metav1.GetOptions{})
		if err != nil || l.Spec.HolderIdentity == nil || *l.Spec.HolderIdentity != thief {
			t.Errorf("the Lease after the loser's exit: %v %+v", err, l)
		}
		t.Logf("the upgrade stopped %s after its Lease was taken", took.Round(time.Millisecond))
		chaosFigure(fmt.Sprintf("the Lease taken mid-wait | `upgrade` waiting (an agent that cannot become ready); the test takes its Lease as another host's command | it stopped %s later, naming the new holder, revision 2 left as Helm recorded it; 0 writes after the loss", took.Round(time.Second)))
	})

	t.Run("an install during the wait: nothing is undone", func(t *testing.T) {
		defer cleanup(t)
		defer giveBackLease(t)
		r := start(t, p.KubeconfigPath, "install", "--set-json", "agent.tolerations=[]", "--timeout=60s")
		r.until(t, "waiting for Romana", 60*time.Second)
		stolen := stealLease(t)
		r.wait(t, 20*time.Second)
		assertLeaseLostMessage(t, r, "revision 1 was installed; the wait for Romana stopped, and nothing was marked failed or undone")
		assertNoWriteAfter(t, p, stolen, nil)
		if h := history(t); len(h) != 1 || h[0].Info.Status != release.StatusDeployed {
			t.Errorf("want revision 1 as Helm left it (deployed), got:\n%s", describe(h))
		}
	})

	for _, wait := range []bool{true, false} {
		t.Run(fmt.Sprintf("during Helm's apply, --wait=%v: the apply runs to its end, then nothing", wait), func(t *testing.T) {
			defer cleanup(t)
			defer giveBackLease(t)
			mustOK(t, rc(t, "install"))
			pw := password(t)
			// Helm's update of romana-agent is held 9 s: two renewals meet the new holder
			// meanwhile, so the loss is known while Helm's apply is still going.
			defer p.Add(&testcluster.Rule{Method: "PATCH", PathContains: "/daemonsets/romana-agent", Delay: 9 * time.Second, Times: 1})()
			r := start(t, p.KubeconfigPath, "upgrade", "--tag=v0.9.3", "--timeout=60s", fmt.Sprintf("--wait=%v", wait))
			waitPending(t)
			stolen := stealLease(t)
			r.wait(t, 40*time.Second)
			if wait {
				assertLeaseLostMessage(t, r, "Helm's apply of revision 2 ran to its end (it succeeded)")
			} else if r.code != 0 {
				// Nothing was left to write: the upgrade is done.
				t.Errorf("a good apply without --wait, its Lease lost meanwhile: exit %d\n%s", r.code, r.errb.String())
			}
			// Helm's apply goes on after the loss: its patches of the release's objects and
			// its records of revisions 1 and 2. Nothing else: no failure record, no
			// rollback (which would create revision 3), no deletion, no Lease.
			assertNoWriteAfter(t, p, stolen, func(w testcluster.Request) bool {
				return (w.Method == "PATCH" && !strings.Contains(w.Path, "/leases/")) ||
					(w.Method == "PUT" && (strings.HasSuffix(w.Path, "/secrets/sh.helm.release.v1.romana.v1") || strings.HasSuffix(w.Path, "/secrets/sh.helm.release.v1.romana.v2")))
			})
			// Not abandoned half-way: revision 2 is deployed and every DaemonSet runs it.
			assertSettled(t, pw)
			if h := history(t); len(h) != 2 {
				t.Errorf("want revisions 1 and 2 only:\n%s", describe(h))
			}
		})
	}
}

// TestClusterLeaseAnswerLost: the API server applies a write of the Lease but its
// answer is lost on the way back. The Lease is still this command's: the upgrade must
// go on and succeed, not take the error (or the Conflict the next renewal meets) for a
// lost Lease and stop, or, before, roll its own healthy upgrade back.
func TestClusterLeaseAnswerLost(t *testing.T) {
	c := cluster(t)
	p, err := c.StartProxy(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	for _, tt := range []struct {
		name string
		// afterPending adds the drop once the revision is pending: the next write of
		// the Lease is then a renewal, not the one that takes it.
		afterPending bool
		want         []string // the Lease's requests from the dropped one on: method status
	}{
		{"of the write that takes it", false, []string{"PUT 200 dropped", "GET 200"}},
		{"of a renewal", true, []string{"PUT 200 dropped", "PUT 409", "GET 200", "PUT 200"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			defer cleanup(t)
			mustOK(t, rc(t, "install"))
			pw := password(t)
			// Helm's update of romana-agent is held 10 s, so renewals fall within the upgrade.
			defer p.Add(&testcluster.Rule{Method: "PATCH", PathContains: "/daemonsets/romana-agent", Delay: 10 * time.Second, Times: 1})()
			drop := &testcluster.Rule{Method: "PUT", PathContains: "/leases/romanactl-romana", DropAnswer: true, Times: 1}
			if !tt.afterPending {
				defer p.Add(drop)()
			}
			p.Requests()
			r := start(t, p.KubeconfigPath, "upgrade", "--tag=v0.9.3", "--timeout=60s")
			if tt.afterPending {
				waitPending(t)
				defer p.Add(drop)()
			}
			r.wait(t, 2*time.Minute)
			if r.code != 0 {
				t.Fatalf("exit %d\n%s%s", r.code, r.stdout(), r.errb.String())
			}
			var seen []string
			from := -1
			for _, q := range p.Requests() {
				if !strings.Contains(q.Path, "/leases/romanactl-romana") {
					continue
				}
				line := fmt.Sprintf("%s %d", q.Method, q.Status)
				if q.Fault == "answer dropped" {
					line += " dropped"
					from = len(seen)
				}
				seen = append(seen, line)
			}
			if from < 0 || len(seen) < from+len(tt.want) || strings.Join(seen[from:from+len(tt.want)], ", ") != strings.Join(tt.want, ", ") {
				t.Fatalf("the Lease's requests: want %v from the dropped answer on, got %v", tt.want, seen)
			}
			assertSettled(t, pw)
			if h := history(t); len(h) != 2 {
				t.Fatalf("want revisions 1 and 2 only:\n%s", describe(h))
			}
			// Released on the way out: the command did not lose track of its Lease.
			l, err := shared.Client.CoordinationV1().Leases("kube-system").Get(context.Background(), "romanactl-romana", metav1.GetOptions{})
			if err != nil || l.Spec.HolderIdentity != nil {
				t.Fatalf("the Lease after the upgrade: %v %+v", err, l)
			}
		})
	}
}
