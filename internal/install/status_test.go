package install

import (
	"testing"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/release"
)

// TestDeployedVersion: the version a revision shows is the tag its images ran with, as
// the chart's romana.tag helper picks it, not its chart's appVersion.
func TestDeployedVersion(t *testing.T) {
	chartWith := func(tag string) *chart.Chart {
		return &chart.Chart{Metadata: &chart.Metadata{Name: "romana", Version: "0.4.0", AppVersion: "v0.9.3.5"},
			Values: map[string]any{"image": map[string]any{"registry": "quay.io/romana", "tag": tag,
				"digests": map[string]any{"services": "", "agent": ""}}}}
	}
	tests := []struct {
		name       string
		chartTag   string
		config     map[string]any
		want       string
		wantPinned bool
	}{
		{name: "no tag anywhere: the chart's appVersion", want: "v0.9.3.5"},
		{name: "--tag", config: map[string]any{"image": map[string]any{"tag": "v0.9.3"}}, want: "v0.9.3"},
		{name: "a tag in the chart's values", chartTag: "v0.9.3.7", want: "v0.9.3.7"},
		{name: "the config over the chart's values", chartTag: "v0.9.3.7", config: map[string]any{"image": map[string]any{"tag": "v0.9.3"}}, want: "v0.9.3"},
		{name: "pinned by digest", config: map[string]any{"image": map[string]any{"tag": "v0.9.3",
			"digests": map[string]any{"services": "sha256:aa", "agent": "sha256:bb"}}}, want: "v0.9.3", wantPinned: true},
		{name: "only the agent pinned", config: map[string]any{"image": map[string]any{"digests": map[string]any{"agent": "sha256:bb"}}}, want: "v0.9.3.5", wantPinned: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rel := &release.Release{Chart: chartWith(tt.chartTag), Config: tt.config}
			tag, pinned := DeployedVersion(rel)
			if tag != tt.want || pinned != tt.wantPinned {
				t.Errorf("DeployedVersion = %q, pinned %v; want %q, pinned %v", tag, pinned, tt.want, tt.wantPinned)
			}
		})
	}
	if got := VersionText("v0.9.3", true); got != "v0.9.3, pinned by digest" {
		t.Errorf("VersionText = %q", got)
	}
}
