package main

import (
	"bytes"
	"os"
	"strings"
	"testing"
)

// runIn runs romanactl with stdin from f.
func runIn(t *testing.T, f *os.File, args ...string) result {
	t.Helper()
	var out, errOut bytes.Buffer
	cmd := newRootCmd(&out, &errOut)
	cmd.SetArgs(args)
	cmd.SetIn(f)
	err := cmd.Execute()
	r := result{stdout: out.String(), stderr: errOut.String(), err: err}
	if err != nil {
		r.code = exitCode(err)
		r.stderr += "Error: " + err.Error() + "\n"
	}
	return r
}

// TestPurgeDatastoreConfirmation (issue #18 §7): uninstall --purge-datastore without a
// terminal (stdin from /dev/null, a character device but no terminal: cron, ssh without
// -t) asks nothing and says to pass --yes; its error stands on its own line. On a
// terminal, an end of input (Ctrl-D) ends the prompt's line before the error. Both are
// refused before a kubeconfig is read.
func TestPurgeDatastoreConfirmation(t *testing.T) {
	null, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer null.Close()
	r := runIn(t, null, "uninstall", "--purge-datastore", "--kubeconfig", "/nonexistent")
	if r.code != 2 || strings.Contains(r.stderr, "Type yes") || !strings.HasPrefix(r.stderr, "Error: ") ||
		!strings.Contains(r.stderr, "stdin is not a terminal to ask on: give --yes") {
		t.Errorf("stdin /dev/null: exit %d\n%q", r.code, r.stderr)
	}

	// A terminal that ends its input: the prompt, a new line, then the error.
	defer func(f func(*os.File) bool) { isTerminal = f }(isTerminal)
	isTerminal = func(*os.File) bool { return true }
	r = runIn(t, null, "uninstall", "--purge-datastore", "--kubeconfig", "/nonexistent")
	prompt, errLine, ok := strings.Cut(r.stderr, "\n")
	if r.code != 2 || !ok || !strings.HasSuffix(prompt, "Type yes to go on: ") || !strings.HasPrefix(errLine, "Error: --purge-datastore was not confirmed") ||
		!strings.Contains(errLine, "give --yes") {
		t.Errorf("a terminal at its end of input: exit %d\n%q", r.code, r.stderr)
	}
	// An answer other than yes is named.
	no := stdinFile(t, "no\n")
	r = runIn(t, no, "uninstall", "--purge-datastore", "--kubeconfig", "/nonexistent")
	if r.code != 2 || !strings.Contains(r.stderr, `(the answer was "no", not yes): nothing was changed`) {
		t.Errorf("answered no: exit %d\n%q", r.code, r.stderr)
	}
}

func stdinFile(t *testing.T, content string) *os.File {
	t.Helper()
	f, err := os.CreateTemp(t.TempDir(), "stdin")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(content); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Seek(0, 0); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}
