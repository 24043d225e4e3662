// Command compatmd writes docs/compat.md for `make test-matrix` from the `go test
// -json` output of the real-cluster suite on each Kubernetes minor:
//
//	compatmd -o docs/compat.md -commit C 1.25=v1.25.4:run-1.25.json 1.32=...
//
// A row per test, a column per minor: ✓ passed, ✗ failed, – skipped with the reason
// (only an API the minor does not serve skips a test). Lines a test logs with the
// prefix "compat: " are collected under the table, per minor: what the cluster
// offered and which path the code took there.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"
)

type event struct {
	Action  string
	Package string
	Test    string
	Output  string
	Elapsed float64
}

type result struct {
	status  string // pass, fail, skip
	elapsed float64
	reason  string
}

type column struct {
	minor, version string
	results        map[string]*result // by "pkg/Test"
	notes          []string
	buildFailed    bool
}

var skipRE = regexp.MustCompile(`^\s*\S+_test\.go:\d+: (.*)$`)

func main() {
	out := flag.String("o", "docs/compat.md", "file to write")
	commit := flag.String("commit", "", "commit the suite ran at")
	goVersion := flag.String("go", "", "Go version that built the binaries")
	flag.Parse()
	var cols []*column
	for _, arg := range flag.Args() {
		minor, rest, ok1 := strings.Cut(arg, "=")
		version, file, ok2 := strings.Cut(rest, ":")
		if !ok1 || !ok2 {
			fatal("argument %q: want MINOR=VERSION:FILE", arg)
		}
		c, err := read(file)
		if err != nil {
			fatal("%v", err)
		}
		c.minor, c.version = minor, version
		cols = append(cols, c)
	}
	var tests []string
	for _, c := range cols {
		for k := range c.results {
			if !slices.Contains(tests, k) {
				tests = append(tests, k)
			}
		}
	}
	slices.Sort(tests)

	var b strings.Builder
	fmt.Fprintf(&b, "# Kubernetes compatibility\n\n")
	fmt.Fprintf(&b, "Written by `make test-matrix` on %s at commit `%s` (%s): the real-cluster suite (every `TestCluster*` test: install per environment, upgrade, no-op, rollback, clusterIP refusals, pre-flight, wait, faults, migrate, uninstall) on a local control plane of each minor, built from the Go module proxy (`make controlplane K8S=<minor>`). etcd, kubectl and kwok are the same for every minor.\n\n",
		time.Now().UTC().Format("2006-01-02"), *commit, *goVersion)
	b.WriteString("✓ passed · ✗ failed · – skipped (the reason follows; only an API the minor does not serve skips a test, and never on the newest minor)\n\n")
	b.WriteString("| test |")
	for _, c := range cols {
		fmt.Fprintf(&b, " %s (%s) |", c.minor, c.version)
	}
	b.WriteString("\n|---|")
	for range cols {
		b.WriteString("---|")
	}
	b.WriteString("\n")
	totals := make([][3]int, len(cols))
	for _, t := range tests {
		_, name, _ := strings.Cut(t, " ")
		fmt.Fprintf(&b, "| `%s` |", name)
		for i, c := range cols {
			r := c.results[t]
			switch {
			case r == nil:
				b.WriteString(" (not run) |")
			case r.status == "pass":
				fmt.Fprintf(&b, " ✓ %.1fs |", r.elapsed)
				totals[i][0]++
			case r.status == "fail":
				b.WriteString(" ✗ |")
				totals[i][1]++
			default:
				fmt.Fprintf(&b, " – %s |", strings.ReplaceAll(r.reason, "|", "\\|"))
				totals[i][2]++
			}
		}
		b.WriteString("\n")
	}
	b.WriteString("| **total** |")
	for i := range cols {
		fmt.Fprintf(&b, " %d ✓ %d ✗ %d – |", totals[i][0], totals[i][1], totals[i][2])
	}
	b.WriteString("\n")
	b.WriteString("\n## What each cluster offered\n\nLines the tests log with the prefix `compat:` — which source of the service range and of a clusterIP's holder the pre-flight used there.\n")
	for _, c := range cols {
		fmt.Fprintf(&b, "\n**%s (%s)**\n", c.minor, c.version)
		if len(c.notes) == 0 {
			b.WriteString("- (none)\n")
		}
		for _, n := range c.notes {
			fmt.Fprintf(&b, "- %s\n", n)
		}
	}
	// The hand-written section on the real programs (RealMarker onwards) is kept.
	if old, err := os.ReadFile(*out); err == nil {
		if i := strings.Index(string(old), realMarker); i >= 0 {
			b.WriteString("\n" + string(old[i:]))
		}
	}
	if err := os.WriteFile(*out, []byte(b.String()), 0o644); err != nil {
		fatal("%v", err)
	}
	failed := false
	for i, c := range cols {
		fmt.Printf("%s (%s): %d passed, %d failed, %d skipped\n", c.minor, c.version, totals[i][0], totals[i][1], totals[i][2])
		failed = failed || totals[i][1] > 0 || len(c.results) == 0
	}
	if failed {
		os.Exit(1)
	}
}

// realMarker starts the section of docs/compat.md that people write (what the real
// v0.9.3.5 programs do on the test cluster), which a regeneration keeps.
const realMarker = "## What the real v0.9.3.5 programs do"

func read(file string) (*column, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	c := &column{results: map[string]*result{}}
	lastOutput := map[string]string{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		var e event
		if json.Unmarshal(sc.Bytes(), &e) != nil || e.Test == "" || strings.Contains(e.Test, "/") {
			continue
		}
		key := e.Package + " " + e.Test
		switch e.Action {
		case "output":
			line := strings.TrimRight(e.Output, "\n")
			if i := strings.Index(line, "compat: "); i >= 0 {
				c.notes = append(c.notes, fmt.Sprintf("`%s`: %s", e.Test, line[i+len("compat: "):]))
			}
			if m := skipRE.FindStringSubmatch(line); m != nil {
				lastOutput[key] = m[1]
			}
		case "pass", "fail", "skip":
			c.results[key] = &result{status: e.Action, elapsed: e.Elapsed, reason: lastOutput[key]}
		}
	}
	return c, sc.Err()
}

func fatal(f string, a ...any) {
	fmt.Fprintf(os.Stderr, "compatmd: "+f+"\n", a...)
	os.Exit(2)
}
