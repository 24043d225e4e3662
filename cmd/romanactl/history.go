package main

import (
	"fmt"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/romana/romanactl/internal/values"
)

type revision struct {
	Revision    int       `json:"revision"`
	Updated     time.Time `json:"updated"`
	Status      string    `json:"status"`
	Chart       string    `json:"chart"`
	AppVersion  string    `json:"appVersion"`
	Description string    `json:"description"`
}

func newHistoryCmd(o *rootOptions) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "history",
		Short: "List the release's revisions (at most 10 are kept)",
		Args:  noArgs,
		RunE: func(*cobra.Command, []string) error {
			if err := checkOutput(output, "table", "json", "yaml"); err != nil {
				return err
			}
			c, err := o.client()
			if err != nil {
				return err
			}
			rels, err := c.History()
			if err != nil {
				return err
			}
			var revs []revision
			for _, r := range rels {
				revs = append(revs, revision{r.Version, r.Info.LastDeployed.Time, r.Info.Status.String(),
					r.Chart.Metadata.Name + "-" + r.Chart.Metadata.Version, r.Chart.Metadata.AppVersion, r.Info.Description})
			}
			if output != "table" {
				return printStructured(o.out, output, revs)
			}
			tw := tabwriter.NewWriter(o.out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "REVISION\tUPDATED\tSTATUS\tCHART\tAPP VERSION\tDESCRIPTION")
			for _, r := range revs {
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", r.Revision, r.Updated.Format(time.RFC3339), r.Status, r.Chart, r.AppVersion, r.Description)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "table", "output format: table|json|yaml")
	return cmd
}

func newRollbackCmd(o *rootOptions) *cobra.Command {
	var wait bool
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "rollback [REVISION]",
		Short: "Roll the release back to REVISION (default: the previous one)",
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 1 {
				return &usageError{fmt.Errorf("rollback takes at most one REVISION, got %q", args)}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			rev := 0
			if len(args) == 1 {
				n, err := strconv.Atoi(args[0])
				if err != nil || n < 1 {
					return values.Inputf("REVISION %q: must be a positive revision number (see `romanactl history`)", args[0])
				}
				rev = n
			}
			c, err := o.client()
			if err != nil {
				return err
			}
			if err := c.Rollback(cmd.Context(), rev, wait, timeout); err != nil {
				return err
			}
			rels, err := c.History()
			if err != nil {
				return err
			}
			last := rels[len(rels)-1]
			fmt.Fprintf(o.out, "Rolled back: revision %d (%s) is now deployed.\n", last.Version, last.Info.Description)
			return nil
		},
	}
	cmd.Flags().BoolVar(&wait, "wait", true, "wait until Romana is ready")
	cmd.Flags().DurationVar(&timeout, "timeout", 5*time.Minute, "how long to wait")
	return cmd
}

func newUninstallCmd(o *rootOptions) *cobra.Command {
	var wait bool
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "uninstall",
		Short: "Remove the release and everything in it, except the kept datastore password Secret",
		Args:  noArgs,
		RunE: func(*cobra.Command, []string) error {
			c, err := o.client()
			if err != nil {
				return err
			}
			res, err := c.Uninstall(wait, timeout)
			if err != nil {
				return err
			}
			fmt.Fprintf(o.out, "Release %s uninstalled from %s.\n", res.Release.Name, res.Release.Namespace)
			if res.Info != "" {
				fmt.Fprintln(o.out, res.Info)
			}
			fmt.Fprintf(o.out, "Kept: Secret %s/romana-datastore (the datastore password; a re-install reuses it).\n"+
				"Delete it when the datastore on the hosts (/var/lib/romana/db) is gone too:\n"+
				"  kubectl -n %s delete secret romana-datastore\n", res.Release.Namespace, res.Release.Namespace)
			return nil
		},
	}
	cmd.Flags().BoolVar(&wait, "wait", true, "wait until every object is gone")
	cmd.Flags().DurationVar(&timeout, "timeout", 5*time.Minute, "how long to wait")
	return cmd
}
