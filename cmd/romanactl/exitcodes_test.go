package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/romana/romanactl/internal/lock"
)

// TestClusterExitCodes holds the exit codes that need a cluster to what --help and the
// README say, on the real control plane:
//   - with no release, every command that acts on one exits 1 and says so, as helm
//     status/history/upgrade/rollback/uninstall do: the command was well formed and
//     the cluster holds nothing to act on;
//   - a held Lease on a healthy release is no failure of status: it exits 0 and names
//     the holder (a running upgrade that has not changed anything yet must not page
//     whoever watches `romanactl status`).
func TestClusterExitCodes(t *testing.T) {
	c := cluster(t)
	noRelease := "no release romana in namespace kube-system (-n)"
	for _, tt := range []struct {
		args []string
		msg  string
	}{
		{[]string{"status"}, "`romanactl install` installs it"},
		{[]string{"status", "-o", "json"}, "`romanactl install` installs it"},
		{[]string{"history"}, "`romanactl install` installs it"},
		{[]string{"diff"}, "`romanactl install` installs it"},
		{[]string{"upgrade"}, "`romanactl install` installs it"},
		{[]string{"rollback"}, "nothing to roll back"},
		{[]string{"recover"}, "nothing to recover"},
		{[]string{"uninstall"}, "nothing to uninstall"},
	} {
		t.Run("no release/"+strings.Join(tt.args, " "), func(t *testing.T) {
			r := rc(t, tt.args...)
			if r.code != 1 || !strings.Contains(r.stderr, noRelease) || !strings.Contains(r.stderr, tt.msg) {
				t.Errorf("exit %d, want 1 with %q and %q:\n%s", r.code, noRelease, tt.msg, r.stderr)
			}
			if r.stdout != "" {
				t.Errorf("printed to stdout: %q", r.stdout)
			}
		})
	}

	mustOK(t, rc(t, "install", "--env=kubeadm"))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	l, err := lock.Acquire(ctx, c.Client, "kube-system", "romana", lock.Options{Command: "upgrade --tag=v0.9.3.7"})
	if err != nil {
		t.Fatalf("take the release's Lease: %v", err)
	}
	r := rc(t, "status")
	_ = l.Release(ctx)
	if r.code != 0 || !strings.Contains(r.stdout, "Locked by ") || !strings.Contains(r.stdout, "running `romanactl upgrade --tag=v0.9.3.7`") ||
		!strings.Contains(r.stdout, "Romana is healthy.") {
		t.Errorf("status of a healthy release with a held Lease: exit %d, want 0 naming the holder\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
}

// TestExitCodeHelpMatchesTheCode: what TestClusterExitCodes proves is what --help says.
// Every command that acts on a release lists "no release" under exit 1 (never under 2),
// and status does not list a held Lease as a failure.
func TestExitCodeHelpMatchesTheCode(t *testing.T) {
	for _, cmd := range []string{"status", "history", "diff", "upgrade", "rollback", "recover", "uninstall"} {
		r := run(t, cmd, "--help")
		_, codes, ok := strings.Cut(r.stdout, "Exit codes:\n")
		if !ok {
			t.Fatalf("%s --help lists no exit codes", cmd)
		}
		codes, _, _ = strings.Cut(codes, "\n\n")
		one, two, _ := strings.Cut(codes, "\n  2  ")
		// Lines wrap anywhere: compare words.
		one, two = strings.Join(strings.Fields(one), " "), strings.Join(strings.Fields(two), " ")
		if !strings.Contains(one, "no release") {
			t.Errorf("%s --help does not list 'no release' under exit 1:\n%s", cmd, codes)
		}
		if strings.Contains(two, "no release") {
			t.Errorf("%s --help lists 'no release' under exit 2:\n%s", cmd, codes)
		}
		if cmd == "status" && (strings.Contains(one, "locked") || !strings.Contains(one, "A held Lease alone is not a failure")) {
			t.Errorf("status --help lists a held Lease as a failure:\n%s", codes)
		}
	}
}
