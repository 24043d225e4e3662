package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/romana/romanactl/internal/images"
	"github.com/romana/romanactl/internal/install"
)

func newUpgradeCmd(o *rootOptions) *cobra.Command {
	var vf *valuesFlags
	var cf *clusterFlags
	var reset, recreate, allowDowngrade bool
	cmd := &cobra.Command{
		Use:   "upgrade",
		Short: "Upgrade the release, keeping every value you chose before",
		Long: `Upgrade the release romana. Values are reset-then-reuse: the new chart's defaults,
then the values you supplied at the last revision, then this command's flags; so
'romanactl upgrade --tag=v0.9.3' changes the tag and keeps everything else.
--reset-values drops the previous values. An --env file applies only when given.

When nothing would change (same chart, values and manifests), it says so and writes
nothing: no new revision. A change of romanaRoot.clusterIP is refused unless
--recreate-root-service is given (a Service's clusterIP is immutable). With --atomic
(the default) a failed upgrade rolls back to the last good revision. An upgrade to an
older chart than the one that made the newest revision (a newer romanactl made it) is
refused (exit 2) unless --allow-downgrade is given.`,
		Example: `  romanactl upgrade --tag=v0.9.3
  romanactl upgrade --cluster-ip=10.96.99.98 --recreate-root-service
  romanactl upgrade --allow-downgrade`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			// Input first: a bad --skip-check is refused before any kubeconfig is read.
			if err := install.CheckSkips(cf.skip); err != nil {
				return err
			}
			cr, err := o.setup(cmd, vf)
			if err != nil {
				return err
			}
			cr.client.Registry = images.Options{Insecure: cf.insecure}
			uo := install.UpgradeOptions{Chart: cr.chart, Values: cr.opts, ResetValues: reset, Env: cr.env, EnvReason: cr.reason,
				Wait: cf.wait, Timeout: cf.timeout, Atomic: cf.atomic, RecreateRootService: recreate, Skip: cf.skip, AllowDowngrade: allowDowngrade}
			if cf.pinDigests {
				res, err := cr.client.UpgradeResolved(ctx, uo)
				if err != nil {
					return err
				}
				if uo.Values, err = pinDigests(ctx, cr.chart, cr.opts, res.Effective, cf.insecure, func(s string) { fmt.Fprintln(o.out, s) }); err != nil {
					return err
				}
			}
			r, err := cr.client.Upgrade(ctx, uo)
			if err != nil {
				return err
			}
			if r.NoOp {
				if r.Verified {
					fmt.Fprintf(o.out, "No changes: revision %d is already deployed with these values and manifests; it is now verified ready (its description says so), and nothing else was written.\n", r.Release.Version)
				} else {
					fmt.Fprintf(o.out, "No changes: revision %d is already deployed with these values and manifests; nothing was written.\n", r.Release.Version)
				}
				for _, k := range r.Kept {
					fmt.Fprintf(o.out, "‼ %s keeps fields set outside the release (by %s) that the chart does not set: Helm's three-way patch never removes them, so this upgrade kept them and so will the next; `romanactl diff` shows them.%s\n",
						k.Object, strings.Join(k.Kept.By, ", "), removeHint(k.Kept))
				}
				return nil
			}
			fmt.Fprintf(o.out, "Romana upgraded: release %s, revision %d, %s, in %s.\n", r.Release.Name, r.Release.Version, r.Release.Info.Status, r.Release.Namespace)
			return nil
		},
	}
	vf = addValuesFlags(cmd, o, "")
	cf = addClusterFlags(cmd)
	cmd.Flags().BoolVar(&reset, "reset-values", false, "drop the values supplied at the last revision; use only the chart defaults and this command's")
	cmd.Flags().BoolVar(&recreate, "recreate-root-service", false, "allow a new romanaRoot.clusterIP by deleting and recreating the romana-root Service within the upgrade")
	cmd.Flags().BoolVar(&allowDowngrade, "allow-downgrade", false, "allow an upgrade to an older chart than the one that made the release's newest revision")
	return cmd
}

// errChanges is diff --exit-code's answer "there are changes": exit 1, and no Error: line,
// since the diff on stdout is the whole message (as with git diff --exit-code).
var errChanges = &quietError{errors.New("the diff found changes")}

func newDiffCmd(o *rootOptions) *cobra.Command {
	var vf *valuesFlags
	var reset, recreate, exitCodeFlag bool
	var output *outputFormat
	cmd := &cobra.Command{
		Use: "diff",
		Example: `  romanactl diff --tag=v0.9.3.7
  romanactl diff --exit-code --tag=v0.9.3.7 || echo "the upgrade would change something"
  romanactl diff --cluster-ip=10.96.99.98 --recreate-root-service`,
		Short: "Show what an upgrade with the same flags would change, per object (no writes)",
		Long: `Show what an upgrade with the same flags would change, per object, as unified diffs
of the live objects against the API server's answer to a dry run of the upgrade's
patch. Changes made outside the release to fields the chart sets are marked: the
upgrade overwrites them.

Fields set outside the release that the chart does not set (kubectl set env, a
rollout restart's annotation) are kept by Helm's three-way patch, by this upgrade and
every later one. They show as "kept by the upgrade", with the field manager that set
them and the kubectl patch that removes them.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cr, err := o.setup(cmd, vf)
			if err != nil {
				return err
			}
			diffs, err := cr.client.Diff(cmd.Context(), install.UpgradeOptions{Chart: cr.chart, Values: cr.opts, ResetValues: reset, RecreateRootService: recreate})
			if err != nil {
				return err
			}
			if output.Structured() {
				if err := output.Write(o.out, diffs); err != nil {
					return err
				}
			} else if len(diffs) == 0 {
				fmt.Fprintln(o.out, "No changes.")
			}
			if !output.Structured() {
				for _, d := range diffs {
					if d.Diff != "" {
						fmt.Fprintf(o.out, "# %s %s\n%s", d.Object, d.Change, d.Diff)
					}
					if k := d.Kept; k != nil {
						fmt.Fprintf(o.out, "# %s kept by the upgrade: fields set outside the release (by %s) that the chart does not set; Helm's three-way patch never removes them (+ below)\n%s",
							d.Object, strings.Join(k.By, ", "), k.Diff)
						if h := removeHint(k); h != "" {
							fmt.Fprintf(o.out, "#%s\n", h)
						}
					}
				}
			}
			// A difference is what the upgrade would change, or drift it would keep.
			if exitCodeFlag && len(diffs) > 0 {
				return errChanges
			}
			return nil
		},
	}
	vf = addValuesFlags(cmd, o, "")
	cmd.Flags().BoolVar(&reset, "reset-values", false, "as upgrade --reset-values")
	cmd.Flags().BoolVar(&recreate, "recreate-root-service", false, "as upgrade --recreate-root-service")
	cmd.Flags().BoolVar(&exitCodeFlag, "exit-code", false, "exit 1 when there are changes, as git diff --exit-code and kubectl diff do (0 when there are none)")
	output = addOutputFlag(cmd, "diff", "diff", "json", "yaml")
	return cmd
}

// removeHint says how to remove fields an upgrade keeps, or how to find them.
func removeHint(k *install.Kept) string {
	if k.Remove == "" {
		return " Remove them by hand (kubectl edit), then the live object is the chart's."
	}
	return " Remove them with: " + k.Remove
}
