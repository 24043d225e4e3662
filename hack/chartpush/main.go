// Command chartpush pushes a packaged chart to an OCI registry with the Helm SDK's
// registry client (make chart-push).
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/romana/romanactl/internal/chartsrc"
)

func main() {
	reg := flag.String("registry", "", "host[:port]/path to push to")
	plain := flag.Bool("plain-http", false, "plain HTTP (loopback registries are detected)")
	flag.Parse()
	if *reg == "" || flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: chartpush --registry host:port/org [--plain-http] romana-X.Y.Z.tgz")
		os.Exit(2)
	}
	ref, digest, err := chartsrc.Push(flag.Arg(0), *reg, *plain)
	if err != nil {
		fmt.Fprintln(os.Stderr, "chart-push:", err)
		os.Exit(1)
	}
	fmt.Printf("pushed %s (%s)\nhelm install romana %s --version <chart version> -n kube-system\n", ref, digest, ref)
}
