package testcluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os/exec"
	"sort"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// nodeNet is the network the process nodes share: a bridge in a network namespace of
// its own (the switch), and in each node's namespace an eth0 at the node's InternalIP,
// cabled to it by a veth pair. Nothing of it is in the host's namespace.
type nodeNet struct {
	mu     sync.Mutex
	ns     string
	nodes  map[string]*ProcessNode
	rules  map[string]string // node name → the service rules last written there
	cancel context.CancelFunc
	done   chan struct{}
}

func ipIn(ns string, args ...string) error {
	if out, err := exec.Command("ip", append([]string{"-n", ns}, args...)...).CombinedOutput(); err != nil {
		return fmt.Errorf("ip -n %s %s: %v: %s", ns, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// network makes the switch on first use, and starts the Service stand-in.
func (c *Cluster) network() (*nodeNet, error) {
	c.netOnce.Do(func() {
		suffix := make([]byte, 3)
		_, _ = rand.Read(suffix)
		nn := &nodeNet{ns: "romanactl-switch-" + hex.EncodeToString(suffix), nodes: map[string]*ProcessNode{}, rules: map[string]string{}, done: make(chan struct{})}
		if out, err := exec.Command("ip", "netns", "add", nn.ns).CombinedOutput(); err != nil {
			c.netErr = fmt.Errorf("ip netns add %s: %v: %s", nn.ns, err, out)
			return
		}
		for _, args := range [][]string{{"link", "set", "lo", "up"}, {"link", "add", "br0", "type", "bridge"}, {"link", "set", "br0", "up"}} {
			if err := ipIn(nn.ns, args...); err != nil {
				c.netErr = err
				return
			}
		}
		ctx, cancel := context.WithCancel(context.Background())
		nn.cancel = cancel
		go nn.serviceProxy(ctx, c)
		c.net = nn
	})
	return c.net, c.netErr
}

// stopNetwork ends the Service stand-in and removes the switch.
func (c *Cluster) stopNetwork() {
	if c.net == nil {
		return
	}
	c.net.cancel()
	<-c.net.done
	_ = exec.Command("ip", "netns", "delete", c.net.ns).Run()
}

// attach cables a node to the switch: eth0 in the node's namespace with its address
// (a /24, the node network), a default route through it (a node has one; a packet to a
// Service's clusterIP must be routable before the NAT table rewrites it), and IP
// forwarding on, as every Kubernetes node has it.
func (nn *nodeNet) attach(n *ProcessNode) error {
	nn.mu.Lock()
	port := fmt.Sprintf("p%d", len(nn.nodes))
	nn.nodes[n.Name] = n
	nn.mu.Unlock()
	for _, args := range [][]string{
		{"link", "add", "eth0", "type", "veth", "peer", "name", port, "netns", nn.ns},
		{"addr", "add", n.IP + "/24", "dev", "eth0"},
		{"link", "set", "eth0", "up"},
		{"route", "add", "default", "dev", "eth0"},
	} {
		if err := ipIn(n.NetNS, args...); err != nil {
			return err
		}
	}
	for _, args := range [][]string{{"link", "set", port, "master", "br0"}, {"link", "set", port, "up"}} {
		if err := ipIn(nn.ns, args...); err != nil {
			return err
		}
	}
	if out, err := n.InNetNS("sysctl", "-qw", "net.ipv4.ip_forward=1"); err != nil {
		return fmt.Errorf("ip forwarding on %s: %v: %s", n.Name, err, out)
	}
	return nil
}

func (nn *nodeNet) detach(n *ProcessNode) {
	nn.mu.Lock()
	defer nn.mu.Unlock()
	delete(nn.nodes, n.Name)
	delete(nn.rules, n.Name)
}

// serviceProxy is kube-proxy's part for the process nodes, in iptables mode: every
// Service's clusterIP port is DNATed to a ready endpoint (the first, in a stable
// order), from the node itself (OUTPUT) and from its pods (PREROUTING), in the chain
// KUBE-SERVICES. It follows the Services and EndpointSlices every second.
func (nn *nodeNet) serviceProxy(ctx context.Context, c *Cluster) {
	defer close(nn.done)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		rules, err := serviceRules(ctx, c)
		if err == nil {
			nn.mu.Lock()
			nodes := make([]*ProcessNode, 0, len(nn.nodes))
			for _, n := range nn.nodes {
				if nn.rules[n.Name] != rules {
					nodes = append(nodes, n)
				}
			}
			nn.mu.Unlock()
			for _, n := range nodes {
				if writeServiceRules(n, rules) == nil {
					nn.mu.Lock()
					nn.rules[n.Name] = rules
					nn.mu.Unlock()
				}
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func serviceRules(ctx context.Context, c *Cluster) (string, error) {
	svcs, err := c.Client.CoreV1().Services("").List(ctx, metav1.ListOptions{})
	if err != nil {
		return "", err
	}
	slices, err := c.Client.DiscoveryV1().EndpointSlices("").List(ctx, metav1.ListOptions{})
	if err != nil {
		return "", err
	}
	var lines []string
	for _, s := range svcs.Items {
		if s.Spec.ClusterIP == "" || s.Spec.ClusterIP == corev1.ClusterIPNone {
			continue
		}
		for _, sp := range s.Spec.Ports {
			to := endpointFor(slices.Items, s, sp)
			if to == "" {
				continue
			}
			proto := strings.ToLower(string(sp.Protocol))
			if proto == "" {
				proto = "tcp"
			}
			lines = append(lines, fmt.Sprintf("-A KUBE-SERVICES -d %s/32 -p %s --dport %d -j DNAT --to-destination %s", s.Spec.ClusterIP, proto, sp.Port, to))
		}
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n"), nil
}

// endpointFor is the first ready endpoint of a Service's port, "ip:port".
func endpointFor(slices []discoveryv1.EndpointSlice, s corev1.Service, sp corev1.ServicePort) string {
	var found []string
	for _, es := range slices {
		if es.Namespace != s.Namespace || es.Labels[discoveryv1.LabelServiceName] != s.Name {
			continue
		}
		for _, p := range es.Ports {
			if p.Port == nil || (p.Name != nil && *p.Name != sp.Name) {
				continue
			}
			for _, e := range es.Endpoints {
				if e.Conditions.Ready != nil && !*e.Conditions.Ready {
					continue
				}
				for _, a := range e.Addresses {
					found = append(found, fmt.Sprintf("%s:%d", a, *p.Port))
				}
			}
		}
	}
	sort.Strings(found)
	if len(found) == 0 {
		return ""
	}
	return found[0]
}

func writeServiceRules(n *ProcessNode, rules string) error {
	in := "*nat\n:KUBE-SERVICES - [0:0]\n-F KUBE-SERVICES\n" + rules + "\nCOMMIT\n"
	cmd := exec.Command("ip", "netns", "exec", n.NetNS, "iptables-restore", "--noflush")
	cmd.Stdin = strings.NewReader(in)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("iptables-restore on %s: %v: %s", n.Name, err, out)
	}
	for _, chain := range []string{"OUTPUT", "PREROUTING"} {
		if _, err := n.InNetNS("iptables", "-t", "nat", "-C", chain, "-j", "KUBE-SERVICES"); err != nil {
			if out, err := n.InNetNS("iptables", "-t", "nat", "-I", chain, "-j", "KUBE-SERVICES"); err != nil {
				return fmt.Errorf("jump to KUBE-SERVICES on %s: %v: %s", n.Name, err, out)
			}
		}
	}
	return nil
}
