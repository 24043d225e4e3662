package main

import (
	"fmt"
	"time"

	"github.com/spf13/pflag"

	"github.com/romana/romanactl/internal/install"
)

// timeoutValue is --timeout: a duration that is refused at parse time when negative
// (exit 2, like any bad flag), so that no command waits "(timeout -5s)". 0 means no
// time limit: the command waits until it is done or interrupted, as
// `kubectl rollout status --timeout=0` does.
type timeoutValue struct{ d *time.Duration }

// addTimeoutFlag registers --timeout with its default and what the command waits for.
func addTimeoutFlag(fs *pflag.FlagSet, d *time.Duration, def time.Duration, what string) {
	*d = def
	fs.Var(timeoutValue{d}, "timeout", what+"; 0 waits without a time limit (until done, or Ctrl-C)")
}

func (v timeoutValue) String() string {
	if *v.d == install.NoTimeLimit {
		return "0s"
	}
	return v.d.String()
}
func (v timeoutValue) Type() string { return "duration" }

func (v timeoutValue) Set(s string) error {
	d, err := time.ParseDuration(s)
	switch {
	case err != nil:
		return fmt.Errorf("not a duration; write it like 90s, 5m or 1h30m")
	case d < 0:
		return fmt.Errorf("a negative timeout waits for nothing; give a positive duration like 5m, or 0 for no time limit")
	}
	if d == 0 {
		d = install.NoTimeLimit
	}
	*v.d = d
	return nil
}
