package main

import (
	"os"
	"runtime/debug"
	"testing"
)

// TestGCTargetPerCommand: offline commands keep the start-up GC target (package
// startup); a command that reaches a cluster or copies images puts Go's default back,
// since its heap grows with the cluster.
func TestGCTargetPerCommand(t *testing.T) {
	if os.Getenv("GOGC") != "" {
		t.Log("GOGC is set: romanactl leaves it alone, and so does this test's check")
	}
	restore := debug.SetGCPercent(400)
	t.Cleanup(func() { debug.SetGCPercent(restore) })
	for _, tt := range []struct {
		args []string
		want int
	}{
		{[]string{"template"}, 400},
		{[]string{"values"}, 400},
		{[]string{"status", "--kubeconfig", "/nonexistent/kubeconfig"}, 100},
		{[]string{"images", "mirror", "--to", "Bad Host/x"}, 100},
	} {
		debug.SetGCPercent(400)
		run(t, tt.args...)
		want := tt.want
		if os.Getenv("GOGC") != "" {
			want = 400 // untouched
		}
		if got := debug.SetGCPercent(400); got != want {
			t.Errorf("%v: GC target %d, want %d", tt.args, got, want)
		}
	}
}
