package main

import (
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/romana/romanactl/internal/diag"
	"github.com/romana/romanactl/internal/values"
)

func newSysdumpCmd(o *rootOptions) *cobra.Command {
	var out string
	var since time.Duration
	var logLimit, maxBytes int64
	cmd := &cobra.Command{
		Use:   "sysdump",
		Short: "Collect a diagnostics bundle: release, Romana's objects, pre-flight, logs (no Secret data, no password)",
		Long: `Collect everything a maintainer asks for first into one .tar.gz: the release's history
and status, its effective values (passwords redacted) and manifest (Secret data masked),
Romana's DaemonSets and Pods (the chart's label app.kubernetes.io/part-of=romana, and a
2016 install's romana-services and romana-agent) and the Events about them, the Nodes,
the ServiceCIDRs and kubeadm-config, the pre-flight report, and the current and previous
logs of Romana's pods. index.json lists every file with its source, and every item that
failed with its error: a broken, pending or absent release still gives a bundle. No
Secret is read, Secret data in any collected text is masked, kubectl's last-applied
annotations (a 2016 install's copy of its password) are dropped, and every env value
that carries the datastore password is masked. Other software's objects in the
namespace are not collected.`,
		Example: `  romanactl sysdump
  romanactl sysdump -o /tmp/romana.tar.gz --since 1h --log-limit-bytes 262144`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			for _, f := range []struct {
				flag string
				neg  bool
				val  any
			}{{"--since", since < 0, since}, {"--log-limit-bytes", logLimit < 0, logLimit}, {"--max-bytes", maxBytes < 0, maxBytes}} {
				if f.neg {
					return values.Inputf("%s %v: must not be negative; give 0 for no limit, or a positive value", f.flag, f.val)
				}
			}
			ch, err := o.loadChart()
			if err != nil {
				return err
			}
			c, err := o.client()
			if err != nil {
				return err
			}
			now := time.Now()
			if out == "" {
				out = "romana-sysdump-" + now.UTC().Format("20060102-150405") + ".tar.gz"
			}
			f, err := os.OpenFile(out, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
			if err != nil {
				return fmt.Errorf("create %s: %w", out, err)
			}
			idx, err := diag.Collect(cmd.Context(), c, diag.Options{Since: since, LogLimit: logLimit, TotalLimit: maxBytes, Chart: ch, Now: now,
				Progress: func(s string) { fmt.Fprintln(o.out, s) }}, f)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return fmt.Errorf("write %s: %w", out, err)
			}
			fmt.Fprintf(o.out, "Wrote %s: %d files, %d items could not be collected (listed in index.json). It holds no Secret data and no datastore password.\n",
				out, len(idx.Items)+1, len(idx.Failed))
			return nil
		},
	}
	cmd.Flags().StringVarP(&out, "output", "o", "", "file to write (default romana-sysdump-<UTC time>.tar.gz; never overwritten)")
	cmd.Flags().DurationVar(&since, "since", 0, "only logs newer than this, e.g. 1h (default: all the kubelet keeps)")
	cmd.Flags().Int64Var(&logLimit, "log-limit-bytes", 1<<20, "cap per log")
	cmd.Flags().Int64Var(&maxBytes, "max-bytes", 64<<20, "cap of the whole bundle before compression; logs beyond it are listed as skipped")
	return cmd
}
