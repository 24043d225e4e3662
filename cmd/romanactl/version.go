package main

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"

	"github.com/romana/romanactl/internal/compat"
	"github.com/romana/romanactl/internal/values"
)

// version is stamped by the Makefile (-X main.version=...).
var version = "dev"

// versionInfo is what `romanactl version` reports.
type versionInfo struct {
	Version      string `json:"version"`
	ChartVersion string `json:"chartVersion"`
	AppVersion   string `json:"appVersion"`
	HelmSDK      string `json:"helmSDK"`
	GoVersion    string `json:"goVersion"`
	// Romana is the line of the chart's appVersion, from chart/compat.yaml.
	Romana *compat.Line `json:"romana,omitempty"`
}

func newVersionCmd(o *rootOptions) *cobra.Command {
	var output *outputFormat
	var table bool
	cmd := &cobra.Command{
		Use: "version",
		Example: `  romanactl version
  romanactl version -o json
  romanactl version --compat
  romanactl version --compat -o markdown`,
		Short: "Print romanactl's version, the embedded chart's, the Helm SDK's, and what the Romana line can do",
		Long: `Print romanactl's version, the embedded chart's, the Helm SDK's, and what the chart's
Romana line (its appVersion) cannot do, from the chart's table of lines (compat.yaml).
--compat prints that whole table for a terminal; --compat -o markdown prints it as the
README's "What works on which cluster" shows it.`,
		Args: noArgs,
		RunE: func(*cobra.Command, []string) error {
			ch, err := o.loadChart()
			if err != nil {
				return err
			}
			t, err := compat.Load(ch)
			if err != nil {
				return err
			}
			if table {
				switch {
				case output.Structured():
					return output.Write(o.out, t)
				case output.value == "markdown":
					// The README embeds this form (TestREADMECompatIsTheTable).
					fmt.Fprint(o.out, t.Markdown())
				default:
					fmt.Fprint(o.out, t.Text())
				}
				return nil
			}
			if output.value == "markdown" {
				return values.Inputf("-o markdown: only the table of lines has a Markdown form; add --compat, or use -o text, json or yaml")
			}
			info := versionInfo{Version: version, ChartVersion: ch.Metadata.Version, AppVersion: ch.Metadata.AppVersion, HelmSDK: helmSDKVersion(), GoVersion: runtime.Version()}
			if l, ok := t.For(ch.Metadata.AppVersion); ok {
				info.Romana = &l
			}
			if output.Structured() {
				return output.Write(o.out, info)
			}
			fmt.Fprintf(o.out, "romanactl %s (chart romana %s, Romana %s, Helm SDK %s, %s)\n", info.Version, info.ChartVersion, info.AppVersion, info.HelmSDK, info.GoVersion)
			if l := info.Romana; l != nil {
				fmt.Fprintf(o.out, "Romana %s is of the %s line:\n", info.AppVersion, l.Name)
				if l.NetworkPolicyAPI != "" {
					fmt.Fprintf(o.out, "  - its listener watches NetworkPolicies under %s, which Kubernetes stopped serving in %s: NetworkPolicies are not enforced on the clusters this chart supports\n", l.NetworkPolicyAPI, l.NetworkPolicyAPIRemovedIn)
				}
				if l.ServicesParsesNodes != nil && !*l.ServicesParsesNodes {
					fmt.Fprintln(o.out, "  - run-romana-services parses no --nodes: the address plan is always for 256 nodes")
				}
				for _, n := range l.Notes {
					fmt.Fprintf(o.out, "  - %s\n", n)
				}
			}
			fmt.Fprintln(o.out, "Every line: romanactl version --compat")
			return nil
		},
	}
	output = addOutputFlag(cmd, "text", "text", "json", "yaml", "markdown")
	cmd.Flags().BoolVar(&table, "compat", false, "print the table of Romana lines: which tags this chart drives and what each cannot do")
	return cmd
}

func helmSDKVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if d.Path == "helm.sh/helm/v3" {
				return d.Version
			}
		}
	}
	return "unknown"
}
