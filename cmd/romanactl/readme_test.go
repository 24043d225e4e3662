package main

import (
	"os"
	"strings"
	"testing"
)

// readmeSection returns the README's text between <!-- NAME:begin --> and
// <!-- NAME:end -->: a section generated from one list in the code.
func readmeSection(t *testing.T, name string) string {
	t.Helper()
	data, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	begin, end := "<!-- "+name+":begin -->\n", "<!-- "+name+":end -->"
	s := string(data)
	i, j := strings.Index(s, begin), strings.Index(s, end)
	if i < 0 || j < i {
		t.Fatalf("README.md has no %s:begin/%s:end markers", name, name)
	}
	return s[i+len(begin) : j]
}

// TestREADMECompatIsTheTable: the README's "What works on which cluster" table is what
// `romanactl version --compat -o markdown` prints from chart/compat.yaml, so the two cannot drift.
func TestREADMECompatIsTheTable(t *testing.T) {
	got := readmeSection(t, "compat")
	want := mustOK(t, run(t, "version", "--compat", "-o", "markdown")).stdout
	if got != want {
		t.Fatalf("README's compat table differs from `romanactl version --compat`; paste this between the markers:\n%s", want)
	}
	for _, line := range []string{"v0.9.3", "v1.x", "v2.x", "extensions/v1beta1", "any other tag"} {
		if !strings.Contains(got, line) {
			t.Errorf("the table lacks %q", line)
		}
	}
}

// TestREADMEChecksAreTheTable: the README's table of pre-flight checks is generated from
// install.Checks, the list the pre-flight runs and --skip-check reads.
func TestREADMEChecksAreTheTable(t *testing.T) {
	if got, want := readmeSection(t, "checks"), checksMarkdown(); got != want {
		t.Fatalf("README's pre-flight table differs from install.Checks; paste this between the markers:\n%s", want)
	}
}

// TestREADMEDocumentsEveryMakeTarget: every target `make help` lists (a `## ` help
// string in the Makefile) has its row in the README's Development table.
func TestREADMEDocumentsEveryMakeTarget(t *testing.T) {
	mk, err := os.ReadFile("../../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, line := range strings.Split(string(mk), "\n") {
		target, rest, ok := strings.Cut(line, ":")
		if !ok || !strings.Contains(rest, "## ") || target == "" || strings.ContainsAny(target, " \t$%/.") {
			continue
		}
		n++
		if !strings.Contains(string(readme), "| `make "+target+"`") && !strings.Contains(string(readme), "| `make "+target+" ") {
			t.Errorf("make %s is not in the README's Development table", target)
		}
	}
	if n < 10 {
		t.Fatalf("found %d documented targets in the Makefile: the parser is broken", n)
	}
}
