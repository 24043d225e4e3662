package main

import (
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/romana/romanactl/internal/values"
)

func newEnvsCmd(o *rootOptions) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use: "envs",
		Example: `  romanactl envs
  romanactl envs -o json`,
		Short: "List the environments (values files in the chart) with a line each",
		Args:  noArgs,
		RunE: func(*cobra.Command, []string) error {
			if err := checkOutput(output, "table", "json", "yaml"); err != nil {
				return err
			}
			ch, err := o.loadChart()
			if err != nil {
				return err
			}
			envs := values.Envs(ch)
			if output != "table" {
				return printStructured(o.out, output, envs)
			}
			tw := tabwriter.NewWriter(o.out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tFILE\tDESCRIPTION")
			for _, e := range envs {
				fmt.Fprintf(tw, "%s\tchart/%s\t%s\n", e.Name, e.File, e.Description)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "table", "output format: table|json|yaml")
	return cmd
}
