package main

import (
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/romana/romanactl/internal/values"
)

func newEnvsCmd(o *rootOptions) *cobra.Command {
	var output *outputFormat
	cmd := &cobra.Command{
		Use: "envs",
		Example: `  romanactl envs
  romanactl envs -o json`,
		Short: "List the environments (values files in the chart) with a line each",
		Args:  noArgs,
		RunE: func(*cobra.Command, []string) error {
			ch, err := o.loadChart()
			if err != nil {
				return err
			}
			envs := values.Envs(ch)
			if output.Structured() {
				return output.Write(o.out, envs)
			}
			tw := tabwriter.NewWriter(o.out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tFILE\tDESCRIPTION")
			for _, e := range envs {
				fmt.Fprintf(tw, "%s\tchart/%s\t%s\n", e.Name, e.File, e.Description)
			}
			return tw.Flush()
		},
	}
	output = addOutputFlag(cmd, "table", "table", "json", "yaml")
	return cmd
}
