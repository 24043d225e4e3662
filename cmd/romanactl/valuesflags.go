package main

import (
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	helmvalues "helm.sh/helm/v3/pkg/cli/values"

	"github.com/romana/romanactl/internal/values"
)

// valuesFlags are the flags that choose values, shared by every command that renders.
type valuesFlags struct {
	env       string
	helm      helmvalues.Options
	dedicated map[string]*string
}

func addValuesFlags(cmd *cobra.Command, o *rootOptions, defaultEnv string) *valuesFlags {
	v := &valuesFlags{dedicated: map[string]*string{}}
	fs := cmd.Flags()
	// No back-quotes in a usage string: pflag would take the quoted text as the value's
	// name ("--env romanactl envs").
	envUsage := "environment: kubeadm, kops or custom, a values file in the chart (romanactl envs lists them)"
	if defaultEnv == "auto" {
		envUsage += ", or auto: detect it from the cluster"
	}
	fs.StringVar(&v.env, "env", defaultEnv, envUsage)
	// Another chart instead of the embedded one, spelled as helm spells it.
	fs.StringVar(&o.chartRef, "chart", "", "use this chart instead of the embedded one: a directory, a .tgz, or oci://host/path/romana (then --version)")
	fs.StringVar(&o.chartVersion, "version", "", "with an oci:// --chart: the chart version to pull")
	fs.BoolVar(&o.plainHTTP, "plain-http", false, "with an oci:// --chart: plain HTTP to the registry (loopback registries are plain HTTP without it)")
	// Helm's own value flags, read by Helm's own code (pkg/cli/values), with helm's
	// names and meanings.
	fs.StringSliceVarP(&v.helm.ValueFiles, "values", "f", nil, "values file or http(s) URL, - for stdin, like helm's -f (can repeat; later files win)")
	fs.StringArrayVar(&v.helm.Values, "set", nil, "set a chart value, like helm's --set key1=val1,key2=val2 (can repeat)")
	fs.StringArrayVar(&v.helm.StringValues, "set-string", nil, "set a chart value as a string, like helm's --set-string (can repeat)")
	fs.StringArrayVar(&v.helm.FileValues, "set-file", nil, "set a chart value from a file's content, like helm's --set-file key=path (can repeat)")
	fs.StringArrayVar(&v.helm.JSONValues, "set-json", nil, "set a chart value from JSON, like helm's --set-json 'key=[{\"a\":1}]' (can repeat)")
	fs.StringArrayVar(&v.helm.LiteralValues, "set-literal", nil, "set a chart value to a literal string, no escaping or splitting, like helm's --set-literal (can repeat)")
	for _, f := range values.Flags {
		p := fs.String(f.Name, "", f.Usage)
		if f.Kind == values.Bool {
			// --nat alone means --nat=true, as with a bool flag; the value is still
			// checked as text so that --nat=yes names agent.nat in its error.
			fs.Lookup(f.Name).NoOptDefVal = "true"
		}
		v.dedicated[f.Name] = p
	}
	_ = cmd.RegisterFlagCompletionFunc("env", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		ch, err := o.loadChart()
		if err != nil {
			return nil, cobra.ShellCompDirectiveError
		}
		names := values.EnvNames(ch)
		if defaultEnv == "auto" || defaultEnv == "" {
			// Commands that reach a cluster can detect the environment.
			names = append([]string{"auto"}, names...)
		}
		return names, cobra.ShellCompDirectiveNoFileComp
	})
	_ = cmd.RegisterFlagCompletionFunc("services-as", cobra.FixedCompletions([]string{"daemonset", "static-pod"}, cobra.ShellCompDirectiveNoFileComp))
	return v
}

// options returns the values.Options for the flags the user gave.
func (v *valuesFlags) options(fs *pflag.FlagSet) values.Options {
	o := values.Options{Env: v.env, Helm: v.helm, Flags: map[string]string{}}
	for name, p := range v.dedicated {
		if fs.Changed(name) {
			o.Flags[name] = *p
		}
	}
	return o
}

// resolve loads the chart and resolves and validates the values.
func (v *valuesFlags) resolve(cmd *cobra.Command, o *rootOptions) (*values.Resolved, error) {
	ch, err := o.loadChart()
	if err != nil {
		return nil, err
	}
	return values.Resolve(ch, v.options(cmd.Flags()))
}
