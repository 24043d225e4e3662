package main

import (
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"helm.sh/helm/v3/pkg/release"

	"github.com/romana/romanactl/internal/install"
	"github.com/romana/romanactl/internal/testcluster"
)

// killPending leaves the release pending-* as a killed command does: the proxy holds
// Helm's update of romana-agent, and the process (`romanactl args…`) is killed once the
// pending record is stored.
func killPending(t *testing.T, args ...string) {
	t.Helper()
	p, err := shared.StartProxy(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	hold := &testcluster.Rule{Method: "PATCH", PathContains: "/daemonsets/romana-agent", Delay: 30 * time.Second, Times: 1}
	rm := p.Add(hold)
	defer rm()
	before := history(t)
	cmd := exec.Command(romanactlBin(t), append(args, "--kubeconfig", p.KubeconfigPath)...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if h := history(t); h[len(h)-1].Version > before[len(before)-1].Version && h[len(h)-1].Info.Status.IsPending() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("romanactl %v left no pending revision within 30s:\n%s", args, describe(history(t)))
		}
		time.Sleep(50 * time.Millisecond)
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	_ = cmd.Wait()
}

// TestClusterPastTenRevisions takes the release past ten revisions the way the trial
// did (failed upgrades, a rollback, an upgrade killed while pending and recovered),
// then checks that history is ordered by number, that `rollback` and `rollback N` work
// and go where they say, and that status names the newest revision.
func TestClusterPastTenRevisions(t *testing.T) {
	cluster(t)
	step := func(want string, args ...string) {
		t.Helper()
		r := proc(t, shared.KubeconfigPath, 2*time.Minute, args...)
		if (want == "ok") != (r.code == 0) {
			t.Fatalf("romanactl %v: exit %d (want %s)\n%s%s\n%s", args, r.code, want, r.stdout, r.stderr, describe(history(t)))
		}
	}
	bad := []string{"upgrade", "--atomic=false", "--set-json", "agent.tolerations=[]", "--timeout=4s"}
	step("ok", "install")                                        // 1
	step("ok", "upgrade", "--tag=v0.9.3")                        // 2
	step("fail", bad...)                                         // 3 failed
	step("ok", "upgrade", "--reset-values", "--tag=v0.9.3.5")    // 4
	step("fail", bad...)                                         // 5 failed
	step("fail", bad...)                                         // 6 failed
	step("ok", "rollback", "1")                                  // 7 Rollback to 1
	step("ok", "upgrade", "--reset-values", "--tag=v0.9.3")      // 8
	step("ok", "upgrade", "--tag=v0.9.3.5")                      // 9
	killPending(t, "upgrade", "--tag=v0.9.3.7", "--timeout=60s") // 10 pending-upgrade
	step("ok", "recover", "--timeout=60s")                       // 11 Rollback to 9
	step("ok", "rollback", "--timeout=60s")                      // 12 Rollback to 10
	step("ok", "rollback", "9", "--timeout=60s")                 // 13 Rollback to 9
	step("ok", "upgrade", "--tag=v0.9.3", "--timeout=60s")       // 14

	// A rollback killed while pending, past ten revisions: the next rollback, holding
	// the Lease itself, must point at recover, not name its own pid as the holder.
	killPending(t, "rollback", "9", "--timeout=60s") // 15 pending-rollback
	for _, args := range [][]string{{"rollback"}, {"rollback", "9"}} {
		r := proc(t, shared.KubeconfigPath, time.Minute, args...)
		if r.code != 1 || strings.Contains(r.stderr, "locked by") ||
			!strings.Contains(r.stderr, "is pending-rollback at revision 15") || !strings.Contains(r.stderr, "`romanactl recover`") {
			t.Fatalf("romanactl %v with revision 15 left pending-rollback: exit %d, want 1 pointing at recover\n%s%s", args, r.code, r.stdout, r.stderr)
		}
	}
	step("ok", "recover", "--timeout=60s")        // 16 Rollback to 14
	step("ok", "rollback", "--timeout=60s")       // 17 Rollback to 15
	step("ok", "rollback", "12", "--timeout=60s") // 18 Rollback to 12
	h := history(t)
	t.Logf("history:\n%s", describe(h))
	want := map[int]string{11: "Rollback to 9", 12: "Rollback to 10", 13: "Rollback to 9", 15: "romanactl recover: pending-rollback ended (its command was interrupted)", 16: "Rollback to 14", 17: "Rollback to 15", 18: "Rollback to 12"}
	for _, r := range h {
		if d, ok := want[r.Version]; ok && !strings.HasPrefix(r.Info.Description, d) {
			t.Errorf("revision %d: description %q, want it to start with %q", r.Version, r.Info.Description, d)
		}
	}
	if last := h[len(h)-1]; last.Version != 18 || last.Info.Status != release.StatusDeployed {
		t.Fatalf("newest revision %d %s, want 18 deployed:\n%s", last.Version, last.Info.Status, describe(h))
	}

	// history, table and JSON: ordered by number, the newest last.
	r := mustOK(t, rc(t, "history", "-o", "json"))
	var revs []struct{ Revision int }
	if err := json.Unmarshal([]byte(r.stdout), &revs); err != nil {
		t.Fatalf("history -o json: %v\n%s", err, r.stdout)
	}
	var got []int
	for _, v := range revs {
		got = append(got, v.Revision)
	}
	if fmt.Sprint(got) != "[9 10 11 12 13 14 15 16 17 18]" {
		t.Errorf("history -o json revisions %v, want [9 … 18]", got)
	}
	r = mustOK(t, rc(t, "history"))
	var table []string
	for _, l := range strings.Split(strings.TrimSpace(r.stdout), "\n")[1:] {
		table = append(table, strings.Fields(l)[0])
	}
	if strings.Join(table, " ") != "9 10 11 12 13 14 15 16 17 18" {
		t.Errorf("history table revisions %v, want 9 … 18 in order:\n%s", table, r.stdout)
	}
	r = rc(t, "status")
	if !strings.Contains(r.stdout, "revision 18, deployed") {
		t.Errorf("status does not name revision 18:\n%s%s", r.stdout, r.stderr)
	}

	// Helm's last write of a rollback (the update of its record) refused once, as a
	// passing API error does: the rollback records the revision Helm left
	// pending-rollback as failed, so the next command is not blocked.
	p, err := shared.StartProxy(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	refuse := &testcluster.Rule{Method: "PUT", PathContains: "/secrets/sh.helm.release.v1.romana.v19", Status: 500, Times: 1}
	p.Add(refuse)
	r = proc(t, p.KubeconfigPath, 2*time.Minute, "rollback", "16", "--timeout=60s")
	if r.code != 1 || p.Hits(refuse) != 1 || !strings.Contains(r.stderr, "revision 19, which Helm left pending-rollback, was recorded as failed") {
		t.Fatalf("rollback whose record update was refused: exit %d, %d refusals\n%s%s\n%s", r.code, p.Hits(refuse), r.stdout, r.stderr, describe(history(t)))
	}
	if l := history(t); l[len(l)-1].Version != 19 || l[len(l)-1].Info.Status != release.StatusFailed {
		t.Fatalf("after the refused update, want revision 19 failed:\n%s", describe(l))
	}
	step("ok", "rollback", "16", "--timeout=60s") // 20
}

// killInWait runs romanactl args… and SIGKILLs it once it waits for Romana: Helm has
// stored the revision as deployed, and nobody saw it ready.
func killInWait(t *testing.T, args ...string) {
	t.Helper()
	r := start(t, shared.KubeconfigPath, args...)
	r.until(t, "waiting for Romana", time.Minute)
	_ = r.cmd.Process.Signal(syscall.SIGKILL)
	r.wait(t, 10*time.Second)
}

// TestClusterUnverifiedWait kills commands during their wait, with values that can
// never become ready (agent.tolerations=[] and a tainted control-plane node), and
// checks that such a revision is never taken for a good one: status and recover say
// so, --atomic goes past it, and "the API server does not answer" is said only when
// it does not.
func TestClusterUnverifiedWait(t *testing.T) {
	cluster(t)
	bad := []string{"--set-json", "agent.tolerations=[]"}
	last := func() *release.Release { h := history(t); return h[len(h)-1] }

	// An install killed in its wait: revision 1 deployed, unverified, and no good one.
	killInWait(t, append([]string{"install", "--timeout=2m"}, bad...)...)
	if l := last(); l.Version != 1 || l.Info.Status != release.StatusDeployed || strings.Contains(l.Info.Description, "verified") {
		t.Fatalf("after the killed install: revision %d %s %q, want 1 deployed, not verified", l.Version, l.Info.Status, l.Info.Description)
	}
	r := proc(t, shared.KubeconfigPath, 2*time.Minute, "upgrade", "--tag=v0.9.3.5", "--timeout=4s")
	if r.code != 1 || !strings.Contains(r.stderr, "--atomic rollback failed too: no good revision to roll back to") ||
		strings.Contains(r.stderr, "does not answer") || strings.Contains(r.stderr, "answers again") {
		t.Fatalf("--atomic upgrade from an unverified install: exit %d, want 1 saying no revision is good, and nothing of the API server\n%s%s", r.code, r.stdout, r.stderr)
	}
	mustOK(t, proc(t, shared.KubeconfigPath, 2*time.Minute, "upgrade", "--reset-values", "--timeout=60s")) // 3, verified
	good := last()
	if good.Version != 3 || !strings.HasSuffix(good.Info.Description, "; verified ready by romanactl") {
		t.Fatalf("after a good upgrade: revision %d %q, want 3 verified:\n%s", good.Version, good.Info.Description, describe(history(t)))
	}

	// An upgrade killed in its wait: revision 4 stays "deployed / Upgrade complete".
	killInWait(t, append([]string{"upgrade", "--timeout=2m"}, bad...)...)
	if l := last(); l.Version != 4 || l.Info.Status != release.StatusDeployed {
		t.Fatalf("after the killed upgrade: revision %d %s, want 4 deployed", l.Version, l.Info.Status)
	}
	r = rc(t, "status")
	if !strings.Contains(r.stdout, "revision 4 was never verified ready") || !strings.Contains(r.stdout, "`romanactl recover` rolls back to revision 3") {
		t.Errorf("status of an unverified revision:\n%s%s", r.stdout, r.stderr)
	}
	r = rc(t, "status", "-o", "json")
	if !strings.Contains(r.stdout, `"unverified": true`) {
		t.Errorf("status -o json of an unverified revision:\n%s", r.stdout)
	}
	r = mustOK(t, rc(t, "recover", "--dry-run"))
	if !strings.Contains(r.stdout, "revision 4 is deployed but was never verified ready") || !strings.Contains(r.stdout, "roll back to revision 3, the newest good one") {
		t.Errorf("recover --dry-run of an unverified revision:\n%s", r.stdout)
	}

	// The next upgrade reuses revision 4's values, fails, and --atomic returns to 3,
	// not to 4; the message names 3 and says nothing of the API server.
	r = proc(t, shared.KubeconfigPath, 2*time.Minute, "upgrade", "--tag=v0.9.3", "--timeout=4s")
	if r.code != 1 || !strings.Contains(r.stdout, "‼ revision 4 was never verified ready") ||
		!strings.Contains(r.stderr, "(a copy of good revision 3) is now deployed") || strings.Contains(r.stderr, "API server") {
		t.Fatalf("--atomic upgrade after an unverified revision: exit %d\n%s%s\n%s", r.code, r.stdout, r.stderr, describe(history(t)))
	}
	if l := last(); l.Version != 6 || l.Info.Description != "Rollback to 3; verified ready by romanactl" {
		t.Fatalf("after the --atomic rollback: revision %d %q, want 6 \"Rollback to 3; verified ready by romanactl\":\n%s", l.Version, l.Info.Description, describe(history(t)))
	}

	// Killed in the wait again (revision 7); recover returns to revision 6.
	killInWait(t, append([]string{"upgrade", "--timeout=2m"}, bad...)...)
	r = proc(t, shared.KubeconfigPath, 2*time.Minute, "recover", "--timeout=60s")
	if r.code != 0 || !strings.Contains(r.stdout, "Recovered: revision 7 was never verified ready; revision 8 (a copy of revision 6) is now deployed") {
		t.Fatalf("recover of unverified revision 7: exit %d\n%s%s\n%s", r.code, r.stdout, r.stderr, describe(history(t)))
	}
	if l := last(); l.Version != 8 || !install.Verified(l) {
		t.Fatalf("after recover: revision %d %q, want 8 verified", l.Version, l.Info.Description)
	}
	r = mustOK(t, rc(t, "recover"))
	if !strings.Contains(r.stdout, "nothing to do") {
		t.Errorf("recover of a verified release:\n%s", r.stdout)
	}
}
