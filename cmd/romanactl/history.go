package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"
	"helm.sh/helm/v3/pkg/release"

	"github.com/romana/romanactl/internal/install"
	"github.com/romana/romanactl/internal/values"
)

type revision struct {
	Revision    int       `json:"revision"`
	Updated     time.Time `json:"updated"`
	Status      string    `json:"status"`
	Chart       string    `json:"chart"`
	AppVersion  string    `json:"appVersion"`
	Description string    `json:"description"`
	// RomanaVersion is the tag of Romana's images the revision deployed
	// (install.DeployedVersion): after `upgrade --tag`, not the chart's appVersion.
	RomanaVersion string `json:"romanaVersion"`
	Pinned        bool   `json:"pinned,omitempty"`
}

func newHistoryCmd(o *rootOptions) *cobra.Command {
	var output *outputFormat
	cmd := &cobra.Command{
		Use: "history",
		Example: `  romanactl history
  romanactl history -o json`,
		Short: "List the release's revisions (at most 10 are kept)",
		Args:  noArgs,
		RunE: func(*cobra.Command, []string) error {
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
				tag, pinned := install.DeployedVersion(r)
				revs = append(revs, revision{r.Version, r.Info.LastDeployed.Time, r.Info.Status.String(),
					r.Chart.Metadata.Name + "-" + r.Chart.Metadata.Version, r.Chart.Metadata.AppVersion, r.Info.Description, tag, pinned})
			}
			if output.Structured() {
				return output.Write(o.out, revs)
			}
			tw := tabwriter.NewWriter(o.out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "REVISION\tUPDATED\tSTATUS\tCHART\tROMANA\tDESCRIPTION")
			for _, r := range revs {
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", r.Revision, r.Updated.Format(time.RFC3339), r.Status, r.Chart, install.VersionText(r.RomanaVersion, r.Pinned), r.Description)
			}
			return tw.Flush()
		},
	}
	output = addOutputFlag(cmd, "table", "table", "json", "yaml")
	return cmd
}

func newRollbackCmd(o *rootOptions) *cobra.Command {
	var ro install.RollbackOptions
	cmd := &cobra.Command{
		Use:   "rollback [REVISION]",
		Short: "Roll the release back to REVISION (default: the previous one)",
		Long: `Roll the release romana back to REVISION (default: the previous one), holding the
release's Lease. A rollback to a revision with another romanaRoot.clusterIP is refused
(exit 2) unless --recreate-root-service is given: a Service's clusterIP is immutable,
and Helm alone would point the agents at the old address and then fail on the Service.
A release left pending-* is refused: 'romanactl recover' ends it.`,
		Example: `  romanactl rollback
  romanactl rollback 3 --recreate-root-service`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 1 {
				return &usageError{fmt.Errorf("rollback takes at most one REVISION, got %q", args)}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				n, err := strconv.Atoi(args[0])
				if err != nil || n < 1 {
					return values.Inputf("REVISION %q: must be a positive revision number (see `romanactl history`)", args[0])
				}
				ro.Revision = n
			}
			c, err := o.client()
			if err != nil {
				return err
			}
			rel, err := c.Rollback(cmd.Context(), ro)
			if err != nil {
				return err
			}
			fmt.Fprintf(o.out, "Rolled back: revision %d (%s) is now %s.\n", rel.Version, rel.Info.Description, rel.Info.Status)
			return nil
		},
	}
	cmd.Flags().BoolVar(&ro.Wait, "wait", true, "wait until Romana is ready")
	addTimeoutFlag(cmd.Flags(), &ro.Timeout, 5*time.Minute, "how long to wait")
	cmd.Flags().BoolVar(&ro.RecreateRootService, "recreate-root-service", false, "allow a rollback to a revision with another romanaRoot.clusterIP by deleting and recreating romana-root within it")
	return cmd
}

func newRecoverCmd(o *rootOptions) *cobra.Command {
	var ro install.RecoverOptions
	cmd := &cobra.Command{
		Use:   "recover",
		Short: "End a release left pending-install, pending-upgrade or pending-rollback by a killed command, or deployed but never verified ready",
		Long: `A release whose newest revision is pending-* blocks every later install, upgrade and
rollback, in romanactl and in the helm CLI. It happens when a command is killed
(SIGKILL, a lost machine) or the API server goes away while it writes. recover ends it:

  pending-install                   uninstall the half-made release; the datastore
                                    password Secret is kept
  pending-upgrade, pending-rollback mark that revision failed, roll back to the newest
                                    good revision (recreating romana-root if its
                                    clusterIP differs), and wait
  deployed, never verified ready    roll back to the newest good revision: the command
                                    that made it was killed during its wait

It prints its plan first; --dry-run prints only the plan. It holds the release's Lease,
so it refuses (exit 1) while another command's Lease is live. A release that is not
pending and whose deployed revision is verified (or was made without romanactl's
wait) is left alone (exit 0).`,
		Example: `  romanactl recover --dry-run
  romanactl recover --timeout=2m`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := o.client()
			if err != nil {
				return err
			}
			plan, rel, err := c.Recover(cmd.Context(), ro)
			if plan != nil && (ro.DryRun || plan.Action == install.RecoverNothing) {
				fmt.Fprintln(o.out, "Plan:")
				for _, s := range plan.Steps {
					fmt.Fprintf(o.out, "  - %s\n", s)
				}
				if ro.DryRun && plan.Action != install.RecoverNothing {
					fmt.Fprintln(o.out, "Dry run: nothing was changed.")
				}
			}
			if err != nil {
				return err
			}
			switch {
			case ro.DryRun || plan.Action == install.RecoverNothing:
			case plan.Action == install.RecoverUninstall:
				fmt.Fprintf(o.out, "Recovered: the half-made release was uninstalled; Secret %s was kept. Run `romanactl install` again.\n", install.PasswordSecret)
			case plan.Action == install.RecoverUnverified:
				fmt.Fprintf(o.out, "Recovered: revision %d was never verified ready; revision %d (a copy of revision %d) is now %s.\n", plan.Revision, rel.Version, plan.Target, rel.Info.Status)
			default:
				fmt.Fprintf(o.out, "Recovered: revision %d failed; revision %d (a copy of revision %d) is now %s.\n", plan.Revision, rel.Version, plan.Target, rel.Info.Status)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&ro.DryRun, "dry-run", false, "print the plan only; change nothing")
	cmd.Flags().BoolVar(&ro.Wait, "wait", true, "wait until Romana is ready (or every object is gone)")
	addTimeoutFlag(cmd.Flags(), &ro.Timeout, 5*time.Minute, "how long to wait")
	return cmd
}

func newUninstallCmd(o *rootOptions) *cobra.Command {
	var uo install.UninstallOptions
	var yes bool
	cmd := &cobra.Command{
		Use: "uninstall",
		Example: `  romanactl uninstall
  romanactl uninstall --keep-node-state
  romanactl uninstall --purge-datastore --yes`,
		Short: "Clean every node, then remove the release and everything in it, except the kept datastore password Secret",
		Long: `Remove Romana. First, on every node the agent ran on, the chart's node cleanup (a
DaemonSet, romana-cleanup) removes exactly what the agent left there: the romana-gw
interface and its routes, the ROMANA-MASQ nat chain and its jump, the CNI plugin and
config, the romana CLI and its config. uninstall waits for every node's report and
prints "cleaned N of M nodes", naming the nodes that could not be cleaned; then it
deletes the cleanup and the release. The datastore password Secret is kept, and so is
the datastore's data directory unless --purge-datastore (asked to confirm, or --yes).`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if uo.PurgeDatastore && uo.KeepNodeState {
				return values.Inputf("--purge-datastore runs in the node cleanup, which --keep-node-state skips: give one of them")
			}
			if uo.PurgeDatastore && !yes {
				ok, asked, answer := confirm(cmd, o, "--purge-datastore deletes the datastore's files in services.dataDir on the nodes romana-services runs on; Romana's addresses and policies are lost. Type yes to go on: ")
				switch {
				case !asked:
					return values.Inputf("--purge-datastore needs a confirmation, and stdin is not a terminal to ask on: give --yes to confirm (nothing was changed)")
				case !ok:
					return values.Inputf("--purge-datastore was not confirmed (the answer was %q, not yes): nothing was changed; type yes when asked, or give --yes", answer)
				}
			}
			c, err := o.client()
			if err != nil {
				return err
			}
			res, err := c.Uninstall(cmd.Context(), uo)
			if err != nil {
				return err
			}
			if res.NodeCleanup != "" {
				fmt.Fprintf(o.out, "Node cleanup skipped: %s\n", res.NodeCleanup)
			} else {
				printNodeReports(o.out, res.Nodes, false, "Cleaned %d of %d nodes.\n")
			}
			if uo.PurgeDatastore {
				if res.PurgeSkipped != "" {
					fmt.Fprintf(o.out, "Datastore not purged: %s.\n", res.PurgeSkipped)
				} else if res.NodeCleanup == "" {
					printNodeReports(o.out, res.Purge, true, "Purged the datastore ("+res.DataDir+") on %d of %d nodes that ran romana-services.\n")
				}
			}
			rel := res.Release.Release
			fmt.Fprintf(o.out, "Release %s uninstalled from %s.\n", rel.Name, rel.Namespace)
			if res.LeaseKept != "" {
				fmt.Fprintf(o.out, "‼ romanactl's Lease (its lock on the release) was not deleted: %s\n", res.LeaseKept)
			}
			// Helm's own note lists what its resource policy kept; the password
			// Secret is said below, in words that say why and how to delete it.
			if others := keptOthers(res.Release.Info, install.PasswordSecret); others != "" {
				fmt.Fprintf(o.out, "Also kept (helm.sh/resource-policy: keep): %s\n", others)
			}
			if own := lookupString(rel.Config, "datastore.existingSecret"); own != "" {
				fmt.Fprintf(o.out, "Your Secret %s/%s (datastore.existingSecret) was not the release's and is untouched.\n", rel.Namespace, own)
				return nil
			}
			fmt.Fprintf(o.out, "Kept: Secret %s/%s (the datastore password; a re-install reuses it).\n"+
				"Delete it when the datastore on the hosts (%s) is gone too:\n"+
				"  kubectl -n %s delete secret %s\n", rel.Namespace, install.PasswordSecret, releaseDataDir(rel), rel.Namespace, install.PasswordSecret)
			return nil
		},
	}
	cmd.Flags().BoolVar(&uo.Wait, "wait", true, "wait until every object is gone")
	addTimeoutFlag(cmd.Flags(), &uo.Timeout, 5*time.Minute, "how long to wait (for the node cleanup's reports, then for the objects)")
	cmd.Flags().BoolVar(&uo.KeepNodeState, "keep-node-state", false, "skip the node cleanup: the nodes keep Romana's interface, nat rules and CNI files")
	cmd.Flags().BoolVar(&uo.PurgeDatastore, "purge-datastore", false, "also delete what the datastore wrote in services.dataDir, on the nodes romana-services ran on")
	cmd.Flags().BoolVar(&yes, "yes", false, "with --purge-datastore: do not ask")
	return cmd
}

// printNodeReports prints one line per node and the count; summary takes the nodes
// done and the nodes in all. detail prints what a node did instead of a count (the
// purge: which entries went, which were kept).
func printNodeReports(out io.Writer, nodes []install.NodeReport, detail bool, summary string) {
	cleaned := 0
	for _, n := range nodes {
		if n.Cleaned() {
			cleaned++
			if detail {
				var did []string
				for _, l := range n.Lines {
					if !strings.HasPrefix(l, "done: ") {
						did = append(did, l)
					}
				}
				fmt.Fprintf(out, "  ✓ %s: %s\n", n.Node, strings.Join(did, "; "))
				continue
			}
			fmt.Fprintf(out, "  ✓ %s: removed %d\n", n.Node, n.Removed)
			continue
		}
		why := n.Error
		if why == "" {
			why = fmt.Sprintf("%d item(s) could not be removed: %s", n.Failed, strings.Join(n.Lines, "; "))
		}
		fmt.Fprintf(out, "  ‼ %s: %s\n", n.Node, why)
	}
	fmt.Fprintf(out, summary, cleaned, len(nodes))
	if cleaned < len(nodes) {
		fmt.Fprintf(out, "On the nodes marked ‼, run the cleanup by hand (README: Uninstall).\n")
	}
}

// confirm asks on the terminal and says whether the answer was yes, whether it asked,
// and the answer. Without a terminal (a script, cron, stdin from /dev/null) it asks
// nothing: a question nobody can answer would print the prompt and the error on one
// line. An end of input (Ctrl-D) ends the prompt's line, so the error stands on its own.
func confirm(cmd *cobra.Command, o *rootOptions, question string) (yes, asked bool, answer string) {
	in := cmd.InOrStdin()
	if f, ok := in.(*os.File); !ok || !isTerminal(f) {
		return false, false, ""
	}
	fmt.Fprint(o.errOut, question)
	if _, err := fmt.Fscanln(in, &answer); errors.Is(err, io.EOF) {
		fmt.Fprintln(o.errOut)
	}
	answer = strings.TrimSpace(answer)
	return answer == "yes", true, answer
}

// isTerminal is a terminal test (/dev/null is a character device, and no terminal);
// a variable so that a test can stand in for a terminal.
var isTerminal = func(f *os.File) bool { return term.IsTerminal(int(f.Fd())) }

// keptOthers lists what Helm's uninstall note says its resource policy kept, other
// than the password Secret.
func keptOthers(info, secret string) string {
	var out []string
	for _, l := range strings.Split(info, "\n") {
		l = strings.TrimSpace(l)
		if strings.HasPrefix(l, "[") && l != "[Secret] "+secret {
			out = append(out, l)
		}
	}
	return strings.Join(out, ", ")
}

// releaseDataDir names services.dataDir of the removed revision for a message.
func releaseDataDir(r *release.Release) string {
	if d, ok := install.ReleaseDataDir(r); ok {
		return d
	}
	return "services.dataDir of the release"
}
