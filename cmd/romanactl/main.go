// Command romanactl installs and upgrades the Romana network plugin on Kubernetes.
package main

import (
	"fmt"
	"os"
)

func main() {
	root := newRootCmd(os.Stdout, os.Stderr)
	err := root.Execute()
	if err == nil {
		return
	}
	fmt.Fprintf(os.Stderr, "Error: %v\n", err)
	os.Exit(exitCode(err))
}
