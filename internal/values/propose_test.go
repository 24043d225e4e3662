package values_test

import (
	"errors"
	"maps"
	"net/netip"
	"strings"
	"testing"

	helmvalues "helm.sh/helm/v3/pkg/cli/values"

	"github.com/romana/romanactl/internal/values"
)

// fakeCluster is a cluster as validation's suggestions see it.
type fakeCluster struct {
	svc     netip.Prefix
	held    map[string]string // address -> Service
	clashes []netip.Prefix    // node addresses and podCIDRs
}

func (f fakeCluster) ServiceRange() netip.Prefix { return f.svc }
func (f fakeCluster) ClusterIPHolder(ip netip.Addr) string {
	return f.held[ip.String()]
}
func (f fakeCluster) CIDRClash(p netip.Prefix) string {
	for _, c := range f.clashes {
		if c.Overlaps(p) {
			return "node address " + c.String()
		}
	}
	return ""
}

// problemOf resolves o and returns the one problem on key, failing when there is none.
func problemOf(t *testing.T, o values.Options, key string) values.Problem {
	t.Helper()
	_, err := values.Resolve(loadChart(t), o)
	var ve *values.ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("want a validation error, got %v", err)
	}
	for _, p := range ve.Problems {
		if p.Key == key {
			return p
		}
	}
	t.Fatalf("no problem on %s in %v", key, err)
	return values.Problem{}
}

// passes applies a problem's suggestion to o and resolves again: nothing may be left.
func passes(t *testing.T, o values.Options, p values.Problem) {
	t.Helper()
	if p.Suggest == nil {
		t.Fatalf("no suggestion in %s", p)
	}
	o.Flags = maps.Clone(o.Flags)
	if o.Flags == nil {
		o.Flags = map[string]string{}
	}
	maps.Copy(o.Flags, p.Suggest)
	if _, err := values.Resolve(loadChart(t), o); err != nil {
		t.Errorf("the suggestion %v does not pass the checks: %v", p.Suggest, err)
	}
}

// TestMissingMandatorySuggestion (issue #18 §4): the values suggested for a missing
// mandatory value come from the release, then the environment file, then the cluster,
// and each passes the checks, the live ones included.
func TestMissingMandatorySuggestion(t *testing.T) {
	kubeadmCIDR := values.Options{Env: "kubeadm", Helm: helmvalues.Options{Values: []string{"services.cidr="}}}
	t.Run("the environment file's value, not a made-up one", func(t *testing.T) {
		p := problemOf(t, kubeadmCIDR, "environment")
		if p.Suggest["cidr"] != "100.112.0.0/12" || !strings.Contains(p.Fix, "--cidr=100.112.0.0/12 (environment file env/kubeadm.yaml)") {
			t.Errorf("want the kubeadm file's 100.112.0.0/12: %s", p)
		}
		if len(p.Suggest) != 1 {
			t.Errorf("only the missing value is suggested: %v", p.Suggest)
		}
		passes(t, kubeadmCIDR, p)
	})
	t.Run("the release's stored values first", func(t *testing.T) {
		o := values.Options{Env: "custom", Hints: values.Hints{StoredFrom: "revision 3", Stored: map[string]any{
			"services":   map[string]any{"cidr": "10.208.0.0/12"},
			"romanaRoot": map[string]any{"clusterIP": "10.0.200.7"},
			"agent":      map[string]any{"clusterIPCIDR": "10.0.0.0/16"}}}}
		p := problemOf(t, o, "environment")
		want := map[string]string{"cidr": "10.208.0.0/12", "cluster-ip": "10.0.200.7", "cluster-ip-cidr": "10.0.0.0/16"}
		if !maps.Equal(p.Suggest, want) || !strings.Contains(p.Fix, "(the release's value at revision 3)") {
			t.Errorf("want the stored values %v: %s", want, p)
		}
		passes(t, o, p)
	})
	t.Run("a stored value the checks refuse is not suggested", func(t *testing.T) {
		// The stored CIDR overlaps the stored service range: the next source is used.
		o := values.Options{Env: "custom", Hints: values.Hints{Stored: map[string]any{
			"services": map[string]any{"cidr": "10.0.0.0/8"}, "agent": map[string]any{"clusterIPCIDR": "10.96.0.0/12"}}}}
		p := problemOf(t, o, "environment")
		if p.Suggest["cidr"] == "10.0.0.0/8" {
			t.Errorf("suggested a CIDR that overlaps the service range: %s", p)
		}
		passes(t, o, p)
	})
	t.Run("the live cluster: its range, a free lower-band address, a CIDR no node uses", func(t *testing.T) {
		cl := fakeCluster{svc: netip.MustParsePrefix("10.0.0.0/16"),
			held:    map[string]string{"10.0.0.99": "default/web", "10.0.0.98": "default/db"},
			clashes: []netip.Prefix{netip.MustParsePrefix("100.112.5.0/24")}}
		o := values.Options{Env: "custom", Hints: values.Hints{Cluster: cl}}
		p := problemOf(t, o, "environment")
		if p.Suggest["cluster-ip-cidr"] != "10.0.0.0/16" {
			t.Errorf("want the cluster's range: %s", p)
		}
		if p.Suggest["cluster-ip"] != "10.0.0.97" {
			t.Errorf("want 10.0.0.97, the first free address of the lower band from .99 down: %s", p)
		}
		if c := p.Suggest["cidr"]; c == "" || cl.CIDRClash(netip.MustParsePrefix(c)) != "" {
			t.Errorf("want a CIDR that no node uses (100.112.0.0/12 holds a node): %s", p)
		}
		passes(t, o, p)
	})
	t.Run("the environment file's clusterIP is not new-address material in the upper band", func(t *testing.T) {
		// kubeadm.yaml's 10.99.99.99 lies in the upper band of 10.96.0.0/12.
		o := values.Options{Env: "kubeadm", Helm: helmvalues.Options{Values: []string{"romanaRoot.clusterIP="}}}
		p := problemOf(t, o, "environment")
		if p.Suggest["cluster-ip"] != "10.96.0.99" {
			t.Errorf("want 10.96.0.99 in the lower band: %s", p)
		}
		passes(t, o, p)
	})
	t.Run("nothing acceptable: the fix says what to give, and there is no suggestion", func(t *testing.T) {
		o := values.Options{Env: "custom"}
		p := problemOf(t, o, "environment")
		if p.Suggest != nil || !strings.Contains(p.Fix, "--cluster-ip-cidr=<the cluster's service range") {
			t.Errorf("offline, the service range is unknown: %s", p)
		}
	})
}

// TestStaticBand: KEP-3070's lower band, min(max(16, size/16), 256) addresses after the
// network address; ranges of 16 addresses or fewer have none.
func TestStaticBand(t *testing.T) {
	for _, tt := range []struct{ svc, first, last string }{
		{"10.96.0.0/12", "10.96.0.1", "10.96.1.0"},
		{"10.0.0.0/24", "10.0.0.1", "10.0.0.16"},
		{"10.0.0.0/20", "10.0.0.1", "10.0.1.0"},
		{"10.0.0.0/22", "10.0.0.1", "10.0.0.64"},
		{"10.0.0.0/27", "10.0.0.1", "10.0.0.16"},
		{"10.0.0.0/28", "", ""},
	} {
		f, l, ok := values.StaticBand(netip.MustParsePrefix(tt.svc))
		if tt.first == "" {
			if ok {
				t.Errorf("%s: no band expected, got %s-%s", tt.svc, f, l)
			}
			continue
		}
		if !ok || f.String() != tt.first || l.String() != tt.last {
			t.Errorf("%s: band %s-%s (%v), want %s-%s", tt.svc, f, l, ok, tt.first, tt.last)
		}
	}
}

// TestSuggestedClusterIPInLowerBand (issue #18 §4): every clusterIP validation suggests
// lies in the lower band of the service range and, with a cluster, is free.
func TestSuggestedClusterIPInLowerBand(t *testing.T) {
	for _, svc := range []string{"10.96.0.0/12", "10.0.0.0/16", "10.0.0.0/24", "172.20.0.0/22"} {
		pr := netip.MustParsePrefix(svc)
		first, last, _ := values.StaticBand(pr)
		outside := values.LastAddr(pr).Next().String()
		for _, cl := range []values.Cluster{nil, fakeCluster{svc: pr, held: map[string]string{values.LastAddr(pr).String(): "x/y"}}} {
			o := values.Options{Env: "custom", Flags: map[string]string{"cidr": "100.112.0.0/12", "cluster-ip-cidr": svc, "cluster-ip": outside},
				Hints: values.Hints{Cluster: cl}}
			p := problemOf(t, o, "romanaRoot.clusterIP")
			ip, err := netip.ParseAddr(p.Suggest["cluster-ip"])
			if err != nil || ip.Less(first) || last.Less(ip) {
				t.Errorf("%s: suggested %q, outside the lower band %s-%s: %s", svc, p.Suggest["cluster-ip"], first, last, p)
			}
			passes(t, o, p)
		}
	}
	// With a cluster, an address another Service holds is skipped.
	held := map[string]string{}
	for a := netip.MustParseAddr("10.96.0.90"); a.Less(netip.MustParseAddr("10.96.0.100")); a = a.Next() {
		held[a.String()] = "default/svc-" + a.String()
	}
	if ip, _ := values.FreeClusterIP(netip.MustParsePrefix("10.96.0.0/12"), fakeCluster{held: held}); ip.String() != "10.96.0.89" {
		t.Errorf("FreeClusterIP skipped nothing held: %s", ip)
	}
}

// TestLargerCIDRForTheLine (issue #18 §4): a plan that does not fit is told only what
// the image line allows. v0.9.3's services parse no --nodes (always 256), so fewer
// nodes is no fix there; the larger CIDR suggested passes the checks.
func TestLargerCIDRForTheLine(t *testing.T) {
	o := values.Options{Env: "kubeadm", Flags: map[string]string{"cidr": "192.168.0.0/24"}}
	p := problemOf(t, o, "services.cidr")
	if strings.Contains(p.Fix, "fewer nodes") || !strings.Contains(p.Fix, "always plans for 256 nodes") {
		t.Errorf("the v0.9.3 line: %s", p)
	}
	if p.Suggest["cidr"] == "192.168.0.0/15" {
		t.Errorf("192.168.0.0/15 leaves the private 192.168.0.0/16: %s", p)
	}
	passes(t, o, p)
	// Widened when it stays in its private block.
	o = values.Options{Env: "kubeadm", Flags: map[string]string{"cidr": "172.16.0.0/24"}}
	if p = problemOf(t, o, "services.cidr"); p.Suggest["cidr"] != "172.16.0.0/15" {
		t.Errorf("want 172.16.0.0/15: %s", p)
	}
	passes(t, o, p)
	// A tag of no known line may plan other node counts: fewer nodes is offered.
	o = values.Options{Env: "kubeadm", Flags: map[string]string{"cidr": "192.168.0.0/24", "tag": "own-build"}}
	if p = problemOf(t, o, "services.cidr"); !strings.Contains(p.Fix, "fewer nodes, namespaces or segments") {
		t.Errorf("an unknown line: %s", p)
	}
}
