package main

import (
	"strings"
	"testing"
)

// TestSuggestions: a typo or a flag a command does not have is answered with what the
// user probably meant, as an input error (exit 2).
func TestSuggestions(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"flag typo", []string{"install", "--tga=v0.9.3"}, "unknown flag: --tga: did you mean --tag?"},
		{"flag typo, other command", []string{"template", "--clsuter-ip=10.96.0.9"}, "did you mean --cluster-ip?"},
		{"environment typo", []string{"template", "--env=kubadm"}, `--env "kubadm": unknown environment; did you mean --env=kubeadm? known: custom, kops, kubeadm`},
		{"upgrade has no dry run", []string{"upgrade", "--dry-run"}, "upgrade has no --dry-run: `romanactl diff` with the same flags shows what the upgrade would change"},
		{"auto offline", []string{"template", "--env=auto"}, "--env=auto detects the environment from a cluster, and this command reads none (it renders offline); give the environment by name, one of custom, kops, kubeadm"},
		{"auto offline, values", []string{"values", "--env=auto"}, "--env=auto detects the environment from a cluster"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := run(t, tt.args...)
			if r.code != 2 || !strings.Contains(r.stderr, tt.want) {
				t.Errorf("exit %d, want 2 and %q in:\n%s", r.code, tt.want, r.stderr)
			}
		})
	}
	// Nothing close: no guess.
	if r := run(t, "install", "--zzzzzzzz"); r.code != 2 || strings.Contains(r.stderr, "did you mean") {
		t.Errorf("a flag like no other got a suggestion: exit %d\n%s", r.code, r.stderr)
	}
}

// TestNoKubeconfigSaysWhatAUserHas: without any kubeconfig the error names the three
// places a user can give one, and no developer's make target.
func TestNoKubeconfigSaysWhatAUserHas(t *testing.T) {
	t.Setenv("KUBECONFIG", "")
	t.Setenv("HOME", t.TempDir())
	r := run(t, "status")
	if r.code != 2 {
		t.Fatalf("exit %d, want 2\n%s", r.code, r.stderr)
	}
	for _, want := range []string{"no kubeconfig found", "--kubeconfig", "KUBECONFIG", "~/.kube/config"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("%q missing from:\n%s", want, r.stderr)
		}
	}
	if strings.Contains(r.stderr, "make ") || strings.Contains(r.stderr, ".cluster/") {
		t.Errorf("a developer's step in a user's error:\n%s", r.stderr)
	}
}

// TestVersionCompatForPeople: version --compat prints the table of lines for a terminal
// (no Markdown, no regular expressions); -o markdown keeps the README's form.
func TestVersionCompatForPeople(t *testing.T) {
	r := mustOK(t, run(t, "version", "--compat"))
	for _, bad := range []string{"|", "`", "^v?", `\.`, "**"} {
		if strings.Contains(r.stdout, bad) {
			t.Errorf("version --compat prints %q to a terminal:\n%s", bad, r.stdout)
		}
	}
	for _, want := range []string{"v0.9.3 (tags v0.9.3, v0.9.3.*, v0.9.3-*, with or without the v): this chart drives it", "v1.x (tags v1, v1.*, v1-*, with or without the v): refused (exit 2)", "Any other tag: accepted"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("%q missing from:\n%s", want, r.stdout)
		}
	}
	md := mustOK(t, run(t, "version", "--compat", "-o", "markdown"))
	if !strings.HasPrefix(md.stdout, "| Line | Tags | This chart |") || !strings.Contains(md.stdout, "`^v?0\\.9\\.3([.-].*)?$`") {
		t.Errorf("version --compat -o markdown:\n%s", md.stdout)
	}
	if r := run(t, "version", "-o", "markdown"); r.code != 2 || !strings.Contains(r.stderr, "-o markdown: only the table of lines has a Markdown form; add --compat") {
		t.Errorf("version -o markdown without --compat: exit %d\n%s", r.code, r.stderr)
	}
}
