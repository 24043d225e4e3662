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
	rn, err := pc.AddRealNodes(ctx, workers, false, runtime, bin, src, kubectl)
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
	return string(b)
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
	r := run(t, append([]string{"install", "--env=kubeadm", "--skip-check", "images-exist", "--timeout=5m"}, rc.kc...)...)
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
		t.Fatalf("the services' config: %v: %s", err, conf)
	}
	secret, err := rc.Client.CoreV1().Secrets("kube-system").Get(ctx, "romana-datastore", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"cidr: 100.112.0.0/12", "host_bits: 8", "tenant_bits: 4", "segment_bits: 4", "endpoint_bits: 4",
		"password: " + string(secret.Data["password"]), "host: " + cpIP} {
		if !strings.Contains(string(conf), want) {
			t.Errorf("/etc/romana/romana.conf.yml has no %q:\n%s", want, conf)
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

	// DEL gives the address back to ipam.
	ipamEndpoint := "http://" + cpIP + ":9601/endpoints/" + b.Status.PodIP
	var ep map[string]any
	if err := rc.getJSON(t, cp, ipamEndpoint, &ep); err != nil {
		t.Errorf("ipam does not know %s before the pod goes: %v", b.Status.PodIP, err)
	}
	if err := rc.Client.CoreV1().Pods("default").Delete(ctx, b.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := eventually(ctx, time.Minute, func() error {
		if _, err := rc.inNode(t, cp, "curl", "-fsS", "--max-time", "5", ipamEndpoint); err == nil {
			return fmt.Errorf("ipam still has %s", b.Status.PodIP)
		}
		return nil
	}); err != nil {
		t.Error(err)
	}
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
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"}, Spec: corev1.PodSpec{NodeName: node, AutomountServiceAccountToken: ptrTo(false),
		Containers: []corev1.Container{{Name: "main", Image: "registry.k8s.io/e2e-test-images/agnhost:2.53", Command: []string{"sleep", "3600"}}}}}
	if _, err := rc.Client.CoreV1().Pods("default").Create(ctx, p, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	var got *corev1.Pod
	if err := eventually(ctx, 2*time.Minute, func() error {
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
		t.Fatalf("%v\n/var/log/romana-cni.log on %s:\n%s", err, node, log)
	}
	return got
}

func ptrTo[T any](v T) *T { return &v }
