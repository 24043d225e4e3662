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
		// The repeat trial (issue #18): helm's flags and Go's words.
		{"helm's upgrade --install", []string{"upgrade", "--install"}, "upgrade has no --install (helm's upgrade --install): `romanactl install` installs"},
		{"helm's history --max, not --as", []string{"history", "--max", "2"}, "history has no --max: it lists every revision kept, and romanactl keeps at most 10"},
		{"a bool flag's value in people's words", []string{"install", "--wait=maybe"}, `invalid argument "maybe" for "--wait" flag: write true or false`},
		{"--version without --chart", []string{"upgrade", "--version", "0.1.0"}, "--version 0.1.0: only an oci:// --chart has versions; without --chart romanactl uses its own chart"},
		{"images has subcommands", []string{"images", "pull"}, `unknown command "pull" for "romanactl images" (its commands: list, load, mirror, save)`},
		{"images subcommand typo", []string{"images", "lst"}, "did you mean list?"},
		{"--to with a scheme", []string{"images", "mirror", "--to", "https://registry.example.com/romana", "--dry-run"},
			"has a scheme (https://): a registry/org prefix is host[:port]/org, without one; write --to registry.example.com/romana"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := run(t, tt.args...)
			if r.code != 2 || !strings.Contains(r.stderr, tt.want) || strings.Contains(r.stderr, "strconv.") || strings.Contains(r.stderr, "name.Insecure") {
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

// TestMirrorToSaysWhatIsWrong: a --to with upper case says so and what to write; no
// error shows the reference romanactl makes to test the prefix.
func TestMirrorToSaysWhatIsWrong(t *testing.T) {
	tests := []struct{ to, want string }{
		{"Registry.Example.com/Romana", `--to "Registry.Example.com/Romana": upper case: image references are lower case only; write --to registry.example.com/romana`},
		{"registry.example.com/ro mana", `--to "registry.example.com/ro mana": not a registry/org prefix (could not parse reference: registry.example.com/ro mana); give host[:port]/org`},
	}
	for _, tt := range tests {
		t.Run(tt.to, func(t *testing.T) {
			r := run(t, "images", "mirror", "--to", tt.to, "--dry-run")
			if r.code != 2 || !strings.Contains(r.stderr, tt.want) || strings.Contains(r.stderr, "romana-check") {
				t.Errorf("exit %d, want 2 and %q in:\n%s", r.code, tt.want, r.stderr)
			}
		})
	}
}

// TestMirrorDryRunReadsNoRegistry: images mirror --dry-run prints the plan from the
// render alone, so a bastion that reaches no registry sees it; --read-registries reads
// them and says what is already there.
func TestMirrorDryRunReadsNoRegistry(t *testing.T) {
	// Nobody answers at 127.0.0.1:1, as on an air-gapped bastion.
	r := run(t, "images", "mirror", "--to", "127.0.0.1:2/romana", "--registry", "127.0.0.1:1/romana", "--dry-run")
	if r.code != 0 || !strings.Contains(r.stdout, "would copy 127.0.0.1:1/romana/agent:v0.9.3.5 -> 127.0.0.1:2/romana/agent:v0.9.3.5\n") ||
		!strings.Contains(r.stdout, "dry run: 6 to copy; no registry was read (--read-registries says which are already there) and nothing was written") {
		t.Fatalf("dry run without registries: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = run(t, "images", "mirror", "--to", "127.0.0.1:2/romana", "--registry", "127.0.0.1:1/romana", "--dry-run", "--read-registries")
	if r.code != 1 || !strings.Contains(r.stdout, "network:") {
		t.Errorf("--read-registries with no registry: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	// With registries that answer, --read-registries tells what is there already.
	src, _ := srcRegistry(t, "v0.9.3.7")
	args := []string{"--registry", src + "/romana", "--tag", "v0.9.3.7", "--insecure"}
	mustOK(t, run(t, append([]string{"images", "mirror", "--to", src + "/copy"}, args...)...))
	r = mustOK(t, run(t, append([]string{"images", "mirror", "--to", src + "/copy", "--dry-run", "--read-registries"}, args...)...))
	if !strings.Contains(r.stdout, "dry run: 0 to copy, 6 already there, 0 failed") {
		t.Errorf("--read-registries after a mirror:\n%s", r.stdout)
	}
	if r := run(t, "images", "mirror", "--to", "x.example/romana", "--read-registries"); r.code != 2 || !strings.Contains(r.stderr, "--read-registries: only with --dry-run") {
		t.Errorf("--read-registries without --dry-run: exit %d\n%s", r.code, r.stderr)
	}
}
