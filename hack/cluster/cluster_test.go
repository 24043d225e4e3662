package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/romana/romanactl/internal/testcluster"
	"github.com/romana/romanactl/internal/upstream"
)

// testCNI is a CNI plugin for the test, installed on the node as Romana's agent
// installs its own: ADD gives the pod's namespace an eth0 (one end of a veth pair, the
// other on the node) with an address, DEL removes the pair. It logs the namespace it
// was given, so that the test can see it go.
const testCNI = `#!/bin/bash
set -e
cat >/dev/null
echo "$CNI_COMMAND $CNI_NETNS" >> /opt/cni/bin/testcni.log
host=tc${CNI_CONTAINERID:0:8}
case $CNI_COMMAND in
ADD)
	ip=10.99.0.$((RANDOM % 200 + 2))
	nsenter --net="$CNI_NETNS" ip link add eth0 type veth peer name "$host" netns $$
	nsenter --net="$CNI_NETNS" ip addr add $ip/32 dev eth0
	nsenter --net="$CNI_NETNS" ip link set eth0 up
	ip link set "$host" up
	ip route add $ip/32 dev "$host"
	echo "{\"cniVersion\":\"0.3.1\",\"ips\":[{\"version\":\"4\",\"address\":\"$ip/32\"}]}" ;;
DEL)
	ip link del "$host" 2>/dev/null || true ;;
esac
`

// TestClusterRealNodesCLI runs bin/cluster as a person does: up with one real worker
// (and a real control-plane-0), exec on a node, a pod added through the node's CNI
// plugin, exec in it, deleted, and down, which leaves no process and no network
// namespace behind. The nodes emulate containerd, so that the pod's namespace is a
// named one that must go.
func TestClusterRealNodesCLI(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: needs the control plane (make controlplane) and Romana's programs (make romana-bin)")
	}
	src, romanaBin := upstream.RomanaSrc(t), upstream.RomanaBin(t)
	bin := filepath.Dir(romanaBin)
	tmp := t.TempDir()
	self := filepath.Join(tmp, "cluster")
	if out, err := exec.Command("go", "build", "-o", self, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	dir := filepath.Join(tmp, "c")
	cluster := func(timeout time.Duration, args ...string) (string, error) {
		t.Helper()
		cmd := exec.Command(self, args...)
		done := make(chan struct{})
		defer close(done)
		go func() {
			select {
			case <-done:
			case <-time.After(timeout):
				_ = cmd.Process.Kill()
			}
		}()
		out, err := cmd.CombinedOutput()
		t.Logf("cluster %s:\n%s", strings.Join(args, " "), out)
		return string(out), err
	}
	start := time.Now()
	if _, err := cluster(4*time.Minute, "up", "--dir", dir, "--bin", bin, "--workers", "0", "--real-nodes", "1", "--runtime", "containerd", "--romana-src", src); err != nil {
		log, _ := os.ReadFile(filepath.Join(dir, "serve.log"))
		t.Fatalf("cluster up: %v\nserve.log:\n%s", err, log)
	}
	t.Logf("cluster up with 2 real nodes in %.1fs", time.Since(start).Seconds())
	downed := false
	st, err := testcluster.ReadState(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if !downed {
			_, _ = cluster(2*time.Minute, "down", "--dir", dir)
		}
	})
	if len(st.Nodes) != 2 || st.Nodes[0].Name != "control-plane-0" || st.Nodes[1].Name != "worker-0" {
		t.Fatalf("published nodes %+v, want control-plane-0 and worker-0", st.Nodes)
	}

	out, err := cluster(time.Minute, "exec", "--dir", dir, "control-plane-0", "--", "ip", "-4", "addr", "show", "eth0")
	if err != nil || !strings.Contains(out, "inet 172.18.0.10/24") {
		t.Errorf("exec control-plane-0 ip -4 addr show eth0: %v, want 172.18.0.10/24 on eth0", err)
	}
	if out, err := cluster(time.Minute, "exec", "--dir", dir, "worker-0", "--", "hostname"); err != nil || strings.TrimSpace(out) != "worker-0" {
		t.Errorf("exec worker-0 hostname: %v, want worker-0", err)
	}
	var exit *exec.ExitError
	if _, err := cluster(time.Minute, "exec", "--dir", dir, "worker-0", "--", "sh", "-c", "exit 7"); !errorsAs(err, &exit) || exit.ExitCode() != 7 {
		t.Errorf("exec of a command that exits 7: %v, want exit code 7", err)
	}

	// A pod, attached through the CNI config and plugin installed on the node.
	w := st.Nodes[1]
	for path, data := range map[string]string{"opt/cni/bin/testcni": testCNI, "etc/cni/net.d/10-test.conf": `{"cniVersion":"0.3.1","name":"test","type":"testcni"}`} {
		if err := os.WriteFile(filepath.Join(w.Root, path), []byte(data), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	out, err = cluster(3*time.Minute, "pod", "add", "--dir", dir, "worker-0", "a")
	ip := strings.TrimSpace(out)
	if err != nil || !regexp.MustCompile(`^10\.99\.0\.\d+$`).MatchString(ip) {
		t.Fatalf("pod add worker-0 a: %v, want the address the plugin gave", err)
	}
	if out, err := cluster(time.Minute, "pod", "exec", "--dir", dir, "a", "--", "ip", "-4", "addr", "show", "eth0"); err != nil || !strings.Contains(out, "inet "+ip+"/32") {
		t.Errorf("pod exec a ip addr: %v, want %s on eth0", err, ip)
	}
	if out, err := cluster(time.Minute, "exec", "--dir", dir, "worker-0", "--", "ip", "route", "get", ip); err != nil || !strings.Contains(out, "dev tc") {
		t.Errorf("the node has no route to its pod %s through the plugin's veth: %v", ip, err)
	}
	logged, _ := os.ReadFile(filepath.Join(w.Root, "opt/cni/bin/testcni.log"))
	m := regexp.MustCompile(`ADD /var/run/netns/(cni-[0-9a-f-]+)`).FindStringSubmatch(string(logged))
	if m == nil {
		t.Fatalf("the plugin was not given a containerd namespace path:\n%s", logged)
	}
	if !slices.Contains(netnses(t), m[1]) {
		t.Errorf("the pod's namespace %s does not exist while it runs", m[1])
	}
	if _, err := cluster(2*time.Minute, "pod", "del", "--dir", dir, "a"); err != nil {
		t.Errorf("pod del a: %v", err)
	}
	logged, _ = os.ReadFile(filepath.Join(w.Root, "opt/cni/bin/testcni.log"))
	if !strings.Contains(string(logged), "DEL /var/run/netns/"+m[1]) {
		t.Errorf("pod del ran no CNI DEL for %s:\n%s", m[1], logged)
	}
	if slices.Contains(netnses(t), m[1]) {
		t.Errorf("the pod's namespace %s is left after pod del", m[1])
	}

	if _, err := cluster(3*time.Minute, "down", "--dir", dir); err != nil {
		t.Fatalf("cluster down: %v", err)
	}
	downed = true
	left := netnses(t)
	for _, ns := range append(st.NetNSes(), m[1]) {
		if slices.Contains(left, ns) {
			t.Errorf("network namespace %s is left after cluster down", ns)
		}
	}
	if pids := processesNaming(dir); len(pids) > 0 {
		t.Errorf("processes left after cluster down: %v", pids)
	}
}

func netnses(t *testing.T) []string {
	t.Helper()
	entries, err := os.ReadDir("/run/netns")
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		out = append(out, e.Name())
	}
	return out
}

// processesNaming are the processes whose command line names dir (every process of a
// background cluster does: its files are there).
func processesNaming(dir string) []string {
	entries, _ := os.ReadDir("/proc")
	var out []string
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && strings.Contains(string(cmdline), dir) {
			out = append(out, e.Name()+": "+strings.ReplaceAll(string(cmdline), "\x00", " "))
		}
	}
	return out
}

func errorsAs(err error, target **exec.ExitError) bool { return errors.As(err, target) }
