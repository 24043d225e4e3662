package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/romana/romanactl/internal/cni"
)

// TestInstall runs install as the init container does: the running executable copied
// to <bin>/romana (mode 0755) and 10-romana.conf written (0644), no temporary file
// left, one line per file; again over existing files.
func TestInstall(t *testing.T) {
	bin, conf := t.TempDir(), t.TempDir()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	want, _ := os.ReadFile(self)
	for i := 0; i < 2; i++ {
		var out, errOut bytes.Buffer
		code := run([]string{"install", "--cni-bin-dir=" + bin, "--cni-conf-dir=" + conf, "--romana-root=http://10.96.0.99:9600", "--agent-url=http://127.0.0.1:9604"}, &out, &errOut)
		if code != 0 {
			t.Fatalf("install: exit %d: %s", code, errOut.String())
		}
		wantOut := "installed " + filepath.Join(bin, "romana") + "\ninstalled " + filepath.Join(conf, "10-romana.conf") + "\n"
		if out.String() != wantOut {
			t.Errorf("install printed %q, want %q", out.String(), wantOut)
		}
	}
	got, err := os.ReadFile(filepath.Join(bin, "romana"))
	if err != nil || !bytes.Equal(got, want) {
		t.Errorf("%s/romana is not this executable (%v)", bin, err)
	}
	for _, f := range []struct {
		path string
		mode os.FileMode
	}{{filepath.Join(bin, "romana"), 0o755}, {filepath.Join(conf, "10-romana.conf"), 0o644}} {
		st, err := os.Stat(f.path)
		if err != nil || st.Mode().Perm() != f.mode {
			t.Errorf("%s: %v, mode %v, want %v", f.path, err, st.Mode().Perm(), f.mode)
		}
	}
	for _, d := range []string{bin, conf} {
		es, _ := os.ReadDir(d)
		if len(es) != 1 {
			t.Errorf("%s holds %d files, want 1 (a temporary file left?)", d, len(es))
		}
	}
	c, _ := os.ReadFile(filepath.Join(conf, "10-romana.conf"))
	nc, err := cni.ParseConf(c)
	if err != nil {
		t.Fatalf("the written configuration: %v\n%s", err, c)
	}
	if nc.CNIVersion != "1.0.0" || nc.RomanaRoot != "http://10.96.0.99:9600" || nc.SegmentLabelName != "romanaSegment" ||
		nc.AgentURL != "http://127.0.0.1:9604" || nc.LogFile != cni.DefaultLogFile || nc.Romanactl == nil || nc.Romanactl.Version != version {
		t.Errorf("the written configuration:\n%s", c)
	}
}

func TestUsage(t *testing.T) {
	tests := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"version"}, 0, version},
		{nil, 2, "usage:"},
		{[]string{"frob"}, 2, `unknown command "frob"`},
		{[]string{"install", "--cni-bin-dir=/x"}, 2, "missing --cni-conf-dir, --romana-root"},
		{[]string{"install", "--cni-bin-dir=/x", "--cni-conf-dir=/y", "--romana-root=romana-root"}, 2, `--romana-root "romana-root": not an http(s) URL`},
		{[]string{"install", "--cni-bin-dir=/x", "--cni-conf-dir=/y", "--romana-root=http://a:1", "--agent-url=:9604"}, 2, `--agent-url ":9604"`},
		{[]string{"install", "--cni-bin-dir=/x", "--cni-conf-dir=/y", "--romana-root=http://a:1", "--segment-label-name="}, 2, `--segment-label-name "": must not be empty`},
		{[]string{"install", "--cni-bin-dir=/x", "--cni-conf-dir=/y", "--romana-root=http://a:1", "--log-file=romana-cni.log"}, 2, `log_file "romana-cni.log": not an absolute path`},
		{[]string{"install", "--bogus"}, 2, "flag provided but not defined: -bogus"},
		{[]string{"install", "--cni-bin-dir=/nonexistent/bin", "--cni-conf-dir=/y", "--romana-root=http://a:1"}, 1, "write /nonexistent/bin/romana"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := run(tt.args, &out, &errOut)
			if code != tt.code || !strings.Contains(out.String()+errOut.String(), tt.want) {
				t.Errorf("exit %d, output %q%q: want exit %d naming %q", code, out.String(), errOut.String(), tt.code, tt.want)
			}
		})
	}
}
