package cni

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	cnins "github.com/containernetworking/cni/pkg/ns"
	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/types"
	current "github.com/containernetworking/cni/pkg/types/100"
	"github.com/containernetworking/cni/pkg/version"
	"github.com/containernetworking/plugins/pkg/ip"
	"github.com/containernetworking/plugins/pkg/netlinksafe"
	"github.com/containernetworking/plugins/pkg/ns"
	"github.com/vishvananda/netlink"
)

// SupportedVersions are the CNI spec versions the plugin answers: what containerd and
// CRI-O send today, and upstream's 0.2.0 so that its configuration still works.
var SupportedVersions = []string{"0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"}

// VersionInfo is the plugin's answer to VERSION.
func VersionInfo() version.PluginInfo { return version.PluginSupports(SupportedVersions...) }

// DefaultTimeout bounds each request to a Romana service.
const DefaultTimeout = 15 * time.Second

// Plugin runs the CNI commands. Its zero value works; the fields are for tests.
type Plugin struct {
	// Stdout receives ADD's result (os.Stdout when nil).
	Stdout io.Writer
	// HTTP talks to Romana's services (a client with DefaultTimeout when nil).
	HTTP *http.Client
	// Hostname is the node's name as the agent registered it with Romana: $HOSTNAME,
	// else the kernel's host name, when empty.
	Hostname string
	// Observe, when set, gets the time of each step: "gateway" (romana-gw's address),
	// "root" (the service list), "ipam", "veth" (the pair, address and routes),
	// "isolation", "agent"; and DEL's "veth-del", "ipam", "agent".
	Observe func(step string, d time.Duration)

	// attached is ADD's outcome for the log ("10.112.0.3/32 on veth0-…"), set when
	// the ADD succeeded.
	attached string
}

// podArgs are the CNI_ARGS the plugin needs.
type podArgs struct{ namespace, name string }

func parseArgs(s string) (podArgs, error) {
	var a podArgs
	for _, kv := range strings.Split(s, ";") {
		k, v, _ := strings.Cut(kv, "=")
		switch k {
		case "K8S_POD_NAMESPACE":
			a.namespace = v
		case "K8S_POD_NAME":
			a.name = v
		}
	}
	var missing []string
	if a.namespace == "" {
		missing = append(missing, "K8S_POD_NAMESPACE")
	}
	if a.name == "" {
		missing = append(missing, "K8S_POD_NAME")
	}
	if len(missing) > 0 {
		return a, cniErr(CodeBadArgs, "bad CNI_ARGS", "%s missing or empty in CNI_ARGS %q", strings.Join(missing, " and "), s)
	}
	return a, nil
}

func (p *Plugin) hostname() string {
	if p.Hostname != "" {
		return p.Hostname
	}
	if h := os.Getenv("HOSTNAME"); h != "" {
		return h
	}
	h, _ := os.Hostname()
	return h
}

func (p *Plugin) services(c *NetConf) *services {
	hc := p.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: DefaultTimeout}
	}
	return &services{http: hc, root: c.RomanaRoot, agent: c.AgentURL}
}

func (p *Plugin) observe(step string, start time.Time) {
	if p.Observe != nil {
		p.Observe(step, time.Since(start))
	}
}

func (p *Plugin) stdout() io.Writer {
	if p.Stdout != nil {
		return p.Stdout
	}
	return os.Stdout
}

// Add attaches the pod: an address from ipam (and, at the same time, the namespace's
// isolation), the veth pair, the agent's POST /pod; then prints the result in the
// configuration's cniVersion.
// When a step fails, what the earlier steps made is undone: the veth pair removed and
// the address given back.
func (p *Plugin) Add(args *skel.CmdArgs) (err error) {
	conf, err := ParseConf(args.StdinData)
	if err != nil {
		return err
	}
	pa, err := parseArgs(args.Args)
	if err != nil {
		return err
	}
	netns, err := openNS(args.Netns)
	if err != nil {
		return err
	}
	defer netns.Close()
	// skel refuses the node's own namespace only after ADD has run; refuse it first.
	if same, cerr := cnins.CheckNetNS(args.Netns); cerr != nil {
		return cerr
	} else if same {
		return cniErr(CodeNamespaceGone, "namespace is the node's own", "CNI_NETNS %s is the plugin's own network namespace, not a pod's", args.Netns)
	}
	t := time.Now()
	gw, err := gateway()
	p.observe("gateway", t)
	if err != nil {
		return err
	}
	svc := p.services(conf)
	t = time.Now()
	if _, err := svc.proxy(); err != nil {
		return err
	}
	p.observe("root", t)

	// The namespace's isolation does not depend on the address, and kube-cni-proxy
	// answers each with a kubectl process of its own (about 90 and 170 ms on the
	// bench): ask for both at once. proxy's URL is looked up above, so the two calls
	// only read svc. The step's time is observed here, after the join, so an Observe
	// hook is only ever called from this goroutine.
	type isoAnswer struct {
		v   string
		err error
		d   time.Duration
	}
	isoC := make(chan isoAnswer, 1)
	go func() {
		t := time.Now()
		v, err := svc.isolation(pa.namespace)
		isoC <- isoAnswer{v, err, time.Since(t)}
	}()
	isoWait := sync.OnceValue(func() isoAnswer {
		a := <-isoC
		if p.Observe != nil {
			p.Observe("isolation", a.d)
		}
		return a
	})
	// Every return waits for it: the process must not exit with a request in flight.
	defer isoWait()

	req := endpointRequest{Host: p.hostname(), Namespace: pa.namespace, PodName: pa.name}
	t = time.Now()
	addr, err := svc.allocate(req)
	p.observe("ipam", t)
	if err != nil {
		// ipam may have kept an address it could not hand over (a lost answer): give
		// back whatever kube-cni-proxy holds for the pod (a 404 when nothing).
		if _, rerr := svc.release(req); rerr != nil {
			e, _ := asCNIError(err)
			e.Details += fmt.Sprintf("; giving back any address also failed: %v", rerr)
			return e
		}
		return err
	}
	hostName := HostVethName(args.ContainerID, args.IfName)
	posted := false // the agent has the pod
	defer func() {
		if err == nil {
			return
		}
		// Undo: the host end takes the pod end with it; then the address goes back.
		var undo []string
		if posted {
			if aerr := svc.agentPod(http.MethodDelete, hostName, "", addr.String(), ""); aerr != nil {
				undo = append(undo, aerr.Error())
			}
		}
		if terr := teardown(nil, args.IfName, hostName); terr != nil {
			undo = append(undo, terr.Error())
		}
		if _, rerr := svc.release(req); rerr != nil {
			undo = append(undo, fmt.Sprintf("give back %s: %v", addr, rerr))
		}
		if len(undo) > 0 {
			e, _ := asCNIError(err)
			e.Details += "; undoing the ADD also failed: " + strings.Join(undo, "; ")
			err = e
		}
	}()

	var a attachment
	t = time.Now()
	err = setupVeth(netns, args.IfName, hostName, addr, gw, &a)
	p.observe("veth", t)
	if err != nil {
		return asErr(err, CodeNetlink, "veth setup failed")
	}
	ia := isoWait()
	if ia.err != nil {
		return ia.err
	}
	iso := ia.v
	t = time.Now()
	err = svc.agentPod(http.MethodPost, hostName, a.host.HardwareAddr.String(), addr.String(), iso)
	p.observe("agent", t)
	if err != nil {
		return err
	}
	posted = true

	res := &current.Result{
		CNIVersion: current.ImplementedSpecVersion,
		Interfaces: []*current.Interface{
			{Name: a.host.Name, Mac: a.host.HardwareAddr.String()},
			{Name: args.IfName, Mac: a.cont.HardwareAddr.String(), Sandbox: args.Netns},
		},
		IPs:    []*current.IPConfig{{Interface: current.Int(1), Address: net.IPNet{IP: addr, Mask: net.CIDRMask(32, 32)}, Gateway: gw}},
		Routes: []*types.Route{{Dst: net.IPNet{IP: net.IPv4zero.To4(), Mask: net.CIDRMask(0, 32)}, GW: gw}},
	}
	out, err := res.GetAsVersion(conf.CNIVersion)
	if err != nil {
		return cniErr(types.ErrIncompatibleCNIVersion, "result conversion failed", "to cniVersion %s: %v", conf.CNIVersion, err)
	}
	if err := out.PrintTo(p.stdout()); err != nil {
		return cniErr(types.ErrIOFailure, "write result", "%v", err)
	}
	p.attached = fmt.Sprintf("%s/32 on %s", addr, hostName)
	return nil
}

// Del detaches the pod and succeeds when there is nothing left to do: the namespace
// gone, the veth gone, the address already given back.
func (p *Plugin) Del(args *skel.CmdArgs) error {
	conf, err := ParseConf(args.StdinData)
	if err != nil {
		return err
	}
	pa, err := parseArgs(args.Args)
	if err != nil {
		return err
	}
	hostName := HostVethName(args.ContainerID, args.IfName)
	var podIP net.IP
	var netns ns.NetNS
	if args.Netns != "" {
		if n, err := ns.GetNS(args.Netns); err == nil {
			netns = n
			defer n.Close()
			podIP = podAddress(n, args.IfName)
		}
	}
	t := time.Now()
	err = teardown(netns, args.IfName, hostName)
	p.observe("veth-del", t)
	if err != nil {
		return cniErr(CodeNetlink, "veth removal failed", "%v", err)
	}
	svc := p.services(conf)
	t = time.Now()
	released, err := svc.release(endpointRequest{Host: p.hostname(), Namespace: pa.namespace, PodName: pa.name})
	p.observe("ipam", t)
	if err != nil {
		return err
	}
	if released == nil {
		released = podIP
	}
	ipStr := ""
	if released != nil {
		ipStr = released.String()
	}
	// The agent removes the pod's iptables rules by the interface's name; upstream sends
	// no MAC and an empty isolation option here.
	t = time.Now()
	err = svc.agentPod(http.MethodDelete, hostName, "", ipStr, "")
	p.observe("agent", t)
	return err
}

// Check verifies that the pod's network is as ADD left it: the host veth, the pod's
// interface with its address, the route to the gateway and the default route.
func (p *Plugin) Check(args *skel.CmdArgs) error {
	conf, err := ParseConf(args.StdinData)
	if err != nil {
		return err
	}
	if _, err := parseArgs(args.Args); err != nil {
		return err
	}
	if conf.RawPrevResult == nil {
		return cniErr(CodeBadConfig, "bad config", "prevResult missing: CHECK needs ADD's result")
	}
	if err := version.ParsePrevResult(&conf.PluginConf); err != nil {
		return cniErr(types.ErrDecodingFailure, "bad config", "prevResult: %v", err)
	}
	prev, err := current.NewResultFromResult(conf.PrevResult)
	if err != nil {
		return cniErr(types.ErrDecodingFailure, "bad config", "prevResult: %v", err)
	}
	if len(prev.IPs) == 0 {
		return cniErr(CodeCheckFailed, "check failed", "prevResult has no address")
	}
	netns, err := openNS(args.Netns)
	if err != nil {
		return err
	}
	defer netns.Close()
	hostName := HostVethName(args.ContainerID, args.IfName)
	hl, err := netlinksafe.LinkByName(hostName)
	if err != nil {
		return cniErr(CodeCheckFailed, "check failed", "host veth %s: %v", hostName, err)
	}
	if hl.Attrs().Flags&net.FlagUp == 0 {
		return cniErr(CodeCheckFailed, "check failed", "host veth %s is down", hostName)
	}
	gw := prev.IPs[0].Gateway
	return netns.Do(func(ns.NetNS) error {
		l, err := netlinksafe.LinkByName(args.IfName)
		if err != nil {
			return cniErr(CodeCheckFailed, "check failed", "%s in the pod: %v", args.IfName, err)
		}
		if _, ok := l.(*netlink.Veth); !ok {
			return cniErr(CodeCheckFailed, "check failed", "%s in the pod is a %s, not a veth", args.IfName, l.Type())
		}
		if _, idx, err := ip.GetVethPeerIfindex(args.IfName); err != nil || idx != hl.Attrs().Index {
			return cniErr(CodeCheckFailed, "check failed", "%s in the pod is not the peer of host veth %s", args.IfName, hostName)
		}
		// Not ip.ValidateExpectedInterfaceIPs: it looks for the address's prefix route,
		// which a /32 does not have.
		addrs, err := netlinksafe.AddrList(l, netlink.FAMILY_V4)
		if err != nil {
			return cniErr(CodeCheckFailed, "check failed", "addresses of %s in the pod: %v", args.IfName, err)
		}
		for _, want := range prev.IPs {
			found := false
			for _, a := range addrs {
				if a.IPNet.String() == want.Address.String() {
					found = true
				}
			}
			if !found {
				return cniErr(CodeCheckFailed, "check failed", "address of %s in the pod: %s is gone", args.IfName, want.Address.String())
			}
		}
		if gw != nil {
			routes, err := netlinksafe.RouteList(l, netlink.FAMILY_V4)
			if err != nil {
				return cniErr(CodeCheckFailed, "check failed", "routes of %s in the pod: %v", args.IfName, err)
			}
			found := false
			for _, r := range routes {
				if r.Dst != nil && r.Dst.IP.Equal(gw) && r.Dst.Mask.String() == net.CIDRMask(32, 32).String() {
					found = true
				}
			}
			if !found {
				return cniErr(CodeCheckFailed, "check failed", "no route to the gateway %s via %s in the pod", gw, args.IfName)
			}
		}
		if err := ip.ValidateExpectedRoute(prev.Routes); err != nil {
			return cniErr(CodeCheckFailed, "check failed", "routes in the pod: %v", err)
		}
		return nil
	})
}

func asCNIError(err error) (*types.Error, bool) {
	var e *types.Error
	if errors.As(err, &e) {
		return e, true
	}
	return types.NewError(types.ErrInternal, err.Error(), ""), false
}

// asErr keeps a CNI error as it is and gives any other error code with msg.
func asErr(err error, code uint, msg string) error {
	if e, ok := asCNIError(err); ok {
		return e
	}
	return cniErr(code, msg, "%v", err)
}
