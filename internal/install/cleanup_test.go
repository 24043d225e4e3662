package install

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"helm.sh/helm/v3/pkg/releaseutil"
	"sigs.k8s.io/yaml"

	romana "github.com/romana/romanactl"
	"github.com/romana/romanactl/internal/render"
)

// renderedCleanup is cleanup.sh exactly as the chart's ConfigMap romana-cleanup carries it.
func renderedCleanup(t *testing.T) string {
	t.Helper()
	ch, err := romana.Chart()
	if err != nil {
		t.Fatal(err)
	}
	r, err := render.Render(ch, map[string]any{}, render.RenderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, doc := range releaseutil.SplitManifests(r.Manifest) {
		var cm struct {
			Kind     string
			Metadata struct{ Name string }
			Data     map[string]string
		}
		if yaml.Unmarshal([]byte(doc), &cm) == nil && cm.Kind == "ConfigMap" && cm.Metadata.Name == "romana-cleanup" {
			return cm.Data["cleanup.sh"]
		}
	}
	t.Fatal("the render has no ConfigMap romana-cleanup")
	return ""
}

// TestCleanupScriptInANetworkNamespace runs the rendered cleanup script for real, with
// the real ip and iptables, in a fresh network namespace: the state run-romana-agent
// leaves (romana-gw with an address and a route, the ROMANA-MASQ chain and its
// POSTROUTING jump, the CNI plugin, its config, the CLI and its config under HOST_ROOT)
// beside state that is not Romana's. Two runs: Romana's state is gone after the first,
// the second finds it absent, and the rest is untouched.
func TestCleanupScriptInANetworkNamespace(t *testing.T) {
	for _, tool := range []string{"unshare", "ip", "iptables"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is missing (.ci/run installs iptables from Debian): %v", tool, err)
		}
	}
	dir := t.TempDir()
	script := filepath.Join(dir, "cleanup.sh")
	if err := os.WriteFile(script, []byte(renderedCleanup(t)), 0o755); err != nil {
		t.Fatal(err)
	}
	host := filepath.Join(dir, "host")
	for _, f := range []string{"etc/cni/net.d/10-romana.conf", "etc/cni/net.d/10-other.conf", "opt/cni/bin/romana", "opt/cni/bin/bridge",
		"usr/local/bin/romana", "usr/local/bin/kubectl", "etc/romana/cli.yml", "etc/romana/keep.txt"} {
		p := filepath.Join(host, f)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(f), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// The state as run-romana-agent makes it (a veth stands in for the dummy device
	// where the dummy module is missing), then the state of others.
	setup := `set -e
ip link set lo up
ip link add romana-gw type dummy 2>/dev/null || ip link add romana-gw type veth peer name romana-gwp
ip addr add 100.112.0.1/32 dev romana-gw
ip link set romana-gw up
ip route add 100.112.16.0/20 dev romana-gw
iptables -t nat -N ROMANA-MASQ
iptables -t nat -A ROMANA-MASQ -d 100.112.0.0/12 -j RETURN
iptables -t nat -A ROMANA-MASQ -d 10.96.0.0/12 -j RETURN
iptables -t nat -A ROMANA-MASQ -o eth0 -j MASQUERADE
iptables -t nat -A POSTROUTING -s 100.112.0.1/32 -j ROMANA-MASQ
ip link add other0 type veth peer name other1
iptables -t nat -N OTHER-MASQ
iptables -t nat -A POSTROUTING -s 10.0.0.1/32 -j OTHER-MASQ
iptables -t filter -A INPUT -s 192.0.2.1/32 -j DROP
`
	state := `echo "--- links"; ip -o link show | awk -F': ' '{print $2}'
echo "--- routes"; ip route show
echo "--- nat"; iptables -t nat -S
echo "--- filter"; iptables -t filter -S`
	sh := setup + "echo '=== before'\n" + state + "\necho '=== run 1'\nHOST_ROOT=" + host + " sh " + script + "; echo \"exit $?\"\n" +
		"echo '=== run 2'\nHOST_ROOT=" + host + " sh " + script + "; echo \"exit $?\"\necho '=== after'\n" + state + "\n"
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "unshare", "-n", "-m", "sh", "-c", sh).CombinedOutput()
	if err != nil {
		t.Fatalf("unshare: %v\n%s", err, out)
	}
	text := string(out)
	section := func(name string) string {
		i := strings.Index(text, "=== "+name+"\n")
		if i < 0 {
			t.Fatalf("no %s section:\n%s", name, text)
		}
		rest := text[i+len(name)+5:]
		if j := strings.Index(rest, "\n=== "); j >= 0 {
			return rest[:j]
		}
		return rest
	}
	before, run1, run2, after := section("before"), section("run 1"), section("run 2"), section("after")
	if !strings.Contains(before, "romana-gw") || !strings.Contains(before, "-A POSTROUTING -s 100.112.0.1/32 -j ROMANA-MASQ") {
		t.Fatalf("the setup did not make Romana's state:\n%s", before)
	}
	for _, want := range []string{"removed interface romana-gw", "removed nat POSTROUTING jumps to ROMANA-MASQ (1)", "removed nat chain ROMANA-MASQ",
		"removed /etc/cni/net.d/10-romana.conf", "removed /opt/cni/bin/romana", "removed /usr/local/bin/romana", "removed /etc/romana/cli.yml",
		"done: removed 7, failed 0", "exit 0"} {
		if !strings.Contains(run1, want) {
			t.Errorf("first run lacks %q:\n%s", want, run1)
		}
	}
	for _, want := range []string{"absent interface romana-gw", "absent nat POSTROUTING jumps", "absent nat chain ROMANA-MASQ", "absent /etc/cni/net.d/10-romana.conf",
		"done: removed 0, failed 0", "exit 0"} {
		if !strings.Contains(run2, want) {
			t.Errorf("second run lacks %q:\n%s", want, run2)
		}
	}
	for _, gone := range []string{"romana-gw", "100.112.16.0/20", "ROMANA-MASQ"} {
		if strings.Contains(after, gone) {
			t.Errorf("%s is still there:\n%s", gone, after)
		}
	}
	for _, kept := range []string{"other0", "other1", "-N OTHER-MASQ", "-A POSTROUTING -s 10.0.0.1/32 -j OTHER-MASQ", "-A INPUT -s 192.0.2.1/32 -j DROP"} {
		if !strings.Contains(after, kept) {
			t.Errorf("someone else's %q was touched:\n%s", kept, after)
		}
	}
	for _, f := range []string{"etc/cni/net.d/10-romana.conf", "opt/cni/bin/romana", "usr/local/bin/romana", "etc/romana/cli.yml"} {
		if _, err := os.Stat(filepath.Join(host, f)); err == nil {
			t.Errorf("/%s is still there", f)
		}
	}
	for _, f := range []string{"etc/cni/net.d/10-other.conf", "opt/cni/bin/bridge", "usr/local/bin/kubectl", "etc/romana/keep.txt"} {
		if _, err := os.Stat(filepath.Join(host, f)); err != nil {
			t.Errorf("someone else's /%s is gone: %v", f, err)
		}
	}

	// The datastore's data goes only when asked, and only its contents.
	data := filepath.Join(host, "var/lib/romana/db")
	if err := os.MkdirAll(filepath.Join(data, "ipam"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(data, "ibdata1"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	run := func(env ...string) string {
		cmd := exec.CommandContext(ctx, "unshare", "-n", "sh", script)
		cmd.Env = append(os.Environ(), append([]string{"HOST_ROOT=" + host}, env...)...)
		out, _ := cmd.CombinedOutput()
		return string(out)
	}
	if out := run("DATA_DIR=/var/lib/romana/db"); !strings.Contains(out, "done: removed 0, failed 0") {
		t.Errorf("without PURGE_DATASTORE: %s", out)
	}
	if _, err := os.Stat(filepath.Join(data, "ibdata1")); err != nil {
		t.Fatal("the datastore was removed without PURGE_DATASTORE=1")
	}
	if out := run("PURGE_DATASTORE=1", "DATA_DIR=/var/lib/romana/db"); !strings.Contains(out, "removed datastore data /var/lib/romana/db") || !strings.Contains(out, "done: removed 1, failed 0") {
		t.Errorf("with PURGE_DATASTORE=1: %s", out)
	}
	if entries, err := os.ReadDir(data); err != nil || len(entries) != 0 {
		t.Errorf("the datastore directory after the purge: %v %v", entries, err)
	}
}
