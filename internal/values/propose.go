package values

import (
	"fmt"
	"net/netip"
	"strings"

	"helm.sh/helm/v3/pkg/chart"
)

// Hints are where a suggested value may come from besides the chart's environment
// files: the release's stored values and the live cluster. A suggestion ("give
// --cidr=X") is only made when X passes the same checks as a value the user gives, so
// the zero Hints (offline: template, install --dry-run=client) suggests less, never
// something the cluster would refuse.
type Hints struct {
	// Stored are the values the release's newest revision stored (its config), and
	// StoredFrom names that revision for a message ("revision 4").
	Stored     map[string]any
	StoredFrom string
	// Cluster answers what only the live cluster knows; nil when there is none.
	Cluster Cluster
}

// Cluster is what a live cluster knows that a suggested address must agree with:
// internal/install reads it (lazily: only a refused value asks).
type Cluster interface {
	// ServiceRange is the cluster's service range, invalid when the cluster does not
	// publish it.
	ServiceRange() netip.Prefix
	// ClusterIPHolder names the Service that holds ip, "" when it is free or held by
	// the release's own romana-root.
	ClusterIPHolder(ip netip.Addr) string
	// CIDRClash names what in the cluster a Romana CIDR would overlap (a node's
	// InternalIP, a podCIDR), "" when nothing.
	CIDRClash(p netip.Prefix) string
}

// StaticBand is the lower band of a service range that Kubernetes keeps for addresses
// given by hand (KEP-3070, GA in 1.26): min(max(16, size/16), 256) addresses after the
// network address. The allocator hands out dynamic clusterIPs from the upper band
// first, so an address picked for romana-root in the lower band is the least likely
// to be taken by another Service first. ok is false for a range of 16 addresses or
// fewer, which has no lower band.
func StaticBand(svc netip.Prefix) (first, last netip.Addr, ok bool) {
	if !svc.Addr().Is4() || svc.Bits() < 1 {
		return netip.Addr{}, netip.Addr{}, false
	}
	size := uint64(1) << (32 - svc.Bits())
	if size <= 16 {
		return netip.Addr{}, netip.Addr{}, false
	}
	band := min(max(16, size/16), 256)
	base := svc.Masked().Addr()
	return base.Next(), addrAdd(base, uint32(band)), true
}

func addrAdd(a netip.Addr, n uint32) netip.Addr {
	b := a.As4()
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	v += n
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// clusterIPCandidates are the addresses a suggestion for romanaRoot.clusterIP tries in
// svc, best first: in the lower band, from its 99th address (10.96.0.99 in kubeadm's
// 10.96.0.0/12, clear of the API server's .1 and the DNS Service's .10) down, then up.
// A range without a lower band offers its last usable address.
func clusterIPCandidates(svc netip.Prefix) []netip.Addr {
	first, last, ok := StaticBand(svc)
	if !ok {
		if svc.Bits() >= 31 {
			return nil
		}
		return []netip.Addr{LastAddr(svc).Prev()}
	}
	start := addrAdd(svc.Masked().Addr(), 99)
	if last.Less(start) {
		start = last
	}
	var out []netip.Addr
	for a := start; !a.Less(first); a = a.Prev() {
		out = append(out, a)
	}
	for a := start.Next(); !last.Less(a); a = a.Next() {
		out = append(out, a)
	}
	return out
}

// candidate is one value a suggestion may give a key, and where it comes from.
type candidate struct{ value, from string }

// mandatoryOrder is the order keys are proposed in: the service range first, since
// the clusterIP is picked inside it and the Romana CIDR outside it.
var mandatoryOrder = []string{"agent.clusterIPCIDR", "services.cidr", "romanaRoot.clusterIP"}

// proposal is a suggestion for some keys: each key's value and where it came from.
type proposal struct {
	keys   []string
	values map[string]candidate
}

// flags is the proposal as dedicated flags (name -> value).
func (p proposal) flags() map[string]string {
	out := map[string]string{}
	for k, c := range p.values {
		out[FlagFor(k)] = c.value
	}
	return out
}

// text lists the proposal as flags with their sources; a key without an acceptable
// value says what to give instead.
func (p proposal) text(unknown func(key string) string) string {
	var parts []string
	for _, k := range p.keys {
		if c, ok := p.values[k]; ok {
			parts = append(parts, fmt.Sprintf("--%s=%s (%s)", FlagFor(k), c.value, c.from))
		} else {
			parts = append(parts, fmt.Sprintf("--%s=<%s>", FlagFor(k), unknown(k)))
		}
	}
	return strings.Join(parts, ", ")
}

// propose picks a value for each of keys (chart paths), from the release's stored
// values, then the environment file, then the live cluster and what can be derived
// (a clusterIP in the service range's lower band, a private Romana CIDR). Each value
// is kept only when the values with it pass Validate's checks for that key and, with
// a cluster, the live ones (inside the cluster's service range, not held by another
// Service, overlapping no node address or podCIDR). extra adds candidates for a key
// tried before the derived ones.
func (c *checker) propose(ch *chart.Chart, keys []string, extra map[string][]candidate) proposal {
	p := proposal{keys: keys, values: map[string]candidate{}}
	for _, k := range mandatoryOrder {
		if !containsStr(keys, k) {
			continue
		}
		for _, cand := range c.candidates(ch, k, p, extra[k]) {
			if c.accept(ch, k, cand, p) {
				p.values[k] = cand
				break
			}
		}
	}
	return p
}

// candidates lists the values tried for key, best first.
func (c *checker) candidates(ch *chart.Chart, key string, p proposal, extra []candidate) []candidate {
	var out []candidate
	if v, _ := LookupString(c.hints.Stored, key); v != "" {
		from := "the release's value"
		if c.hints.StoredFrom != "" {
			from = "the release's value at " + c.hints.StoredFrom
		}
		out = append(out, candidate{v, from})
	}
	envName, _ := LookupString(c.vals, "environment")
	if env, err := FindEnv(ch, envName); err == nil {
		if ev, err := env.Values(); err == nil {
			if v, _ := LookupString(ev, key); v != "" {
				out = append(out, candidate{v, "environment file " + env.File})
			}
		}
	}
	out = append(out, extra...)
	switch key {
	case "agent.clusterIPCIDR":
		if c.hints.Cluster != nil {
			if svc := c.hints.Cluster.ServiceRange(); svc.IsValid() {
				out = append(out, candidate{svc.String(), "the cluster's service range"})
			}
		}
	case "services.cidr":
		// The environments' Romana CIDRs, then the private ranges.
		for _, e := range Envs(ch) {
			if ev, err := e.Values(); err == nil {
				if v, _ := LookupString(ev, key); v != "" {
					out = append(out, candidate{v, "a private range, as in environment file " + e.File})
				}
			}
		}
		for _, v := range []string{"10.112.0.0/12", "172.16.0.0/12", "10.0.0.0/8"} {
			out = append(out, candidate{v, "a private range"})
		}
	case "romanaRoot.clusterIP":
		svc, ok := c.serviceRange(p)
		if !ok {
			break
		}
		from := "in the lower band of the service range " + svc.String() + ", which Kubernetes keeps for fixed addresses"
		if c.hints.Cluster != nil {
			from = "free, " + from
		}
		for _, a := range clusterIPCandidates(svc) {
			out = append(out, candidate{a.String(), from})
		}
	}
	return out
}

// serviceRange is the service range a clusterIP suggestion must lie in: the
// cluster's, else the proposal's or the values' agent.clusterIPCIDR.
func (c *checker) serviceRange(p proposal) (netip.Prefix, bool) {
	if c.hints.Cluster != nil {
		if svc := c.hints.Cluster.ServiceRange(); svc.IsValid() {
			return svc, true
		}
	}
	v, _ := LookupString(c.vals, "agent.clusterIPCIDR")
	if cand, ok := p.values["agent.clusterIPCIDR"]; ok {
		v = cand.value
	}
	svc, err := netip.ParsePrefix(v)
	return svc, err == nil && svc.Addr().Is4() && svc.Masked() == svc
}

// accept says whether cand for key, with the values proposed so far, passes the
// checks: the live ones first (cheap, and what offline validation cannot know), then
// Validate's, which must report nothing about key or a key proposed before it.
func (c *checker) accept(ch *chart.Chart, key string, cand candidate, p proposal) bool {
	stored, _ := LookupString(c.hints.Stored, key)
	switch key {
	case "agent.clusterIPCIDR":
		pr, err := netip.ParsePrefix(cand.value)
		if err != nil {
			return false
		}
		if c.hints.Cluster != nil {
			if svc := c.hints.Cluster.ServiceRange(); svc.IsValid() && svc != pr {
				return false // the agent-cluster-ip-cidr check would warn
			}
		}
	case "services.cidr":
		pr, err := netip.ParsePrefix(cand.value)
		if err != nil {
			return false
		}
		if c.hints.Cluster != nil {
			if svc := c.hints.Cluster.ServiceRange(); svc.IsValid() && svc.Overlaps(pr) {
				return false
			}
			if c.hints.Cluster.CIDRClash(pr) != "" {
				return false
			}
		}
	case "romanaRoot.clusterIP":
		ip, err := netip.ParseAddr(cand.value)
		if err != nil {
			return false
		}
		svc, ok := c.serviceRange(p)
		if !ok || !svc.Contains(ip) {
			return false
		}
		// The release's own address is kept wherever it is (a new one needs
		// --recreate-root-service); a new one is picked in the lower band.
		if cand.value != stored {
			if first, last, band := StaticBand(svc); band && (ip.Less(first) || last.Less(ip)) {
				return false
			}
		}
		if c.hints.Cluster != nil && c.hints.Cluster.ClusterIPHolder(ip) != "" {
			return false
		}
	}
	trial := Layer(c.vals, nil)
	for k, v := range p.values {
		setPath(trial, k, v.value)
	}
	setPath(trial, key, cand.value)
	again := &checker{vals: trial, noPropose: true}
	problems, err := again.run(ch, nil)
	if err != nil {
		return false
	}
	for _, q := range problems {
		for _, k := range append(mapKeys(p.values), key) {
			if q.Key == k || strings.Contains(q.Key, k+",") || strings.HasSuffix(q.Key, ", "+k) {
				return false
			}
		}
	}
	return true
}

func mapKeys(m map[string]candidate) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func containsStr(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// unknownMandatory says what to give for a mandatory key no acceptable value was
// found for.
func unknownMandatory(key string) string {
	switch key {
	case "services.cidr":
		return "a private IPv4 CIDR that no node, podCIDR or Service uses"
	case "romanaRoot.clusterIP":
		return "a free address in the service range"
	}
	return "the cluster's service range (kube-apiserver --service-cluster-ip-range)"
}

// privateBlocks are the IPv4 ranges meant for addresses inside a network (RFC 1918,
// and RFC 6598's shared space, where the kubeadm environment's Romana CIDR lies).
var privateBlocks = []netip.Prefix{
	netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("172.16.0.0/12"),
	netip.MustParsePrefix("192.168.0.0/16"), netip.MustParsePrefix("100.64.0.0/10"),
}

// largerCIDR suggests a Romana CIDR with a prefix of /need or shorter for a plan that
// does not fit in romana: romana widened, when that stays inside its private block
// (192.168.0.0/24 widened to /15 would leave 192.168.0.0/16), else another private
// range; each passes the checks as a mandatory value's suggestion does.
func (c *checker) largerCIDR(ch *chart.Chart, romana netip.Prefix, need int) (candidate, bool) {
	if c.noPropose {
		return candidate{}, false
	}
	var cands []candidate
	widened := netip.PrefixFrom(romana.Addr(), need).Masked()
	inBlock := true
	for _, b := range privateBlocks {
		if b.Contains(romana.Addr()) {
			inBlock = b.Bits() <= widened.Bits()
		}
	}
	if inBlock {
		cands = append(cands, candidate{widened.String(), "the same range, widened"})
	}
	for _, cand := range c.candidates(ch, "services.cidr", proposal{}, nil) {
		if p, err := netip.ParsePrefix(cand.value); err == nil && p.Bits() <= need {
			cands = append(cands, cand)
		}
	}
	for _, cand := range cands {
		if c.accept(ch, "services.cidr", cand, proposal{values: map[string]candidate{}}) {
			return cand, true
		}
	}
	return candidate{}, false
}
