package main

// The reference pages, docs/reference/ (Markdown, one per command) and docs/man/
// (man pages), are written by cobra's doc generator from the command tree that
// newRootCmd builds, so they cannot say anything the binary does not do.
//
// The generator lives here, in a test of package main, rather than in a hack/docs
// program: a program cannot import package main, and the tree is built from its
// unexported constructors (newInstallCmd, …). `make docs` runs this test with -update;
// without -update it fails when a committed page differs from what the tree generates.
// cobra/doc and go-md2man stay out of the romanactl binary (and its SBOM) this way.

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
	"github.com/spf13/pflag"
)

// docDirs are the generated directories, relative to the repository root.
var docDirs = []string{"docs/reference", "docs/man"}

// docsTree is the command tree as the reference describes it: the real one, with the
// one default that depends on the machine (cli-runtime's --cache-dir, under $HOME)
// written as kubectl's reference writes it.
func docsTree() *cobra.Command {
	root := newRootCmd(&bytes.Buffer{}, &bytes.Buffer{})
	root.DisableAutoGenTag = true // no date: the pages are the same on every run
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		c.Flags().VisitAll(func(f *pflag.Flag) {
			if f.Name == "cache-dir" {
				f.DefValue = "$HOME/.kube/cache"
			}
		})
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
	return root
}

// generateDocs writes the reference pages under dir (dir/docs/reference, dir/docs/man).
func generateDocs(t *testing.T, dir string) {
	t.Helper()
	md, man := filepath.Join(dir, docDirs[0]), filepath.Join(dir, docDirs[1])
	for _, d := range []string{md, man} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := doc.GenMarkdownTree(docsTree(), md); err != nil {
		t.Fatal(err)
	}
	// The .TH line's date is left empty (cobra would put this month there), and its
	// source is the program's name, not its version: a page changes only when the
	// command tree does.
	var never time.Time
	header := &doc.GenManHeader{Section: "1", Date: &never, Source: "romanactl", Manual: "romanactl manual"}
	if err := doc.GenManTree(docsTree(), header, man); err != nil {
		t.Fatal(err)
	}
	pages, err := filepath.Glob(filepath.Join(man, "*.1"))
	if err != nil {
		t.Fatal(err)
	}
	date := `" "` + never.Format("Jan 2006") + `" "`
	for _, p := range pages {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(string(b), "\n")
		found := false
		for i, l := range lines {
			if strings.HasPrefix(l, ".TH ") && strings.Contains(l, date) {
				lines[i] = strings.Replace(l, date, `" "" "`, 1)
				found = true
				break
			}
		}
		if !found {
			t.Fatalf("%s: no .TH line with the date %s", p, date)
		}
		if err := os.WriteFile(p, []byte(strings.Join(lines, "\n")), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// readTree returns every file under root/dir, by its path relative to root.
func readTree(t *testing.T, root string) map[string]string {
	t.Helper()
	files := map[string]string{}
	for _, d := range docDirs {
		entries, err := os.ReadDir(filepath.Join(root, d))
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		for _, e := range entries {
			p := filepath.Join(d, e.Name())
			b, err := os.ReadFile(filepath.Join(root, p))
			if err != nil {
				t.Fatal(err)
			}
			files[p] = string(b)
		}
	}
	return files
}

// TestReferenceDocs fails when docs/reference or docs/man differ from what the command
// tree generates; `make docs` (this test with -update) rewrites them.
func TestReferenceDocs(t *testing.T) {
	tmp := t.TempDir()
	generateDocs(t, tmp)
	want := readTree(t, tmp)
	if len(want) == 0 {
		t.Fatal("the generator wrote no page")
	}
	if *update {
		for _, d := range docDirs {
			if err := os.RemoveAll(filepath.Join("../..", d)); err != nil {
				t.Fatal(err)
			}
		}
		generateDocs(t, "../..")
		return
	}
	// The generator itself must not depend on the moment it runs.
	tmp2 := t.TempDir()
	generateDocs(t, tmp2)
	for p, w := range readTree(t, tmp2) {
		if want[p] != w {
			t.Fatalf("two runs of the generator differ in %s", p)
		}
	}
	got := readTree(t, "../..")
	var problems []string
	for p, w := range want {
		g, ok := got[p]
		switch {
		case !ok:
			problems = append(problems, p+": missing")
		case g != w:
			problems = append(problems, p+": differs from the command tree"+firstDiff(g, w))
		}
	}
	for p := range got {
		if _, ok := want[p]; !ok {
			problems = append(problems, p+": no such command any more")
		}
	}
	if len(problems) > 0 {
		sort.Strings(problems)
		t.Fatalf("the reference pages are out of date; run `make docs` and commit docs/reference and docs/man:\n  %s",
			strings.Join(problems, "\n  "))
	}
}

// firstDiff names the first line where the committed page (got) and the generated
// one (want) part.
func firstDiff(got, want string) string {
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	for i := 0; i < len(g) || i < len(w); i++ {
		var gl, wl string
		if i < len(g) {
			gl = g[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if gl != wl {
			return fmt.Sprintf("\n      line %d: committed %q\n      generated %q", i+1, gl, wl)
		}
	}
	return ""
}
