package install

import (
	"errors"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/release"

	"github.com/romana/romanactl/internal/values"
)

func rel(chartVersion string, labels map[string]string) *release.Release {
	return &release.Release{Name: "romana", Version: 3, Labels: labels, Info: &release.Info{Status: release.StatusDeployed},
		Chart: &chart.Chart{Metadata: &chart.Metadata{Name: "romana", Version: chartVersion}}}
}

func TestVersionSkewCheck(t *testing.T) {
	ours := &chart.Chart{Metadata: &chart.Metadata{Name: "romana", Version: "0.1.0"}}
	made := func(v string) map[string]string { return map[string]string{MadeLabel: "3", VersionLabel: v} }
	tests := []struct {
		name string
		last *release.Release
		self string
		want Severity
		in   []string
	}{
		{"no release", nil, "v0.4.0", Pass, []string{"no release yet"}},
		{"same chart", rel("0.1.0", made("v0.4.0")), "v0.4.0", Pass, []string{"revision 3 was made with chart romana 0.1.0 by romanactl v0.4.0"}},
		{"older chart", rel("0.0.9", nil), "v0.4.0", Pass, nil},
		{"newer chart", rel("0.2.0", nil), "v0.4.0", Warn, []string{"chart romana 0.2.0, newer than this romanactl's chart 0.1.0", "--allow-downgrade"}},
		{"newer romanactl", rel("0.1.0", made("v0.5.0_build.1")), "v0.4.0", Warn, []string{"made by romanactl v0.5.0+build.1, newer than this romanactl v0.4.0"}},
		{"a helm CLI revision copies the label: not romanactl's", rel("0.1.0", map[string]string{MadeLabel: "2", VersionLabel: "v0.5.0"}), "v0.4.0", Pass, nil},
		{"a development build compares no romanactl version", rel("0.1.0", made("v0.5.0")), "dev", Pass, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := versionSkew(tt.last, ours, tt.self)
			text := c.Message + "; " + c.Fix
			if c.Name != "version-skew" || c.Severity != tt.want {
				t.Fatalf("got %s %s: %s", c.Name, c.Severity, text)
			}
			for _, w := range tt.in {
				if !strings.Contains(text, w) {
					t.Errorf("want %q in %q", w, text)
				}
			}
		})
	}
}

func TestCheckDowngrade(t *testing.T) {
	ours := &chart.Chart{Metadata: &chart.Metadata{Name: "romana", Version: "0.1.0"}}
	if err := checkDowngrade(rel("0.1.0", nil), ours, false); err != nil {
		t.Errorf("same chart: %v", err)
	}
	err := checkDowngrade(rel("0.2.0", nil), ours, false)
	var ie *values.InputError
	if !errors.As(err, &ie) {
		t.Fatalf("a downgrade must be an input error (exit 2): %v", err)
	}
	for _, w := range []string{"from chart romana 0.2.0 (revision 3) to chart romana 0.1.0", "--allow-downgrade", "nothing was changed"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("want %q in %q", w, err)
		}
	}
	if err := checkDowngrade(rel("0.2.0", nil), ours, true); err != nil {
		t.Errorf("--allow-downgrade: %v", err)
	}
}

func TestWaitLabelsRecordTheVersion(t *testing.T) {
	if l := waitLabels(4, true, "v0.4.0+dirty"); l[VersionLabel] != "v0.4.0_dirty" || l[MadeLabel] != "4" || l[WaitLabel] != "4" {
		t.Errorf("%v", l)
	}
	// A version that cannot be a label value deletes the copied one in Helm's merge.
	if l := waitLabels(4, false, "not a label!"); l[VersionLabel] != "null" || l[WaitLabel] != "null" {
		t.Errorf("%v", l)
	}
}
