package main

import (
	"fmt"
	"net/netip"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/romana/romanactl/internal/values"
)

func newPlanCmd(o *rootOptions) *cobra.Command {
	var vf *valuesFlags
	var output *outputFormat
	cmd := &cobra.Command{
		Use:   "plan",
		Short: "Show Romana's address plan: bits per level, capacities, host 0's block",
		Long: `Show how services.cidr is split: bits(n) bits each for nodes, namespaces and
segments (bits(n) is the smallest i >= 1 with 2^i >= n), what is left for the
endpoints of a segment, and host 0's block (each host gets cidr + host << (32 -
prefix - node bits), of prefix prefix + node bits; its gateway is the block's first
usable address). The values are validated first, so a plan that does not fit exits 2.`,
		Example: `  romanactl plan --env=kops
  romanactl plan --cidr=10.0.0.0/16 --namespaces=4 --segments=4 -o json`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			res, err := vf.resolve(cmd, o)
			if err != nil {
				return err
			}
			p, err := planFor(res.Effective)
			if err != nil {
				return err
			}
			if output.Structured() {
				return output.Write(o.out, p)
			}
			fmt.Fprintf(o.out, "Address plan for %s\n\n", p.CIDR)
			bar, legend := p.Bar()
			// One letter per address bit, 0 (the first) to 31.
			fmt.Fprintf(o.out, "  %-30s31\n  %s\n  %s\n\n", "0", bar, legend)
			tw := tabwriter.NewWriter(o.out, 0, 4, 2, ' ', tabwriter.AlignRight)
			fmt.Fprintln(tw, "LEVEL\tWANTED\tBITS\tCAPACITY\t")
			for _, l := range []struct {
				name string
				l    values.Level
			}{{"nodes", p.Nodes}, {"namespaces", p.Namespaces}, {"segments per namespace", p.Segments}} {
				fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t\n", l.name, l.l.Count, l.l.Bits, l.l.Capacity)
			}
			fmt.Fprintf(tw, "endpoints per segment\t-\t%d\t%d\t\n", p.EndpointBits, p.AddressesPerSegment)
			if err := tw.Flush(); err != nil {
				return err
			}
			fmt.Fprintf(o.out, "\nhost 0: block %s, gateway %s\n", p.Host0Block, p.Host0Gateway)
			if p.AddressesPerSegment < 8 {
				fmt.Fprintf(o.out, "warning: only %d addresses per segment; that is impractical for most workloads\n", p.AddressesPerSegment)
			}
			return nil
		},
	}
	vf = addValuesFlags(cmd, o, "kubeadm")
	output = addOutputFlag(cmd, "table", "table", "json", "yaml")
	return cmd
}

// planFor computes the plan from validated values.
func planFor(vals map[string]any) (values.Plan, error) {
	cidr, err := netip.ParsePrefix(lookupString(vals, "services.cidr"))
	if err != nil {
		return values.Plan{}, fmt.Errorf("services.cidr: %w", err)
	}
	n := func(key string) int64 {
		v, _ := values.Lookup(vals, key)
		switch x := v.(type) {
		case int64:
			return x
		case float64:
			return int64(x)
		case int:
			return int64(x)
		}
		return 0
	}
	return values.NewPlan(cidr, n("services.nodes"), n("services.namespaces"), n("services.segments")), nil
}
