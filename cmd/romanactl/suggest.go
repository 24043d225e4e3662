package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/romana/romanactl/internal/values"
)

// flagHints answer a flag that a command does not have but a user reaches for, by the
// command that does what they meant.
var flagHints = map[string]string{
	"upgrade --dry-run": "upgrade has no --dry-run: `romanactl diff` with the same flags shows what the upgrade would change, and writes nothing",
}

// flagSuggestion adds to cobra's "unknown flag: --x" what the user probably meant: a
// command's hint for that flag, or the command's closest flag name (a typo).
func flagSuggestion(c *cobra.Command, err error) string {
	msg := err.Error()
	const prefix = "unknown flag: --"
	if !strings.HasPrefix(msg, prefix) {
		return ""
	}
	name := strings.TrimPrefix(msg, prefix)
	if hint, ok := flagHints[c.Name()+" --"+name]; ok {
		return hint
	}
	var known []string
	c.Flags().VisitAll(func(f *pflag.Flag) {
		if !f.Hidden {
			known = append(known, f.Name)
		}
	})
	if s := values.Suggest(name, known); s != "" {
		return fmt.Sprintf("did you mean --%s?", s)
	}
	return ""
}
