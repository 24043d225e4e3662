package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/romana/romanactl/internal/testcluster"
)

// TestClusterRealCNIPlugin runs romanactl's own CNI plugin (cni.plugin=romanactl, the
// default) with the real v0.9.3.5 programs on nodes that behave as containerd nodes:
// no docker, and pod namespaces under /var/run/netns. The upstream plugin is refused
// there by the pre-flight, with the nodes named. romanactl's plugin attaches a pod on
// every node in its node's block; pods reach each other across nodes and a pod on the
// control-plane node; CHECK passes, and fails once the pod's veth is gone; DEL gives
// the address back to ipam, and a second DEL succeeds. While two pods ping each other,
// `upgrade --tag`, a forced switch to the upstream plugin (a new pod's attach then fails
// as the pre-flight said, in the plugin's own words) and the switch back lose fewer
// pings than the bound, and a pod created during that last rollout gets an address.
// Uninstall removes the plugin and its config from every node.
func TestClusterRealCNIPlugin(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 16*time.Minute)
	defer cancel()
	rc := startRealCluster(t, ctx, 2, testcluster.RuntimeContainerd)
	const cp, w0, w1 = "control-plane-0", "worker-0", "worker-1"
	nodes := []string{cp, w0, w1}

	// v0.9.3.5's own plugin cannot attach a pod here: refused before anything is written.
	r := run(t, append([]string{"install", "--env=kubeadm", "--cni-plugin=upstream", "--skip-check", "images-exist"}, rc.kc...)...)
	for _, want := range []string{"container-runtime", "containerd on control-plane-0, worker-0, worker-1", "--cni-plugin=romanactl"} {
		if r.code != 2 || !strings.Contains(r.stdout+r.stderr, want) {
			t.Errorf("install --cni-plugin=upstream on containerd nodes: exit %d, lacks %q\n%s%s", r.code, want, r.stdout, r.stderr)
		}
	}
	if len(releaseSecretsOf(t, rc.Client)) != 0 {
		t.Fatal("a refused install stored a release")
	}

	r = run(t, append([]string{"install", "--env=kubeadm", "--skip-check", "images-exist", "--timeout=5m"}, rc.kc...)...)
	t.Logf("romanactl install:\n%s%s", r.stdout, r.stderr)
	mustOK(t, r)
	if !strings.Contains(r.stdout, "cni.plugin=romanactl") {
		t.Errorf("the pre-flight does not say which plugin serves the nodes:\n%s", r.stdout)
	}
	blocks := rc.waitBlocks(t, ctx, nodes)

	// The init container installed romanactl's plugin (a static binary, not the
	// wrapper script) and its config, on every node.
	for _, name := range nodes {
		root := rc.nodes.Node(name).Root
		if err := rc.romanactlPlugin(name); err != nil {
			t.Error(err)
		}
		conf, err := os.ReadFile(filepath.Join(root, "etc/cni/net.d/10-romana.conf"))
		if err != nil || !strings.Contains(string(conf), `"romanactl"`) || !strings.Contains(string(conf), "http://10.99.99.99:9600") {
			t.Errorf("%s: /etc/cni/net.d/10-romana.conf is not romanactl's (%v):\n%s", name, err, conf)
		}
	}
	if t.Failed() {
		return
	}

	// A pod on every node gets an address in its node's block, and they reach each
	// other across nodes, the control-plane node's pod included.
	a := rc.startPod(t, ctx, "pod-a", w0)
	b := rc.startPod(t, ctx, "pod-b", w1)
	c := rc.startPod(t, ctx, "pod-c", cp)
	for _, p := range []*corev1.Pod{a, b, c} {
		if ip := net.ParseIP(p.Status.PodIP); ip == nil || !blocks[p.Spec.NodeName].Contains(ip) {
			t.Errorf("pod %s on %s has %s, outside its node's block %s", p.Name, p.Spec.NodeName, p.Status.PodIP, blocks[p.Spec.NodeName])
		}
	}
	for _, pair := range [][2]*corev1.Pod{{a, b}, {a, c}, {b, a}, {c, b}} {
		from, to := pair[0], pair[1]
		if out, err := rc.nodes.Node(from.Spec.NodeName).ExecInContainer(from.UID, "main", "ping", "-c", "2", "-W", "2", to.Status.PodIP); err != nil {
			t.Errorf("%s (%s on %s) cannot ping %s (%s on %s): %v\n%s", from.Name, from.Status.PodIP, from.Spec.NodeName, to.Name, to.Status.PodIP, to.Spec.NodeName, err, out)
		}
	}
	if t.Failed() {
		return
	}

	// CHECK, DEL and DEL again, as the runtime runs them, on a pod of their own.
	d := rc.startPod(t, ctx, "pod-d", w1)
	wn := rc.nodes.Node(w1)
	if out, err := wn.PodCNI(ctx, d.UID, "CHECK"); err != nil {
		t.Errorf("CHECK of a pod as ADD left it: %v\n%s", err, out)
	}
	if got, err := rc.ipamInUse(t, d.Status.PodIP); err != nil || got != "1" {
		t.Errorf("ipam's endpoint %s is to be in use while its pod runs: %q (%v)", d.Status.PodIP, got, err)
	}
	if out, err := wn.ExecInContainer(d.UID, "main", "ip", "link", "del", "eth0"); err != nil {
		t.Fatalf("removing the pod's veth: %v\n%s", err, out)
	}
	out, err := wn.PodCNI(ctx, d.UID, "CHECK")
	t.Logf("CHECK of a pod whose veth was removed: %v", err)
	if err == nil || !strings.Contains(err.Error(), `"code": 105`) || !strings.Contains(err.Error(), "Link not found") {
		t.Errorf("CHECK of a pod whose veth was removed is to fail with code 105 and say the veth is gone: %v\n%s", err, out)
	}
	for i := 1; i <= 2; i++ {
		if out, err := wn.PodCNI(ctx, d.UID, "DEL"); err != nil {
			t.Errorf("DEL #%d: %v\n%s", i, err, out)
		}
	}
	if got, err := rc.ipamInUse(t, d.Status.PodIP); err != nil || got != "0" {
		t.Errorf("after DEL, ipam's endpoint %s is to be free: %q (%v)", d.Status.PodIP, got, err)
	}
	// The plugin's log on the node holds each of those commands, as the runtime ran them.
	logb, _ := os.ReadFile(filepath.Join(wn.Root, "var/log/romana-cni.log"))
	for _, want := range []string{" ADD default/pod-d container=", " ok " + d.Status.PodIP + "/32 on veth0-", " CHECK default/pod-d ", "error 105 (", " DEL default/pod-d "} {
		if !strings.Contains(string(logb), want) {
			t.Errorf("%s's /var/log/romana-cni.log lacks %q:\n%s", w1, want, logb)
		}
	}

	// Upgrades while a pings b every 0.2 s.
	ping, err := rc.nodes.Node(w0).ContainerCommand(a.UID, "main", "ping", "-i", "0.2", "-w", "600", "-W", "1", b.Status.PodIP)
	if err != nil {
		t.Fatal(err)
	}
	var pingOut strings.Builder
	ping.Stdout, ping.Stderr = &pingOut, &pingOut
	if err := ping.Start(); err != nil {
		t.Fatal(err)
	}
	stopPing := func() (sent, lost int) {
		_ = ping.Process.Signal(syscall.SIGINT)
		_ = ping.Wait()
		s, r := pingCounts(pingOut.String())
		return s, s - r
	}
	upgrade := func(args ...string) result {
		r := run(t, append(append([]string{"upgrade", "--skip-check", "images-exist", "--timeout=4m"}, args...), rc.kc...)...)
		t.Logf("romanactl upgrade %s: exit %d\n%s%s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
		return r
	}
	if r := upgrade("--tag=v0.9.3"); r.code != 0 {
		stopPing()
		t.Fatal("upgrade --tag=v0.9.3 failed")
	}
	// The upstream plugin: romanactl refuses it (a ✗ cannot be skipped); the helm CLI,
	// which runs no pre-flight, installs it. The agents' entrypoint then installs the
	// docker wrapper, and a new pod's attach fails as the pre-flight said.
	if r := upgrade("--cni-plugin=upstream"); r.code != 2 || !strings.Contains(r.stdout+r.stderr, "containerd on control-plane-0, worker-0, worker-1") {
		t.Errorf("upgrade --cni-plugin=upstream on containerd nodes: exit %d, not refused by container-runtime", r.code)
	}
	if out, err := runHelmEnv(t, helmBinary(t), []string{"KUBECONFIG=" + rc.KubeconfigPath}, "upgrade", "romana", "./chart", "-n", "kube-system",
		"--reuse-values", "--set", "cni.plugin=upstream", "--wait", "--timeout", "4m"); err != nil {
		stopPing()
		t.Fatalf("helm upgrade --set cni.plugin=upstream: %v\n%s", err, out)
	}
	e := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "pod-e", Namespace: "default"}, Spec: corev1.PodSpec{NodeName: w1, AutomountServiceAccountToken: ptrTo(false),
		Containers: []corev1.Container{{Name: "main", Image: "registry.k8s.io/e2e-test-images/agnhost:2.53", Command: []string{"sleep", "3600"}}}}}
	if _, err := rc.Client.CoreV1().Pods("default").Create(ctx, e, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	var attach string
	if err := eventually(ctx, time.Minute, func() error {
		cur, err := rc.Client.CoreV1().Pods("default").Get(ctx, e.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		// The runtime retries a failed sandbox: a first try can still meet romanactl's
		// plugin while worker-1's agent restarts, so wait for the wrapper's failure.
		if attach = cur.Status.Message; !strings.Contains(attach, "FailedCreatePodSandBox") || !strings.Contains(attach, "docker: not found") {
			return fmt.Errorf("pod %s: %s %q", e.Name, cur.Status.Phase, attach)
		}
		return nil
	}); err != nil {
		t.Error(err)
	}
	t.Logf("the upstream plugin's attach on a containerd node: %s", attach)
	if !strings.Contains(attach, "docker: not found") {
		t.Errorf("the upstream plugin's attach on a containerd node is to fail for want of docker: %q", attach)
	}
	// Back to romanactl's plugin; a pod created during the rollout gets an address,
	// and so does the one the upstream plugin could not attach.
	// pod-f is created while the agents roll. Its sandbox fails while worker-0's agent
	// is down (code 11, agent unreachable), and the runtime retries with a back-off
	// that doubles up to 60 s, as the kubelet's does: CI once saw the try after the
	// rollout come later than two minutes after the pod. So the bound runs from the
	// rollout's end, and allows one full back-off.
	done := make(chan result, 1)
	go func() { done <- upgrade("--cni-plugin=romanactl") }()
	rc.createPod(t, ctx, "pod-f", w0)
	if r := <-done; r.code != 0 {
		t.Error("upgrade --cni-plugin=romanactl failed")
	}
	f := rc.waitPod(t, ctx, "pod-f", w0, 2*time.Minute)
	if err := eventually(ctx, 2*time.Minute, func() error {
		cur, err := rc.Client.CoreV1().Pods("default").Get(ctx, e.Name, metav1.GetOptions{})
		if err != nil || cur.Status.PodIP == "" {
			return fmt.Errorf("pod %s has no address after the switch back: %v %q", e.Name, err, cur.Status.Message)
		}
		e = cur
		return nil
	}); err != nil {
		t.Error(err)
	}
	for _, p := range []*corev1.Pod{e, f} {
		if ip := net.ParseIP(p.Status.PodIP); ip == nil || !blocks[p.Spec.NodeName].Contains(ip) {
			t.Errorf("pod %s on %s has %q, outside its node's block %s", p.Name, p.Spec.NodeName, p.Status.PodIP, blocks[p.Spec.NodeName])
		}
	}
	if out, err := rc.inNode(t, w1, "ping", "-c", "2", "-W", "2", e.Status.PodIP); err != nil {
		t.Errorf("%s cannot reach its own pod %s (%s) after the rollouts: %v\n%s", w1, e.Name, e.Status.PodIP, err, out)
	}
	expectAgentPyDrop(t, rc, f, w1, e)
	time.Sleep(3 * time.Second)
	sent, lost := stopPing()
	t.Logf("pings from %s to %s through upgrade --tag and two plugin switches: %d sent, %d lost", a.Name, b.Name, sent, lost)
	if sent < 100 || lost*100 > sent*5 {
		t.Errorf("pings through the upgrades: %d sent, %d lost (the bound is 5%%):\n%s", sent, lost, pingOut.String())
	}

	// Uninstall removes romanactl's plugin and its config from every node.
	r = run(t, append([]string{"uninstall", "--yes", "--timeout=3m"}, rc.kc...)...)
	t.Logf("romanactl uninstall:\n%s%s", r.stdout, r.stderr)
	mustOK(t, r)
	for _, name := range nodes {
		if !strings.Contains(r.stdout, "  ✓ "+name+": removed ") {
			t.Errorf("uninstall has no report of %s's cleanup", name)
		}
		for _, file := range []string{"opt/cni/bin/romana", "etc/cni/net.d/10-romana.conf"} {
			if _, err := os.Stat(filepath.Join(rc.nodes.Node(name).Root, file)); err == nil {
				t.Errorf("%s: /%s is still there after uninstall", name, file)
			}
		}
	}
}

// expectAgentPyDrop holds what docs/compat.md and chart/compat.yaml say of the v0.9.3
// line's policy agent (agent.py): it matches a packet's tenant by a u32 rule whose value
// is the first octet of services.cidr, which is right for a /8 only. Once an agent has
// applied the stored policies, which it does whenever it restarts (an upgrade, a
// rollout), its node's ROMANA-FORWARD-IN ends in a DefaultDrop that no tenant rule
// before it matches (for 100.112.0.0/12: "0x10&0xfff00f00=0x6400300" where 0x647003
// is meant), so a new connection from another node's pod to a pod there is dropped.
// Flows that were open before the restart go on (conntrack), and the node reaches its
// pods. If this starts to pass, Romana changed: update the note and this test.
func expectAgentPyDrop(t *testing.T, rc *realCluster, from *corev1.Pod, node string, to *corev1.Pod) {
	t.Helper()
	rules, _ := rc.inNode(t, node, "iptables-save", "-t", "filter")
	if !strings.Contains(rules, `--u32 "0x10&0xfff00f00=0x6400`) || !strings.Contains(rules, "-A ROMANA-FORWARD-IN -m comment --comment DefaultDrop -j DROP") {
		t.Errorf("%s's filter table no longer has agent.py's first-octet tenant match before a DefaultDrop (compat note stale?):\n%s", node, rules)
	}
	out, err := rc.nodes.Node(from.Spec.NodeName).ExecInContainer(from.UID, "main", "ping", "-c", "2", "-W", "2", to.Status.PodIP)
	if err == nil {
		t.Errorf("%s (%s) reached %s (%s) across nodes after the agents restarted: agent.py's tenant match works here, so the compat note is stale\n%s", from.Name, from.Status.PodIP, to.Name, to.Status.PodIP, out)
	}
	t.Logf("a new connection from %s on %s to %s on %s after the agents restarted: dropped, as chart/compat.yaml says (agent.py's tenant match)", from.Name, from.Spec.NodeName, to.Name, node)
}

// romanactlPlugin says why the node's /opt/cni/bin/romana is not romanactl's plugin (a
// static binary, where v0.9.3.5's is the docker wrapper script), or nil when it is.
func (rc *realCluster) romanactlPlugin(node string) error {
	path := filepath.Join(rc.nodes.Node(node).Root, "opt/cni/bin/romana")
	bin, err := os.ReadFile(path)
	if err == nil && bytes.HasPrefix(bin, []byte("\x7fELF")) {
		return nil
	}
	var written string
	if st, serr := os.Stat(path); serr == nil {
		written = " (written " + st.ModTime().Format(time.TimeOnly) + ")"
	}
	return fmt.Errorf("%s: /opt/cni/bin/romana%s is not romanactl's plugin (%v): %.40q", node, written, err, bin)
}

// waitBlocks waits until topology lists every node at its address, and returns each
// node's block.
func (rc *realCluster) waitBlocks(t *testing.T, ctx context.Context, nodes []string) map[string]*net.IPNet {
	t.Helper()
	cp := testcluster.RealNodeIP(0)
	var hosts []romanaHost
	if err := eventually(ctx, 5*time.Minute, func() error {
		hosts = nil
		if err := rc.getJSON(t, nodes[0], "http://"+cp+":9603/hosts", &hosts); err != nil {
			return err
		}
		if len(hosts) != len(nodes) {
			return fmt.Errorf("%d hosts registered: %+v", len(hosts), hosts)
		}
		return nil
	}); err != nil {
		t.Fatalf("topology: %v\nagent on %s:\n%s", err, nodes[len(nodes)-1], rc.containerLog(t, "romana-agent", nodes[len(nodes)-1], "romana-agent"))
	}
	blocks := map[string]*net.IPNet{}
	for i, name := range nodes {
		for _, h := range hosts {
			if h.Name != name {
				continue
			}
			if h.IP != testcluster.RealNodeIP(i) {
				t.Fatalf("topology has %s at %s, not %s", name, h.IP, testcluster.RealNodeIP(i))
			}
			_, block, err := net.ParseCIDR(h.RomanaIP)
			if err != nil {
				t.Fatalf("%s's block %q: %v", name, h.RomanaIP, err)
			}
			blocks[name] = block
		}
		if blocks[name] == nil {
			t.Fatalf("topology has no %s: %+v", name, hosts)
		}
	}
	return blocks
}
