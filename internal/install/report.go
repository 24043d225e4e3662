package install

import (
	"fmt"
	"io"
	"regexp"
)

// WriteReport writes the pre-flight report, one check a line with its fix.
func WriteReport(w io.Writer, r *Report) {
	fmt.Fprintf(w, "Pre-flight (environment %s):\n", r.Environment)
	for _, c := range r.Checks {
		fmt.Fprintf(w, "  %s %-24s %s\n", c.Severity.Symbol(), c.Name, c.Message)
		if c.Fix != "" && (c.Severity == Fail || c.Severity == Warn) {
			fmt.Fprintf(w, "    fix: %s\n", c.Fix)
		}
	}
}

// DebugDetail writes each check's Detail to --debug.
func DebugDetail(d *Debug, r *Report) {
	for _, c := range r.Checks {
		for _, l := range c.Detail {
			d.Printf("romanactl: %s: %s", c.Name, l)
		}
	}
}

var secretDataRE = regexp.MustCompile(`(?m)^(\s+password: )\S+$`)

// MaskSecrets hides the datastore password in a manifest before it is shown: it must
// never reach output or logs.
func MaskSecrets(manifest string) string {
	return secretDataRE.ReplaceAllString(manifest, "${1}<hidden>")
}
