package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/romana/romanactl/internal/images"
	"github.com/romana/romanactl/internal/install"
	"github.com/romana/romanactl/internal/render"
	"github.com/romana/romanactl/internal/values"
)

func newCheckCmd(o *rootOptions) *cobra.Command {
	var vf *valuesFlags
	var pre bool
	var output *outputFormat
	var skip []string
	var insecure bool
	var failOn string
	cmd := &cobra.Command{
		Use: "check --pre",
		Example: `  romanactl check --pre
  romanactl check --pre --env=custom --cidr=10.112.0.0/12 --cluster-ip=10.0.0.99 --cluster-ip-cidr=10.0.0.0/16
  romanactl check --pre --skip-check romana-compat -o json
  romanactl check --pre --fail-on=warning -o json   # in CI: a ‼ fails too`,
		Short: "Run the pre-flight checks that install and upgrade run (✓ pass, ‼ warn, ✗ fail)",
		Long: "Check the values against the live cluster, as install and upgrade do before any\n" +
			"write. Each check prints ✓, ‼ or ✗ with its fix:\n\n" + checkList() +
			"\nExit 2 when a ✗ check fails, and with --fail-on=warning when a ‼ check warns\n" +
			"(a ‼ acknowledged with --skip-check does not). --skip-check NAME acknowledges a ‼\n" +
			"check. The names are stable: -o json gives each result's check as \"name\".",
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !pre {
				return values.Inputf("say which checks to run: --pre (the pre-flight)")
			}
			if failOn != "failure" && failOn != "warning" {
				return values.Inputf("--fail-on %q: must be failure (exit 2 on a ✗ check, the default) or warning (exit 2 on a ✗ or ‼ check)", failOn)
			}
			if err := install.CheckSkips(skip); err != nil {
				return err
			}
			cr, err := o.setup(cmd, vf)
			if err != nil {
				return err
			}
			res, err := values.Resolve(cr.chart, cr.opts)
			if err != nil {
				return err
			}
			rendered, err := render.Render(cr.chart, res.Supplied, render.RenderOptions{Namespace: cr.client.Namespace, Validated: true})
			if err != nil {
				return err
			}
			// A history that cannot be read is version-skew's to report, not a stop.
			last, lastErr := cr.client.Newest(cmd.Context())
			report, err := install.Preflight(cmd.Context(), cr.client.Kube, install.PreflightInput{Namespace: cr.client.Namespace, Env: cr.env,
				EnvReason: cr.reason, Effective: res.Effective, KubeVersion: cr.chart.Metadata.KubeVersion, Skip: skip, Manifest: rendered.Manifest,
				Chart: cr.chart, Registry: images.Options{Insecure: insecure}, Last: last, LastErr: lastErr, Version: cr.client.Version})
			if err != nil {
				return err
			}
			if !output.Structured() {
				install.WriteReport(o.out, report)
				install.DebugDetail(o.debug, report)
			} else if err := output.Write(o.out, report); err != nil {
				return err
			}
			if len(report.Failed()) > 0 {
				return &install.PreflightError{Report: report}
			}
			if failOn == "warning" && len(report.Warned()) > 0 {
				return &install.PreflightError{Report: report, Warnings: true}
			}
			if !output.Structured() {
				fmt.Fprintln(o.out, "Pre-flight passed.")
			}
			return nil
		},
	}
	vf = addValuesFlags(cmd, o, "auto")
	cmd.Flags().BoolVar(&pre, "pre", false, "run the pre-flight checks")
	output = addOutputFlag(cmd, "text", "text", "json", "yaml")
	cmd.Flags().StringArrayVar(&skip, "skip-check", nil, "acknowledge a ‼ check by name (can repeat)")
	cmd.Flags().StringVar(&failOn, "fail-on", "failure", "what makes the exit code 2: failure (a ✗ check) or warning (a ✗ or ‼ check; for CI pipelines)")
	_ = cmd.RegisterFlagCompletionFunc("fail-on", cobra.FixedCompletions([]string{"failure", "warning"}, cobra.ShellCompDirectiveNoFileComp))
	cmd.Flags().BoolVar(&insecure, "insecure", false, "images-exist: allow plain-HTTP registries (loopback registries are plain HTTP without it)")
	return cmd
}

// checkList is the pre-flight's checks as --help shows them, from install.Checks.
func checkList() string {
	var b strings.Builder
	for _, d := range install.Checks {
		fmt.Fprintf(&b, "  %-24s %-5s %s\n", d.Name, d.Marks, d.Short)
	}
	return b.String()
}

// checksMarkdown is the README's table of pre-flight checks, from install.Checks.
func checksMarkdown() string {
	var b strings.Builder
	b.WriteString("| check | kind | what it checks |\n|---|---|---|\n")
	for _, d := range install.Checks {
		fmt.Fprintf(&b, "| `%s` | %s | %s |\n", d.Name, d.Marks, d.What)
	}
	return b.String()
}
