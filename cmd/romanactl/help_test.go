package main

import (
	"slices"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// TestEveryCommandHelp: every command's --help has examples and its own exit codes;
// only the commands that reach a cluster show the kubeconfig flags; --env's value name
// is not mangled from its usage text.
func TestEveryCommandHelp(t *testing.T) {
	root := newRootCmd(nil, nil)
	if !slices.ContainsFunc(root.Commands(), func(c *cobra.Command) bool { return c.Name() == "completion" }) {
		t.Fatal("the completion command is not in the tree, so its help would go unchecked")
	}
	cluster := map[string]bool{"install": true, "upgrade": true, "diff": true, "status": true, "history": true,
		"rollback": true, "recover": true, "uninstall": true, "check": true, "sysdump": true, "migrate": true}
	var walk func(c *cobra.Command)
	n := 0
	walk = func(c *cobra.Command) {
		for _, sub := range c.Commands() {
			walk(sub)
		}
		if c == root || !c.IsAvailableCommand() && c.Name() != "help" {
			return
		}
		n++
		path := strings.TrimPrefix(c.CommandPath(), "romanactl ")
		r := run(t, append(strings.Fields(path), "--help")...)
		if r.code != 0 {
			t.Errorf("%s --help: exit %d %s", path, r.code, r.stderr)
			return
		}
		if !strings.Contains(r.stdout, "Examples:\n") {
			t.Errorf("%s --help has no examples", path)
		}
		if !strings.Contains(r.stdout, "Exit codes:\n  0  ") || !strings.Contains(r.stdout, "\n  2  ") {
			t.Errorf("%s --help lists no exit codes:\n%s", path, r.stdout)
		}
		if got := strings.Contains(r.stdout, "--kubeconfig"); got != cluster[c.Name()] {
			t.Errorf("%s --help shows --kubeconfig: %v, want %v", path, got, cluster[c.Name()])
		}
		if strings.Contains(r.stdout, "--env romanactl") {
			t.Errorf("%s: --env's value name comes from its usage text", path)
		}
	}
	walk(root)
	if n < 20 {
		t.Errorf("only %d commands checked", n)
	}
}

func TestHelpUnknownTopicAndCompletion(t *testing.T) {
	if r := run(t, "help", "nosuch"); r.code != 2 || !strings.Contains(r.stderr, `unknown help topic "nosuch"`) {
		t.Errorf("help nosuch: exit %d %s", r.code, r.stderr)
	}
	if r := run(t, "help", "images", "mirror"); r.code != 0 || !strings.Contains(r.stdout, "--to") {
		t.Errorf("help images mirror: exit %d", r.code)
	}
	// Where auto is the default (cluster commands), completion offers it; offline it
	// cannot detect anything and does not.
	if r := run(t, "__complete", "install", "--env", ""); !strings.Contains(r.stdout, "auto\n") || !strings.Contains(r.stdout, "kubeadm\n") {
		t.Errorf("install --env completion:\n%s", r.stdout)
	}
	if r := run(t, "__complete", "template", "--env", ""); strings.Contains(r.stdout, "auto\n") || !strings.Contains(r.stdout, "kops\n") {
		t.Errorf("template --env completion:\n%s", r.stdout)
	}
}
