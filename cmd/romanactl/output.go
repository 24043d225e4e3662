package main

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"sigs.k8s.io/yaml"

	"github.com/romana/romanactl/internal/values"
)

// outputFormat is -o, like helm's output.Format: a pflag.Value that refuses a format
// the command does not print at parse time (exit 2), so no command checks it again.
// json and yaml are structured; any other allowed value is the command's own
// human-readable form (table, text, diff).
type outputFormat struct {
	value   string
	allowed []string
}

// addOutputFlag registers -o/--output on cmd with its default and allowed formats, and
// completes them.
func addOutputFlag(cmd *cobra.Command, def string, allowed ...string) *outputFormat {
	f := &outputFormat{value: def, allowed: allowed}
	cmd.Flags().VarP(f, "output", "o", "output format: "+strings.Join(allowed, "|"))
	_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions(allowed, cobra.ShellCompDirectiveNoFileComp))
	return f
}

func (f *outputFormat) String() string { return f.value }
func (f *outputFormat) Type() string   { return "format" }

func (f *outputFormat) Set(v string) error {
	if !slices.Contains(f.allowed, v) {
		return fmt.Errorf("unknown output format %q; use one of %s", v, strings.Join(f.allowed, ", "))
	}
	f.value = v
	return nil
}

// Structured is true for json and yaml.
func (f *outputFormat) Structured() bool { return f.value == "json" || f.value == "yaml" }

// Write writes v as JSON or YAML.
func (f *outputFormat) Write(w io.Writer, v any) error {
	switch f.value {
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	case "yaml":
		b, err := yaml.Marshal(v)
		if err != nil {
			return err
		}
		_, err = w.Write(b)
		return err
	}
	return fmt.Errorf("output format %q is not structured", f.value)
}

func lookupString(vals map[string]any, key string) string {
	s, _ := values.LookupString(vals, key)
	return s
}
