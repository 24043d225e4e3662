package main

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
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
}

func newVersionCmd(o *rootOptions) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print romanactl's version, the embedded chart's, and the Helm SDK's",
		Args:  noArgs,
		RunE: func(*cobra.Command, []string) error {
			if err := checkOutput(output, "text", "json", "yaml"); err != nil {
				return err
			}
			ch, err := o.loadChart()
			if err != nil {
				return err
			}
			info := versionInfo{Version: version, ChartVersion: ch.Metadata.Version, AppVersion: ch.Metadata.AppVersion, HelmSDK: helmSDKVersion(), GoVersion: runtime.Version()}
			if output != "text" {
				return printStructured(o.out, output, info)
			}
			fmt.Fprintf(o.out, "romanactl %s (chart romana %s, Romana %s, Helm SDK %s, %s)\n", info.Version, info.ChartVersion, info.AppVersion, info.HelmSDK, info.GoVersion)
			return nil
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text|json|yaml")
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
