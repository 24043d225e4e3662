package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/romana/romanactl/internal/testcluster"
)

const usage = `usage:
  cluster up [--dir .cluster] [--bin bin] [--workers 3] [--k8s 1.37] [--real-nodes 0] [--runtime docker|containerd] [--romana-src DIR]
  cluster down [--dir .cluster]
  cluster exec [--dir .cluster] NODE -- CMD...
  cluster pod add [--dir .cluster] [--timeout 2m] NODE NAME
  cluster pod exec [--dir .cluster] NAME -- CMD...
  cluster pod del [--dir .cluster] [--timeout 2m] NAME`

// invocation is one command line, parsed.
type invocation struct {
	// cmd is up, down, serve, exec, "pod add", "pod exec" or "pod del".
	cmd     string
	dir     string
	serve   testcluster.ServeOptions
	node    string
	pod     string
	argv    []string
	timeout time.Duration
}

// parse reads a command line (without the program's name). Flags come before the
// command's operands; a command to run follows NODE or NAME, after --.
func parse(args []string) (invocation, error) {
	var inv invocation
	if len(args) == 0 {
		return inv, errors.New("no command")
	}
	inv.cmd, args = args[0], args[1:]
	if inv.cmd == "pod" {
		if len(args) == 0 {
			return inv, errors.New("pod: give add, exec or del")
		}
		inv.cmd, args = "pod "+args[0], args[1:]
	}
	fs := flag.NewFlagSet(inv.cmd, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&inv.dir, "dir", ".cluster", "directory for the kubeconfig, logs and data")
	switch inv.cmd {
	case "up", "serve":
		o := &inv.serve
		fs.StringVar(&o.BinDir, "bin", "bin", "directory with the control-plane binaries (make controlplane)")
		fs.IntVar(&o.Workers, "workers", 3, "simulated (kwok) worker nodes")
		fs.StringVar(&o.Minor, "k8s", "", "Kubernetes minor to run, from bin/<minor>/ (default $ROMANACTL_K8S, then the newest)")
		fs.IntVar(&o.RealNodes, "real-nodes", 0, "real workers (with a real control-plane-0) run by this machine")
		fs.StringVar(&o.Runtime, "runtime", testcluster.RuntimeDocker, "the container runtime each real node emulates: docker or containerd")
		fs.StringVar(&o.RomanaSrc, "romana-src", os.Getenv("ROMANA_SRC"), "Romana's v0.9.3.5 source tree (default $ROMANA_SRC, then ../shared/romana-v0.9.3.5)")
	case "down", "exec", "pod exec":
	case "pod add", "pod del":
		fs.DurationVar(&inv.timeout, "timeout", 2*time.Minute, "how long to wait for the pod's address (add) or its removal (del)")
	default:
		return inv, fmt.Errorf("unknown command %q", strings.TrimPrefix(inv.cmd, "pod "))
	}
	if err := fs.Parse(args); err != nil {
		return inv, fmt.Errorf("%s: %w", inv.cmd, err)
	}
	inv.serve.Dir = inv.dir
	rest := fs.Args()
	// operands are what comes before --; argv what comes after.
	ops, argv := rest, []string(nil)
	for i, a := range rest {
		if a == "--" {
			ops, argv = rest[:i], rest[i+1:]
			break
		}
	}
	// flag.Parse drops the first -- when no operand comes before it.
	if used := len(args) - len(rest); used > 0 && args[used-1] == "--" {
		ops, argv = nil, rest
	}
	want := map[string][]string{"up": nil, "serve": nil, "down": nil, "exec": {"NODE"}, "pod exec": {"NAME"}, "pod add": {"NODE", "NAME"}, "pod del": {"NAME"}}[inv.cmd]
	takesCmd := inv.cmd == "exec" || inv.cmd == "pod exec"
	if !takesCmd && argv != nil {
		return inv, fmt.Errorf("%s takes no command after --", inv.cmd)
	}
	if takesCmd && argv == nil && len(ops) > len(want) {
		return inv, fmt.Errorf("%s: put the command after --, e.g. cluster %s %s -- %s", inv.cmd, inv.cmd, ops[0], strings.Join(ops[1:], " "))
	}
	if len(ops) != len(want) {
		return inv, fmt.Errorf("%s takes %s, got %q", inv.cmd, operands(want), ops)
	}
	if takesCmd && len(argv) == 0 {
		return inv, fmt.Errorf("%s: give the command to run after --, e.g. cluster %s %s -- ip route", inv.cmd, inv.cmd, want[0])
	}
	inv.argv = argv
	switch inv.cmd {
	case "exec":
		inv.node = ops[0]
	case "pod exec", "pod del":
		inv.pod = ops[0]
	case "pod add":
		inv.node, inv.pod = ops[0], ops[1]
	}
	if inv.timeout < 0 {
		return inv, fmt.Errorf("%s --timeout %s: must be positive", inv.cmd, inv.timeout)
	}
	return inv, nil
}

func operands(names []string) string {
	if len(names) == 0 {
		return "no operands"
	}
	return strings.Join(names, " ")
}
