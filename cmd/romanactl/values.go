package main

import (
	"github.com/spf13/cobra"
)

func newValuesCmd(o *rootOptions) *cobra.Command {
	var vf *valuesFlags
	var output *outputFormat
	cmd := &cobra.Command{
		Use:   "values",
		Short: "Print the effective values: chart defaults < --env < -f < --set < flags",
		Long: `Print the values the chart would be rendered with, after merging, in order of
precedence (weakest first): chart defaults, the --env file, -f files in order,
--set/--set-string, and the dedicated flags. They are validated first.`,
		Example: `  romanactl values --env=kops -o json
  romanactl values --env=custom --cidr=10.112.0.0/12 --cluster-ip=10.0.0.99 --cluster-ip-cidr=10.0.0.0/16`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			res, err := vf.resolve(cmd, o)
			if err != nil {
				return err
			}
			return output.Write(o.out, res.Effective)
		},
	}
	vf = addValuesFlags(cmd, o, "kubeadm")
	output = addOutputFlag(cmd, "yaml", "yaml", "json")
	return cmd
}
