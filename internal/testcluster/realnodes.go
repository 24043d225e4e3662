package testcluster

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	corev1 "k8s.io/api/core/v1"
)

// RealNodes are process nodes that run every pod bound to them for real, with Romana's
// own programs standing in for its images: a control-plane node and workers.
type RealNodes struct {
	Nodes []*ProcessNode
}

// RealNodeIP is the address of the i-th real node (the control plane is 0) on the
// process nodes' network.
func RealNodeIP(i int) string { return fmt.Sprintf("172.18.0.%d", 10+i) }

// AddRealNodes adds a control-plane node (control-plane-0, unless noControlPlane) and
// workers (worker-0, …) run by this machine, every pod of theirs for real: Romana's
// images are the programs in romanaBin and the files of romanaSrc (RomanaImages),
// registry.k8s.io/kubectl is kubectl, and romanactl-cni is cniPlugin. Each node reaches the API server at its own
// address (ForwardAPIServer), as a node reaches the kubernetes Service.
func (c *Cluster) AddRealNodes(ctx context.Context, workers int, noControlPlane bool, runtime, romanaBin, romanaSrc, kubectl, cniPlugin string) (*RealNodes, error) {
	stateDir, err := os.MkdirTemp("", "romana-images-")
	if err != nil {
		return nil, err
	}
	images, err := RomanaImages(romanaBin, romanaSrc, kubectl, cniPlugin, stateDir)
	if err != nil {
		return nil, err
	}
	rn := &RealNodes{}
	all := func(*corev1.Pod) bool { return true }
	add := func(name string, cp bool, i int) error {
		n, err := c.AddNodeProcesses(ctx, NodeOptions{Name: name, ControlPlane: cp, IP: RealNodeIP(i), Run: all, Images: images, Runtime: runtime})
		if err != nil {
			return err
		}
		rn.Nodes = append(rn.Nodes, n)
		return n.ForwardAPIServer()
	}
	if !noControlPlane {
		if err := add("control-plane-0", true, 0); err != nil {
			rn.Stop()
			return nil, err
		}
	}
	for i := range workers {
		if err := add(fmt.Sprintf("worker-%d", i), false, i+1); err != nil {
			rn.Stop()
			return nil, err
		}
	}
	return rn, nil
}

// Node is the real node of that name, nil when there is none.
func (rn *RealNodes) Node(name string) *ProcessNode {
	for _, n := range rn.Nodes {
		if n.Name == name {
			return n
		}
	}
	return nil
}

// Stop stops every real node and its processes.
func (rn *RealNodes) Stop() {
	for _, n := range rn.Nodes {
		n.Stop()
	}
}

// RomanaBinDir is where `make romana-bin` puts Romana's programs, under the bin
// directory.
func RomanaBinDir(bin string) string { return filepath.Join(bin, "romana-v0.9.3.5") }
