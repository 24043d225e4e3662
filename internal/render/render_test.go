package render

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/chart"

	romana "github.com/romana/romanactl"
	"github.com/romana/romanactl/internal/values"
)

func TestOfflineKubeVersionMatchesGoMod(t *testing.T) {
	gomod, err := os.ReadFile("../../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`k8s.io/client-go v0\.(\d+)\.`).FindSubmatch(gomod)
	if m == nil {
		t.Fatal("go.mod does not require k8s.io/client-go")
	}
	if want := "v1." + string(m[1]) + ".0"; OfflineKubeVersion != want {
		t.Fatalf("OfflineKubeVersion = %s, but go.mod's client-go speaks %s", OfflineKubeVersion, want)
	}
	if !strings.HasPrefix(clientKubeVersion().Version, "v1.") {
		t.Fatal(clientKubeVersion())
	}
}

// TestCrossFieldCheckedLeavesTheHelperOut: with CrossFieldChecked the chart's
// romana.validate does not run (values Go would refuse, and it would too, render), and
// everything else renders exactly as before; without it the helper still refuses them.
// Only romanactl's own chart is rendered so (cmd's TestExternalChartKeepsItsRules).
func TestCrossFieldCheckedLeavesTheHelperOut(t *testing.T) {
	ch, err := romana.Chart()
	if err != nil {
		t.Fatal(err)
	}
	res, err := values.Resolve(ch, values.Options{Env: "kubeadm"})
	if err != nil {
		t.Fatal(err)
	}
	full, err := Render(ch, res.Supplied, RenderOptions{Validated: true})
	if err != nil {
		t.Fatal(err)
	}
	lean, err := Render(ch, res.Supplied, RenderOptions{Validated: true, CrossFieldChecked: true})
	if err != nil {
		t.Fatal(err)
	}
	if full.Manifest != lean.Manifest && passwordRE.ReplaceAllString(full.Manifest, "") != passwordRE.ReplaceAllString(lean.Manifest, "") {
		t.Error("leaving romana.validate out changed the manifest")
	}
	if full.Notes != lean.Notes {
		t.Error("leaving romana.validate out changed the notes")
	}
	if len(ch.Templates) == 0 || !slices.ContainsFunc(ch.Templates, func(f *chart.File) bool { return f.Name == "templates/validate.yaml" }) {
		t.Fatal("the chart has no templates/validate.yaml: the helper is run from elsewhere now; update validateTemplates")
	}

	// A root clusterIP outside the service range: the schema accepts it, the helper
	// refuses it (so does Go, which this render is told has run).
	bad := values.Layer(res.Supplied, map[string]any{"romanaRoot": map[string]any{"clusterIP": "10.200.0.1"}})
	if _, err := Render(ch, bad, RenderOptions{Validated: true}); err == nil || !strings.Contains(err.Error(), "romanaRoot.clusterIP (--cluster-ip) 10.200.0.1 is outside agent.clusterIPCIDR") {
		t.Errorf("without CrossFieldChecked romana.validate must run: %v", err)
	}
	if _, err := Render(ch, bad, RenderOptions{Validated: true, CrossFieldChecked: true}); err != nil {
		t.Errorf("with CrossFieldChecked romana.validate still ran: %v", err)
	}
	if _, err := Render(ch, bad, RenderOptions{CrossFieldChecked: true}); err == nil {
		t.Error("CrossFieldChecked without Validated left the helper out")
	}
}

var passwordRE = regexp.MustCompile(`(?m)^(\s*password: )\S+$`)
