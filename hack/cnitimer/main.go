// Command cnitimer is the node's side of `make bench-cni` (cmd/romanactl's
// TestBenchCNI): run inside a real node of the test cluster (testcluster's NodeCommand:
// the node's network namespace, hostname, /opt/cni/bin and /etc/cni/net.d), it runs the
// node's CNI plugin for the pods of a job read from stdin and prints the times as JSON.
//
// For every pod in turn it execs the plugin as the container runtime does (CNI_* in the
// environment, the configuration on stdin), ADD and then DEL, and times each exec. With
// inProcess set it then runs romanactl's plugin (internal/cni) in this process over the
// same namespaces, ADD and DEL again, with the plugin's Observe hook timing each step:
// the split of the time between ipam, the agent and netlink.
package main

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"time"

	"github.com/containernetworking/cni/pkg/skel"

	"github.com/romana/romanactl/internal/cni"
)

type pod struct {
	Name  string `json:"name"`
	NetNS string `json:"netns"`
}

type job struct {
	Plugin    string `json:"plugin"`    // the plugin to exec, /opt/cni/bin/romana
	Conf      string `json:"conf"`      // the node's configuration file
	Namespace string `json:"namespace"` // the pods' Kubernetes namespace
	Warmup    pod    `json:"warmup"`    // attached until it works (the agent ready), not timed
	// WarmupFor bounds the warm-up's retries.
	WarmupFor time.Duration `json:"warmupFor"`
	Pods      []pod         `json:"pods"`
	InProcess bool          `json:"inProcess"`
}

// Result is what cnitimer prints; durations in nanoseconds.
type Result struct {
	Add, Del          []time.Duration
	InAdd, InDel      []time.Duration
	Steps             map[string][]time.Duration // "add/ipam", "del/agent", …
	WarmupTries       int
	WarmupTook        time.Duration
	FirstAddOut       string // the warm-up's ADD result
	Hostname          string
	WarmupLastFailure string   `json:",omitempty"`
	Failures          []string // the exec'd commands that failed and were tried again
}

func main() {
	if err := run(os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "cnitimer:", err)
		os.Exit(1)
	}
}

func run(in io.Reader, out io.Writer) error {
	var j job
	if err := json.NewDecoder(in).Decode(&j); err != nil {
		return fmt.Errorf("decode job: %w", err)
	}
	conf, err := os.ReadFile(j.Conf)
	if err != nil {
		return err
	}
	r := Result{Steps: map[string][]time.Duration{}}
	r.Hostname, _ = os.Hostname()

	// The warm-up: the agent and kube-cni-proxy answer only once they are up.
	start := time.Now()
	for {
		r.WarmupTries++
		id := newID()
		o, err := execPlugin(j, conf, "ADD", id, j.Warmup)
		if err == nil {
			r.FirstAddOut = string(o)
			if _, err := execPlugin(j, conf, "DEL", id, j.Warmup); err != nil {
				return fmt.Errorf("warm-up DEL: %w", err)
			}
			break
		}
		r.WarmupLastFailure = err.Error()
		_, _ = execPlugin(j, conf, "DEL", id, j.Warmup)
		if time.Since(start) > j.WarmupFor {
			return fmt.Errorf("warm-up ADD still failing after %s (%d tries): %w", j.WarmupFor, r.WarmupTries, err)
		}
		time.Sleep(2 * time.Second)
	}
	r.WarmupTook = time.Since(start)

	// A failed exec is counted and retried, as the kubelet retries: a few tries, a
	// second apart. The time kept is the successful try's.
	timed := func(i int, command, id string, p pod) (time.Duration, error) {
		for try := 1; ; try++ {
			t := time.Now()
			_, err := execPlugin(j, conf, command, id, p)
			if err == nil {
				return time.Since(t), nil
			}
			r.Failures = append(r.Failures, fmt.Sprintf("pod %d %s try %d after %s: %v", i, command, try, time.Since(t).Round(time.Millisecond), err))
			if try == 3 {
				return 0, fmt.Errorf("pod %d (%s) %s: %w", i, p.Name, command, err)
			}
			time.Sleep(time.Second)
		}
	}
	for i, p := range j.Pods {
		id := newID()
		d, err := timed(i, "ADD", id, p)
		if err != nil {
			return err
		}
		r.Add = append(r.Add, d)
		if d, err = timed(i, "DEL", id, p); err != nil {
			return err
		}
		r.Del = append(r.Del, d)
	}

	if j.InProcess {
		prefix := ""
		pl := &cni.Plugin{Stdout: io.Discard, Observe: func(step string, d time.Duration) {
			r.Steps[prefix+step] = append(r.Steps[prefix+step], d)
		}}
		for i, p := range j.Pods {
			a := &skel.CmdArgs{ContainerID: newID(), Netns: p.NetNS, IfName: "eth0", Args: cniArgs(j, p), StdinData: conf}
			prefix = "add/"
			t := time.Now()
			if err := pl.Add(a); err != nil {
				return fmt.Errorf("pod %d (%s) in-process ADD: %w", i, p.Name, err)
			}
			r.InAdd = append(r.InAdd, time.Since(t))
			prefix = "del/"
			t = time.Now()
			err := pl.Del(a)
			for try := 2; err != nil && try <= 3; try++ {
				r.Failures = append(r.Failures, fmt.Sprintf("pod %d in-process DEL try %d: %v", i, try-1, err))
				time.Sleep(time.Second)
				t = time.Now()
				err = pl.Del(a)
			}
			if err != nil {
				return fmt.Errorf("pod %d (%s) in-process DEL: %w", i, p.Name, err)
			}
			r.InDel = append(r.InDel, time.Since(t))
		}
	}
	return json.NewEncoder(out).Encode(r)
}

func cniArgs(j job, p pod) string {
	return fmt.Sprintf("IgnoreUnknown=1;K8S_POD_NAMESPACE=%s;K8S_POD_NAME=%s", j.Namespace, p.Name)
}

// execPlugin runs the plugin as the runtime does (testcluster's cni): CNI_* added to
// the runtime's own environment, the configuration on stdin.
func execPlugin(j job, conf []byte, command, id string, p pod) ([]byte, error) {
	cmd := exec.Command(j.Plugin)
	cmd.Env = append(os.Environ(), "CNI_COMMAND="+command, "CNI_CONTAINERID="+id, "CNI_NETNS="+p.NetNS,
		"CNI_IFNAME=eth0", "CNI_PATH=/opt/cni/bin", "CNI_ARGS="+cniArgs(j, p)+";K8S_POD_INFRA_CONTAINER_ID="+id)
	var stdout, stderr bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = bytes.NewReader(conf), &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.Bytes(), fmt.Errorf("CNI %s: %v: %s %s", command, err, bytes.TrimSpace(stdout.Bytes()), bytes.TrimSpace(stderr.Bytes()))
	}
	return stdout.Bytes(), nil
}

func newID() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
