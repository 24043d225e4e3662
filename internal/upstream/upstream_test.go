package upstream

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// recorder stands in for *testing.T so that Path's skip and failure can be observed.
type recorder struct {
	testing.TB
	skipped, failed string
}

func (r *recorder) Helper()          {}
func (r *recorder) Skip(args ...any) { r.skipped = fmt.Sprint(args...); panic(r) }
func (r *recorder) Fatalf(format string, args ...any) {
	r.failed = fmt.Sprintf(format, args...)
	panic(r)
}

func call(r *recorder, elem ...string) (p string) {
	defer func() {
		if v := recover(); v != nil && v != r {
			panic(v)
		}
	}()
	return Path(r, elem...)
}

func TestPath(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "seed", "original-specs"), 0o755); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(t.TempDir(), "nowhere")

	t.Run("found through the setting", func(t *testing.T) {
		t.Setenv(EnvDir, dir)
		t.Setenv(EnvRequire, "")
		r := &recorder{}
		if got := call(r, "seed", "original-specs"); got != filepath.Join(dir, "seed", "original-specs") || r.skipped != "" || r.failed != "" {
			t.Fatalf("got %q, skipped %q, failed %q", got, r.skipped, r.failed)
		}
	})
	t.Run("absent skips with the reason and the setting", func(t *testing.T) {
		t.Setenv(EnvDir, missing)
		t.Setenv(EnvRequire, "")
		r := &recorder{}
		call(r, "seed")
		if r.failed != "" || !strings.Contains(r.skipped, missing) || !strings.Contains(r.skipped, EnvDir+"=") {
			t.Fatalf("skipped %q, failed %q", r.skipped, r.failed)
		}
	})
	t.Run("a missing path under it skips too", func(t *testing.T) {
		t.Setenv(EnvDir, dir)
		t.Setenv(EnvRequire, "")
		r := &recorder{}
		call(r, "romana-v0.9.3.5", "build.sh")
		if !strings.Contains(r.skipped, "build.sh") {
			t.Fatalf("skipped %q", r.skipped)
		}
	})
	t.Run("absent fails when required", func(t *testing.T) {
		t.Setenv(EnvDir, missing)
		t.Setenv(EnvRequire, "1")
		r := &recorder{}
		call(r, "seed")
		if r.skipped != "" || !strings.Contains(r.failed, EnvRequire+"=1") {
			t.Fatalf("skipped %q, failed %q", r.skipped, r.failed)
		}
	})
}
