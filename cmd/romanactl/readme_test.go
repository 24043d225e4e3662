package main

import (
	"os"
	"strings"
	"testing"
)

// TestREADMECompatIsTheTable: the README's "What works on which cluster" table is what
// `romanactl version --compat` prints from chart/compat.yaml, so the two cannot drift.
func TestREADMECompatIsTheTable(t *testing.T) {
	data, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	const begin, end = "<!-- compat:begin -->\n", "<!-- compat:end -->"
	s := string(data)
	i, j := strings.Index(s, begin), strings.Index(s, end)
	if i < 0 || j < i {
		t.Fatal("README.md has no compat:begin/compat:end markers")
	}
	got := s[i+len(begin) : j]
	want := mustOK(t, run(t, "version", "--compat")).stdout
	if got != want {
		t.Fatalf("README's compat table differs from `romanactl version --compat`; paste this between the markers:\n%s", want)
	}
	for _, line := range []string{"v0.9.3", "v1.x", "v2.x", "extensions/v1beta1", "any other tag"} {
		if !strings.Contains(got, line) {
			t.Errorf("the table lacks %q", line)
		}
	}
}
