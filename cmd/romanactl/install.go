package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/romana/romanactl/internal/images"
	"github.com/romana/romanactl/internal/install"
	"github.com/romana/romanactl/internal/render"
	"github.com/romana/romanactl/internal/values"
)

func newInstallCmd(o *rootOptions) *cobra.Command {
	var vf *valuesFlags
	var cf *clusterFlags
	var dryRun string
	cmd := &cobra.Command{
		Use:   "install",
		Short: "Pre-flight, then install Romana as the Helm release romana in kube-system",
		Long: `Validate the values, run the pre-flight checks against the cluster (see 'romanactl
check --pre'), then install the release through the Helm SDK and wait for Romana to
be ready. Nothing is written to the cluster when a value is invalid or a ✗ check fails
(exit 2). With --atomic (the default) a failed install removes what it created.

--env=auto (the default) picks kubeadm when kube-system/kubeadm-config exists, kops
when a node has the kops.k8s.io/instancegroup label, else custom.`,
		Example: `  romanactl install --env=auto
  romanactl install --env=custom --cidr=10.112.0.0/12 --cluster-ip=10.0.0.99 --cluster-ip-cidr=10.0.0.0/16
  romanactl install --dry-run=server`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if dryRun != "" && dryRun != "client" && dryRun != "server" {
				return values.Inputf("--dry-run %q: use client or server", dryRun)
			}
			ch, err := o.loadChart()
			if err != nil {
				return err
			}
			if dryRun == "client" {
				// Render only: no kubeconfig is read, as with template.
				if vf.env == "auto" {
					return values.Inputf("--dry-run=client cannot detect the environment: give --env=kubeadm|kops|custom")
				}
				res, err := vf.resolve(cmd, o)
				if err != nil {
					return err
				}
				r, err := render.Render(ch, res.Supplied, render.RenderOptions{Namespace: o.namespace(), Validated: true})
				if err != nil {
					return err
				}
				fmt.Fprint(o.out, install.MaskSecrets(r.Manifest))
				fmt.Fprintln(o.out, "# dry run (client): nothing was sent to a cluster; the password is hidden")
				return nil
			}
			ctx := cmd.Context()
			// Input first: a bad --skip-check is refused before any kubeconfig is read.
			if err := install.CheckSkips(cf.skip); err != nil {
				return err
			}
			cr, err := o.setup(cmd, vf)
			if err != nil {
				return err
			}
			opts := cr.opts
			cr.client.Registry = images.Options{Insecure: cf.insecure}
			res, err := values.Resolve(ch, opts)
			if err != nil {
				return err
			}
			fmt.Fprintf(o.out, "Environment: %s\n", describeEnv(cr.env, cr.reason))
			if cf.pinDigests {
				if opts, err = pinDigests(ctx, ch, opts, res.Effective, cf.insecure, func(s string) { fmt.Fprintln(o.out, s) }); err != nil {
					return err
				}
				if res, err = values.Resolve(ch, opts); err != nil {
					return err
				}
			}
			r, err := cr.client.Install(ctx, install.InstallOptions{Chart: ch, Resolved: res, Env: cr.env, EnvReason: cr.reason,
				Wait: cf.wait, Timeout: cf.timeout, DryRun: dryRun, Atomic: cf.atomic, Skip: cf.skip})
			if err != nil {
				return err
			}
			if dryRun != "" {
				fmt.Fprint(o.out, r.Manifest)
				fmt.Fprintln(o.out, "# dry run (server): every object was sent with dryRun=All; nothing was written; the password is hidden")
				return nil
			}
			fmt.Fprintf(o.out, "Romana %s installed: release %s, revision %d, %s, in %s. Check it with `romanactl status`.\n",
				install.VersionText(install.DeployedVersion(r.Release)), r.Release.Name, r.Release.Version, r.Release.Info.Status, r.Release.Namespace)
			return nil
		},
	}
	vf = addValuesFlags(cmd, o, "auto")
	cf = addClusterFlags(cmd)
	cmd.Flags().StringVar(&dryRun, "dry-run", "", "client: render only, no cluster; server: pre-flight, render with lookups, and send every object with dryRun=All; nothing is written")
	cmd.Flags().Lookup("dry-run").NoOptDefVal = "client"
	return cmd
}
