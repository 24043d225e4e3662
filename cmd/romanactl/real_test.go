package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/romana/romanactl/internal/testcluster"
	"github.com/romana/romanactl/internal/upstream"
)

// realCluster is a control plane whose control-plane node and workers run Romana's
// real v0.9.3.5 programs (testcluster.AddRealNodes).
type realCluster struct {
	*testcluster.Cluster
	nodes *testcluster.RealNodes
	kc    []string
	// secret is a datastore password the test set before any Secret held it (a 2016
	// install's, in its env), which hide masks too.
	secret string
}

func startRealCluster(t *testing.T, ctx context.Context, workers int, runtime string) *realCluster {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: the real-program tests need the control plane and Romana's programs")
	}
	src := upstream.RomanaSrc(t)
	bin := upstream.RomanaBin(t)
	for _, tool := range []string{"unshare", "nsenter", "ip", "iptables-restore", "curl", "jq", "ss", "supervisord", "mariadbd", "mysqladmin", "ping"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is missing (make host-tools installs it): %v", tool, err)
		}
	}
	if testcluster.Python2() == "" {
		t.Fatal("no Python 2.7 for the agent image's agent.py: set ROMANACTL_PYTHON2 (README: the real-program tier)")
	}
	pc, err := testcluster.Start(ctx, testcluster.Options{BinDir: "../../bin", Dir: t.TempDir(), NoControlPlaneNode: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pc.Stop() })
	kubectl, _ := filepath.Abs("../../bin/kubectl")
	cniPlugin, _ := filepath.Abs("../../bin/romana-cni")
	rn, err := pc.AddRealNodes(ctx, workers, false, runtime, bin, src, kubectl, cniPlugin)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rn.Stop)
	if err := pc.WaitNodesReady(ctx, time.Minute); err != nil {
		t.Fatal(err)
	}
	return &realCluster{Cluster: pc, nodes: rn, kc: []string{"--kubeconfig", pc.KubeconfigPath}}
}

// inNode runs a command on a node, as its own programs run.
func (rc *realCluster) inNode(t *testing.T, node string, argv ...string) (string, error) {
	t.Helper()
	n := rc.nodes.Node(node)
	cmd, err := n.NodeCommand(context.Background(), nil, argv...)
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// podOf is the one pod of a DaemonSet (by its app label) on a node.
func (rc *realCluster) podOf(t *testing.T, app, node string) corev1.Pod {
	t.Helper()
	l, err := rc.Client.CoreV1().Pods("kube-system").List(context.Background(), metav1.ListOptions{LabelSelector: "app=" + app, FieldSelector: "spec.nodeName=" + node})
	if err != nil || len(l.Items) != 1 {
		t.Fatalf("pod %s on %s: %v (%d pods)", app, node, err, len(l.Items))
	}
	return l.Items[0]
}

// containerLog is what a container of a DaemonSet's pod on a node wrote, for failures.
func (rc *realCluster) containerLog(t *testing.T, app, node, container string) string {
	t.Helper()
	l, err := rc.Client.CoreV1().Pods("kube-system").List(context.Background(), metav1.ListOptions{LabelSelector: "app=" + app, FieldSelector: "spec.nodeName=" + node})
	if err != nil || len(l.Items) == 0 {
		return fmt.Sprintf("(no %s pod on %s: %v)", app, node, err)
	}
	b, err := rc.nodes.Node(node).ContainerLog(l.Items[0].UID, container)
	if err != nil {
		return err.Error()
	}
	if len(b) > 6000 {
		b = b[len(b)-6000:]
	}
	return rc.hide(string(b))
}

// hide masks the datastore password in what a failing test prints: Romana's services
// log it (their data source names) and write it into their config.
func (rc *realCluster) hide(s string) string {
	if rc.secret != "" {
		s = strings.ReplaceAll(s, rc.secret, "(datastore password)")
	}
	secret, err := rc.Client.CoreV1().Secrets("kube-system").Get(context.Background(), "romana-datastore", metav1.GetOptions{})
	if err != nil || len(secret.Data["password"]) == 0 {
		return s
	}
	return strings.ReplaceAll(s, string(secret.Data["password"]), "(datastore password)")
}

// getJSON fetches a Romana service's answer from inside a node's network.
func (rc *realCluster) getJSON(t *testing.T, node, url string, into any) error {
	t.Helper()
	out, err := rc.inNode(t, node, "curl", "-fsS", "--max-time", "5", url)
	if err != nil {
		return fmt.Errorf("curl %s on %s: %v: %s", url, node, err, out)
	}
	if err := json.Unmarshal([]byte(out), into); err != nil {
		return fmt.Errorf("%s: %v: %s", url, err, out)
	}
	return nil
}

// eventually polls f until it returns nil or the time is up, and returns its last error.
func eventually(ctx context.Context, d time.Duration, f func() error) error {
	deadline := time.Now().Add(d)
	for {
		err := f()
		if err == nil || time.Now().After(deadline) || ctx.Err() != nil {
			return err
		}
		time.Sleep(time.Second)
	}
}

type romanaHost struct {
	Name     string `json:"name"`
	IP       string `json:"ip"`
	RomanaIP string `json:"romana_ip"`
}

// TestClusterRealRomana installs Romana with romanactl on a cluster whose control-plane
// node and two workers run the real v0.9.3.5 programs, built from Romana's sources, as
// the chart renders them (images stood in for by the programs at their image paths,
// MariaDB for mysql:5), and checks what they do: the services start from the render,
// every node registers with its address and block, the agents set up each node, a pod
// gets an address through the installed CNI plugin on a node that emulates Docker
// Engine, pods on two nodes reach each other, and DEL gives the address back.
func TestClusterRealRomana(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 12*time.Minute)
	defer cancel()
	rc := startRealCluster(t, ctx, 2, testcluster.RuntimeDocker)
	const cp, w0, w1 = "control-plane-0", "worker-0", "worker-1"
	nodes := []string{cp, w0, w1}
	// v0.9.3.5's own plugin, on nodes that emulate Docker Engine: the one kind of
	// node it serves (TestClusterRealCNIPlugin runs romanactl's on containerd nodes).
	r := run(t, append([]string{"install", "--env=kubeadm", "--cni-plugin=upstream", "--skip-check", "images-exist", "--timeout=5m"}, rc.kc...)...)
	t.Logf("romanactl install:\n%s%s", r.stdout, r.stderr)
	mustOK(t, r)
	cpIP := testcluster.RealNodeIP(0)
	root := "http://" + cpIP + ":9600"

	// The services start from the render: root answers, and the entrypoint wrote the
	// config from the chart's args and the datastore's password.
	if err := eventually(ctx, 4*time.Minute, func() error {
		var v map[string]any
		return rc.getJSON(t, cp, root+"/", &v)
	}); err != nil {
		t.Fatalf("romana-root never answered on %s: %v\nromana-services:\n%s\ndatastore:\n%s", root, err,
			rc.containerLog(t, "romana-services", cp, "romana-services"), rc.containerLog(t, "romana-services", cp, "romana-datastore"))
	}
	svc := rc.podOf(t, "romana-services", cp)
	conf, err := rc.nodes.Node(cp).ExecInContainer(svc.UID, "romana-services", "cat", "/etc/romana/romana.conf.yml")
	if err != nil {
		t.Fatalf("the services' config: %v: %s", err, rc.hide(string(conf)))
	}
	secret, err := rc.Client.CoreV1().Secrets("kube-system").Get(ctx, "romana-datastore", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"cidr: 100.112.0.0/12", "host_bits: 8", "tenant_bits: 4", "segment_bits: 4", "endpoint_bits: 4",
		"password: " + string(secret.Data["password"]), "host: " + cpIP} {
		if !strings.Contains(string(conf), want) {
			t.Errorf("/etc/romana/romana.conf.yml has no %q:\n%s", rc.hide(want), rc.hide(string(conf)))
		}
	}
	if out, err := rc.inNode(t, cp, "ss", "-Hltn", "sport = :3306"); err != nil || !strings.Contains(out, "127.0.0.1:3306") || strings.Count(strings.TrimSpace(out), "\n") != 0 {
		t.Errorf("the datastore is to listen on 127.0.0.1:3306 alone (%v):\n%s", err, out)
	}

	// Every node registers with topology: its address and its block.
	var hosts []romanaHost
	if err := eventually(ctx, 4*time.Minute, func() error {
		hosts = nil
		if err := rc.getJSON(t, cp, "http://"+cpIP+":9603/hosts", &hosts); err != nil {
			return err
		}
		if len(hosts) != len(nodes) {
			return fmt.Errorf("%d hosts registered: %+v", len(hosts), hosts)
		}
		return nil
	}); err != nil {
		t.Fatalf("topology: %v\nagent on %s:\n%s", err, w0, rc.containerLog(t, "romana-agent", w0, "romana-agent"))
	}
	blocks := map[string]*net.IPNet{}
	for i, name := range nodes {
		var h *romanaHost
		for j := range hosts {
			if hosts[j].Name == name {
				h = &hosts[j]
			}
		}
		if h == nil || h.IP != testcluster.RealNodeIP(i) {
			t.Fatalf("topology has no %s at %s: %+v", name, testcluster.RealNodeIP(i), hosts)
		}
		_, block, err := net.ParseCIDR(h.RomanaIP)
		if err != nil {
			t.Fatalf("%s's block %q: %v", name, h.RomanaIP, err)
		}
		blocks[name] = block
	}

	// Each agent sets its node up: romana-gw with its gateway, the CNI plugin and its
	// config, ROMANA-MASQ (--nat), and routes to the other nodes' blocks.
	for i, name := range nodes {
		gw := hostsGateway(hosts, name)
		if err := eventually(ctx, 3*time.Minute, func() error {
			out, err := rc.inNode(t, name, "ip", "-4", "-o", "addr", "show", "romana-gw")
			if err != nil || !strings.Contains(out, gw) {
				return fmt.Errorf("romana-gw on %s has no %s (%v): %s", name, gw, err, out)
			}
			return nil
		}); err != nil {
			t.Errorf("%v\nagent:\n%s", err, rc.containerLog(t, "romana-agent", name, "romana-agent"))
			continue
		}
		n := rc.nodes.Node(name)
		if err := eventually(ctx, time.Minute, func() error {
			for _, f := range []string{"opt/cni/bin/romana", "etc/cni/net.d/10-romana.conf"} {
				if _, err := os.Stat(filepath.Join(n.Root, f)); err != nil {
					return fmt.Errorf("%s: /%s is not installed: %v", name, f, err)
				}
			}
			return nil
		}); err != nil {
			t.Error(err)
		}
		if out, err := rc.inNode(t, name, "iptables", "-t", "nat", "-S", "ROMANA-MASQ"); err != nil {
			t.Errorf("%s: no ROMANA-MASQ (%v): %s", name, err, out)
		}
		// The agent adds them when it starts, from topology's hosts.
		if err := eventually(ctx, 2*time.Minute, func() error {
			routes, _ := rc.inNode(t, name, "ip", "-4", "route")
			for j, other := range nodes {
				want := fmt.Sprintf("%s via %s", blocks[other], testcluster.RealNodeIP(j))
				if j != i && !strings.Contains(routes, want) {
					return fmt.Errorf("%s has no route %q to %s's block:\n%s", name, want, other, routes)
				}
			}
			return nil
		}); err != nil {
			agent := rc.podOf(t, "romana-agent", name)
			logs, _ := n.ExecInContainer(agent.UID, "romana-agent", "sh", "-c", "tail -n 30 /var/log/supervisor/*")
			t.Errorf("%v\nthe agent's supervisord logs:\n%s", err, logs)
		}
	}
	if t.Failed() {
		return
	}

	// A pod on each worker gets an address in its node's block through the installed
	// plugin, and the two reach each other.
	a := rc.startPod(t, ctx, "pinger-a", w0)
	b := rc.startPod(t, ctx, "pinger-b", w1)
	for _, p := range []struct {
		pod  *corev1.Pod
		node string
	}{{a, w0}, {b, w1}} {
		if !blocks[p.node].Contains(net.ParseIP(p.pod.Status.PodIP)) {
			t.Errorf("pod %s on %s has %s, outside its node's block %s", p.pod.Name, p.node, p.pod.Status.PodIP, blocks[p.node])
		}
	}
	if out, err := rc.nodes.Node(w0).ExecInContainer(a.UID, "main", "ping", "-c", "3", "-W", "2", b.Status.PodIP); err != nil {
		t.Errorf("pod %s (%s) on %s cannot ping %s (%s) on %s: %v\n%s", a.Name, a.Status.PodIP, w0, b.Name, b.Status.PodIP, w1, err, out)
	}

	// DEL gives the address back to ipam: its endpoint is no longer in use (ipam keeps
	// the row, and GET /endpoints/{ip} still answers for it).
	inUse := func() (string, error) { return rc.ipamInUse(t, b.Status.PodIP) }
	if got, err := inUse(); err != nil || got != "1" {
		t.Errorf("ipam's endpoint %s is to be in use while its pod runs: %q (%v)", b.Status.PodIP, got, err)
	}
	if err := rc.Client.CoreV1().Pods("default").Delete(ctx, b.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := eventually(ctx, time.Minute, func() error {
		if got, err := inUse(); err != nil || got != "0" {
			return fmt.Errorf("ipam's endpoint %s is still in use after the pod went: %q (%v)", b.Status.PodIP, got, err)
		}
		return nil
	}); err != nil {
		log, _ := rc.inNode(t, w1, "cat", "/var/log/romana-cni.log")
		t.Errorf("%v\n/var/log/romana-cni.log on %s:\n%s", err, w1, log)
	}
	if t.Failed() {
		return
	}

	// Status tells the truth: root stopped (SIGSTOP: supervisord would restart a killed
	// one) makes romana-services not ready, and status says so, within its usual time.
	rootPID := rc.programPID(t, cp, "/usr/local/bin/root")
	if err := syscall.Kill(rootPID, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	var st result
	err = eventually(ctx, time.Minute, func() error {
		began := time.Now()
		st = run(t, append([]string{"status"}, rc.kc...)...)
		if took := time.Since(began); took > 10*time.Second {
			return fmt.Errorf("status took %s", took)
		}
		if st.code != 1 || !strings.Contains(st.stdout+st.stderr, "romana-services") {
			return fmt.Errorf("status with root stopped: exit %d:\n%s%s", st.code, st.stdout, st.stderr)
		}
		return nil
	})
	_ = syscall.Kill(rootPID, syscall.SIGCONT)
	if err != nil {
		t.Error(err)
	}
	t.Logf("romanactl status with root stopped:\n%s%s", st.stdout, st.stderr)
	if err := eventually(ctx, time.Minute, func() error {
		if r := run(t, append([]string{"status"}, rc.kc...)...); r.code != 0 {
			return fmt.Errorf("status after root went on: exit %d:\n%s%s", r.code, r.stdout, r.stderr)
		}
		return nil
	}); err != nil {
		t.Error(err)
	}

	// Upgrades keep traffic: a pod on worker-0 pings one on worker-1 (every 0.2 s)
	// through romanactl upgrade --tag=v0.9.3 and then --nat=false.
	c := rc.startPod(t, ctx, "pinger-c", w1)
	ping, err := rc.nodes.Node(w0).ContainerCommand(a.UID, "main", "ping", "-i", "0.2", "-w", "240", "-W", "1", c.Status.PodIP)
	if err != nil {
		t.Fatal(err)
	}
	var pingOut strings.Builder
	ping.Stdout, ping.Stderr = &pingOut, &pingOut
	if err := ping.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second)
	for _, args := range [][]string{{"upgrade", "--tag=v0.9.3", "--timeout=3m"}, {"upgrade", "--nat=false", "--timeout=3m"}} {
		r := run(t, append(append(args, "--skip-check", "images-exist"), rc.kc...)...)
		if r.code != 0 {
			t.Errorf("romanactl %s: exit %d\n%s%s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
		}
	}
	// The data path is the nodes' kernel: routes and the pods' interfaces outlive the
	// agents' and the services' restarts.
	if err := eventually(ctx, 2*time.Minute, func() error {
		out, err := rc.inNode(t, w0, "iptables", "-t", "nat", "-S")
		if err != nil || strings.Contains(out, "ROMANA-MASQ") {
			return fmt.Errorf("worker-0 still has ROMANA-MASQ after --nat=false (%v):\n%s", err, out)
		}
		return nil
	}); err != nil {
		t.Error(err)
	}
	_ = ping.Process.Signal(syscall.SIGINT)
	_ = ping.Wait()
	out := pingOut.String()
	sent, received := pingCounts(out)
	lost := sent - received
	t.Logf("pings from %s to %s through two upgrades: %d sent, %d lost", a.Name, c.Name, sent, lost)
	if sent < 20 || lost > sent/20 {
		t.Errorf("pings through the upgrades: %d sent, %d lost (the bound is 5%%):\n%s", sent, lost, out)
	}

	// Uninstall --keep-node-state leaves the agents' state; a plain uninstall cleans
	// every node through the real cleanup, whose reports reach romanactl.
	mustOK(t, run(t, append([]string{"uninstall", "--keep-node-state", "--yes"}, rc.kc...)...))
	for _, name := range nodes {
		if out, err := rc.inNode(t, name, "ip", "link", "show", "romana-gw"); err != nil {
			t.Errorf("%s: --keep-node-state removed romana-gw: %s", name, out)
		}
		if _, err := os.Stat(filepath.Join(rc.nodes.Node(name).Root, "etc/cni/net.d/10-romana.conf")); err != nil {
			t.Errorf("%s: --keep-node-state removed the CNI config: %v", name, err)
		}
	}
	mustOK(t, run(t, append([]string{"install", "--env=kubeadm", "--cni-plugin=upstream", "--skip-check", "images-exist", "--skip-check", "romana-compat", "--timeout=5m"}, rc.kc...)...))
	r = run(t, append([]string{"uninstall", "--yes", "--timeout=3m"}, rc.kc...)...)
	t.Logf("romanactl uninstall:\n%s%s", r.stdout, r.stderr)
	mustOK(t, r)
	for _, name := range nodes {
		if !strings.Contains(r.stdout, "  ✓ "+name+": removed ") {
			t.Errorf("uninstall has no report of %s's cleanup", name)
		}
		if out, err := rc.inNode(t, name, "ip", "link", "show", "romana-gw"); err == nil {
			t.Errorf("%s: romana-gw is still there: %s", name, out)
		}
		if out, _ := rc.inNode(t, name, "iptables", "-t", "nat", "-S"); strings.Contains(out, "ROMANA") {
			t.Errorf("%s: the nat table still has Romana's rules:\n%s", name, out)
		}
		for _, f := range []string{"opt/cni/bin/romana", "etc/cni/net.d/10-romana.conf"} {
			if _, err := os.Stat(filepath.Join(rc.nodes.Node(name).Root, f)); err == nil {
				t.Errorf("%s: /%s is still there", name, f)
			}
		}
	}
}

// servicesLogs is the end of what each of Romana's services (supervisord's programs
// in the romana-services container on control-plane-0) wrote, password hidden.
func (rc *realCluster) servicesLogs(t *testing.T) string {
	t.Helper()
	l, err := rc.Client.CoreV1().Pods("kube-system").List(context.Background(), metav1.ListOptions{LabelSelector: "app=romana-services"})
	if err != nil || len(l.Items) == 0 {
		return fmt.Sprintf("(no romana-services pod: %v)", err)
	}
	out, err := rc.nodes.Node(l.Items[0].Spec.NodeName).ExecInContainer(l.Items[0].UID, "romana-services", "sh", "-c", "tail -n 15 /var/log/supervisor/*")
	if err != nil {
		return fmt.Sprintf("%v: %s", err, out)
	}
	return rc.hide(string(out))
}

// ipamInUse is ipam's in_use column for an address (1 while a pod holds it, 0 once DEL
// gave it back: ipam keeps the row), read with mysql in the services' container.
func (rc *realCluster) ipamInUse(t *testing.T, ip string) (string, error) {
	t.Helper()
	svc := rc.podOf(t, "romana-services", "control-plane-0")
	secret, err := rc.Client.CoreV1().Secrets("kube-system").Get(context.Background(), "romana-datastore", metav1.GetOptions{})
	if err != nil {
		return "", err
	}
	cmd, err := rc.nodes.Node("control-plane-0").ContainerCommand(svc.UID, "romana-services", "mysql",
		"--host=127.0.0.1", "-N", "-e", "select in_use from ipam.endpoints where ip='"+ip+"'")
	if err != nil {
		return "", err
	}
	// The password goes in the environment, not on a command line others can read.
	cmd.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "MYSQL_PWD=" + string(secret.Data["password"])}
	out, err := cmd.CombinedOutput()
	return strings.TrimSpace(rc.hide(string(out))), err
}

// programPID is the process of a program that runs on a node (in one of its pods'
// containers), found by its command line.
func (rc *realCluster) programPID(t *testing.T, node, program string) int {
	t.Helper()
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		cmdline, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err != nil || !strings.HasPrefix(string(cmdline), program+"\x00") {
			continue
		}
		var st1, st2 syscall.Stat_t
		if syscall.Stat("/proc/"+e.Name()+"/ns/net", &st1) != nil || syscall.Stat("/run/netns/"+rc.nodes.Node(node).NetNS, &st2) != nil {
			continue
		}
		if st1.Ino == st2.Ino {
			var pid int
			fmt.Sscan(e.Name(), &pid)
			return pid
		}
	}
	t.Fatalf("no %s runs on %s", program, node)
	return 0
}

// pingCounts reads ping's summary: packets transmitted and received.
func pingCounts(out string) (sent, received int) {
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, "packets transmitted") {
			fmt.Sscanf(strings.TrimSpace(line), "%d packets transmitted, %d received", &sent, &received)
		}
	}
	return sent, received
}

// hostsGateway is a node's romana-gw address: the first of its block.
func hostsGateway(hosts []romanaHost, name string) string {
	for _, h := range hosts {
		if h.Name == name {
			return h.RomanaIP
		}
	}
	return "?"
}

// startPod creates a pod on a node that sleeps (the host's programs: its image is not
// one the node knows) and waits for its address.
func (rc *realCluster) startPod(t *testing.T, ctx context.Context, name, node string) *corev1.Pod {
	t.Helper()
	rc.createPod(t, ctx, name, node)
	return rc.waitPod(t, ctx, name, node, 2*time.Minute)
}

// createPod creates a pod that sleeps, bound to node, and returns at once.
func (rc *realCluster) createPod(t *testing.T, ctx context.Context, name, node string) {
	t.Helper()
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"}, Spec: corev1.PodSpec{NodeName: node, AutomountServiceAccountToken: ptrTo(false),
		Containers: []corev1.Container{{Name: "main", Image: "registry.k8s.io/e2e-test-images/agnhost:2.53", Command: []string{"sleep", "3600"}}}}}
	if _, err := rc.Client.CoreV1().Pods("default").Create(ctx, p, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// waitPod waits up to d for the pod to run with an address, and fails the test with
// the node's plugin log and the services' logs when it does not.
func (rc *realCluster) waitPod(t *testing.T, ctx context.Context, name, node string, d time.Duration) *corev1.Pod {
	t.Helper()
	var got *corev1.Pod
	if err := eventually(ctx, d, func() error {
		cur, err := rc.Client.CoreV1().Pods("default").Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if cur.Status.PodIP == "" || cur.Status.Phase != corev1.PodRunning {
			return fmt.Errorf("pod %s on %s: %s, no address yet: %s", name, node, cur.Status.Phase, cur.Status.Message)
		}
		got = cur
		return nil
	}); err != nil {
		log, _ := rc.inNode(t, node, "cat", "/var/log/romana-cni.log")
		t.Fatalf("%v\n/var/log/romana-cni.log on %s:\n%s\nthe services' logs:\n%s", err, node, log, rc.servicesLogs(t))
	}
	return got
}

func ptrTo[T any](v T) *T { return &v }
