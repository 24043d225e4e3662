package cni

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/types"
	current "github.com/containernetworking/cni/pkg/types/100"
	"github.com/containernetworking/plugins/pkg/netlinksafe"
	"github.com/containernetworking/plugins/pkg/ns"
	"github.com/vishvananda/netlink"
)

// call runs one CNI command of p on the node and returns ADD's output.
func (n *node) call(t *testing.T, p *Plugin, cmd string, a *skel.CmdArgs) (string, error) {
	t.Helper()
	var out bytes.Buffer
	p.Stdout = &out
	var err error
	n.in(t, func() {
		switch cmd {
		case "ADD":
			err = p.Add(a)
		case "DEL":
			err = p.Del(a)
		case "CHECK":
			err = p.Check(a)
		}
	})
	return out.String(), err
}

// withPrev returns conf with ADD's result as prevResult, for CHECK.
func withPrev(t *testing.T, conf []byte, result string) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(conf, &m); err != nil {
		t.Fatal(err)
	}
	var prev map[string]any
	if err := json.Unmarshal([]byte(result), &prev); err != nil {
		t.Fatalf("ADD's result %q: %v", result, err)
	}
	m["prevResult"] = prev
	b, _ := json.Marshal(m)
	return b
}

// podState is what the pod's namespace holds: eth0's addresses and its routes.
func podState(t *testing.T, path string) (addrs, routes []string) {
	t.Helper()
	err := ns.WithNetNSPath(path, func(ns.NetNS) error {
		l, err := netlinksafe.LinkByName("eth0")
		if err != nil {
			return err
		}
		as, _ := netlinksafe.AddrList(l, netlink.FAMILY_V4)
		for _, a := range as {
			addrs = append(addrs, a.IPNet.String())
		}
		rs, _ := netlinksafe.RouteList(l, netlink.FAMILY_V4)
		for _, r := range rs {
			dst := "default"
			if r.Dst != nil && r.Dst.String() != "0.0.0.0/0" {
				dst = r.Dst.String()
			}
			if r.Gw != nil {
				dst += " via " + r.Gw.String()
			}
			routes = append(routes, dst)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("pod namespace %s: %v", path, err)
	}
	return addrs, routes
}

func hostLink(t *testing.T, n *node, name string) netlink.Link {
	t.Helper()
	var l netlink.Link
	err := ns.WithNetNSPath(n.path, func(ns.NetNS) error {
		var err error
		l, err = netlinksafe.LinkByName(name)
		return err
	})
	if err != nil {
		t.Fatalf("host veth %s on the node: %v", name, err)
	}
	return l
}

// TestAddCheckDel attaches a pod in a namespace of each path form the runtimes use, for
// real, and detaches it twice.
func TestAddCheckDel(t *testing.T) {
	for _, tt := range []struct {
		name  string
		netns func(*testing.T) string
	}{
		{"containerd /var/run/netns/NAME", newNetnsPod},
		{"dockershim /proc/PID/ns/net", newProcPod},
	} {
		t.Run(tt.name, func(t *testing.T) {
			n := newNode(t)
			f := newFakeRomana(t, nil)
			f.isolation = true
			podNS := tt.netns(t)
			p := &Plugin{Hostname: "node-1"}
			a := cmdArgs(f.conf("1.0.0"), podNS, "web-0")

			out, err := n.call(t, p, "ADD", a)
			if err != nil {
				t.Fatalf("ADD: %v", err)
			}
			r, err := current.NewResult([]byte(out))
			if err != nil {
				t.Fatalf("ADD's result %q: %v", out, err)
			}
			res := r.(*current.Result)
			want := f.allocated()["default/web-0"]
			if want == "" || len(res.IPs) != 1 || res.IPs[0].Address.String() != want+"/32" || res.IPs[0].Gateway.String() != n.gw {
				t.Fatalf("ADD's result %s: want address %s/32, gateway %s", out, want, n.gw)
			}
			addrs, routes := podState(t, podNS)
			if fmt.Sprint(addrs) != "["+want+"/32]" {
				t.Errorf("eth0's addresses in the pod: %v, want [%s/32]", addrs, want)
			}
			if !contains(routes, n.gw+"/32") || !contains(routes, "default via "+n.gw) {
				t.Errorf("pod's routes %v: want %s/32 on eth0 and default via %s", routes, n.gw, n.gw)
			}
			host := HostVethName(a.ContainerID, "eth0")
			hl := hostLink(t, n, host)
			if hl.Attrs().Flags&net.FlagUp == 0 {
				t.Errorf("host veth %s is down", host)
			}
			if len(f.agentPosts) != 1 {
				t.Fatalf("agent got %d POST /pod, want 1", len(f.agentPosts))
			}
			ap := f.agentPosts[0]
			if ap.NetIf.Name != host || ap.NetIf.MAC != hl.Attrs().HardwareAddr.String() || ap.NetIf.IP != want || ap.Options.NamespaceIsolation != "on" {
				t.Errorf("agent's POST /pod %+v: want %s, %s, %s, isolation on", ap, host, hl.Attrs().HardwareAddr, want)
			}

			ca := *a
			ca.StdinData = withPrev(t, a.StdinData, out)
			if _, err := n.call(t, p, "CHECK", &ca); err != nil {
				t.Errorf("CHECK of an attached pod: %v", err)
			}

			for i := 1; i <= 2; i++ {
				if _, err := n.call(t, p, "DEL", a); err != nil {
					t.Fatalf("DEL #%d: %v", i, err)
				}
				if v := n.podVeths(t); len(v) > 0 {
					t.Errorf("after DEL #%d the node still has %v", i, v)
				}
				if l := links(t, podNS); len(l) > 0 {
					t.Errorf("after DEL #%d the pod still has %v", i, l)
				}
				if len(f.allocated()) != 0 {
					t.Errorf("after DEL #%d ipam still holds %v", i, f.allocated())
				}
			}
			if len(f.agentDeletes) != 2 || f.agentDeletes[0].NetIf.Name != host || f.agentDeletes[0].NetIf.IP != want {
				t.Errorf("agent's DELETE /pod: %+v, want two, the first for %s with %s", f.agentDeletes, host, want)
			}
		})
	}
}

func contains(list []string, s string) bool {
	for _, l := range list {
		if l == s {
			return true
		}
	}
	return false
}

// closedURL is an address nothing listens on.
func closedURL(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := "http://" + ln.Addr().String()
	ln.Close()
	return u
}

func wantCNIError(t *testing.T, err error, code uint, msg ...string) {
	t.Helper()
	var e *types.Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T): want a CNI error with code %d", err, err, code)
	}
	if e.Code != code {
		t.Errorf("error code %d (%s), want %d", e.Code, e.Error(), code)
	}
	for _, m := range msg {
		if !strings.Contains(e.Error(), m) {
			t.Errorf("error %q: want it to name %q", e.Error(), m)
		}
	}
}

// TestAddAsksAtOnce: the namespace's isolation is asked for while ipam allocates, not
// after (kube-cni-proxy runs a kubectl process for each; docs/benchmarks.md). The fake
// answers each only when the other has arrived.
func TestAddAsksAtOnce(t *testing.T) {
	n := newNode(t)
	f := newFakeRomana(t, nil)
	f.meet = newRendezvous()
	p := &Plugin{Hostname: "node-1"}
	var steps []string
	p.Observe = func(step string, _ time.Duration) { steps = append(steps, step) }
	if _, err := n.call(t, p, "ADD", cmdArgs(f.conf("1.0.0"), newNetnsPod(t), "web-0")); err != nil {
		t.Fatalf("ADD: %v", err)
	}
	if got := strings.Join(steps, " "); !strings.Contains(got, "isolation") || !strings.Contains(got, "ipam") {
		t.Errorf("observed steps %q: want ipam and isolation among them", got)
	}
}

// TestAddFailures breaks one thing per case and checks the error and that the failed
// ADD left nothing: no veth on the node or in the pod, no address held in ipam.
func TestAddFailures(t *testing.T) {
	tests := []struct {
		name     string
		breakIt  func(t *testing.T, n *node, f *fakeRomana, a *skel.CmdArgs)
		code     uint
		msg      []string
		allocs   bool // ipam was asked for an address (so it must have got it back)
		keepEth0 bool // the pod had an eth0 of its own, which must survive
	}{
		{name: "romana-root unreachable", code: CodeUnreachable, msg: []string{"ipam (romana-root's service list) unreachable", "connection refused"},
			breakIt: func(t *testing.T, _ *node, f *fakeRomana, a *skel.CmdArgs) {
				a.StdinData = bytes.Replace(a.StdinData, []byte(`"romana_root":"`+f.srv.URL), []byte(`"romana_root":"`+closedURL(t)), 1)
			}},
		{name: "no kube-cni-proxy in root's list", code: CodeServiceError, msg: []string{"no kube-cni-proxy"},
			breakIt: func(_ *testing.T, _ *node, f *fakeRomana, _ *skel.CmdArgs) { f.noProxy = true }},
		{name: "ipam refuses", code: CodeNoAddress, msg: []string{"no address", "answered 500"}, allocs: true,
			breakIt: func(_ *testing.T, _ *node, f *fakeRomana, _ *skel.CmdArgs) { f.allocStatus = 500 }},
		{name: "ipam answers without an address", code: CodeNoAddress, msg: []string{"no address", "no IPv4 address"}, allocs: true,
			breakIt: func(_ *testing.T, _ *node, f *fakeRomana, _ *skel.CmdArgs) { f.allocNoIP = true }},
		{name: "namespace gone", code: CodeNamespaceGone, msg: []string{"namespace gone", "/var/run/netns/gone"},
			breakIt: func(_ *testing.T, _ *node, _ *fakeRomana, a *skel.CmdArgs) {
				a.Netns = "/var/run/netns/gone" + uniq("")
			}},
		{name: "namespace is the node's own", code: CodeNamespaceGone, msg: []string{"namespace is the node's own"},
			breakIt: func(_ *testing.T, n *node, _ *fakeRomana, a *skel.CmdArgs) { a.Netns = n.path }},
		{name: "no gateway on the node", code: CodeNoGateway, msg: []string{"romana-gw has no IPv4 address"},
			breakIt: func(t *testing.T, n *node, _ *fakeRomana, _ *skel.CmdArgs) {
				run(t, "ip", "-n", n.name, "addr", "flush", "dev", GatewayLink)
			}},
		{name: "the pod already has an eth0", code: CodeNetlink, msg: []string{"veth setup failed", "already exists"}, allocs: true, keepEth0: true,
			breakIt: func(t *testing.T, _ *node, _ *fakeRomana, a *skel.CmdArgs) {
				run(t, "ip", "-n", strings.TrimPrefix(a.Netns, "/var/run/netns/"), "link", "add", "eth0", "type", "veth", "peer", "name", "other")
			}},
		{name: "namespace isolation lookup fails", code: CodeServiceError, msg: []string{"namespace isolation", "answered 500"}, allocs: true,
			breakIt: func(_ *testing.T, _ *node, f *fakeRomana, _ *skel.CmdArgs) { f.namespaceFails = true }},
		{name: "agent refuses", code: CodeAgentRefused, msg: []string{"agent refused", "answered 500", "agent says no"}, allocs: true,
			breakIt: func(_ *testing.T, _ *node, f *fakeRomana, _ *skel.CmdArgs) { f.agentStatus = 500 }},
		{name: "agent unreachable", code: CodeUnreachable, msg: []string{"agent unreachable", "connection refused"}, allocs: true,
			breakIt: func(t *testing.T, _ *node, f *fakeRomana, a *skel.CmdArgs) {
				a.StdinData = bytes.Replace(a.StdinData, []byte(`"agent_url":"`+f.srv.URL), []byte(`"agent_url":"`+closedURL(t)), 1)
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := newNode(t)
			f := newFakeRomana(t, nil)
			podNS := newNetnsPod(t)
			a := cmdArgs(f.conf("1.0.0"), podNS, "web-0")
			tt.breakIt(t, n, f, a)
			out, err := n.call(t, &Plugin{Hostname: "node-1"}, "ADD", a)
			if out != "" {
				t.Errorf("a failed ADD printed %q", out)
			}
			wantCNIError(t, err, tt.code, tt.msg...)
			if v := n.podVeths(t); len(v) > 0 {
				t.Errorf("the failed ADD left %v on the node", v)
			}
			pl := links(t, podNS)
			if tt.keepEth0 {
				if !contains(pl, "eth0") {
					t.Errorf("the failed ADD removed the pod's own eth0 (links %v)", pl)
				}
			} else if len(pl) > 0 {
				t.Errorf("the failed ADD left %v in the pod", pl)
			}
			if got := f.count("POST /endpoints"); (got > 0) != tt.allocs {
				t.Errorf("ipam got %d POST /endpoints, want any: %v", got, tt.allocs)
			}
			if tt.allocs && f.count("DELETE /endpoints") != 1 {
				t.Errorf("ipam got %d DELETE /endpoints after the failed ADD, want 1", f.count("DELETE /endpoints"))
			}
			if len(f.allocated()) != 0 {
				t.Errorf("the failed ADD left %v allocated in ipam", f.allocated())
			}
		})
	}
}

// TestBadConfig breaks one key of the configuration per case: code 7, the key and its
// value named.
func TestBadConfig(t *testing.T) {
	good := map[string]any{"cniVersion": "1.0.0", "name": NetworkName, "type": PluginType, "romana_root": "http://10.96.0.99:9600",
		"segment_label_name": "romanaSegment", "ipam": map[string]any{"type": IPAMType}}
	tests := []struct {
		key  string
		val  any
		want string
	}{
		{"name", "other", `name "other": want "romana-k8s-network"`},
		{"type", "bridge", `type "bridge": want "romana"`},
		{"ipam", map[string]any{"type": "host-local"}, `ipam.type "host-local": want "romana-ipam"`},
		{"romana_root", "romana-root", `romana_root "romana-root": not an http(s) URL`},
		{"romana_root", nil, `romana_root "": must be set`},
		{"segment_label_name", "", `segment_label_name "": must be set`},
		{"agent_url", "localhost:9604", `agent_url "localhost:9604": not an http(s) URL`},
		{"log_file", "romana-cni.log", `log_file "romana-cni.log": not an absolute path`},
	}
	for _, tt := range tests {
		t.Run(tt.key+"="+fmt.Sprint(tt.val), func(t *testing.T) {
			c := map[string]any{}
			for k, v := range good {
				c[k] = v
			}
			if tt.val == nil {
				delete(c, tt.key)
			} else {
				c[tt.key] = tt.val
			}
			b, _ := json.Marshal(c)
			_, err := ParseConf(b)
			wantCNIError(t, err, CodeBadConfig, "bad config", tt.want)
			// ADD, DEL and CHECK refuse it before touching anything.
			p := &Plugin{}
			a := &skel.CmdArgs{ContainerID: "x", Netns: "/var/run/netns/none", IfName: "eth0", Args: "K8S_POD_NAMESPACE=a;K8S_POD_NAME=b", StdinData: b}
			for _, fn := range []func(*skel.CmdArgs) error{p.Add, p.Del, p.Check} {
				wantCNIError(t, fn(a), CodeBadConfig, tt.want)
			}
		})
	}
	b, _ := json.Marshal(good)
	if _, err := ParseConf(b); err != nil {
		t.Fatalf("the good configuration: %v", err)
	}
	t.Run("CNI_ARGS without the pod", func(t *testing.T) {
		err := (&Plugin{}).Add(&skel.CmdArgs{ContainerID: "x", Netns: "/x", IfName: "eth0", Args: "IgnoreUnknown=1", StdinData: b})
		wantCNIError(t, err, CodeBadArgs, "K8S_POD_NAMESPACE and K8S_POD_NAME missing")
	})
}

// TestDelIdempotent: DEL succeeds when there is nothing left to remove.
func TestDelIdempotent(t *testing.T) {
	tests := []struct {
		name    string
		breakIt func(t *testing.T, n *node, f *fakeRomana, a *skel.CmdArgs)
	}{
		{"namespace gone", func(t *testing.T, _ *node, _ *fakeRomana, a *skel.CmdArgs) {
			run(t, "ip", "netns", "delete", strings.TrimPrefix(a.Netns, "/var/run/netns/"))
		}},
		{"CNI_NETNS empty", func(t *testing.T, _ *node, _ *fakeRomana, a *skel.CmdArgs) {
			run(t, "ip", "netns", "delete", strings.TrimPrefix(a.Netns, "/var/run/netns/"))
			a.Netns = ""
		}},
		{"host veth gone", func(t *testing.T, n *node, _ *fakeRomana, a *skel.CmdArgs) {
			run(t, "ip", "-n", n.name, "link", "del", HostVethName(a.ContainerID, a.IfName))
		}},
		{"address already released", func(_ *testing.T, _ *node, f *fakeRomana, _ *skel.CmdArgs) {
			f.mu.Lock()
			f.allocs = map[string]string{}
			f.mu.Unlock()
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := newNode(t)
			f := newFakeRomana(t, nil)
			a := cmdArgs(f.conf("1.0.0"), newNetnsPod(t), "web-0")
			p := &Plugin{Hostname: "node-1"}
			if _, err := n.call(t, p, "ADD", a); err != nil {
				t.Fatalf("ADD: %v", err)
			}
			tt.breakIt(t, n, f, a)
			if _, err := n.call(t, p, "DEL", a); err != nil {
				t.Fatalf("DEL: %v", err)
			}
			if v := n.podVeths(t); len(v) > 0 {
				t.Errorf("after DEL the node still has %v", v)
			}
			if len(f.allocated()) != 0 {
				t.Errorf("after DEL ipam still holds %v", f.allocated())
			}
			if len(f.agentDeletes) != 1 || f.agentDeletes[0].NetIf.Name != HostVethName(a.ContainerID, a.IfName) {
				t.Errorf("agent's DELETE /pod: %+v, want one for the host veth", f.agentDeletes)
			}
		})
	}
	t.Run("ipam unreachable is an error", func(t *testing.T) {
		n := newNode(t)
		f := newFakeRomana(t, nil)
		a := cmdArgs(f.conf("1.0.0"), "", "web-0")
		a.StdinData = bytes.Replace(a.StdinData, []byte(`"romana_root":"`+f.srv.URL), []byte(`"romana_root":"`+closedURL(t)), 1)
		_, err := n.call(t, &Plugin{Hostname: "node-1"}, "DEL", a)
		wantCNIError(t, err, CodeUnreachable, "unreachable")
	})
}

// TestCheckFails removes one piece of an attached pod's network per case: CHECK fails
// and names it.
func TestCheckFails(t *testing.T) {
	tests := []struct {
		name    string
		breakIt func(t *testing.T, n *node, a *skel.CmdArgs, pod string)
		want    string
	}{
		{"host veth gone", func(t *testing.T, n *node, a *skel.CmdArgs, _ string) {
			run(t, "ip", "-n", n.name, "link", "del", HostVethName(a.ContainerID, a.IfName))
		}, "host veth veth0-"},
		{"host veth down", func(t *testing.T, n *node, a *skel.CmdArgs, _ string) {
			run(t, "ip", "-n", n.name, "link", "set", HostVethName(a.ContainerID, a.IfName), "down")
		}, "is down"},
		{"address gone", func(t *testing.T, _ *node, _ *skel.CmdArgs, pod string) {
			run(t, "ip", "-n", pod, "addr", "flush", "dev", "eth0")
		}, "address of eth0"},
		{"default route gone", func(t *testing.T, _ *node, _ *skel.CmdArgs, pod string) {
			run(t, "ip", "-n", pod, "route", "del", "default")
		}, "routes in the pod"},
		{"route to the gateway gone", func(t *testing.T, _ *node, _ *skel.CmdArgs, pod string) {
			run(t, "ip", "-n", pod, "route", "del", "default")
			run(t, "ip", "-n", pod, "route", "del", "10.112.0.1/32")
		}, "no route to the gateway 10.112.0.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := newNode(t)
			f := newFakeRomana(t, nil)
			podNS := newNetnsPod(t)
			a := cmdArgs(f.conf("1.0.0"), podNS, "web-0")
			p := &Plugin{Hostname: "node-1"}
			out, err := n.call(t, p, "ADD", a)
			if err != nil {
				t.Fatalf("ADD: %v", err)
			}
			ca := *a
			ca.StdinData = withPrev(t, a.StdinData, out)
			tt.breakIt(t, n, a, strings.TrimPrefix(podNS, "/var/run/netns/"))
			_, err = n.call(t, p, "CHECK", &ca)
			wantCNIError(t, err, CodeCheckFailed, "check failed", tt.want)
		})
	}
	t.Run("namespace gone", func(t *testing.T) {
		n := newNode(t)
		f := newFakeRomana(t, nil)
		pod := newNetnsPod(t)
		a := cmdArgs(f.conf("1.0.0"), pod, "web-0")
		p := &Plugin{Hostname: "node-1"}
		out, err := n.call(t, p, "ADD", a)
		if err != nil {
			t.Fatalf("ADD: %v", err)
		}
		a.StdinData = withPrev(t, a.StdinData, out)
		if err := exec.Command("ip", "netns", "delete", strings.TrimPrefix(pod, "/var/run/netns/")).Run(); err != nil {
			t.Fatal(err)
		}
		_, err = n.call(t, p, "CHECK", a)
		wantCNIError(t, err, CodeNamespaceGone, "namespace gone", pod)
	})
}

type brokenWriter struct{}

func (brokenWriter) Write([]byte) (int, error) { return 0, errors.New("stdout closed") }

// TestAddResultUnwritable: an ADD whose result cannot be written fails, and undoes
// everything, the agent's POST /pod included.
func TestAddResultUnwritable(t *testing.T) {
	n := newNode(t)
	f := newFakeRomana(t, nil)
	pod := newNetnsPod(t)
	a := cmdArgs(f.conf("1.0.0"), pod, "web-0")
	var err error
	n.in(t, func() { err = (&Plugin{Hostname: "node-1", Stdout: brokenWriter{}}).Add(a) })
	wantCNIError(t, err, types.ErrIOFailure, "write result", "stdout closed")
	if v := n.podVeths(t); len(v) > 0 || len(links(t, pod)) > 0 || len(f.allocated()) > 0 {
		t.Errorf("the failed ADD left: node %v, pod %v, ipam %v", v, links(t, pod), f.allocated())
	}
	if len(f.agentPosts) != 1 || len(f.agentDeletes) != 1 || f.agentDeletes[0].NetIf.Name != f.agentPosts[0].NetIf.Name {
		t.Errorf("agent: POST %+v, DELETE %+v: want the POST undone", f.agentPosts, f.agentDeletes)
	}
}
