package values_test

import (
	"errors"
	"maps"
	"path/filepath"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/chart"
	helmvalues "helm.sh/helm/v3/pkg/cli/values"

	"github.com/romana/romanactl/internal/values"
)

// problemID is what "the same error" means: the key and the reason's first words (the
// rest of a reason quotes values, which a fix changes).
func problemID(p values.Problem) string {
	w := strings.Fields(p.Reason)
	return p.Key + ": " + strings.Join(w[:min(3, len(w))], " ")
}

// checkSuggestions resolves o, and for every problem that carries a suggestion, applies
// it as dedicated flags and resolves again: the problem must be gone. It returns how
// many suggestions it checked.
func checkSuggestions(t *testing.T, ch *chart.Chart, o values.Options, what string) int {
	t.Helper()
	_, err := values.Resolve(ch, o)
	var ve *values.ValidationError
	if !errors.As(err, &ve) {
		return 0
	}
	n := 0
	for _, p := range ve.Problems {
		if p.Suggest == nil {
			continue
		}
		n++
		fixed := o
		fixed.Flags = maps.Clone(o.Flags)
		if fixed.Flags == nil {
			fixed.Flags = map[string]string{}
		}
		maps.Copy(fixed.Flags, p.Suggest)
		_, err := values.Resolve(ch, fixed)
		var again *values.ValidationError
		if !errors.As(err, &again) {
			continue
		}
		for _, q := range again.Problems {
			if problemID(q) == problemID(p) {
				t.Errorf("%s: the suggestion %v does not clear %q:\n  before: %s\n  after:  %s", what, p.Suggest, problemID(p), p, q)
			}
		}
	}
	return n
}

// TestSuggestionsClearTheirError: every "use X instead" the validator gives for the bad
// inputs of the corpus (the files helm and romanactl are both held to) and for the
// validator's own rule table clears that error when fed back in.
func TestSuggestionsClearTheirError(t *testing.T) {
	ch := loadChart(t)
	files, err := filepath.Glob("../../cmd/romanactl/testdata/bad/*.yaml")
	if err != nil || len(files) < 30 {
		t.Fatalf("corpus: %d files, %v", len(files), err)
	}
	checked := 0
	for _, f := range files {
		checked += checkSuggestions(t, ch, values.Options{Env: "kubeadm", Helm: helmvalues.Options{ValueFiles: []string{f}}}, filepath.Base(f))
	}
	// Inputs aimed at each suggestion, the edge cases included (a /31 and /32 service
	// range, a plan no CIDR can hold, a /1 that masks to a reserved range).
	for _, flags := range []map[string]string{
		{"cidr": "100.112.0.0/24"}, {"cidr": "10.192.0.1/10"}, {"cluster-ip-cidr": "10.96.0.1/12"},
		{"cluster-ip": "10.200.0.1"}, {"cluster-ip": "10.96.0.0"}, {"cluster-ip": "10.111.255.255"},
		{"cluster-ip-cidr": "10.0.0.0/31", "cluster-ip": "10.0.0.1"}, {"cluster-ip-cidr": "10.0.0.4/32", "cluster-ip": "10.0.0.9"},
		{"cluster-ip-cidr": "10.0.0.0/30", "cluster-ip": "10.0.0.3"},
		{"romana-root": "http://10.0.0.1:9600"}, {"romana-root": "http://10.99.99.99:80"},
		{"api-proxy-port": "6443"}, {"api-server": "http://127.0.0.1:8080"},
		{"tag": "v2.1.0"}, {"nodes": "128"}, {"cidr": "127.0.0.0/16"},
		{"tag": "own", "nodes": "2147483648", "cidr": "10.0.0.0/8"},
	} {
		checked += checkSuggestions(t, ch, values.Options{Env: "kubeadm", Flags: flags}, strings.TrimSpace(strings.Join(mapsFmt(flags), " ")))
	}
	if checked < 15 {
		t.Errorf("only %d suggestions checked", checked)
	}
	t.Logf("%d suggestions fed back", checked)
}

func mapsFmt(m map[string]string) []string {
	var out []string
	for k, v := range m {
		out = append(out, "--"+k+"="+v)
	}
	return out
}
