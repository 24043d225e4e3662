package install

import (
	"strconv"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/release"
)

// rev is a stored revision for lastGood: its status, whether romanactl made it to be
// waited for (the label with its own number, or copied from another revision), and
// whether the wait succeeded.
type rev struct {
	status   release.Status
	label    string // "own", "copied" or ""
	verified bool
}

// The newest good revision not newer than upTo: never one whose wait did not finish.
func TestLastGood(t *testing.T) {
	tests := []struct {
		name    string
		revs    []rev
		upTo    int
		want    int
		wantErr string
	}{
		{"verified", []rev{{release.StatusSuperseded, "own", true}, {release.StatusDeployed, "own", true}}, 0, 2, ""},
		{"killed in its wait", []rev{{release.StatusSuperseded, "own", true}, {release.StatusDeployed, "own", false}}, 0, 1, ""},
		{"a failed revision Helm marked superseded", []rev{{release.StatusSuperseded, "own", true}, {release.StatusFailed, "own", false}, {release.StatusSuperseded, "own", false}, {release.StatusDeployed, "own", true}}, 3, 1, ""},
		{"helm CLI or before the marks", []rev{{release.StatusSuperseded, "", false}, {release.StatusDeployed, "", false}}, 0, 2, ""},
		{"helm CLI on top of romanactl (label copied)", []rev{{release.StatusSuperseded, "own", true}, {release.StatusDeployed, "copied", false}}, 0, 2, ""},
		{"not newer than upTo", []rev{{release.StatusSuperseded, "own", true}, {release.StatusSuperseded, "own", true}, {release.StatusDeployed, "own", true}}, 2, 2, ""},
		{"none good", []rev{{release.StatusDeployed, "own", false}, {release.StatusFailed, "own", false}}, 0, 0, "no good revision to roll back to"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := testClient(t)
			for i, r := range tt.revs {
				v := i + 1
				rel := &release.Release{Name: ReleaseName, Namespace: c.Namespace, Version: v, Info: &release.Info{Status: r.status, Description: "Upgrade complete"}}
				switch r.label {
				case "own":
					rel.Labels = map[string]string{WaitLabel: strconv.Itoa(v)}
				case "copied":
					rel.Labels = map[string]string{WaitLabel: strconv.Itoa(v - 1)}
				}
				if r.verified {
					rel.Info.Description += VerifiedSuffix
				}
				if err := c.Cfg.Releases.Create(rel); err != nil {
					t.Fatal(err)
				}
			}
			got, err := c.lastGood(tt.upTo)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("want error %q, got %d, %v", tt.wantErr, got, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("lastGood(%d) = %d, %v; want %d", tt.upTo, got, err, tt.want)
			}
		})
	}
}
