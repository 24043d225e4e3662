// Package upstream finds Romana's own files for the tests that need them: the 2016
// install manifests and the images' entrypoints (seed/), and Romana's v0.9.3.5 sources
// with their build script (romana-v0.9.3.5/). They are third-party files that live
// beside the repository, not in it, so a clone alone does not have them.
//
// One setting names where they are: ROMANACTL_SHARED, a directory holding seed/ and
// romana-v0.9.3.5/. Its default is ../shared beside the module root, where our CI
// keeps it. When the directory is absent, a test that needs it skips and says why and
// how to point at it; with ROMANACTL_REQUIRE_SHARED=1 (set by .ci/run) the absence is
// a failure instead, so CI never passes by skipping.
package upstream

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

const (
	// EnvDir names the directory holding seed/ and romana-v0.9.3.5/.
	EnvDir = "ROMANACTL_SHARED"
	// EnvRequire, when "1", turns a missing directory into a test failure.
	EnvRequire = "ROMANACTL_REQUIRE_SHARED"
)

// Dir returns the shared directory, or an error naming where it was looked for.
func Dir() (string, error) {
	if d := os.Getenv(EnvDir); d != "" {
		if _, err := os.Stat(filepath.Join(d, "seed")); err != nil {
			return "", fmt.Errorf("%s=%s has no seed/ directory: %w", EnvDir, d, err)
		}
		return filepath.Abs(d)
	}
	root, err := moduleRoot()
	if err != nil {
		return "", err
	}
	d := filepath.Join(filepath.Dir(root), "shared")
	if _, err := os.Stat(filepath.Join(d, "seed")); err != nil {
		return "", fmt.Errorf("Romana's upstream files are not at %s (the default, beside the repository) and %s is not set", d, EnvDir)
	}
	return d, nil
}

// Path returns a file or directory under the shared directory, skipping the test
// (or failing it when EnvRequire is set) when the shared directory or the path is
// missing.
func Path(t testing.TB, elem ...string) string {
	t.Helper()
	d, err := Dir()
	if err == nil {
		p := filepath.Join(append([]string{d}, elem...)...)
		if _, err = os.Stat(p); err == nil {
			return p
		}
	}
	msg := fmt.Sprintf("needs Romana's upstream files: %v; set %s=<dir holding seed/ and romana-v0.9.3.5/> to run it", err, EnvDir)
	if os.Getenv(EnvRequire) == "1" {
		t.Fatalf("%s (%s=1 makes this a failure)", msg, EnvRequire)
	}
	t.Skip(msg)
	return ""
}

// moduleRoot walks up from the working directory (a test runs in its package's
// directory) to the directory holding go.mod.
func moduleRoot() (string, error) {
	d, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d, nil
		}
		parent := filepath.Dir(d)
		if parent == d {
			return "", errors.New("no go.mod above the working directory")
		}
		d = parent
	}
}

// EnvRomanaSrc names Romana's v0.9.3.5 source tree (romana/core at v0.9.3.5 as core/,
// romana/romana at v0.9.3.5 as romana/, and build.sh); its default is
// romana-v0.9.3.5/ in the shared directory.
const EnvRomanaSrc = "ROMANA_SRC"

// RomanaSource returns Romana's v0.9.3.5 source tree for a program (bin/cluster's real
// nodes): $ROMANA_SRC, else romana-v0.9.3.5/ in the shared directory. The error names
// where it looked and what to set.
func RomanaSource() (string, error) {
	d := os.Getenv(EnvRomanaSrc)
	how := EnvRomanaSrc + "=" + d
	if d == "" {
		shared, err := Dir()
		if err != nil {
			return "", fmt.Errorf("Romana's v0.9.3.5 sources: %w; set %s to Romana's v0.9.3.5 tree (README: Romana's programs)", err, EnvRomanaSrc)
		}
		d, how = filepath.Join(shared, "romana-v0.9.3.5"), "the default "+filepath.Join(shared, "romana-v0.9.3.5")
	}
	if _, err := os.Stat(filepath.Join(d, "romana", "containerize", "targets")); err != nil {
		return "", fmt.Errorf("%s is not Romana's v0.9.3.5 tree (no romana/containerize/targets); set %s to it (README: Romana's programs)", how, EnvRomanaSrc)
	}
	return filepath.Abs(d)
}

// RomanaSrc returns Romana's source tree, skipping the test (or failing it when
// EnvRequire is set) when there is none.
func RomanaSrc(t testing.TB) string {
	t.Helper()
	if d := os.Getenv(EnvRomanaSrc); d != "" {
		if _, err := os.Stat(filepath.Join(d, "romana", "containerize", "targets")); err != nil {
			t.Fatalf("%s=%s is not Romana's v0.9.3.5 tree (no romana/containerize/targets): %v", EnvRomanaSrc, d, err)
		}
		abs, _ := filepath.Abs(d)
		return abs
	}
	return Path(t, "romana-v0.9.3.5")
}

// RomanaBin returns the directory `make romana-bin` builds Romana's programs into,
// skipping the test (or failing it when EnvRequire is set) when they are not built.
func RomanaBin(t testing.TB) string {
	t.Helper()
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	d := filepath.Join(root, "bin", "romana-v0.9.3.5")
	if _, err := os.Stat(filepath.Join(d, ".stamp")); err != nil {
		msg := fmt.Sprintf("needs Romana's programs in %s: run `make romana-bin` (it builds them from %s)", d, EnvRomanaSrc)
		if os.Getenv(EnvRequire) == "1" {
			t.Fatalf("%s (%s=1 makes this a failure)", msg, EnvRequire)
		}
		t.Skip(msg)
	}
	return d
}
