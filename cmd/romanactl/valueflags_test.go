package main

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestHelmValueFlagsParity: romanactl reads helm's value flags with Helm's own code, so
// `-f -`, `-f URL`, `--set-file`, `--set-json` and `--set-literal` give what helm gives
// on the same input. Both CLIs run as processes, stdin included.
func TestHelmValueFlagsParity(t *testing.T) {
	helm := helmBinary(t)
	bin := romanactlBin(t)
	dir := t.TempDir()
	iface := filepath.Join(dir, "iface")
	if err := os.WriteFile(iface, []byte("ens7"), 0o644); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("services:\n  segments: 8\n"))
	}))
	t.Cleanup(srv.Close)

	cases := []struct {
		name  string
		stdin string
		args  []string
		want  string // a line the values must put in the render
	}{
		{"values from stdin", "services:\n  namespaces: 8\n", []string{"-f", "-"}, "- --namespaces=8"},
		{"values from a URL", "", []string{"-f", srv.URL + "/v.yaml"}, "- --segments=8"},
		{"set-file", "", []string{"--set-file", "agent.interface=" + iface}, "- --interface=ens7"},
		{"set-json", "", []string{"--set-json", `services.nodeSelector={"romana.io/datastore":"yes"}`}, "romana.io/datastore: \"yes\""},
		{"set-literal", "", []string{"--set-literal", "agent.natInterface=a,b"}, "- --nat-interface=a,b"},
		{"set-json list", "", []string{"--set-json", `agent.tolerations=[{"operator":"Exists","effect":"NoSchedule"}]`}, "effect: NoSchedule"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			hargs := append([]string{"template", "romana", "./chart", "-n", "kube-system", "-f", "chart/env/kubeadm.yaml"}, tc.args...)
			hout, herr := runWithStdin(t, helm, "../..", tc.stdin, hargs...)
			if herr != nil {
				t.Fatalf("helm template: %v\n%s", herr, hout)
			}
			rout, rerr := runWithStdin(t, bin, "../..", tc.stdin, append([]string{"template", "--env=kubeadm"}, tc.args...)...)
			if rerr != nil {
				t.Fatalf("romanactl template: %v\n%s", rerr, rout)
			}
			if !strings.Contains(rout, tc.want) {
				t.Errorf("the render lacks %q: the value did not arrive", tc.want)
			}
			if pinPassword(hout) != pinPassword(rout) {
				t.Errorf("helm and romanactl render differently:\n%s", lineDiff(pinPassword(hout), pinPassword(rout)))
			}
		})
	}

	// Errors name the flag and the value, in our words, and exit 2.
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--set-json", "services={bad"}, `--set-json "services={bad": not valid JSON`},
		{[]string{"--set-file", "agent.interface=/does/not/exist"}, `--set-file "agent.interface=/does/not/exist": cannot read the file: no such file or directory`},
		{[]string{"-f", iface}, "-f " + iface + ": not a YAML map of values: it holds a string"},
	} {
		r := run(t, append([]string{"template"}, tc.args...)...)
		if r.code != 2 || !strings.Contains(r.stderr, tc.want) || strings.Contains(r.stderr, "Go value") {
			t.Errorf("%v: exit %d, want 2 and %q:\n%s", tc.args, r.code, tc.want, r.stderr)
		}
	}
}

func runWithStdin(t *testing.T, bin, dir, stdin string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	home := t.TempDir()
	cmd.Env = append(os.Environ(), "HELM_CACHE_HOME="+home, "HELM_CONFIG_HOME="+home, "HELM_DATA_HOME="+home)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if err != nil {
		return out.String() + errb.String(), err
	}
	return out.String(), nil
}

// TestManyProblemsBoundedOutput: a values file with 100k unknown keys gets the first 20
// problems and a count of the rest, not megabytes of errors.
func TestManyProblemsBoundedOutput(t *testing.T) {
	var b strings.Builder
	b.WriteString("services:\n")
	for i := range 100000 {
		fmt.Fprintf(&b, "  unknownKey%d: 1\n", i)
	}
	f := filepath.Join(t.TempDir(), "many.yaml")
	if err := os.WriteFile(f, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	r := run(t, "template", "-f", f)
	if r.code != 2 || !strings.Contains(r.stderr, "100000 invalid value(s):") || !strings.Contains(r.stderr, "… and 99980 more") {
		t.Fatalf("exit %d:\n%.2000s", r.code, r.stderr)
	}
	if n := strings.Count(r.stderr, "\n  - "); n != 20 || len(r.stderr) > 8000 {
		t.Errorf("%d problems shown in %d bytes, want 20", n, len(r.stderr))
	}
	// The shown ones are the first by key, so the output is the same every run.
	if !strings.Contains(r.stderr, "services.unknownKey0: unknown key") {
		t.Errorf("not sorted by key:\n%.500s", r.stderr)
	}
}
