package main

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"github.com/romana/romanactl/internal/install"
)

// TestClusterWrongEnvironment: on a kubeadm cluster (the shared one has kubeadm-config),
// --env=kops is named as the wrong environment: a ‼ with the evidence in check --pre,
// and the first thing an upgrade says (not a clusterIP change asking for
// --recreate-root-service).
func TestClusterWrongEnvironment(t *testing.T) {
	cluster(t)
	env := envCheckOf(t, rc(t, "check", "--pre", "--env=kops", "-o", "json"))
	if env.Severity != install.Warn || !strings.Contains(env.Message, "looks like kubeadm") ||
		!strings.Contains(env.Message, "kubeadm-config exists") || !strings.Contains(env.Fix, "--env=kubeadm") {
		t.Errorf("check --pre --env=kops on a kubeadm cluster: %+v", env)
	}
	// The environment detection finds passes.
	if env := envCheckOf(t, rc(t, "check", "--pre", "--env=kubeadm", "-o", "json")); env.Severity != install.Pass {
		t.Errorf("check --pre --env=kubeadm: %+v", env)
	}
	// In the table, the ‼ line comes with its evidence.
	r := rc(t, "check", "--pre", "--env=kops")
	if !regexp.MustCompile(`‼ environment +environment kops \(--env=kops\) does not match the cluster, which looks like kubeadm: ConfigMap kube-system/kubeadm-config exists`).MatchString(r.stdout) {
		t.Errorf("check --pre --env=kops:\n%s", r.stdout)
	}

	mustOK(t, rc(t, "install", "--timeout=2m"))
	r = rc(t, "upgrade", "--env=kops")
	if r.code != 2 || !strings.Contains(r.stderr, "--env=kops does not match the cluster, which looks like kubeadm: ConfigMap kube-system/kubeadm-config exists") ||
		strings.Contains(r.stderr, "--recreate-root-service") || !strings.Contains(r.stderr, "nothing was changed") {
		t.Errorf("upgrade --env=kops on a kubeadm cluster: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if n := len(releaseSecrets(t)); n != 1 {
		t.Errorf("the refused upgrade wrote a revision: %d", n)
	}
}

// envCheckOf returns the environment check of a check --pre -o json.
func envCheckOf(t *testing.T, r result) install.Check {
	t.Helper()
	var rep install.Report
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("%v\n%s%s", err, r.stdout, r.stderr)
	}
	for _, c := range rep.Checks {
		if c.Name == "environment" {
			return c
		}
	}
	t.Fatalf("no environment check:\n%s", r.stdout)
	return install.Check{}
}

// TestClusterDiffExitCode: diff --exit-code exits 1 when there are changes (the diff
// printed, no Error: line) and 0 when there are none; without it, 0 either way.
func TestClusterDiffExitCode(t *testing.T) {
	cluster(t)
	mustOK(t, rc(t, "install", "--timeout=2m"))
	r := rc(t, "diff", "--exit-code")
	if r.code != 0 || !strings.Contains(r.stdout, "No changes.") {
		t.Errorf("diff --exit-code without changes: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = rc(t, "diff", "--exit-code", "--tag=v9")
	if r.code != 1 || !strings.Contains(r.stdout, "image: quay.io/romana/agent:v9") || strings.Contains(r.stderr, "Error:") {
		t.Errorf("diff --exit-code with changes: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = rc(t, "diff", "--exit-code", "--tag=v9", "-o", "json")
	if r.code != 1 || !strings.Contains(r.stdout, "agent:v9") {
		t.Errorf("diff --exit-code -o json with changes: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = rc(t, "diff", "--tag=v9")
	if r.code != 0 {
		t.Errorf("diff with changes, without --exit-code: exit %d\n%s", r.code, r.stderr)
	}
}
