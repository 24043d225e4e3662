package values

import (
	"errors"
	"fmt"
	"strings"
)

// Problem is one invalid value. Key is the chart path (what --set takes), Flag the
// dedicated romanactl flag for it, if any.
type Problem struct {
	Key    string
	Flag   string
	Value  string
	Reason string
	Fix    string
	// Suggest is the Fix as dedicated flags (name -> value), when it names values:
	// applying it must clear this problem (a property test holds every suggestion to
	// that). "" as a value means "drop the flag" (the default).
	Suggest map[string]string `json:"-"`
}

// String renders a problem as `key (--flag) "value": reason; fix`.
func (p Problem) String() string {
	var b strings.Builder
	b.WriteString(p.Key)
	if p.Flag != "" {
		fmt.Fprintf(&b, " (--%s)", p.Flag)
	}
	if p.Value != "" {
		fmt.Fprintf(&b, " %q", p.Value)
	}
	b.WriteString(": ")
	b.WriteString(p.Reason)
	if p.Fix != "" {
		b.WriteString("; ")
		b.WriteString(p.Fix)
	}
	return b.String()
}

// ValidationError lists every problem found in one pass, so a user fixes them all at
// once instead of one per run.
type ValidationError struct {
	Problems []Problem
}

// MaxShown bounds the problems a ValidationError prints: a values file with thousands
// of unknown keys must not print megabytes. The count is always the whole.
const MaxShown = 20

func (e *ValidationError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d invalid value(s):", len(e.Problems))
	for i, p := range e.Problems {
		if i == MaxShown {
			fmt.Fprintf(&b, "\n  … and %d more", len(e.Problems)-MaxShown)
			break
		}
		b.WriteString("\n  - ")
		b.WriteString(p.String())
	}
	return b.String()
}

// InputError marks an error caused by what the user gave (a flag, a file, a value),
// as opposed to an operational failure. romanactl exits 2 for it.
type InputError struct {
	Err error
}

func (e *InputError) Error() string { return e.Err.Error() }
func (e *InputError) Unwrap() error { return e.Err }

// Inputf returns an InputError with a formatted message.
func Inputf(format string, args ...any) error {
	return &InputError{Err: fmt.Errorf(format, args...)}
}

// IsInputError reports whether err was caused by invalid input.
func IsInputError(err error) bool {
	var ie *InputError
	var ve *ValidationError
	return errors.As(err, &ie) || errors.As(err, &ve)
}
