package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	romana "github.com/romana/romanactl"
	"github.com/romana/romanactl/internal/values"
)

// helmBinary returns the real helm CLI, built by `make helm` from the same
// helm.sh/helm/v3 version as the SDK. These tests never skip in a full run: without
// the binary they fail and say how to build it.
func helmBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: the helm parity tests need bin/helm (make helm)")
	}
	p := os.Getenv("ROMANACTL_HELM")
	if p == "" {
		p = "../../bin/helm"
	}
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("helm CLI not found at %s: run `make helm` (or `make test`, which builds it)", p)
	}
	abs, _ := filepath.Abs(p)
	return abs
}

func runHelm(t *testing.T, helm string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(helm, args...)
	cmd.Dir = "../.." // so ./chart is the chart
	// A private HELM_* home keeps the user's repositories and plugins out of the test.
	home := t.TempDir()
	cmd.Env = append(os.Environ(), "HELM_CACHE_HOME="+home, "HELM_CONFIG_HOME="+home, "HELM_DATA_HOME="+home)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

func envNames(t *testing.T) []string {
	ch, err := romana.Chart()
	if err != nil {
		t.Fatal(err)
	}
	return values.EnvNames(ch)
}

// customArgs completes the custom environment, which carries no addresses.
var customArgs = map[string][]string{
	"romanactl": {"--cidr=10.112.0.0/12", "--cluster-ip=10.0.0.99", "--cluster-ip-cidr=10.0.0.0/16"},
	"helm":      {"--set", "services.cidr=10.112.0.0/12,romanaRoot.clusterIP=10.0.0.99,agent.clusterIPCIDR=10.0.0.0/16"},
}

func TestHelmLintEveryEnvironment(t *testing.T) {
	helm := helmBinary(t)
	for _, env := range envNames(t) {
		t.Run(env, func(t *testing.T) {
			args := []string{"lint", "./chart", "--strict", "-f", "chart/env/" + env + ".yaml"}
			if env == "custom" {
				args = append(args, customArgs["helm"]...)
			}
			out, err := runHelm(t, helm, args...)
			if err != nil || !strings.Contains(out, "0 chart(s) failed") {
				t.Fatalf("helm lint: %v\n%s", err, out)
			}
			if strings.Contains(out, "[WARNING]") || strings.Contains(out, "[ERROR]") {
				t.Errorf("helm lint is not clean:\n%s", out)
			}
		})
	}
	// Every chart-testing scenario lints too.
	files, _ := filepath.Glob("../../chart/ci/*-values.yaml")
	if len(files) < 3 {
		t.Fatalf("want a chart/ci/<scenario>-values.yaml per scenario, found %d", len(files))
	}
	for _, f := range files {
		rel := "chart/ci/" + filepath.Base(f)
		if out, err := runHelm(t, helm, "lint", "./chart", "--strict", "-f", rel); err != nil {
			t.Errorf("helm lint -f %s: %v\n%s", rel, err, out)
		}
	}
}

// TestHelmTemplateParity: `helm template romana ./chart -n kube-system -f <env>` prints
// exactly what `romanactl template --env=<env>` prints, but for the random password.
func TestHelmTemplateParity(t *testing.T) {
	helm := helmBinary(t)
	for _, env := range envNames(t) {
		t.Run(env, func(t *testing.T) {
			hargs := []string{"template", "romana", "./chart", "-n", "kube-system", "-f", "chart/env/" + env + ".yaml"}
			rargs := []string{"template", "--env=" + env}
			if env == "custom" {
				hargs = append(hargs, customArgs["helm"]...)
				rargs = append(rargs, customArgs["romanactl"]...)
			}
			hout, err := runHelm(t, helm, hargs...)
			if err != nil {
				t.Fatalf("helm template: %v\n%s", err, hout)
			}
			r := run(t, rargs...)
			if r.code != 0 {
				t.Fatal(r.stderr)
			}
			if pinPassword(hout) != pinPassword(r.stdout) {
				t.Fatalf("helm and romanactl render differently:\n%s", lineDiff(pinPassword(hout), pinPassword(r.stdout)))
			}
		})
	}
}

// TestBadInputCorpus: every file in testdata/bad is rejected by romanactl with exit 2
// and by `helm template` with a non-zero exit, each naming the key.
func TestBadInputCorpus(t *testing.T) {
	helm := helmBinary(t)
	files, err := filepath.Glob("testdata/bad/*.yaml")
	if err != nil || len(files) < 30 {
		t.Fatalf("want at least 30 bad inputs, found %d (%v)", len(files), err)
	}
	keyRE := regexp.MustCompile(`(?m)^# key: (\S+)$`)
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".yaml"), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			m := keyRE.FindSubmatch(data)
			if m == nil {
				t.Fatalf("%s has no '# key:' line", f)
			}
			key := string(m[1])
			r := run(t, "template", "--env=kubeadm", "-f", f)
			if r.code != 2 {
				t.Errorf("romanactl: exit %d, want 2\n%s", r.code, r.stderr)
			}
			if !strings.Contains(r.stderr, key) {
				t.Errorf("romanactl's message does not name %s:\n%s", key, r.stderr)
			}
			if r.stdout != "" {
				t.Error("romanactl rendered something for bad input")
			}
			out, err := runHelm(t, helm, "template", "romana", "./chart", "-n", "kube-system", "-f", "chart/env/kubeadm.yaml", "-f", "cmd/romanactl/"+f)
			if err == nil {
				t.Fatalf("helm template accepted it:\n%.300s", out)
			}
			if !mentionsKey(out, key) {
				t.Errorf("helm's message does not name %s:\n%s", key, out)
			}
		})
	}
}

// mentionsKey: helm names a key either as romana.validate does (services.cidr) or as
// the schema validator does, by JSON pointer (/services/cidr), or for an unknown key by
// its name ('cidrr').
func mentionsKey(msg, key string) bool {
	leaf := key[strings.LastIndex(key, ".")+1:]
	return strings.Contains(msg, key) || strings.Contains(msg, "/"+strings.ReplaceAll(key, ".", "/")) ||
		strings.Contains(msg, "'"+leaf+"'")
}
