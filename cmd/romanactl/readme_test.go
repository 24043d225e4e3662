package main

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
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

// readFile returns a file of the repository as a string.
func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("../..", path))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// referencePage is where `make docs` writes c's Markdown page.
func referencePage(c *cobra.Command) string {
	return "docs/reference/" + strings.ReplaceAll(c.CommandPath(), " ", "_") + ".md"
}

// availableCommands is every command a user can run, as the reference lists them.
func availableCommands(root *cobra.Command) []*cobra.Command {
	out := []*cobra.Command{root}
	for _, c := range root.Commands() {
		if c.IsAvailableCommand() && !c.IsAdditionalHelpTopicCommand() {
			out = append(out, availableCommands(c)...)
		}
	}
	return out
}

// TestREADMEDocumentsEveryCommandAndFlag: every command a user can run is named in the
// README with a link to its reference page, and every flag is documented somewhere: in
// the README, or on its command's committed reference page with a help text of its own
// (TestReferenceDocs keeps those pages equal to the tree). A flag added with an empty
// help text and no README line fails here.
func TestREADMEDocumentsEveryCommandAndFlag(t *testing.T) {
	readme := readFile(t, "README.md")
	root := newRootCmd(&bytes.Buffer{}, &bytes.Buffer{})
	if !strings.Contains(readme, "`romanactl help") {
		t.Error("README.md does not name `romanactl help`")
	}
	for _, c := range availableCommands(root) {
		page := referencePage(c)
		if c != root {
			if !strings.Contains(readme, "`"+c.CommandPath()) {
				t.Errorf("README.md does not name `%s`", c.CommandPath())
			}
			if !strings.Contains(readme, "("+page+")") {
				t.Errorf("README.md does not link %s, the reference page of `%s`", page, c.CommandPath())
			}
		}
		text, err := os.ReadFile(filepath.Join("../..", page))
		if err != nil {
			t.Errorf("`%s` has no reference page (run `make docs`): %v", c.CommandPath(), err)
			continue
		}
		check := func(f *pflag.Flag) {
			if f.Hidden || f.Name == "help" {
				return
			}
			if strings.Contains(readme, "`--"+f.Name) {
				return
			}
			_, usage := pflag.UnquoteUsage(f)
			if strings.TrimSpace(usage) == "" || !strings.Contains(string(text), "--"+f.Name+" ") {
				t.Errorf("`%s --%s` is documented nowhere: the README does not name it and its reference page %s has no help text for it",
					c.CommandPath(), f.Name, page)
			}
		}
		c.LocalFlags().VisitAll(check)
		c.InheritedFlags().VisitAll(check)
	}
}

// TestREADMENamesEveryVariableAndTarget: every environment variable romanactl, its tests
// and its scripts read, every variable the Makefile lets a user set, and every make
// target is named in the README.
func TestREADMENamesEveryVariableAndTarget(t *testing.T) {
	readme := readFile(t, "README.md")
	vars := map[string]string{}
	// Go: os.Getenv/LookupEnv of a literal, and every ROMANACTL_* name.
	getenv := regexp.MustCompile(`(?:Getenv|LookupEnv)\("([A-Z][A-Z0-9_]*)"\)|"(ROMANACTL_[A-Z0-9_]+)"`)
	err := filepath.WalkDir("../..", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".git" || d.Name() == "bin" || d.Name() == ".cluster" || d.Name() == "dist") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range getenv.FindAllStringSubmatch(string(b), -1) {
			vars[m[1]+m[2]] = path
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// Scripts: ${NAME:-default}.
	scripts, _ := filepath.Glob("../../hack/*.sh")
	shellVar := regexp.MustCompile(`\$\{([A-Z][A-Z0-9_]*):-`)
	for _, p := range scripts {
		for _, m := range shellVar.FindAllStringSubmatch(readFile(t, strings.TrimPrefix(p, "../../")), -1) {
			vars[m[1]] = p
		}
	}
	// The Makefile: NAME ?= default, and $(NAME) of a variable it does not define.
	mk := readFile(t, "Makefile")
	defined := map[string]bool{"MAKEFILE_LIST": true, "CURDIR": true}
	for _, m := range regexp.MustCompile(`(?m)^([A-Z][A-Z0-9_]*)\s*(\?|:)?=`).FindAllStringSubmatch(mk, -1) {
		if m[2] == "?" {
			vars[m[1]] = "Makefile"
		} else {
			defined[m[1]] = true
		}
	}
	for _, m := range regexp.MustCompile(`\$\(([A-Z][A-Z0-9_]*)\)`).FindAllStringSubmatch(mk, -1) {
		if !defined[m[1]] {
			vars[m[1]] = "Makefile"
		}
	}
	// What the operating system sets, not a setting of romanactl's.
	for _, v := range []string{"HOME", "TERM", "PATH", "PWD"} {
		delete(vars, v)
	}
	if len(vars) < 10 {
		t.Fatalf("found only %d variables: the search is broken", len(vars))
	}
	for v, where := range vars {
		if !strings.Contains(readme, "`"+v+"`") && !strings.Contains(readme, "`"+v+"=") && !strings.Contains(readme, " "+v+"=") {
			t.Errorf("README.md does not name the variable %s (read in %s)", v, strings.TrimPrefix(where, "../../"))
		}
	}
	targets := regexp.MustCompile(`(?m)^([a-z][a-z0-9-]*):`).FindAllStringSubmatch(mk, -1)
	if len(targets) < 10 {
		t.Fatalf("found only %d make targets: the search is broken", len(targets))
	}
	for _, m := range targets {
		if !strings.Contains(readme, "`make "+m[1]) {
			t.Errorf("README.md does not name `make %s`", m[1])
		}
	}
}

// TestREADMEExitCodes: the README's exit code table has a row for each code romanactl
// returns, and no other.
func TestREADMEExitCodes(t *testing.T) {
	readme := readFile(t, "README.md")
	i := strings.Index(readme, "## Exit codes\n")
	if i < 0 {
		t.Fatal("README.md has no Exit codes section")
	}
	sec := readme[i+len("## Exit codes\n"):]
	if j := strings.Index(sec, "\n## "); j >= 0 {
		sec = sec[:j]
	}
	var got []string
	for _, m := range regexp.MustCompile(`(?m)^\| (\d+) \|`).FindAllStringSubmatch(sec, -1) {
		got = append(got, m[1])
	}
	want := []string{strconv.Itoa(exitOK), strconv.Itoa(exitOperational), strconv.Itoa(exitInput)}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("README.md's exit code table has rows %v, romanactl returns %v", got, want)
	}
}
