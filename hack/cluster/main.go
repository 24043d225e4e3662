// Command cluster runs the local control plane in the background for `make
// cluster-up`, `make cluster-down` and `make demo`:
//
//	cluster up [--dir .cluster] [--bin bin] [--workers 3] [--k8s 1.37]
//	cluster down [--dir .cluster]
//	cluster serve ...   (what up starts, detached)
package main

import (
	"context"
	"flag"
	"fmt"
	"os"

	"github.com/romana/romanactl/internal/testcluster"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: cluster up|down|serve [--dir DIR] [--bin DIR] [--workers N]")
		os.Exit(2)
	}
	fs := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	dir := fs.String("dir", ".cluster", "directory for the kubeconfig, logs and data")
	bin := fs.String("bin", "bin", "directory with the control-plane binaries (make controlplane)")
	workers := fs.Int("workers", 3, "simulated worker nodes, besides one control-plane node")
	minor := fs.String("k8s", "", "Kubernetes minor to run, from bin/<minor>/ (default $ROMANACTL_K8S, then the newest)")
	_ = fs.Parse(os.Args[2:])
	o := testcluster.Options{BinDir: *bin, Dir: *dir, Workers: *workers, Minor: *minor, Log: os.Stdout}
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintln(os.Stderr, "Error:", err)
		os.Exit(1)
	}
	ctx := context.Background()
	switch os.Args[1] {
	case "up":
		err = testcluster.Up(ctx, self, o, os.Stdout)
	case "down":
		err = testcluster.Down(*dir, os.Stdout)
	case "serve":
		err = testcluster.Serve(ctx, o)
	default:
		fmt.Fprintf(os.Stderr, "unknown command %q: use up, down or serve\n", os.Args[1])
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "Error:", err)
		os.Exit(1)
	}
}
