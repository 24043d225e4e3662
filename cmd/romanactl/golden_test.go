package main

import (
	"encoding/json"
	"github.com/romana/romanactl/internal/install"
	"os"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/romana/romanactl/internal/values"
)

// everyFlag sets every dedicated flag to a non-default value. The tag is of no line
// compat.yaml knows (a user's own build), the only kind that may take --nodes.
var everyFlag = []string{
	"--env=custom", "--tag=own-build.7", "--registry=registry.example.com:5000/mirror",
	"--cidr=10.128.0.0/10", "--api-server=https://127.0.0.1:6443", "--api-proxy=false", "--api-proxy-port=8002", "--interface=ens5",
	"--ip-address=192.168.10.2", "--nodes=100", "--namespaces=8", "--segments=4",
	"--cluster-ip=10.0.0.99", "--romana-root=http://10.0.0.99:9600", "--nat=false",
	"--nat-interface=ens6", "--cluster-ip-cidr=10.0.0.0/16", "--pod-to-host=false",
	"--services-as=daemonset", "--cni-plugin=upstream",
}

func TestGoldenTemplate(t *testing.T) {
	tests := []struct {
		name string
		args []string
	}{
		{"template-kubeadm", []string{"--env=kubeadm"}},
		{"template-kops", []string{"--env=kops"}},
		{"template-custom", []string{"--env=custom", "--cidr=10.112.0.0/12", "--cluster-ip=10.0.0.99", "--cluster-ip-cidr=10.0.0.0/16"}},
		{"template-static-pod", []string{"--env=kubeadm", "--services-as=static-pod"}},
		{"template-tag-registry", []string{"--env=kubeadm", "--tag=v0.9.3", "--registry=registry.example.com:5000/mirror"}},
		{"template-every-flag", everyFlag},
		{"template-upstream-cni", []string{"--env=kubeadm", "--cni-plugin=upstream"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := run(t, append([]string{"template"}, tt.args...)...)
			if r.code != 0 {
				t.Fatalf("exit %d: %s", r.code, r.stderr)
			}
			golden(t, tt.name, pinPassword(r.stdout))
		})
	}
}

func TestGoldenOutputs(t *testing.T) {
	tests := []struct {
		name string
		args []string
	}{
		{"plan-kubeadm", []string{"plan", "--env=kubeadm"}},
		{"plan-kops-json", []string{"plan", "--env=kops", "-o", "json"}},
		{"envs", []string{"envs"}},
		{"values-kops-json", []string{"values", "--env=kops", "-o", "json"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := run(t, tt.args...)
			if r.code != 0 {
				t.Fatalf("exit %d: %s", r.code, r.stderr)
			}
			golden(t, tt.name, r.stdout)
		})
	}
}

// TestTemplateContent asserts what the golden files hold, so a careless -update cannot
// bless a broken render.
func TestTemplateContent(t *testing.T) {
	r := run(t, "template", "--env=kubeadm")
	for _, want := range []string{
		"kind: DaemonSet\nmetadata:\n  name: romana-services", "kind: DaemonSet\nmetadata:\n  name: romana-agent",
		"matchLabels:\n      app: romana-services", "matchLabels:\n      app: romana-agent",
		"node-role.kubernetes.io/control-plane: \"\"", "clusterIP: 10.99.99.99", "- name: root\n      port: 9600",
		// the services settings the v0.9.3.5 entrypoint parses (it takes no --nodes: see
		// internal/install/contract_test.go) and the six agent settings
		"--cidr=100.112.0.0/12", "--api-server=http://127.0.0.1:8001", "--interface=eth0", "--ip-address=$(HOST_IP)",
		"--namespaces=16", "--segments=16", "- --bind-address=127.0.0.1",
		"--romana-root=http://10.99.99.99:9600", "--nat=true", "--nat-interface=eth0", "--cluster-ip-cidr=10.96.0.0/12", "--pod-to-host=true",
		"mountPath: /host/usr/local/bin", "mountPath: /host/etc/romana", "mountPath: /host/opt/cni/bin", "mountPath: /host/etc/cni/net.d",
		"path: /var/lib/romana/db", "secretKeyRef:\n                  name: romana-datastore", "helm.sh/resource-policy: keep",
		`image: "quay.io/romana/services:v0.9.3.5"`, `image: "quay.io/romana/agent:v0.9.3.5"`, `image: "docker.io/library/mysql:5"`,
		"privileged: true", "automountServiceAccountToken: false", "helm.sh/hook: test",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("kubeadm render lacks %q", want)
		}
	}
	for _, banned := range []string{"apiVersion: extensions/v1beta1", "kubeadm.alpha.kubernetes.io/role", "value: romana", `"*"`, "--nodes="} {
		if strings.Contains(r.stdout, banned) {
			t.Errorf("kubeadm render contains %q", banned)
		}
	}
	if m := passwordRE.FindStringSubmatch(r.stdout); m == nil {
		t.Error("no generated password")
	}
	// Two renders generate two different passwords: it is random, not fixed.
	if a, b := passwordRE.FindString(r.stdout), passwordRE.FindString(run(t, "template").stdout); a == b {
		t.Errorf("the password is the same in two renders: %s", a)
	}

	reg := run(t, "template", "--registry=registry.example.com:5000/mirror", "--tag=v0.9.3").stdout
	for _, want := range []string{`"registry.example.com:5000/mirror/services:v0.9.3"`, `"registry.example.com:5000/mirror/agent:v0.9.3"`,
		`"registry.example.com:5000/mirror/mysql:5"`, `"registry.example.com:5000/mirror/busybox:1.37"`} {
		if !strings.Contains(reg, want) {
			t.Errorf("--registry render lacks %s", want)
		}
	}
	if strings.Contains(reg, "quay.io") || strings.Contains(reg, "docker.io") {
		t.Error("--registry left an image on its original registry")
	}
}

func TestStaticPod(t *testing.T) {
	r := run(t, "template", "--services-as=static-pod")
	if r.code != 0 {
		t.Fatal(r.stderr)
	}
	docs := strings.Split(r.stdout, "\n---\n")
	last := docs[len(docs)-1]
	if !strings.Contains(last, "kind: Pod\nmetadata:\n  name: romana-services") || !strings.Contains(last, "MYSQL_ROOT_PASSWORD_FILE") ||
		!strings.Contains(last, "path: /etc/romana/datastore-password") || strings.Contains(last, "secretKeyRef") {
		t.Errorf("the static Pod is not the last document, or reads a Secret:\n%s", last)
	}
	if strings.Count(r.stdout, "name: romana-services\n") == 0 || strings.Contains(r.stdout, "kind: DaemonSet\nmetadata:\n  name: romana-services") {
		t.Error("--services-as=static-pod must drop the services DaemonSet from the release")
	}
	if !strings.Contains(r.stderr, "/etc/kubernetes/manifests/romana-services.yaml") || !strings.Contains(r.stderr, "get secret romana-datastore") {
		t.Errorf("stderr lacks the static Pod instructions:\n%s", r.stderr)
	}
	// A static Pod has no ServiceAccount: its API proxy reads a host kubeconfig, and the
	// instructions say how to make one.
	if !strings.Contains(last, "--kubeconfig=/etc/romana/api-proxy.kubeconfig") || !strings.Contains(last, "path: /etc/romana/api-proxy.kubeconfig") ||
		!strings.Contains(r.stderr, "create token romana-services") {
		t.Errorf("the static Pod's API proxy has no kubeconfig, or the instructions lack it:\n%s\n%s", last, r.stderr)
	}
	r = run(t, "template", "--services-as=static-pod", "--api-proxy=false", "--api-server=http://10.0.0.1:8080")
	if strings.Contains(r.stdout, "romana-api-proxy") || strings.Contains(r.stderr, "create token") {
		t.Errorf("--api-proxy=false still deploys or documents the proxy:\n%s", r.stderr)
	}
}

func TestExitCodes(t *testing.T) {
	tests := []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"template"}, 0, ""},
		{[]string{"version"}, 0, ""},
		{[]string{"envs", "-o", "json"}, 0, ""},
		{[]string{"templat"}, 2, `unknown command "templat"`},
		{[]string{"template", "--bogus"}, 2, "unknown flag: --bogus"},
		{[]string{"template", "extra-arg"}, 2, "takes no arguments"},
		{[]string{"template", "--nat", "false"}, 2, "a space does not give a true|false flag its value; write --nat=false"},
		{[]string{"template", "--pod-to-host", "true"}, 2, "write --pod-to-host=true"},
		{[]string{"template", "--env=nope"}, 2, "known: custom, kops, kubeadm"},
		{[]string{"template", "--cidr=10.192.0.1/10"}, 2, "use 10.192.0.0/10"},
		{[]string{"template", "--set", "services.cidrr=10.0.0.0/8"}, 2, "did you mean services.cidr?"},
		{[]string{"template", "-f", "/does/not/exist.yaml"}, 2, "-f /does/not/exist.yaml"},
		{[]string{"template", "--set", "a[-1]=1"}, 2, `--set "a[-1]=1"`},
		{[]string{"values", "-o", "xml"}, 2, `invalid argument "xml" for "-o, --output" flag: unknown output format "xml"; use one of yaml, json`},
		{[]string{"sysdump", "--max-bytes=-1"}, 2, "--max-bytes -1: must not be negative; give 0 for no limit"},
		{[]string{"sysdump", "--since=-1h"}, 2, "--since -1h0m0s: must not be negative"},
		{[]string{"upgrade", "--timeout=-5s"}, 2, `invalid argument "-5s" for "--timeout" flag: a negative timeout waits for nothing; give a positive duration like 5m, or 0 for no time limit`},
		{[]string{"uninstall", "--timeout=soon"}, 2, `invalid argument "soon" for "--timeout" flag: not a duration; write it like 90s, 5m or 1h30m`},
		{[]string{"template", "--tag="}, 2, "image.tag (--tag): empty: a dedicated flag needs a value"},
		{[]string{"uninstall", "--purge-datastore", "--keep-node-state"}, 2, "--purge-datastore runs in the node cleanup, which --keep-node-state skips"},
		{[]string{"migrate", "-o", "json"}, 2, `-o "json": migrate prints the plan (no -o), the derived values as a values file (-o yaml) or each object's diff (-o diff); give one of those`},
		{[]string{"template", "--chart", "../../chart", "--version", "0.1.0"}, 2, "--version 0.1.0: only an oci:// --chart has versions"},
		{[]string{"template", "--chart", "/no/such/chart"}, 2, "--chart /no/such/chart: no such file or directory; give a chart directory, a .tgz, or oci://"},
		{[]string{"template", "--chart", "oci://127.0.0.1:9/charts/romana"}, 2, "--chart oci://127.0.0.1:9/charts/romana: an oci:// chart needs --version"},
		// A registry that cannot be reached is operational, as for helm and kubectl: the
		// same command works once it answers (a chart version it lacks is exit 2, in
		// TestChartAsOCIArtifact).
		{[]string{"template", "--chart", "oci://127.0.0.1:9/charts/romana", "--version", "0.1.0"}, 1, "--chart oci://127.0.0.1:9/charts/romana --version 0.1.0: the registry cannot be reached: "},
		{[]string{"status", "-o", "wide"}, 2, `unknown output format "wide"; use one of table, json, yaml`},
		{[]string{"plan", "--cidr=10.0.0.0/24"}, 2, "the address plan does not fit"},
		{[]string{"template", "--env=custom"}, 2, "missing mandatory values"},
		{[]string{"status", "--kubeconfig", "/nonexistent/kubeconfig"}, 2, "load kubeconfig"},
		{[]string{"images", "mirror", "--to", "Bad Host/x"}, 2, `--to "Bad Host/x": not a registry/org prefix`},
		{[]string{"images"}, 2, "say list, mirror, save or load"},
		{[]string{"install", "--dry-run=maybe"}, 2, `--dry-run "maybe": use client or server`},
		{[]string{"install", "--dry-run=client", "--env=auto"}, 2, "cannot detect the environment"},
		{[]string{"check"}, 2, "--pre"},
		{[]string{"rollback", "x", "--kubeconfig", "/nonexistent/kubeconfig"}, 2, `REVISION "x"`},
		// The refusal itself, not the kubeconfig error that would also exit 2.
		{[]string{"install", "--skip-check", "placement", "--kubeconfig", "/nonexistent/kubeconfig"}, 2, "--skip-check placement: only ‼ checks can be skipped"},
		{[]string{"upgrade", "--skip-check", "nosuch", "--kubeconfig", "/nonexistent/kubeconfig"}, 2, `--skip-check "nosuch": unknown check`},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			r := run(t, tt.args...)
			if r.code != tt.code {
				t.Fatalf("exit %d, want %d: %s", r.code, tt.code, r.stderr)
			}
			if tt.code != 0 && r.stdout != "" {
				t.Errorf("a failed command printed to stdout: %q", r.stdout)
			}
			if !strings.Contains(r.stderr, tt.msg) {
				t.Errorf("stderr lacks %q:\n%s", tt.msg, r.stderr)
			}
		})
	}
}

func TestHelpDocumentsExitCodes(t *testing.T) {
	r := run(t, "--help")
	for _, want := range []string{"Exit codes:", "0  success", "1  operational failure", "2  invalid input"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("--help lacks %q", want)
		}
	}
}

// TestValuesKopsIsDefaultsUnderTheEnvFile gives values-kops-json.golden a reason: the
// effective values are chart/values.yaml with chart/env/kops.yaml laid over it (maps
// merged, everything else replaced), computed here from the two files independently of
// romanactl's code, and the kops numbers of the 2016 spec are there.
func TestValuesKopsIsDefaultsUnderTheEnvFile(t *testing.T) {
	read := func(p string) map[string]any {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]any{}
		if err := yaml.Unmarshal(data, &m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	var over func(a, b map[string]any) map[string]any
	over = func(a, b map[string]any) map[string]any {
		for k, v := range b {
			if bm, ok := v.(map[string]any); ok {
				if am, ok := a[k].(map[string]any); ok {
					a[k] = over(am, bm)
					continue
				}
			}
			a[k] = v
		}
		return a
	}
	want := over(read("../../chart/values.yaml"), read("../../chart/env/kops.yaml"))
	r := mustOK(t, run(t, "values", "--env=kops", "-o", "json"))
	var got map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
		t.Fatal(err)
	}
	wj, _ := json.Marshal(want)
	gj, _ := json.Marshal(got)
	if string(wj) != string(gj) {
		t.Errorf("values --env=kops is not values.yaml under env/kops.yaml:\n%s", lineDiff(string(wj), string(gj)))
	}
	for k, v := range map[string]string{"services.cidr": "10.192.0.0/10", "romanaRoot.clusterIP": "100.64.99.99", "agent.clusterIPCIDR": "100.64.0.0/12", "environment": "kops"} {
		if s, _ := values.LookupString(got, k); s != v {
			t.Errorf("%s = %q, want the kops spec's %q", k, s, v)
		}
	}
}

// TestTimeoutZeroIsNoLimit: --timeout=0 waits without a limit, and shows as 0s.
func TestTimeoutZeroIsNoLimit(t *testing.T) {
	var d time.Duration
	v := timeoutValue{&d}
	if err := v.Set("0"); err != nil || d != install.NoTimeLimit || v.String() != "0s" {
		t.Fatalf("Set(0): %v, %s, String %q", err, d, v.String())
	}
	if err := v.Set("90s"); err != nil || d != 90*time.Second {
		t.Fatalf("Set(90s): %v, %s", err, d)
	}
}
