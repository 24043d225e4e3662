package main

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/romana/romanactl/internal/values"
)

// flagHints answer a flag that a command does not have but a user reaches for, by the
// command that does what they meant.
var flagHints = map[string]string{
	"upgrade --dry-run": "upgrade has no --dry-run: `romanactl diff` with the same flags shows what the upgrade would change, and writes nothing",
	"upgrade --install": "upgrade has no --install (helm's upgrade --install): `romanactl install` installs, and says to use upgrade when the release exists",
	"history --max":     "history has no --max: it lists every revision kept, and romanactl keeps at most 10",
}

// plainFlagError rewrites the Go parser's words in a flag's error (`strconv.ParseBool:
// parsing "maybe": invalid syntax`) into the user's.
func plainFlagError(err error) error {
	msg := err.Error()
	plain := parseBoolRE.ReplaceAllString(msg, "write true or false")
	plain = parseIntRE.ReplaceAllString(plain, "not a whole number")
	if plain == msg {
		return err
	}
	return errors.New(plain)
}

var (
	parseBoolRE = regexp.MustCompile(`strconv\.ParseBool: parsing "[^"]*": invalid syntax`)
	parseIntRE  = regexp.MustCompile(`strconv\.Parse(Int|Uint|Float): parsing "[^"]*": (invalid syntax|value out of range)`)
)

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
