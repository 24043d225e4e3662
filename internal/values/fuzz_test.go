package values_test

import (
	"net/netip"
	"strconv"
	"strings"
	"testing"

	"github.com/romana/romanactl/internal/render"
	"github.com/romana/romanactl/internal/values"
)

// FuzzValidateAddressPlan feeds the CIDR/plan validator arbitrary CIDRs and counts.
// Seeds live in testdata/fuzz/FuzzValidateAddressPlan. Properties:
//   - it never panics, and any rejection is an input error;
//   - whatever it accepts is an IPv4 network address whose plan fits and that does not
//     overlap the service range;
//   - the chart agrees: what Go accepts renders, and what Go rejects `helm template`
//     (the schema and romana.validate) rejects too;
//   - every suggestion in a rejection clears its error when fed back.
func FuzzValidateAddressPlan(f *testing.F) {
	ch := loadChart(f)
	svc := netip.MustParsePrefix("10.96.0.0/12")
	f.Fuzz(func(t *testing.T, cidr string, nodes, namespaces, segments int64) {
		flags := map[string]string{
			"cidr": cidr, "nodes": strconv.FormatInt(nodes, 10),
			"namespaces": strconv.FormatInt(namespaces, 10), "segments": strconv.FormatInt(segments, 10),
		}
		res, err := values.Resolve(ch, values.Options{Env: "kubeadm", Flags: flags})
		supplied, serr := values.Supplied(ch, values.Options{Env: "kubeadm", Flags: flags})
		if serr != nil {
			t.Fatal(serr)
		}
		_, renderErr := render.Render(ch, supplied, render.RenderOptions{})
		if err != nil {
			if !values.IsInputError(err) {
				t.Fatalf("rejection is not an input error: %v", err)
			}
			if renderErr == nil {
				t.Fatalf("Go rejects %q nodes=%d namespaces=%d segments=%d but the chart renders it:\n%v", cidr, nodes, namespaces, segments, err)
			}
			// Every suggestion it makes clears its error when fed back.
			checkSuggestions(t, ch, values.Options{Env: "kubeadm", Flags: flags}, cidr)
			return
		}
		if renderErr != nil {
			t.Fatalf("Go accepts %q nodes=%d namespaces=%d segments=%d but the chart refuses it: %v", cidr, nodes, namespaces, segments, renderErr)
		}
		p, perr := netip.ParsePrefix(strings.TrimSpace(cidr))
		if perr != nil || !p.Addr().Is4() || p.Masked() != p || p.Overlaps(svc) {
			t.Fatalf("accepted a bad CIDR %q", cidr)
		}
		if plan := values.NewPlan(p, nodes, namespaces, segments); !plan.Fits {
			t.Fatalf("accepted a plan that does not fit: %+v", plan)
		}
		if _, ok := values.Lookup(res.Effective, "services.cidr"); !ok {
			t.Fatal("no services.cidr in effective values")
		}
	})
}
