package main

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// result is what one romanactl invocation produced.
type result struct {
	stdout, stderr string
	code           int
	err            error
}

// run executes romanactl in process, as main does, and returns its outputs and exit code.
func run(t *testing.T, args ...string) result {
	t.Helper()
	var out, errOut bytes.Buffer
	cmd := newRootCmd(&out, &errOut)
	cmd.SetArgs(args)
	err := cmd.Execute()
	r := result{stdout: out.String(), stderr: errOut.String(), err: err}
	if err != nil {
		r.code = exitCode(err)
		if !isQuiet(err) {
			r.stderr += "Error: " + err.Error() + "\n"
		}
	}
	return r
}

// passwordRE matches the generated datastore password, the one random part of a render.
var passwordRE = regexp.MustCompile(`(?m)^(\s*password: )\S+$`)

// pinPassword replaces the generated password with a fixed marker, so renders compare.
func pinPassword(s string) string { return passwordRE.ReplaceAllString(s, "${1}<generated>") }

// golden compares got with testdata/<name>.golden, or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run `make golden` to create it)", err)
	}
	if string(want) != got {
		t.Errorf("%s differs from the golden file; review and run `make golden`.\n--- want\n+++ got\n%s", path, lineDiff(string(want), got))
	}
}

// lineDiff is a crude diff: the first lines that differ, enough to see what changed.
func lineDiff(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	var out []string
	for i := 0; i < max(len(al), len(bl)) && len(out) < 20; i++ {
		var x, y string
		if i < len(al) {
			x = al[i]
		}
		if i < len(bl) {
			y = bl[i]
		}
		if x != y {
			out = append(out, "line "+strconv.Itoa(i+1)+":\n- "+x+"\n+ "+y)
		}
	}
	return strings.Join(out, "\n")
}
