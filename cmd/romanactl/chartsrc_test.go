package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/romana/romanactl/internal/chartsrc"
	"github.com/romana/romanactl/internal/registrytest"
)

// TestChartAsOCIArtifact: the chart packaged with helm package and pushed with the Helm
// SDK's registry client to an in-process registry renders, through `helm template
// oci://…` and `romanactl template --chart oci://…`, exactly as the embedded chart does;
// so do a directory and the .tgz. A chart of another name, or whose schema lacks keys
// romanactl sets, is refused (exit 2).
func TestChartAsOCIArtifact(t *testing.T) {
	helm := helmBinary(t)
	dist := t.TempDir()
	if out, err := runHelm(t, helm, "package", "chart", "-d", dist); err != nil {
		t.Fatalf("helm package: %v\n%s", err, out)
	}
	tgz := filepath.Join(dist, "romana-0.1.0.tgz")
	host, stop := registrytest.Start()
	t.Cleanup(stop)
	ref, digest, err := chartsrc.Push(tgz, host+"/charts", false)
	if err != nil || ref != "oci://"+host+"/charts/romana" || !strings.HasPrefix(digest, "sha256:") {
		t.Fatalf("push: %s %s %v", ref, digest, err)
	}
	// make chart-push's program gives the same answer.
	if out, err := exec.Command("go", "run", "../../hack/chartpush", "--registry", host+"/charts2", tgz).CombinedOutput(); err != nil || !strings.Contains(string(out), "pushed oci://"+host+"/charts2/romana") {
		t.Fatalf("hack/chartpush: %v\n%s", err, out)
	}

	embedded := pinPassword(mustOK(t, run(t, "template", "--env=kubeadm")).stdout)
	hout, err := runHelm(t, helm, "template", "romana", ref, "--version", "0.1.0", "--plain-http", "-n", "kube-system", "-f", "chart/env/kubeadm.yaml")
	if err != nil {
		t.Fatalf("helm template oci://: %v\n%s", err, hout)
	}
	// helm reports the pull on stderr, which runHelm merges.
	hout = regexp.MustCompile(`(?m)^(Pulled|Digest): .*\n`).ReplaceAllString(hout, "")
	for name, got := range map[string]string{
		"helm template oci://":         hout,
		"romanactl --chart oci://":     mustOK(t, run(t, "template", "--env=kubeadm", "--chart", ref, "--version", "0.1.0", "--plain-http")).stdout,
		"romanactl --chart dir":        mustOK(t, run(t, "template", "--env=kubeadm", "--chart", "../../chart")).stdout,
		"romanactl --chart .tgz":       mustOK(t, run(t, "template", "--env=kubeadm", "--chart", tgz)).stdout,
		"romanactl --chart (loopback)": mustOK(t, run(t, "template", "--env=kubeadm", "--chart", ref, "--version", "0.1.0")).stdout,
	} {
		if pinPassword(got) != embedded {
			t.Errorf("%s renders differently from the embedded chart:\n%s", name, lineDiff(embedded, pinPassword(got)))
		}
	}
	// The same Go validation runs against the other chart's values.
	if r := run(t, "template", "--chart", tgz, "--cidr=10.0.0.1/8"); r.code != 2 || !strings.Contains(r.stderr, "not the network address") {
		t.Errorf("validation with --chart: exit %d %s", r.code, r.stderr)
	}

	// Incompatible charts are refused, saying why.
	other := copyChart(t)
	replaceIn(t, filepath.Join(other, "Chart.yaml"), "name: romana", "name: calico")
	if r := run(t, "template", "--chart", other); r.code != 2 || !strings.Contains(r.stderr, `it is chart "calico", not romana`) {
		t.Errorf("another chart: exit %d %s", r.code, r.stderr)
	}
	old := copyChart(t)
	replaceIn(t, filepath.Join(old, "values.schema.json"), `"apiProxy": {`, `"apiProxyX": {`)
	if r := run(t, "template", "--chart", old); r.code != 2 || !strings.Contains(r.stderr, "its values schema lacks keys romanactl sets: ") || !strings.Contains(r.stderr, "apiProxy.enabled") {
		t.Errorf("a chart without the keys romanactl sets: exit %d %s", r.code, r.stderr)
	}
	if r := run(t, "template", "--chart", ref); r.code != 2 || !strings.Contains(r.stderr, "needs --version") {
		t.Errorf("oci:// without --version: exit %d %s", r.code, r.stderr)
	}
	// A version the registry does not hold is the user's to fix (exit 2), unlike a
	// registry that cannot be reached (exit 1, TestExitCodes).
	if r := run(t, "template", "--chart", ref, "--version", "9.9.9"); r.code != 2 || !strings.Contains(r.stderr, "--chart "+ref+" --version 9.9.9: the registry has no such chart version") {
		t.Errorf("oci:// with a version the registry lacks: exit %d %s", r.code, r.stderr)
	}
}

func copyChart(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "romana")
	if out, err := exec.Command("cp", "-r", "../../chart", dir).CombinedOutput(); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	return dir
}

func replaceIn(t *testing.T, path, old, new string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil || !strings.Contains(string(b), old) {
		t.Fatalf("%s lacks %q (%v)", path, old, err)
	}
	if err := os.WriteFile(path, []byte(strings.Replace(string(b), old, new, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestExternalChartKeepsItsRules: romanactl leaves romana.validate out of its render
// only for its own chart, whose rules the Go validation holds. A --chart keeps its
// helper: a rule that only that chart has still refuses the values.
func TestExternalChartKeepsItsRules(t *testing.T) {
	dir := copyChart(t)
	replaceIn(t, filepath.Join(dir, "templates", "_validate.tpl"), "{{- if $errs -}}",
		`{{- if eq (toString $v.services.namespaces) "8" -}}{{- $errs = append $errs "services.namespaces (--namespaces) \"8\": a rule only this chart has" -}}{{- end -}}
{{- if $errs -}}`)
	r := run(t, "template", "--chart", dir, "--namespaces=8")
	if r.code != 2 || !strings.Contains(r.stderr, "a rule only this chart has") {
		t.Errorf("--chart with a rule of its own: exit %d, want 2 naming the rule\n%s", r.code, r.stderr)
	}
	// The embedded chart has no such rule: the same values render.
	mustOK(t, run(t, "template", "--namespaces=8"))
}
