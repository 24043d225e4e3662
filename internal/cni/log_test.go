package cni

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/containernetworking/cni/pkg/skel"
)

// withLog returns conf with log_file set.
func withLog(conf []byte, path string) []byte {
	return bytes.Replace(conf, []byte(`"ipam":`), []byte(`"log_file":"`+path+`","ipam":`), 1)
}

// TestLog: each command run through Funcs is one line in the configured log, naming
// the pod, the container and the outcome (ADD's address, a failure's CNI code); a full
// log moves to .1; a log that cannot be written fails nothing.
func TestLog(t *testing.T) {
	n := newNode(t)
	f := newFakeRomana(t, nil)
	logf := filepath.Join(t.TempDir(), "var", "log", "romana-cni.log")
	p := &Plugin{Hostname: "node-1", Stdout: &bytes.Buffer{}}
	fns := p.Funcs()
	run := func(fn func(*skel.CmdArgs) error, a *skel.CmdArgs) (err error) {
		n.in(t, func() { err = fn(a) })
		return err
	}
	a := cmdArgs(withLog(f.conf("1.0.0"), logf), newNetnsPod(t), "web-0")
	if err := run(fns.Add, a); err != nil {
		t.Fatalf("ADD: %v", err)
	}
	if err := run(fns.Del, a); err != nil {
		t.Fatalf("DEL: %v", err)
	}
	f.agentStatus = 500
	b := cmdArgs(withLog(f.conf("1.0.0"), logf), newNetnsPod(t), "web-1")
	if err := run(fns.Add, b); err == nil {
		t.Fatal("ADD with the agent refusing succeeded")
	}
	got, err := os.ReadFile(logf)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(got), "\n"), "\n")
	id := a.ContainerID[:12]
	want := []*regexp.Regexp{
		regexp.MustCompile(`^\S+Z ADD default/web-0 container=` + id + ` netns=` + regexp.QuoteMeta(a.Netns) + ` ok 10\.112\.\d+\.\d+/32 on veth0-[0-9a-f]{9} \(\d+ ms\)$`),
		regexp.MustCompile(`^\S+Z DEL default/web-0 container=` + id + ` netns=\S+ ok \(\d+ ms\)$`),
		regexp.MustCompile(`^\S+Z ADD default/web-1 container=\S+ netns=\S+ error 102 \(agent refused\): .*agent says no.* \(\d+ ms\)$`),
	}
	if len(lines) != len(want) {
		t.Fatalf("log has %d lines, want %d:\n%s", len(lines), len(want), got)
	}
	for i, re := range want {
		if !re.MatchString(lines[i]) {
			t.Errorf("log line %d %q does not match %s", i+1, lines[i], re)
		}
	}

	// Full: moved to .1 before the next line.
	f.agentStatus = 0
	full := bytes.Repeat([]byte("x"), LogRotateSize)
	if err := os.WriteFile(logf, full, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := run(fns.Del, a); err != nil {
		t.Fatalf("DEL: %v", err)
	}
	if old, _ := os.ReadFile(logf + ".1"); !bytes.Equal(old, full) {
		t.Errorf("%s.1 holds %d bytes, want the full log's %d", logf, len(old), len(full))
	}
	if cur, _ := os.ReadFile(logf); strings.Count(string(cur), "\n") != 1 || !strings.Contains(string(cur), " DEL default/web-0 ") {
		t.Errorf("after the rotation the log holds %q, want DEL's line alone", cur)
	}

	// Unwritable: the command still succeeds.
	c := cmdArgs(withLog(f.conf("1.0.0"), "/proc/romana-cni.log"), newNetnsPod(t), "web-2")
	if err := run(fns.Add, c); err != nil {
		t.Errorf("ADD with an unwritable log: %v", err)
	}
}
