package testcluster

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
)

// stateFile is what a background cluster with real nodes publishes in its directory
// for the commands that are not the serve process (bin/cluster exec, pod, down).
const stateFile = "nodes.json"

// State is what a background cluster publishes about its real nodes: enough for
// `cluster down` to remove their network namespaces when the serve process is gone,
// and for a person to find them (`ip netns exec NETNS …`, the node's files under Root).
type State struct {
	// Socket is the serve process's control socket (bin/cluster exec and pod exec).
	Socket string `json:"socket"`
	// SwitchNetNS is the namespace of the node network's switch.
	SwitchNetNS string `json:"switchNetns,omitempty"`
	// Nodes are the real nodes, control-plane-0 first.
	Nodes []NodeState `json:"nodes"`
}

// NodeState is one real node as State publishes it.
type NodeState struct {
	Name string `json:"name"`
	IP   string `json:"ip"`
	// NetNS is the node's network namespace, under /run/netns.
	NetNS string `json:"netns"`
	// Root holds the node's own files (hostPath volumes, /etc/cni/net.d, /opt/cni/bin).
	Root string `json:"root"`
	// Runtime is the container runtime the node emulates (docker or containerd).
	Runtime string `json:"runtime"`
}

// State is what the cluster publishes for its real nodes (none: no nodes).
func (c *Cluster) State(rn *RealNodes, socket string) State {
	st := State{Socket: socket, Nodes: []NodeState{}}
	if c.net != nil {
		st.SwitchNetNS = c.net.ns
	}
	if rn != nil {
		for _, n := range rn.Nodes {
			st.Nodes = append(st.Nodes, NodeState{Name: n.Name, IP: n.IP, NetNS: n.NetNS, Root: n.Root, Runtime: n.Runtime})
		}
	}
	return st
}

// NetNSes are the network namespaces the state names: the switch's and each node's.
func (st State) NetNSes() []string {
	var out []string
	if st.SwitchNetNS != "" {
		out = append(out, st.SwitchNetNS)
	}
	for _, n := range st.Nodes {
		out = append(out, n.NetNS)
	}
	return out
}

// Node is the real node of that name. The error lists the real nodes, and says that
// the others are kwok's (they run nothing).
func (st State) Node(name string) (NodeState, error) {
	var names []string
	for _, n := range st.Nodes {
		if n.Name == name {
			return n, nil
		}
		names = append(names, n.Name)
	}
	if len(names) == 0 {
		return NodeState{}, fmt.Errorf("node %q: this cluster has no real nodes (kwok's nodes run nothing); start one with `make cluster-up REAL_NODES=1` (or `cluster up --real-nodes 1`)", name)
	}
	return NodeState{}, fmt.Errorf("node %q is not a real node of this cluster: the real ones are %s (kwok's nodes run nothing; `kubectl get nodes -l type=process` lists the real ones)", name, strings.Join(names, ", "))
}

// WriteState publishes st in dir (atomically: a reader sees the old file or the new one).
func WriteState(dir string, st State) error {
	data, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	tmp := filepath.Join(dir, stateFile+".tmp")
	if err := os.WriteFile(tmp, append(data, '\n'), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(dir, stateFile))
}

// ReadState reads what the background cluster in dir published.
func ReadState(dir string) (State, error) {
	var st State
	data, err := os.ReadFile(filepath.Join(dir, stateFile))
	if errors.Is(err, os.ErrNotExist) {
		return st, fmt.Errorf("no cluster is up in %s (no %s): start one with `make cluster-up` (or `cluster up --dir %s`)", dir, stateFile, dir)
	}
	if err != nil {
		return st, err
	}
	if err := json.Unmarshal(data, &st); err != nil {
		return st, fmt.Errorf("%s: %w (remove the cluster with `make cluster-down` and start it again)", filepath.Join(dir, stateFile), err)
	}
	return st, nil
}

// removeNetNSes deletes the network namespaces st names that still exist (a serve
// process that was killed leaves them), and returns how many it deleted.
func removeNetNSes(st State) int {
	n := 0
	for _, ns := range st.NetNSes() {
		if ns == "" || strings.ContainsAny(ns, "/.") || !slices.Contains(listNetNS(), ns) {
			continue
		}
		if err := deleteNetNS(ns); err == nil {
			n++
		}
	}
	return n
}

// listNetNS lists the named network namespaces (ip netns add puts them in /run/netns).
func listNetNS() []string {
	entries, _ := os.ReadDir("/run/netns")
	out := make([]string, 0, len(entries))
	for _, e := range entries {
		out = append(out, e.Name())
	}
	return out
}

func deleteNetNS(name string) error {
	if out, err := exec.Command("ip", "netns", "delete", name).CombinedOutput(); err != nil {
		return fmt.Errorf("ip netns delete %s: %v: %s", name, err, out)
	}
	return nil
}
