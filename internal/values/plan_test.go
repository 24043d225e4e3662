package values_test

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/romana/romanactl/internal/values"
)

func TestBits(t *testing.T) {
	// SETTINGS.md: bits(256) = 8, bits(16) = 4 and bits(1) = 1.
	for n, want := range map[int64]int{1: 1, 2: 1, 3: 2, 4: 2, 5: 3, 16: 4, 17: 5, 255: 8, 256: 8, 257: 9, 1 << 20: 20} {
		if got := values.Bits(n); got != want {
			t.Errorf("Bits(%d) = %d, want %d", n, got, want)
		}
	}
}

func TestPlan(t *testing.T) {
	tests := []struct {
		cidr                string
		nodes, ns, seg      int64
		endpointBits        int
		host0, gw           string
		addressesPerSegment int64
	}{
		// kubeadm: 32-12-8-4-4 = 4 bits, 16 addresses per segment; hosts are /20s.
		{"100.112.0.0/12", 256, 16, 16, 4, "100.112.0.0/20", "100.112.0.1", 16},
		// kops: /10 leaves 6 bits.
		{"10.192.0.0/10", 256, 16, 16, 6, "10.192.0.0/18", "10.192.0.1", 64},
		{"10.0.0.0/8", 1, 1, 1, 21, "10.0.0.0/9", "10.0.0.1", 1 << 21},
	}
	for _, tt := range tests {
		p := values.NewPlan(netip.MustParsePrefix(tt.cidr), tt.nodes, tt.ns, tt.seg)
		if !p.Fits || p.EndpointBits != tt.endpointBits || p.Host0Block.String() != tt.host0 ||
			p.Host0Gateway.String() != tt.gw || p.AddressesPerSegment != tt.addressesPerSegment {
			t.Errorf("%s: got %+v", tt.cidr, p)
		}
	}
	// The seed's own warning: a /24 with the defaults gives 32-24-8-4-4 = -8.
	if p := values.NewPlan(netip.MustParsePrefix("10.0.0.0/24"), 256, 16, 16); p.Fits || p.EndpointBits != -8 {
		t.Errorf("/24 plan: got %+v", p)
	}
}

// TestPlanBar: one letter per bit, 32 in all, in the order of the plan's levels.
func TestPlanBar(t *testing.T) {
	p := values.NewPlan(netip.MustParsePrefix("100.112.0.0/12"), 256, 16, 16)
	bar, legend := p.Bar()
	if bar != "pppppppppppp"+"nnnnnnnn"+"tttt"+"ssss"+"eeee" || len(bar) != 32 {
		t.Errorf("bar %q", bar)
	}
	if legend != "p=prefix 12, n=nodes 8, t=namespaces 4, s=segments 4, e=endpoints 4" {
		t.Errorf("legend %q", legend)
	}
	// A plan that does not fit has no endpoint bits to draw, and more than 32 letters
	// show by how much it overflows.
	over, _ := values.NewPlan(netip.MustParsePrefix("100.112.0.0/24"), 256, 16, 16).Bar()
	if len(over) != 40 || strings.Contains(over, "e") {
		t.Errorf("overflowing bar %q", over)
	}
}
