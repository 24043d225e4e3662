package main

import (
	"context"
	"os"
	"regexp"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	romana "github.com/romana/romanactl"
	"github.com/romana/romanactl/internal/render"
)

// TestGitOpsRenderIsStable: with datastore.existingSecret, `helm template` renders no
// password Secret and no random value: two renders are byte-identical (what Argo CD
// needs to stay in sync), and every consumer reads the user's Secret. Without it, the
// render carries a fresh password each time, and the NOTES of a cluster-less render
// say so.
func TestGitOpsRenderIsStable(t *testing.T) {
	helm := helmBinary(t)
	args := []string{"template", "romana", "./chart", "-n", "kube-system", "-f", "chart/env/kubeadm.yaml", "--set", "datastore.existingSecret=my-db"}
	a, err := runHelm(t, helm, args...)
	if err != nil {
		t.Fatalf("%v\n%s", err, a)
	}
	b, _ := runHelm(t, helm, args...)
	if a != b {
		t.Fatalf("two renders with existingSecret differ:\n%s", lineDiff(a, b))
	}
	if strings.Contains(a, "kind: Secret") || strings.Contains(a, "password:") {
		t.Error("a Secret or a password is rendered despite existingSecret")
	}
	if n := strings.Count(a, "name: my-db"); n < 1 || strings.Contains(a, "name: romana-datastore\n                  key") {
		t.Errorf("the consumers do not read the user's Secret (%d references)", n)
	}
	r := mustOK(t, run(t, "template", "--set", "datastore.existingSecret=my-db"))
	if r.stdout != mustOK(t, run(t, "template", "--set", "datastore.existingSecret=my-db")).stdout || strings.Contains(r.stdout, "kind: Secret") {
		t.Error("romanactl template with existingSecret is not stable, or renders a Secret")
	}
	// Without it: a new password per render, and a warning in the NOTES of a render that
	// had no cluster to look up in.
	c, _ := runHelm(t, helm, args[:len(args)-2]...)
	d, _ := runHelm(t, helm, args[:len(args)-2]...)
	if c == d || !strings.Contains(c, "kind: Secret") {
		t.Error("the generated password does not change between renders: the test would prove nothing")
	}
	// The NOTES of a cluster-less render (Helm's client-only install, as helm template
	// and Argo CD render) warn; with existingSecret they do not.
	ch, err := romana.Chart()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		supplied map[string]any
		warn     bool
	}{
		{map[string]any{}, true},
		{map[string]any{"datastore": map[string]any{"existingSecret": "my-db"}}, false},
	} {
		r, err := render.Render(ch, tc.supplied, render.RenderOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Contains(r.Notes, "WARNING: rendered without a cluster to look up") && strings.Contains(r.Notes, "datastore.existingSecret"); got != tc.warn {
			t.Errorf("values %v: NOTES warn %v, want %v:\n%s", tc.supplied, got, tc.warn, r.Notes)
		}
	}
}

// TestGitOpsExamplesAreValid: the values embedded in docs/gitops.md's Argo CD
// Application and Flux HelmRelease pass romanactl's validation and the chart's schema
// (helm template), so the examples cannot rot.
func TestGitOpsExamplesAreValid(t *testing.T) {
	data, err := os.ReadFile("../../docs/gitops.md")
	if err != nil {
		t.Fatal(err)
	}
	helm := helmBinary(t)
	found := map[string]bool{}
	for _, block := range regexp.MustCompile("(?s)```yaml\n(.*?)```").FindAllStringSubmatch(string(data), -1) {
		for _, doc := range strings.Split(block[1], "\n---\n") {
			var obj struct {
				Kind string
				Spec struct {
					Values map[string]any `json:"values"`
					Source struct {
						Helm struct {
							ValuesObject map[string]any `json:"valuesObject"`
						}
					}
				}
			}
			if err := yaml.Unmarshal([]byte(doc), &obj); err != nil {
				t.Fatalf("a YAML block of docs/gitops.md does not parse: %v", err)
			}
			vals := obj.Spec.Values
			if obj.Kind == "Application" {
				vals = obj.Spec.Source.Helm.ValuesObject
			}
			if vals == nil {
				continue
			}
			found[obj.Kind] = true
			f := writeTemp(t, vals)
			if r := run(t, "template", "-f", f); r.code != 0 {
				t.Errorf("%s values refused by romanactl: %s", obj.Kind, r.stderr)
			}
			if out, err := runHelm(t, helm, "template", "romana", "./chart", "-n", "kube-system", "-f", f); err != nil {
				t.Errorf("%s values refused by the chart: %v\n%s", obj.Kind, err, out)
			}
			if s, _ := vals["datastore"].(map[string]any); s["existingSecret"] == nil {
				t.Errorf("%s example has no datastore.existingSecret", obj.Kind)
			}
		}
	}
	if !found["Application"] || !found["HelmRelease"] {
		t.Fatalf("docs/gitops.md lacks an example: %v", found)
	}
}

func writeTemp(t *testing.T, v map[string]any) string {
	t.Helper()
	b, err := yaml.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.CreateTemp(t.TempDir(), "values-*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(b); err != nil {
		t.Fatal(err)
	}
	f.Close()
	// runHelm runs in the repository root: an absolute path works from both.
	return f.Name()
}

// TestClusterExistingSecret: with datastore.existingSecret the pre-flight refuses a
// Secret that is missing or has no password (exit 2, nothing written), and an install
// creates no password Secret of its own, points every consumer at the user's, and
// leaves it alone on uninstall.
func TestClusterExistingSecret(t *testing.T) {
	c := cluster(t)
	ctx := context.Background()
	set := []string{"--set", "datastore.existingSecret=my-db", "--skip-check", "images-exist"}
	r := rc(t, append([]string{"install"}, set...)...)
	if r.code != 2 || !strings.Contains(r.stdout, `✗ datastore-secret`) || !strings.Contains(r.stdout, `datastore.existingSecret "my-db" does not exist in kube-system`) {
		t.Fatalf("missing Secret: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if len(releaseSecrets(t)) != 0 {
		t.Fatal("a refused install stored a release")
	}
	sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "my-db", Namespace: "kube-system"}, Data: map[string][]byte{"other": []byte("x")}}
	if _, err := c.Client.CoreV1().Secrets("kube-system").Create(ctx, sec, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Client.CoreV1().Secrets("kube-system").Delete(ctx, "my-db", metav1.DeleteOptions{}) })
	if r := rc(t, append([]string{"check", "--pre"}, set...)...); r.code != 2 || !strings.Contains(r.stdout, `has no key "password"`) {
		t.Fatalf("Secret without password: exit %d\n%s", r.code, r.stdout)
	}
	sec.Data = map[string][]byte{"password": []byte("s3cret-from-vault")}
	if _, err := c.Client.CoreV1().Secrets("kube-system").Update(ctx, sec, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	r = mustOK(t, rc(t, append([]string{"install"}, set...)...))
	if !strings.Contains(r.stdout, "✓ datastore-secret") {
		t.Errorf("install:\n%s", r.stdout)
	}
	if _, err := c.Client.CoreV1().Secrets("kube-system").Get(ctx, "romana-datastore", metav1.GetOptions{}); err == nil {
		t.Error("the chart made its own password Secret despite existingSecret")
	}
	for _, ct := range ds(t, "romana-services").Spec.Template.Spec.Containers {
		for _, e := range ct.Env {
			if e.Name == "MYSQL_ROOT_PASSWORD" && (e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil || e.ValueFrom.SecretKeyRef.Name != "my-db") {
				t.Errorf("%s reads the password from %+v", ct.Name, e.ValueFrom)
			}
		}
	}
	if strings.Contains(r.stdout+r.stderr, "s3cret-from-vault") {
		t.Error("the password was printed")
	}
	r = mustOK(t, rc(t, "uninstall", "--timeout=60s"))
	if !strings.Contains(r.stdout, "Your Secret kube-system/my-db (datastore.existingSecret) was not the release's and is untouched") {
		t.Errorf("uninstall:\n%s", r.stdout)
	}
	if got, err := c.Client.CoreV1().Secrets("kube-system").Get(ctx, "my-db", metav1.GetOptions{}); err != nil || string(got.Data["password"]) != "s3cret-from-vault" {
		t.Errorf("the user's Secret after uninstall: %v", err)
	}
}
