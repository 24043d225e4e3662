package startup

import (
	"os"
	"runtime/debug"
	"strconv"
	"testing"
)

// TestGCTarget: the start-up target is set by init unless GOGC says otherwise, and
// ForLongRun puts Go's default back (or keeps GOGC).
func TestGCTarget(t *testing.T) {
	want, long := startGCPercent, 100
	if env := os.Getenv("GOGC"); env != "" {
		n, err := strconv.Atoi(env)
		if err != nil {
			n = -1 // GOGC=off
		}
		want, long = n, n
	}
	got := debug.SetGCPercent(want)
	if got != want {
		t.Errorf("after init the GC target is %d, want %d", got, want)
	}
	ForLongRun()
	if got := debug.SetGCPercent(want); got != long {
		t.Errorf("after ForLongRun the GC target is %d, want %d", got, long)
	}
}
