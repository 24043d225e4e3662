package main

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/romana/romanactl/internal/install"
)

func newStatusCmd(o *rootOptions) *cobra.Command {
	var output *outputFormat
	cmd := &cobra.Command{
		Use: "status",
		Example: `  romanactl status
  romanactl status -o json
  romanactl status -n romana --context prod`,
		Short: "Show the release and ready/desired pods per DaemonSet and node role; exit 1 when not healthy",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := o.client()
			if err != nil {
				return err
			}
			st, err := c.GetStatus(cmd.Context())
			if st == nil {
				return err
			}
			if output.Structured() {
				if perr := output.Write(o.out, st); perr != nil {
					return perr
				}
			} else {
				fmt.Fprintf(o.out, "Release %s in %s: revision %d, %s, chart %s (Romana %s), updated %s\n",
					st.Release, st.Namespace, st.Revision, st.State, st.Chart, install.VersionText(st.RomanaVersion, st.Pinned), st.Updated.Format(time.RFC3339))
				tw := tabwriter.NewWriter(o.out, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "DAEMONSET\tREADY\tCONTROL-PLANE\tWORKER\tHEALTH")
				for _, d := range st.DaemonSets {
					h := "ok"
					if !d.Healthy {
						h = d.Problem
					}
					fmt.Fprintf(tw, "%s\t%d/%d\t%s\t%s\t%s\n", d.Name, d.Ready, d.Desired, role(d, "control-plane"), role(d, "worker"), h)
				}
				_ = tw.Flush()
				for _, w := range st.Wiring {
					fmt.Fprintf(o.out, "✗ wiring: %s\n", w)
				}
				if st.LockedBy != "" && st.Hint == "" {
					fmt.Fprintf(o.out, "Locked by %s.\n", st.LockedBy)
				}
				if st.Hint != "" {
					fmt.Fprintf(o.out, "Release is %s: %s.\n", st.State, st.Hint)
				}
				if st.Healthy {
					fmt.Fprintln(o.out, "Romana is healthy.")
				}
			}
			if errors.Is(err, install.ErrNotHealthy) {
				return fmt.Errorf("romana is not healthy: %s", unhealthyBecause(st))
			}
			return err
		},
	}
	output = addOutputFlag(cmd, "table", "table", "json", "yaml")
	return cmd
}

func role(d install.DaemonSetStatus, r string) string {
	rc := d.ByRole[r]
	return strconv.Itoa(rc.Ready) + "/" + strconv.Itoa(rc.Desired)
}

// unhealthyBecause names what status found wrong, pointing at the part of its output
// that shows it: the release state, the DaemonSets' table, the ✗ wiring lines.
func unhealthyBecause(st *install.Status) string {
	var why []string
	if st.State != "deployed" {
		why = append(why, "the release is "+st.State)
	}
	for _, d := range st.DaemonSets {
		if !d.Healthy {
			why = append(why, d.Name+": "+d.Problem+" (see the table above)")
		}
	}
	if len(st.Wiring) > 0 {
		why = append(why, "the wiring is broken (see ✗ wiring above)")
	}
	if len(why) == 0 {
		return "see above"
	}
	return strings.Join(why, "; ")
}
