package values

import (
	"fmt"
	"net/netip"
	"strings"
)

// Bits is SETTINGS.md's bits(n): the smallest i >= 1 with 2^i >= n. bits(1) is 1, not
// 0, because Romana's services entrypoint always gives every level at least one bit.
func Bits(n int64) int {
	i := 1
	for capacity := int64(2); capacity < n; capacity *= 2 {
		i++
		if i > 62 {
			break
		}
	}
	return i
}

// Level is one level of the address plan.
type Level struct {
	Count    int64 `json:"count"`
	Bits     int   `json:"bits"`
	Capacity int64 `json:"capacity"`
}

// Plan is Romana's address plan: the CIDR is split, from the top, into host,
// namespace (tenant) and segment bits; what is left addresses endpoints in a segment.
type Plan struct {
	CIDR                netip.Prefix `json:"cidr"`
	Nodes               Level        `json:"nodes"`
	Namespaces          Level        `json:"namespaces"`
	Segments            Level        `json:"segments"`
	EndpointBits        int          `json:"endpointBits"`
	AddressesPerSegment int64        `json:"addressesPerSegment"`
	// Host0Block is host 0's block: cidr + 0 << (32 - prefix - hostBits), of prefix
	// prefix + hostBits; Host0Gateway is its first usable address.
	Host0Block   netip.Prefix `json:"host0Block"`
	Host0Gateway netip.Addr   `json:"host0Gateway"`
	// Fits is false when endpointBits < 1: the plan cannot work.
	Fits bool `json:"fits"`
}

// NewPlan computes the address plan. cidr must be an IPv4 prefix.
func NewPlan(cidr netip.Prefix, nodes, namespaces, segments int64) Plan {
	level := func(n int64) Level {
		b := Bits(n)
		l := Level{Count: n, Bits: b}
		if b < 63 {
			l.Capacity = 1 << b
		}
		return l
	}
	p := Plan{CIDR: cidr, Nodes: level(nodes), Namespaces: level(namespaces), Segments: level(segments)}
	p.EndpointBits = 32 - cidr.Bits() - p.Nodes.Bits - p.Namespaces.Bits - p.Segments.Bits
	p.Fits = p.EndpointBits >= 1
	if p.Fits {
		p.AddressesPerSegment = 1 << p.EndpointBits
		hostPrefix := cidr.Bits() + p.Nodes.Bits
		p.Host0Block = netip.PrefixFrom(cidr.Addr(), hostPrefix).Masked()
		p.Host0Gateway = p.Host0Block.Addr().Next()
	}
	return p
}

// UsedBits is prefix + host + namespace + segment bits, the left side of the rule
// "must be below 32".
func (p Plan) UsedBits() int { return 32 - p.EndpointBits }

// Bar draws the 32 address bits as one labelled bar, a letter per bit: p prefix,
// n nodes, t namespaces (tenants), s segments, e endpoints, so a user sees where the
// bits go and how many are left. It returns the bar and its legend.
func (p Plan) Bar() (bar, legend string) {
	parts := []struct {
		letter string
		name   string
		bits   int
	}{
		{"p", "prefix", p.CIDR.Bits()}, {"n", "nodes", p.Nodes.Bits}, {"t", "namespaces", p.Namespaces.Bits},
		{"s", "segments", p.Segments.Bits}, {"e", "endpoints", max(p.EndpointBits, 0)},
	}
	var b strings.Builder
	var l []string
	for _, part := range parts {
		if part.bits == 0 {
			continue
		}
		b.WriteString(strings.Repeat(part.letter, part.bits))
		l = append(l, fmt.Sprintf("%s=%s %d", part.letter, part.name, part.bits))
	}
	return b.String(), strings.Join(l, ", ")
}
