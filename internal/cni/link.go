package cni

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"

	"github.com/containernetworking/plugins/pkg/ip"
	"github.com/containernetworking/plugins/pkg/netlinksafe"
	"github.com/containernetworking/plugins/pkg/ns"
	"github.com/vishvananda/netlink"
)

// GatewayLink is the link the agent gives the node's gateway address; every pod routes
// through that address.
const GatewayLink = "romana-gw"

// HostVethName is the host end of the pod's veth pair: upstream's "veth0-" prefix and
// nine hex digits of the container ID's hash. Upstream used the pod's PID, which a
// /var/run/netns path does not have and which DEL no longer knows once the namespace is
// gone; and the agent removes a pod's iptables rules by the name as a substring, so
// veth0-12 would take veth0-123's too. A fixed length makes no name another's substring.
func HostVethName(containerID, ifName string) string {
	h := sha256.Sum256([]byte(containerID + "/" + ifName))
	return "veth0-" + hex.EncodeToString(h[:])[:9]
}

// gateway returns romana-gw's IPv4 address in the current (host) namespace.
func gateway() (net.IP, error) {
	l, err := netlinksafe.LinkByName(GatewayLink)
	if err != nil {
		return nil, cniErr(CodeNoGateway, "no gateway", "%s: %v (the romana-agent pod sets it up on every node: is it running here?)", GatewayLink, err)
	}
	addrs, err := netlinksafe.AddrList(l, netlink.FAMILY_V4)
	if err != nil {
		return nil, cniErr(CodeNoGateway, "no gateway", "%s: list addresses: %v", GatewayLink, err)
	}
	if len(addrs) == 0 {
		return nil, cniErr(CodeNoGateway, "no gateway", "%s has no IPv4 address (the romana-agent pod gives it the node's gateway address: is it running here?)", GatewayLink)
	}
	return addrs[0].IP.To4(), nil
}

// openNS opens the pod's network namespace, whatever the form of its path
// (/var/run/netns/NAME, /proc/PID/ns/net, CRI-O's /var/run/netns/…).
func openNS(path string) (ns.NetNS, error) {
	if path == "" {
		return nil, cniErr(CodeNamespaceGone, "namespace gone", "CNI_NETNS is empty")
	}
	n, err := ns.GetNS(path)
	if err != nil {
		return nil, cniErr(CodeNamespaceGone, "namespace gone", "CNI_NETNS %s: %v", path, err)
	}
	return n, nil
}

// attachment is what ADD made, for the result and for undoing it.
type attachment struct {
	host, cont net.Interface
	created    bool // the veth pair exists (undo removes it)
}

// setupVeth creates the veth pair with its pod end in netns as ifName, and gives that
// end the address as a /32, a route to the gateway and the default route via it, as
// upstream's script does with ip(8).
func setupVeth(netns ns.NetNS, ifName, hostName string, addr, gw net.IP, a *attachment) error {
	return netns.Do(func(hostNS ns.NetNS) error {
		host, cont, err := ip.SetupVethWithName(ifName, hostName, 0, "", hostNS)
		if err != nil {
			return cniErr(CodeNetlink, "veth setup failed", "veth pair %s (pod) / %s (host): %v", ifName, hostName, err)
		}
		a.host, a.cont, a.created = host, cont, true
		l, err := netlinksafe.LinkByName(ifName)
		if err != nil {
			return cniErr(CodeNetlink, "veth setup failed", "%s in the pod: %v", ifName, err)
		}
		if err := netlink.LinkSetUp(l); err != nil {
			return cniErr(CodeNetlink, "veth setup failed", "set %s up in the pod: %v", ifName, err)
		}
		if err := netlink.AddrAdd(l, &netlink.Addr{IPNet: &net.IPNet{IP: addr, Mask: net.CIDRMask(32, 32)}}); err != nil {
			return cniErr(CodeNetlink, "address setup failed", "add %s/32 to %s in the pod: %v", addr, ifName, err)
		}
		if err := netlink.RouteAdd(&netlink.Route{LinkIndex: l.Attrs().Index, Scope: netlink.SCOPE_LINK,
			Dst: &net.IPNet{IP: gw, Mask: net.CIDRMask(32, 32)}}); err != nil {
			return cniErr(CodeNetlink, "route setup failed", "route to %s's %s via %s in the pod: %v", GatewayLink, gw, ifName, err)
		}
		if err := ip.AddDefaultRoute(gw, l); err != nil {
			return cniErr(CodeNetlink, "route setup failed", "default route via %s in the pod: %v", gw, err)
		}
		return nil
	})
}

// podAddress returns ifName's IPv4 address in the pod's namespace, or nil.
func podAddress(netns ns.NetNS, ifName string) net.IP {
	var addr net.IP
	_ = netns.Do(func(ns.NetNS) error {
		l, err := netlinksafe.LinkByName(ifName)
		if err != nil {
			return err
		}
		addrs, err := netlinksafe.AddrList(l, netlink.FAMILY_V4)
		if err == nil && len(addrs) > 0 {
			addr = addrs[0].IP.To4()
		}
		return nil
	})
	return addr
}

// teardown removes the pod's end of the pair (when netns is not nil) and the host end;
// links already gone are not an error.
func teardown(netns ns.NetNS, ifName, hostName string) error {
	var errs []error
	if netns != nil {
		err := netns.Do(func(ns.NetNS) error {
			l, err := netlinksafe.LinkByName(ifName)
			if err != nil {
				if _, ok := err.(netlink.LinkNotFoundError); ok {
					return nil
				}
				return err
			}
			if _, ok := l.(*netlink.Veth); !ok {
				return fmt.Errorf("%s in the pod is a %s, not the veth this plugin made; left alone", ifName, l.Type())
			}
			return netlink.LinkDel(l)
		})
		if err != nil {
			errs = append(errs, fmt.Errorf("remove %s in the pod: %w", ifName, err))
		}
	}
	if err := ip.DelLinkByName(hostName); err != nil && !errors.Is(err, ip.ErrLinkNotFound) {
		errs = append(errs, fmt.Errorf("remove host veth %s: %w", hostName, err))
	}
	return errors.Join(errs...)
}
