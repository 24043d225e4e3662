package install

import (
	"encoding/base64"
	"helm.sh/helm/v3/pkg/chart"
	helmvalues "helm.sh/helm/v3/pkg/cli/values"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	romana "github.com/romana/romanactl"
	"github.com/romana/romanactl/internal/render"
	"github.com/romana/romanactl/internal/values"

	"github.com/romana/romanactl/internal/upstream"
)

// The services image's entrypoint, per its Dockerfile (ENTRYPOINT), and what
// run-romana-services reads: the password only from $MYSQL_ROOT_PASSWORD.
const servicesEntrypoint = "/usr/local/bin/run-romana-services"

// TestServicesContainerRunsAsTheImageExpects runs what the chart renders for the
// romana-services container, in both forms, under /bin/sh, with a stub of the image's
// entrypoint at the path the command calls (a private mount namespace puts it there).
// The stub records its environment and argv: the password and every arg must arrive
// unchanged, and the password must appear in no argv and no output.
func TestServicesContainerRunsAsTheImageExpects(t *testing.T) {
	if _, err := exec.LookPath("unshare"); err != nil {
		t.Fatal("unshare (util-linux) is needed to run the rendered commands in a mount namespace")
	}
	ch, err := romana.Chart()
	if err != nil {
		t.Fatal(err)
	}
	for _, form := range []string{"daemonSet", "staticPod"} {
		t.Run(form, func(t *testing.T) {
			r := renderForm(t, ch, form)
			var pod corev1.PodSpec
			var password string
			if form == "daemonSet" {
				ds := manifestDaemonSets(r.Manifest)
				for _, d := range ds {
					if d.Name == "romana-services" {
						pod = d.Spec.Template.Spec
					}
				}
				raw, err := base64.StdEncoding.DecodeString(manifestPassword(r.Manifest))
				if err != nil || len(raw) == 0 {
					t.Fatalf("no password in the rendered Secret: %v", err)
				}
				password = string(raw)
			} else {
				var p corev1.Pod
				if err := yaml.Unmarshal([]byte(r.StaticPod), &p); err != nil {
					t.Fatal(err)
				}
				pod = p.Spec
				password = "static-pw-" + strings.Repeat("x", 30) // what the operator put in the host file
				if strings.Contains(r.StaticPod, password) {
					t.Fatal("test error: the password must come from the host file only")
				}
			}
			var c *corev1.Container
			for i := range pod.Containers {
				if pod.Containers[i].Name == "romana-services" {
					c = &pod.Containers[i]
				}
			}
			if c == nil {
				t.Fatal("no romana-services container")
			}
			env := map[string]string{}
			for _, e := range c.Env {
				switch {
				case e.ValueFrom == nil:
					env[e.Name] = e.Value
				case e.ValueFrom.SecretKeyRef != nil && e.ValueFrom.SecretKeyRef.Name == PasswordSecret:
					env[e.Name] = password // the kubelet resolves it from the Secret
				case e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "status.hostIP":
					env[e.Name] = "172.18.0.10"
				default:
					t.Fatalf("env %s: a source this test does not resolve", e.Name)
				}
			}
			argv := append(expand(c.Command, env), expand(c.Args, env)...)
			if len(c.Command) == 0 {
				argv = append([]string{servicesEntrypoint}, argv...)
			}
			got := runInNamespace(t, argv, env, password)

			if got.env["MYSQL_ROOT_PASSWORD"] != password {
				t.Errorf("run-romana-services got MYSQL_ROOT_PASSWORD=%q, want the datastore password", got.env["MYSQL_ROOT_PASSWORD"])
			}
			want := expand(c.Args, env)
			if strings.Join(got.argv, "\n") != strings.Join(want, "\n") {
				t.Errorf("args changed on the way:\n got %q\nwant %q", got.argv, want)
			}
			for _, a := range []string{"--cidr=100.112.0.0/12", "--api-server=", "--interface=eth0", "--ip-address=172.18.0.10", "--namespaces=16", "--segments=16"} {
				if !slicesHasPrefix(got.argv, a) {
					t.Errorf("seed arg %s did not arrive: %q", a, got.argv)
				}
			}
			if strings.Contains(strings.Join(got.cmdline, " ")+got.output, password) {
				t.Errorf("the password appears in an argv or in the output:\n%s\n%s", got.cmdline, got.output)
			}
			// Every arg must be one the real entrypoint parses: it exits on any other.
			// Last: without Romana's files (ROMANACTL_SHARED) only this part skips.
			parsed := entrypointOptions(t)
			for _, a := range got.argv {
				flag, _, _ := strings.Cut(a, "=")
				if !parsed[flag] {
					t.Errorf("arg %s: run-romana-services v0.9.3.5 does not parse %s and would exit with \"Unknown option\"", a, flag)
				}
			}
		})
	}
}

// TestDatastoreListensOnLoopbackOnly: mysqld binds 127.0.0.1 in both forms.
func TestDatastoreListensOnLoopbackOnly(t *testing.T) {
	ch, err := romana.Chart()
	if err != nil {
		t.Fatal(err)
	}
	for _, form := range []string{"daemonSet", "staticPod"} {
		r := renderForm(t, ch, form)
		var spec corev1.PodSpec
		if form == "daemonSet" {
			for _, d := range manifestDaemonSets(r.Manifest) {
				if d.Name == "romana-services" {
					spec = d.Spec.Template.Spec
				}
			}
		} else {
			var p corev1.Pod
			if err := yaml.Unmarshal([]byte(r.StaticPod), &p); err != nil {
				t.Fatal(err)
			}
			spec = p.Spec
		}
		found := false
		for _, c := range spec.Containers {
			if c.Name == "romana-datastore" {
				found = true
				if len(c.Command) != 0 || strings.Join(c.Args, " ") != "--bind-address=127.0.0.1" {
					t.Errorf("%s: datastore command %q args %q, want the image's entrypoint with --bind-address=127.0.0.1", form, c.Command, c.Args)
				}
			}
		}
		if !found {
			t.Errorf("%s: no romana-datastore container", form)
		}
	}
}

func slicesHasPrefix(ss []string, p string) bool {
	for _, s := range ss {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

// expand does what the kubelet does to command and args: $(VAR) becomes the
// container's variable, $$ becomes $, and an unknown reference stays as written.
func expand(in []string, env map[string]string) []string {
	ref := regexp.MustCompile(`\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)`)
	var out []string
	for _, s := range in {
		out = append(out, ref.ReplaceAllStringFunc(s, func(m string) string {
			if m == "$$" {
				return "$"
			}
			if v, ok := env[m[2:len(m)-1]]; ok {
				return v
			}
			return m
		}))
	}
	return out
}

type stubRun struct {
	env     map[string]string
	argv    []string
	cmdline []string // every argv seen while the command ran: the stub's and its parent's
	output  string
}

// runInNamespace runs argv with exactly env in a private mount namespace where a stub
// stands at the image's entrypoint path and the host password file exists.
func runInNamespace(t *testing.T, argv []string, env map[string]string, password string) stubRun {
	t.Helper()
	dir := t.TempDir()
	stub := `#!/bin/sh
env > "$STUB_OUT/env"
: > "$STUB_OUT/argv"
for a in "$@"; do printf '%s\n' "$a" >> "$STUB_OUT/argv"; done
tr '\0' ' ' < /proc/$$/cmdline > "$STUB_OUT/cmdline"
tr '\0' ' ' < /proc/$PPID/cmdline >> "$STUB_OUT/cmdline" 2>/dev/null || true
`
	if err := os.WriteFile(filepath.Join(dir, "stub"), []byte(stub), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "password"), []byte(password), 0o600); err != nil {
		t.Fatal(err)
	}
	// The static Pod mounts the host file at this path; the stub replaces the image's
	// entrypoint. Both are tmpfs mounts that only this namespace sees.
	setup := `set -e
mkdir -p /etc/romana
mount -t tmpfs tmpfs /etc/romana
cp "$STUB_DIR/password" /etc/romana/datastore-password
mount -t tmpfs tmpfs /usr/local/bin
cp "$STUB_DIR/stub" ` + servicesEntrypoint + `
exec env -i "$@"
`
	args := []string{"-m", "--propagation", "private", "/bin/sh", "-c", setup, "setup"}
	for k, v := range env {
		args = append(args, k+"="+v)
	}
	args = append(args, "STUB_OUT="+dir, "PATH=/usr/sbin:/usr/bin:/sbin:/bin")
	args = append(args, argv...)
	cmd := exec.Command("unshare", args...)
	cmd.Env = []string{"STUB_DIR=" + dir, "PATH=/usr/sbin:/usr/bin:/sbin:/bin"}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("run %q: %v\n%s", argv, err, out)
	}
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatalf("the stub entrypoint did not run (%v); output:\n%s", err, out)
		}
		return string(b)
	}
	r := stubRun{env: map[string]string{}, output: string(out)}
	for _, l := range strings.Split(read("env"), "\n") {
		if k, v, ok := strings.Cut(l, "="); ok {
			r.env[k] = v
		}
	}
	r.argv = strings.Split(strings.TrimSuffix(read("argv"), "\n"), "\n")
	r.cmdline = []string{read("cmdline")}
	return r
}

// entrypointOptions reads the options run-romana-services v0.9.3.5 parses from the
// script itself (seed/upstream-v0.9.3.5 in ROMANACTL_SHARED, the images' contract): the labels of
// its option loop's case statement.
func entrypointOptions(t *testing.T) map[string]bool {
	t.Helper()
	b, err := os.ReadFile(upstream.Path(t, "seed", "upstream-v0.9.3.5", "services", "run-romana-services"))
	if err != nil {
		t.Fatalf("the upstream entrypoint: %v", err)
	}
	out := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^\s*((?:-[a-z-]+\|?)+)\)\s*$`).FindAllStringSubmatch(string(b), -1) {
		for _, f := range strings.Split(m[1], "|") {
			out[f] = true
		}
	}
	if !out["--cidr"] || !out["--api-server"] {
		t.Fatalf("could not read the entrypoint's options: %v", out)
	}
	return out
}

// renderForm renders the kubeadm values with romana-services as a DaemonSet or a static
// Pod, as romanactl template does.
func renderForm(t *testing.T, ch *chart.Chart, form string) *render.Rendered {
	t.Helper()
	res, err := values.Resolve(ch, values.Options{Env: "kubeadm", Helm: helmvalues.Options{Values: []string{"services.deploy=" + form}}})
	if err != nil {
		t.Fatal(err)
	}
	r, err := render.Render(ch, res.Supplied, render.RenderOptions{Namespace: "kube-system", Validated: true})
	if err != nil {
		t.Fatal(err)
	}
	return r
}
