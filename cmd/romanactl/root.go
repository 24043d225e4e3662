package main

import (
	"errors"
	"fmt"
	"io"
	"log"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"helm.sh/helm/v3/pkg/chart"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/client-go/rest"

	romana "github.com/romana/romanactl"
	"github.com/romana/romanactl/internal/chartsrc"
	"github.com/romana/romanactl/internal/install"
	"github.com/romana/romanactl/internal/lock"
	"github.com/romana/romanactl/internal/startup"
	"github.com/romana/romanactl/internal/values"
)

// Exit codes, documented in --help.
const (
	exitOK          = 0
	exitOperational = 1
	exitInput       = 2
)

const exitCodesHelp = `Exit codes:
  0  success
  1  operational failure: a cluster call failed, there is no release to act on, the
     registry of an oci:// --chart could not be reached, the chart could not be rendered
  2  invalid input of any kind: an unknown command or flag, a bad flag or values-file
     value, a failed validation, a --chart that is not a Romana chart romanactl can
     drive (or names no file or chart version); nothing was rendered and nothing was
     changed`

// rootOptions are shared by every command.
type rootOptions struct {
	out, errOut io.Writer
	// kube holds --kubeconfig, --context and -n as kubectl users know them. No offline
	// command reads it: the kubeconfig is only loaded when a cluster is needed.
	kube *genericclioptions.ConfigFlags
	// chart is loaded once, on first use.
	chart *chart.Chart
	// args are the command line, recorded in the release's Lease.
	args []string
	// chartRef, chartVersion and plainHTTP are --chart, --version and --plain-http: a
	// chart to use instead of the embedded one.
	chartRef, chartVersion string
	plainHTTP              bool
	// debug is --debug's sink (nil when off).
	debug     *install.Debug
	debugFlag bool
}

func (o *rootOptions) loadChart() (*chart.Chart, error) {
	if o.chart == nil {
		var ch *chart.Chart
		var err error
		switch {
		case o.chartRef != "":
			ch, err = chartsrc.Load(o.chartRef, chartsrc.Options{Version: o.chartVersion, PlainHTTP: o.plainHTTP})
		case o.chartVersion != "":
			// helm's --version picks a chart version; without --chart there is one
			// chart, romanactl's own, and ignoring the flag would look like a choice.
			ch, err = romana.Chart()
			if err == nil {
				err = values.Inputf("--version %s: only an oci:// --chart has versions; without --chart romanactl uses its own chart, romana %s (Romana %s): drop --version, or pick the Romana release with --tag",
					o.chartVersion, ch.Metadata.Version, ch.Metadata.AppVersion)
			}
		default:
			ch, err = romana.Chart()
		}
		if err != nil {
			return nil, err
		}
		o.chart = ch
	}
	return o.chart, nil
}

// embeddedChart says the chart is romanactl's own, not a --chart: its romana.validate
// holds no rule the Go validation lacks (see render.RenderOptions.CrossFieldChecked).
func (o *rootOptions) embeddedChart() bool { return o.chartRef == "" }

// namespace is -n, or kube-system.
func (o *rootOptions) namespace() string {
	if o.kube.Namespace != nil && *o.kube.Namespace != "" {
		return *o.kube.Namespace
	}
	return "kube-system"
}

func newRootCmd(out, errOut io.Writer) *cobra.Command {
	o := &rootOptions{out: out, errOut: errOut, kube: genericclioptions.NewConfigFlags(true)}
	cmd := &cobra.Command{
		Use:   "romanactl",
		Short: "Install and upgrade the Romana network plugin on Kubernetes",
		Long: `romanactl installs the Romana network plugin (CNI) with its embedded Helm chart.
It validates every value before rendering, and refuses what would break the
cluster's network before it touches anything.

` + exitCodesHelp,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRun: func(cmd *cobra.Command, args []string) {
			o.args = commandLine(cmd, args)
			// A command that reaches a cluster (it has --kubeconfig) or copies images
			// may hold a heap that grows with the cluster: Go's default GC target.
			if cmd.Flags().Lookup("kubeconfig") != nil || cmd.CommandPath() == "romanactl images mirror" {
				startup.ForLongRun()
			}
			// The Helm SDK also logs through the standard logger (coalescing warnings):
			// shown with --debug, as helm does, and dropped otherwise.
			log.SetOutput(io.Discard)
			if o.debugFlag {
				o.debug = install.NewDebug(errOut)
				log.SetFlags(0)
				log.SetOutput(debugLog{o.debug})
				o.kube.WrapConfigFn = func(c *rest.Config) *rest.Config {
					c.Wrap(o.debug.Wrap)
					return c
				}
				o.debug.Printf("romanactl %s: %s", version, lock.CommandLine(o.args))
			}
		},
	}
	cmd.PersistentFlags().BoolVar(&o.debugFlag, "debug", false, "print the Helm SDK's log, romanactl's steps and every API request (verb, URL, status, time; no bodies, so no Secret data) to stderr")
	cmd.SetOut(out)
	cmd.SetErr(errOut)
	cmd.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		err = plainFlagError(err)
		if hint := flagSuggestion(c, err); hint != "" {
			return &values.InputError{Err: fmt.Errorf("%w: %s\nSee '%s --help'", err, hint, c.CommandPath())}
		}
		return &values.InputError{Err: fmt.Errorf("%w\nSee '%s --help'", err, c.CommandPath())}
	})
	// client-go waits for ever on an API server that accepts connections and never
	// answers; no single request of romanactl's needs more than this.
	timeout := "30s"
	o.kube.Timeout = &timeout

	cmd.AddCommand(
		newInstallCmd(o),
		newUpgradeCmd(o),
		newDiffCmd(o),
		newStatusCmd(o),
		newHistoryCmd(o),
		newRollbackCmd(o),
		newRecoverCmd(o),
		newUninstallCmd(o),
		newCheckCmd(o),
		newTemplateCmd(o),
		newImagesCmd(o),
		newValuesCmd(o),
		newEnvsCmd(o),
		newPlanCmd(o),
		newVersionCmd(o),
		newSysdumpCmd(o),
		newMigrateCmd(o),
	)
	// The kubeconfig flags go to the commands that talk to a cluster; an offline command
	// that renders takes -n alone (the namespace it renders into).
	for _, c := range cmd.Commands() {
		switch c.Name() {
		case "install", "upgrade", "diff", "status", "history", "rollback", "recover", "uninstall", "check", "sysdump", "migrate":
			o.kube.AddFlags(c.Flags())
		case "template":
			addNamespaceFlag(c, o)
		case "images":
			for _, sub := range c.Commands() {
				addNamespaceFlag(sub, o)
			}
		}
	}
	cmd.SetHelpCommand(newHelpCmd(cmd))
	// Cobra adds its help and completion commands when it executes; add them now so
	// that they get examples and exit codes like every other command.
	cmd.InitDefaultHelpCmd()
	cmd.InitDefaultCompletionCmd()
	for _, c := range cmd.Commands() {
		if c.Name() == "completion" {
			c.Example = "  source <(romanactl completion bash)\n  romanactl completion zsh > \"${fpath[1]}/_romanactl\""
			for _, sh := range c.Commands() {
				sh.Example = "  romanactl completion " + sh.Name()
			}
		}
	}
	addExitCodes(cmd)
	return cmd
}

func addNamespaceFlag(c *cobra.Command, o *rootOptions) {
	c.Flags().StringVarP(o.kube.Namespace, "namespace", "n", "", "namespace the manifests are rendered into (default kube-system)")
}

// newHelpCmd is cobra's help command, except that an unknown topic is an input error
// (exit 2), not a usage text and exit 0.
func newHelpCmd(root *cobra.Command) *cobra.Command {
	return &cobra.Command{
		Use:   "help [command]",
		Short: "Help about any command",
		Example: `  romanactl help install
  romanactl help images mirror`,
		RunE: func(c *cobra.Command, args []string) error {
			target, rest, err := root.Find(args)
			if err != nil || target == nil || len(rest) > 0 {
				return &usageError{fmt.Errorf("unknown help topic %q: the commands are listed by `romanactl --help`", strings.Join(args, " "))}
			}
			return target.Help()
		},
	}
}

// exitCodes says, per command, which exit codes it can return and when. Every command
// shows its own in --help.
var exitCodes = map[string]string{
	"offline": `  0  printed
  1  the chart could not be rendered, or the registry of an oci:// --chart could not
     be reached
  2  invalid input: an unknown flag, a bad value, a failed validation, a --chart that
     names no file or chart version or is not a Romana chart; nothing printed`,
	"install": `  0  installed (or the dry run ended)
  1  a cluster call failed, the wait timed out (with --atomic the install was undone),
     another romanactl holds the release's Lease, or a release is pending (see recover)
  2  invalid input, a ✗ pre-flight check, or the release already exists (use
     upgrade): nothing was written`,
	"upgrade": `  0  upgraded, or nothing to change (nothing written)
  1  no release (use install), a cluster call failed, the wait timed out (with
     --atomic: rolled back to the last good revision, which the message names), the
     Lease is held, or another command wrote a revision meanwhile
  2  invalid input, an --env the cluster does not look like, a ✗ pre-flight check, a
     clusterIP change without --recreate-root-service, an older chart than the
     release's without --allow-downgrade, or a datastore password change: nothing
     was written`,
	"diff": `  0  the diff was printed (changes or none; with --exit-code: no changes)
  1  with --exit-code: there are changes (the diff is printed, no Error: line);
     a cluster call failed, or there is no release
  2  invalid input`,
	"status": `  0  deployed and healthy
  1  not healthy (pods not ready, wiring broken, release pending or failed), no
     release, or a cluster call failed. A held Lease alone is not a failure: a
     healthy release whose Lease a command holds exits 0 and names the holder
  2  invalid input`,
	"history": `  0  printed
  1  no release, or a cluster call failed
  2  invalid input`,
	"rollback": `  0  rolled back
  1  no release, a cluster call failed, the wait timed out, or the Lease is held
  2  invalid input, an unknown revision, or a clusterIP change without
     --recreate-root-service: nothing was written`,
	"recover": `  0  recovered, or nothing to recover (the release is not pending)
  1  no release, a cluster call failed, or the Lease is held by a live command
  2  invalid input`,
	"uninstall": `  0  uninstalled
  1  no release, a cluster call failed, the wait timed out, or the Lease is held
  2  invalid input`,
	"check": `  0  every check passed (‼ checks may be shown, unless --fail-on=warning)
  1  the cluster could not be reached
  2  a ✗ check failed, a ‼ check warned with --fail-on=warning, or invalid input`,
	"mirror": `  0  every image copied or already there
  1  an image could not be copied (each is named with why: auth, not found, network)
  2  invalid input (a bad --to, --registry or value)`,
	"save": `  0  the file was written
  1  an image could not be read from its registry (named, with why), or the file
     could not be written; the file is left as it was
  2  invalid input (no -o, a bad --platform or value, a platform no index has)`,
	"load": `  0  every image and the chart pushed or already there
  1  the registry refused or failed a push (each is named with why); a re-run
     pushes only what is missing
  2  invalid input: no --to or a bad one, a FILE that is missing, truncated,
     damaged or not written by 'images save'; nothing was pushed`,
	"migrate": `  0  migrated (or the dry run printed)
  1  a cluster call failed, the wait timed out, or the Lease is held
  2  nothing to migrate, something cannot be mapped (without --force), a selector
     differs, no password found, a ✗ pre-flight check, or invalid input: nothing written`,
	"sysdump": `  0  the bundle was written (items that could not be collected are listed in its
     index.json)
  1  the file could not be created (it is never overwritten) or written
  2  invalid input, or no kubeconfig`,
	"completion": `  0  printed
  2  invalid input`,
	"help": `  0  printed
  2  unknown topic`,
}

// addExitCodes appends each command's exit codes to its help.
func addExitCodes(root *cobra.Command) {
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		for _, sub := range c.Commands() {
			walk(sub)
		}
		if c == root {
			return
		}
		key := c.Name()
		switch key {
		case "template", "values", "envs", "plan", "version", "list", "images":
			key = "offline"
		}
		text, ok := exitCodes[key]
		if !ok {
			text = exitCodes["offline"]
		}
		if c.Long == "" {
			c.Long = c.Short + "."
		}
		c.Long += "\n\nExit codes:\n" + text
	}
	walk(root)
}

// exitCode maps an error to romanactl's exit codes.
func exitCode(err error) int {
	switch {
	case err == nil:
		return exitOK
	case values.IsInputError(err), isUsageError(err):
		return exitInput
	default:
		return exitOperational
	}
}

// isUsageError catches the errors cobra makes itself for a command line it cannot
// parse; they are input errors too.
func isUsageError(err error) bool {
	var ue *usageError
	if errors.As(err, &ue) {
		return true
	}
	msg := err.Error()
	return strings.HasPrefix(msg, "unknown command") || strings.HasPrefix(msg, "unknown flag") ||
		strings.HasPrefix(msg, "invalid argument")
}

type usageError struct{ error }

// quietError is an answer told by the exit code alone (exit 1): main prints no Error: line.
type quietError struct{ error }

// isQuiet says whether err is a quietError.
func isQuiet(err error) bool {
	var q *quietError
	return errors.As(err, &q)
}

// noArgs rejects positional arguments as an input error.
func noArgs(cmd *cobra.Command, args []string) error {
	// `--nat false` parses as --nat (true) and an argument "false": say how to write it.
	for _, a := range args {
		if a == "true" || a == "false" {
			var flags []string
			cmd.Flags().VisitAll(func(f *pflag.Flag) {
				if f.NoOptDefVal == "true" && cmd.Flags().Changed(f.Name) {
					flags = append(flags, "--"+f.Name+"="+a)
				}
			})
			fix := "write a true|false flag's value with '=', e.g. --nat=" + a
			if len(flags) > 0 {
				fix = "write " + strings.Join(flags, " or ")
			}
			return &usageError{fmt.Errorf("%q is an argument here, not a flag's value: a space does not give a true|false flag its value; %s", a, fix)}
		}
	}
	if len(args) > 0 && cmd.HasAvailableSubCommands() {
		// A command that is only a group (images): the word is a subcommand it lacks.
		var names []string
		for _, sub := range cmd.Commands() {
			if sub.IsAvailableCommand() {
				names = append(names, sub.Name())
			}
		}
		hint := ""
		if s := values.Suggest(args[0], names); s != "" {
			hint = fmt.Sprintf("; did you mean %s?", s)
		}
		return &usageError{fmt.Errorf("unknown command %q for %q%s (its commands: %s)\nSee '%s --help'",
			args[0], cmd.CommandPath(), hint, strings.Join(names, ", "), cmd.CommandPath())}
	}
	if len(args) > 0 {
		return &usageError{fmt.Errorf("%q takes no arguments, got %q\nSee '%s --help'", cmd.CommandPath(), args, cmd.CommandPath())}
	}
	return nil
}

// commandLine is the command as a Lease records it: the subcommand and the flags given,
// without the kubeconfig flags (credentials and local paths say nothing to others),
// and with the user information of any URL removed (lock.CommandLine). What it returns
// lands in the Lease, in the "locked by" error and in status, so it must never carry
// a credential.
func commandLine(cmd *cobra.Command, args []string) []string {
	out := strings.Fields(strings.TrimPrefix(cmd.CommandPath(), cmd.Root().Name()))
	cmd.Flags().Visit(func(f *pflag.Flag) {
		if kubeFlags[f.Name] {
			return
		}
		if sv, ok := f.Value.(pflag.SliceValue); ok {
			for _, v := range sv.GetSlice() {
				out = append(out, "--"+f.Name+"="+v)
			}
			return
		}
		out = append(out, "--"+f.Name+"="+f.Value.String())
	})
	return append(out, args...)
}

// kubeFlags are cli-runtime's connection flags, read from ConfigFlags itself: a flag a
// later cli-runtime adds (as --proxy-url and --as-user-extra were, which carry a proxy
// password and impersonation data) is left out without anyone updating a list.
var kubeFlags = func() map[string]bool {
	fs := pflag.NewFlagSet("kube", pflag.ContinueOnError)
	genericclioptions.NewConfigFlags(true).AddFlags(fs)
	out := map[string]bool{}
	fs.VisitAll(func(f *pflag.Flag) { out[f.Name] = true })
	return out
}()

// debugLog adapts the standard logger to --debug.
type debugLog struct{ d *install.Debug }

func (l debugLog) Write(p []byte) (int, error) {
	l.d.Printf("helm: %s", strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
