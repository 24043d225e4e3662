package cni

import (
	"bytes"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/containernetworking/cni/pkg/version"

	"github.com/romana/romanactl/internal/upstream"
)

// buildPlugin builds cmd/romana-cni, static, into a temporary directory.
func buildPlugin(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "romana")
	cmd := exec.Command("go", "build", "-o", bin, "../../cmd/romana-cni")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/romana-cni: %v\n%s", err, out)
	}
	return bin
}

// exec runs the plugin binary as a runtime does, in the node's namespace, and returns
// its stdout and exit error.
func (n *node) exec(t *testing.T, bin, command, netns, containerID string, conf []byte) (string, error) {
	t.Helper()
	cmd := exec.Command("ip", "netns", "exec", n.name, bin)
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "HOSTNAME=node-1", "CNI_COMMAND=" + command, "CNI_CONTAINERID=" + containerID,
		"CNI_NETNS=" + netns, "CNI_IFNAME=eth0", "CNI_PATH=/opt/cni/bin", "CNI_ARGS=IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=web-0"}
	cmd.Stdin = bytes.NewReader(conf)
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	err := cmd.Run()
	if stderr.Len() > 0 {
		t.Logf("%s stderr: %s", command, stderr.String())
	}
	return out.String(), err
}

// TestBinaryVersions runs the built plugin, as a runtime does, for every CNI version
// it claims: VERSION, ADD (the result in that version's form), CHECK (0.4.0 on), DEL
// twice; and a failure's answer on stdout with its code.
func TestBinaryVersions(t *testing.T) {
	n := newNode(t)
	bin := buildPlugin(t)
	// The fake listens in the node's namespace, where the binary runs.
	var ln net.Listener
	var lerr error
	n.in(t, func() { ln, lerr = net.Listen("tcp", "127.0.0.1:0") })
	if lerr != nil {
		t.Fatal(lerr)
	}
	f := newFakeRomana(t, ln)

	out, err := n.exec(t, bin, "VERSION", "", "", f.conf("1.1.0"))
	if err != nil {
		t.Fatalf("VERSION: %v", err)
	}
	pi, err := (&version.PluginDecoder{}).Decode([]byte(out))
	if err != nil {
		t.Fatalf("VERSION's answer %q: %v", out, err)
	}
	for _, v := range []string{"0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"} {
		if !contains(pi.SupportedVersions(), v) {
			t.Errorf("VERSION %s: lacks %s", out, v)
		}
	}

	for _, v := range SupportedVersions {
		t.Run(v, func(t *testing.T) {
			pod := newNetnsPod(t)
			id := uniq("c0ffee")
			conf := f.conf(v)
			out, err := n.exec(t, bin, "ADD", pod, id, conf)
			if err != nil {
				t.Fatalf("ADD: %v\n%s", err, out)
			}
			t.Logf("ADD, cniVersion %s: %s", v, out)
			addr := f.allocated()["default/web-0"]
			if addr == "" || !strings.Contains(out, addr+"/32") {
				t.Fatalf("ADD's result %s: want %s/32", out, addr)
			}
			var res map[string]any
			if err := json.Unmarshal([]byte(out), &res); err != nil || res["cniVersion"] != v {
				t.Fatalf("ADD's result %s: want cniVersion %s (%v)", out, v, err)
			}
			if _, err := version.NewResult(v, []byte(out)); err != nil {
				t.Errorf("ADD's result is not a %s result: %v", v, err)
			}
			if ok, _ := version.GreaterThanOrEqualTo(v, "0.4.0"); ok {
				if out, err := n.exec(t, bin, "CHECK", pod, id, withPrev(t, conf, out)); err != nil {
					t.Errorf("CHECK: %v\n%s", err, out)
				}
			}
			for i := 0; i < 2; i++ {
				if out, err := n.exec(t, bin, "DEL", pod, id, conf); err != nil {
					t.Fatalf("DEL #%d: %v\n%s", i+1, err, out)
				}
			}
			if v := n.podVeths(t); len(v) > 0 || len(f.allocated()) > 0 {
				t.Errorf("after DEL: node links %v, ipam holds %v", v, f.allocated())
			}
		})
	}

	t.Run("upstream's 10-romana.conf, agent on its default address", func(t *testing.T) {
		// The agent's own port in the node's namespace, served by the same fake.
		var aln net.Listener
		var err error
		n.in(t, func() { aln, err = net.Listen("tcp", "127.0.0.1:9604") })
		if err != nil {
			t.Fatal(err)
		}
		agent := &http.Server{Handler: http.HandlerFunc(f.serve)}
		go agent.Serve(aln)
		defer agent.Close()
		// Upstream's file as the agent's entrypoint leaves it: romana-root replaced by the URL.
		up, err := os.ReadFile(upstream.Path(t, "romana-v0.9.3.5", "romana", "containerize", "targets", "agent", "10-romana.conf"))
		if err != nil {
			t.Fatal(err)
		}
		conf := bytes.Replace(up, []byte(`"romana-root"`), []byte(`"`+f.srv.URL+`"`), 1)
		posts := len(f.agentPosts)
		pod, id := newNetnsPod(t), uniq("c0ffee")
		out, err := n.exec(t, bin, "ADD", pod, id, conf)
		if err != nil || !strings.Contains(out, `"ip4"`) {
			t.Fatalf("ADD with upstream's configuration: %v\n%s", err, out)
		}
		if len(f.agentPosts) != posts+1 {
			t.Errorf("the agent on 127.0.0.1:9604 got %d POST /pod, want 1", len(f.agentPosts)-posts)
		}
		if out, err := n.exec(t, bin, "DEL", pod, id, conf); err != nil {
			t.Fatalf("DEL: %v\n%s", err, out)
		}
	})

	t.Run("a failure is a CNI error on stdout", func(t *testing.T) {
		conf := bytes.Replace(f.conf("1.0.0"), []byte(`"romana_root":"`+f.srv.URL), []byte(`"romana_root":"romana-root`), 1)
		out, err := n.exec(t, bin, "ADD", newNetnsPod(t), uniq("c0ffee"), conf)
		if err == nil {
			t.Fatalf("ADD with a bad romana_root succeeded: %s", out)
		}
		var e struct {
			CNIVersion string `json:"cniVersion"`
			Code       uint   `json:"code"`
			Msg        string `json:"msg"`
			Details    string `json:"details"`
		}
		if jerr := json.Unmarshal([]byte(out), &e); jerr != nil || e.Code != CodeBadConfig || !strings.Contains(e.Details, `romana_root "romana-root"`) {
			t.Errorf("ADD's answer %q (%v): want code %d naming romana_root", out, jerr, CodeBadConfig)
		}
	})
}
