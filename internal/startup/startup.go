// Package startup tunes the Go runtime for a short-lived command line program before
// the rest of the program's packages are initialized. main imports it first.
package startup

import (
	"os"
	"runtime/debug"
)

// startGCPercent is the garbage collector's target while romanactl starts and while an
// offline command runs. Package init allocates ~6.5 MiB, nearly all of it tables that
// live as long as the process (API schemes, JSON schema drafts), so collecting at Go's
// default of 100 (a cycle every 4 MiB at first) marks the same live heap three times
// and frees little: at 400 a template run does not collect at all, for under 1 MiB more
// peak memory.
const startGCPercent = 400

func init() {
	// An explicit GOGC is the user's choice.
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(startGCPercent)
	}
}

// ForLongRun puts Go's default collector target back, for a command whose heap grows
// with the cluster (a thousand nodes' pods, a wait's watch events), where a 5× heap
// target would cost memory the speed-up does not repay. An explicit GOGC is kept.
func ForLongRun() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(100)
	}
}
