package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/romana/romanactl/internal/testcluster"
)

// benchCNIPods is how many pods each plugin attaches and detaches, one after another.
const benchCNIPods = 100

// cniTimes is what hack/cnitimer reports from inside the node.
type cniTimes struct {
	Add, Del          []time.Duration
	InAdd, InDel      []time.Duration
	Steps             map[string][]time.Duration
	WarmupTries       int
	WarmupTook        time.Duration
	FirstAddOut       string
	Hostname          string
	WarmupLastFailure string
	Failures          []string
}

// TestBenchCNI is `make bench-cni`: the CNI plugin's ADD and DEL time on the
// real-program tier. For each plugin it starts a real cluster (control-plane-0 and
// worker-0 running Romana v0.9.3.5's programs), installs Romana with romanactl, and on
// worker-0 runs the installed /opt/cni/bin/romana for benchCNIPods pods, ADD then DEL,
// exec'd as the container runtime does (hack/cnitimer, run as the node's own program):
// romanactl's plugin on a containerd-style node (pod namespaces under /var/run/netns),
// v0.9.3.5's own (the wrapper and the quay.io/romana/cni script, through the node's
// docker) on a Docker-style node (/proc/PID/ns/net). romanactl's plugin then runs once
// more in cnitimer's own process over the same namespaces, its Observe hook timing each
// step. Every pod is a Pending Pod object whose node selector matches no node, so that
// kube-cni-proxy's `kubectl get pod` finds it and nothing else runs it. The figures go
// to $ROMANACTL_BENCH_CNI_OUT as Markdown.
func TestBenchCNI(t *testing.T) {
	out := os.Getenv("ROMANACTL_BENCH_CNI_OUT")
	if out == "" {
		t.Skip("SKIPPED: the CNI plugin bench runs with `make bench-cni` (ROMANACTL_BENCH_CNI_OUT names the file for its figures)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 14*time.Minute)
	defer cancel()
	helper := filepath.Join(t.TempDir(), "cnitimer")
	build := exec.Command("go", "build", "-trimpath", "-o", helper, "../../hack/cnitimer")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build hack/cnitimer: %v\n%s", err, b)
	}

	var ours, theirs *cniTimes
	t.Run("romanactl", func(t *testing.T) {
		ours = benchCNI(t, ctx, testcluster.RuntimeContainerd, "romanactl", helper)
	})
	t.Run("upstream", func(t *testing.T) {
		theirs = benchCNI(t, ctx, testcluster.RuntimeDocker, "upstream", helper)
	})
	if ours == nil {
		t.Fatal("no figures for romanactl's plugin")
	}
	md := cniMarkdown(ours, theirs)
	t.Logf("\n%s", md)
	if err := os.WriteFile(out, []byte(md), 0o644); err != nil {
		t.Fatal(err)
	}
	if m := median(ours.Add); m > 50*time.Millisecond {
		t.Logf("GOAL MISSED: romanactl's ADD median %s > 50 ms", ms(m))
	}
}

func benchCNI(t *testing.T, ctx context.Context, runtime, plugin, helper string) *cniTimes {
	rc := startRealCluster(t, ctx, 1, runtime)
	const cp, w0 = "control-plane-0", "worker-0"
	r := run(t, append([]string{"install", "--env=kubeadm", "--cni-plugin=" + plugin, "--skip-check", "images-exist", "--timeout=5m"}, rc.kc...)...)
	mustOK(t, r)
	rc.waitBlocks(t, ctx, []string{cp, w0})
	node := rc.nodes.Node(w0)
	confDir := filepath.Join(node.Root, "etc/cni/net.d")
	var conf string
	if err := eventually(ctx, 3*time.Minute, func() error {
		if _, err := os.Stat(filepath.Join(node.Root, "opt/cni/bin/romana")); err != nil {
			return err
		}
		entries, err := os.ReadDir(confDir)
		if err != nil {
			return err
		}
		for _, e := range entries {
			if ext := filepath.Ext(e.Name()); ext == ".conf" || ext == ".conflist" || ext == ".json" {
				conf = "/etc/cni/net.d/" + e.Name()
				return nil
			}
		}
		return fmt.Errorf("no CNI configuration in /etc/cni/net.d on %s", w0)
	}); err != nil {
		t.Fatalf("the %s plugin never landed on %s: %v", plugin, w0, err)
	}
	if plugin == "romanactl" && conf != "/etc/cni/net.d/10-romana.conf" {
		t.Fatalf("romanactl's configuration is %s, not /etc/cni/net.d/10-romana.conf", conf)
	}

	// The pods: Pending, for a node that no node is. Not bound to a missing node's name:
	// the pod garbage collector deletes those after 40 s.
	podOf := func(i int) string { return fmt.Sprintf("bench-cni-%03d", i) }
	for i := 0; i <= benchCNIPods; i++ {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: podOf(i), Namespace: "default"}, Spec: corev1.PodSpec{
			NodeSelector: map[string]string{"romanactl.bench/cni": "nowhere"}, AutomountServiceAccountToken: ptrTo(false),
			Containers: []corev1.Container{{Name: "main", Image: "registry.k8s.io/pause:3.10"}}}}
		if _, err := rc.Client.CoreV1().Pods("default").Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	// Their network namespaces, as the runtime makes them.
	netns := make([]string, benchCNIPods+1)
	for i := range netns {
		netns[i] = benchPodNetNS(t, runtime)
	}
	type pod struct {
		Name  string `json:"name"`
		NetNS string `json:"netns"`
	}
	job := struct {
		Plugin    string        `json:"plugin"`
		Conf      string        `json:"conf"`
		Namespace string        `json:"namespace"`
		Warmup    pod           `json:"warmup"`
		WarmupFor time.Duration `json:"warmupFor"`
		Pods      []pod         `json:"pods"`
		InProcess bool          `json:"inProcess"`
	}{Plugin: "/opt/cni/bin/romana", Conf: conf, Namespace: "default", Warmup: pod{podOf(0), netns[0]},
		WarmupFor: 3 * time.Minute, InProcess: plugin == "romanactl"}
	for i := 1; i <= benchCNIPods; i++ {
		job.Pods = append(job.Pods, pod{podOf(i), netns[i]})
	}
	// The helper runs from the node's own /usr/local/bin, which its view has.
	if err := copyFile(helper, filepath.Join(node.Root, "usr/local/bin/cnitimer")); err != nil {
		t.Fatal(err)
	}
	in, _ := json.Marshal(job)
	cmd, err := node.NodeCommand(ctx, nil, "/usr/local/bin/cnitimer")
	if err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = bytes.NewReader(in), &stdout, &stderr
	if err := cmd.Run(); err != nil {
		log, _ := rc.inNode(t, w0, "sh", "-c", "tail -n 40 /var/log/romana-cni.log 2>/dev/null")
		t.Fatalf("cnitimer on %s (%s plugin): %v\n%s\n/var/log/romana-cni.log:\n%s\nthe services' logs:\n%s", w0, plugin, err, stderr.String(), log, rc.servicesLogs(t))
	}
	var res cniTimes
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
		t.Fatalf("cnitimer's answer %q: %v", stdout.String(), err)
	}
	if len(res.Add) != benchCNIPods || len(res.Del) != benchCNIPods {
		t.Fatalf("cnitimer timed %d ADDs and %d DELs, not %d", len(res.Add), len(res.Del), benchCNIPods)
	}
	t.Logf("%s plugin on %s (%s): warm-up %d tries, %s; first ADD: %s", plugin, w0, runtime, res.WarmupTries, res.WarmupTook.Round(time.Millisecond), strings.TrimSpace(res.FirstAddOut))
	t.Logf("%s: ADD %s, DEL %s", plugin, quantiles(res.Add), quantiles(res.Del))
	for _, f := range res.Failures {
		t.Logf("%s: failed and tried again: %s", plugin, f)
	}
	// romanactl's DEL removes the pod's veth. v0.9.3.5's leaves it to go with the pod's
	// namespace, which the runtime removes after the DEL (here: when the test ends).
	if b, err := node.InNetNS("ip", "-o", "link", "show"); plugin == "romanactl" && (err != nil || strings.Contains(string(b), "veth0-")) {
		t.Errorf("veths left on %s after the DELs (%v):\n%s", w0, err, b)
	}
	return &res
}

// benchPodNetNS makes a pod's network namespace as the runtime does (testcluster's
// startSandbox): containerd's under /var/run/netns, Docker's a pause process's
// /proc/PID/ns/net; lo up. It goes when the test ends.
func benchPodNetNS(t *testing.T, runtime string) string {
	t.Helper()
	var path string
	if runtime == testcluster.RuntimeContainerd {
		name := "bench-cni-" + randHex(6)
		if b, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
			t.Fatalf("ip netns add %s: %v: %s", name, err, b)
		}
		t.Cleanup(func() { _ = exec.Command("ip", "netns", "delete", name).Run() })
		path = "/var/run/netns/" + name
	} else {
		pause := exec.Command("unshare", "-n", "sleep", "infinity")
		pause.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if err := pause.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = pause.Process.Kill(); _ = pause.Wait() })
		path = fmt.Sprintf("/proc/%d/ns/net", pause.Process.Pid)
		self, _ := os.Readlink("/proc/self/ns/net")
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
			if l, err := os.Readlink(path); err == nil && l != self {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s never left the test's namespace", path)
			}
		}
	}
	if b, err := exec.Command("nsenter", "--net="+path, "ip", "link", "set", "lo", "up").CombinedOutput(); err != nil {
		t.Fatalf("lo up in %s: %v: %s", path, err, b)
	}
	return path
}

func randHex(n int) string {
	b := make([]byte, n)
	f, _ := os.Open("/dev/urandom")
	defer f.Close()
	_, _ = f.Read(b)
	return fmt.Sprintf("%x", b)
}

func copyFile(src, dst string) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	return os.WriteFile(dst, b, 0o755)
}

func sorted(ds []time.Duration) []time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s
}

func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	return sorted(ds)[len(ds)/2]
}

// p99 is the nearest-rank 99th percentile.
func p99(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	return sorted(ds)[(len(ds)*99+99)/100-1]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond)) }

func quantiles(ds []time.Duration) string {
	return fmt.Sprintf("median %s, p99 %s", ms(median(ds)), ms(p99(ds)))
}

func ratio(a, b time.Duration) string {
	if b == 0 {
		return "—"
	}
	return fmt.Sprintf("%.2f×", float64(a)/float64(b))
}

// cniMarkdown is the figures' part of the "CNI plugin: ADD and DEL" section.
func cniMarkdown(ours, theirs *cniTimes) string {
	var b strings.Builder
	fmt.Fprintf(&b, "| plugin | node | pods | ADD median | ADD p99 | DEL median | DEL p99 | ADD vs upstream | DEL vs upstream | failed, tried again |\n|---|---|---|---|---|---|---|---|---|---|\n")
	row := func(name, node string, r *cniTimes) {
		ra, rd := "—", "—"
		if theirs != nil {
			ra, rd = ratio(median(r.Add), median(theirs.Add)), ratio(median(r.Del), median(theirs.Del))
		}
		fmt.Fprintf(&b, "| %s | %s | %d | %s | %s | %s | %s | %s | %s | %d |\n", name, node, len(r.Add), ms(median(r.Add)), ms(p99(r.Add)), ms(median(r.Del)), ms(p99(r.Del)), ra, rd, len(r.Failures))
	}
	row("romanactl (`romana-cni`)", "containerd-style", ours)
	if theirs != nil {
		row("upstream (wrapper + `quay.io/romana/cni` script)", "Docker-style", theirs)
	} else {
		b.WriteString("| upstream | Docker-style | — | not measured: the run failed | | | | | | |\n")
	}
	for _, r := range []*cniTimes{ours, theirs} {
		if r == nil {
			continue
		}
		for _, f := range r.Failures {
			if f = strings.Join(strings.Fields(f), " "); len(f) > 300 {
				f = f[:300] + "…"
			}
			fmt.Fprintf(&b, "\nFailed and tried again (the time kept is the successful try's): `%s`\n", f)
		}
	}
	goal := "met"
	if median(ours.Add) > 50*time.Millisecond {
		goal = "**missed**"
	}
	fmt.Fprintf(&b, "\nGoal: romanactl's ADD ≤ 50 ms median: %s (%s).\n", goal, ms(median(ours.Add)))

	fmt.Fprintf(&b, "\n### Where romanactl's time goes\n\n")
	fmt.Fprintf(&b, "The same plugin code run in the timing helper's own process on the node, over the same %d namespaces, "+
		"its `Observe` hook timing each step (no process start, no reading of stdin and the environment):\n\n", len(ours.InAdd))
	fmt.Fprintf(&b, "| command | step | what it is | median | p99 | share of the in-process median |\n|---|---|---|---|---|---|\n")
	what := map[string]string{
		"add/gateway":   "netlink: romana-gw's address on the node",
		"add/root":      "HTTP: romana-root's service list (GET /)",
		"add/ipam":      "HTTP: POST /endpoints to kube-cni-proxy (it runs `kubectl get pod`, then asks ipam)",
		"add/veth":      "netlink: the veth pair, eth0's /32, the routes in the pod",
		"add/isolation": "HTTP: GET /namespaces to kube-cni-proxy (it runs `kubectl get namespace`)",
		"add/agent":     "HTTP: POST /pod to the agent (its routes and iptables rules for the pod)",
		"del/veth-del":  "netlink: the veth pair removed",
		"del/ipam":      "HTTP: DELETE /endpoints to kube-cni-proxy (the address back to ipam)",
		"del/agent":     "HTTP: DELETE /pod to the agent (its rules for the pod removed)",
	}
	for _, c := range []struct {
		cmd   string
		total []time.Duration
		steps []string
	}{
		{"ADD", ours.InAdd, []string{"add/gateway", "add/root", "add/ipam", "add/veth", "add/isolation", "add/agent"}},
		{"DEL", ours.InDel, []string{"del/veth-del", "del/ipam", "del/agent"}},
	} {
		tm := median(c.total)
		for _, s := range c.steps {
			d := ours.Steps[s]
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %.0f%% |\n", c.cmd, strings.SplitN(s, "/", 2)[1], what[s], ms(median(d)), ms(p99(d)), 100*float64(median(d))/float64(tm))
		}
		fmt.Fprintf(&b, "| %s | (in-process total) | | %s | %s | 100%% |\n", c.cmd, ms(tm), ms(p99(c.total)))
		exec := ours.Add
		if c.cmd == "DEL" {
			exec = ours.Del
		}
		fmt.Fprintf(&b, "| %s | (exec'd, as above) | the in-process total plus the process's start | %s | %s | %.0f%% |\n", c.cmd, ms(median(exec)), ms(p99(exec)), 100*float64(median(exec))/float64(tm))
	}
	return b.String()
}
