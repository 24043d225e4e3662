package cni

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/plugins/pkg/netlinksafe"
	"github.com/containernetworking/plugins/pkg/ns"
)

// fakeRomana is romana-root, kube-cni-proxy and the agent in one HTTP server, answering
// as the v0.9.3.5 programs do (root's service list, kube-cni-proxy's 404 for a pod it
// holds no allocation for, the agent's "OK"), with switches to make each one fail.
type fakeRomana struct {
	srv *httptest.Server

	mu           sync.Mutex
	next         int
	allocs       map[string]string // namespace/pod → address
	calls        []string
	agentPosts   []podRequest
	agentDeletes []podRequest

	// failures
	noProxy        bool // root's list lacks kube-cni-proxy
	allocStatus    int  // POST /endpoints answers this status
	allocNoIP      bool // POST /endpoints answers without an address
	namespaceFails bool // GET /namespaces answers 500
	agentStatus    int  // POST /pod answers this status
	isolation      bool // the namespace has DefaultDeny

	// meet, when set, makes POST /endpoints and GET /namespaces each wait (up to
	// 2 s, outside mu) for the other to arrive, answering 500 when it does not: a
	// plugin asking one after the other fails.
	meet *rendezvous
}

type rendezvous struct{ endpoints, namespaces chan struct{} }

func newRendezvous() *rendezvous {
	return &rendezvous{endpoints: make(chan struct{}), namespaces: make(chan struct{})}
}

// arrive says that mine came and waits for other.
func (m *rendezvous) arrive(mine, other chan struct{}) bool {
	close(mine)
	select {
	case <-other:
		return true
	case <-time.After(2 * time.Second):
		return false
	}
}

func newFakeRomana(t *testing.T, ln net.Listener) *fakeRomana {
	f := &fakeRomana{allocs: map[string]string{}}
	f.srv = httptest.NewUnstartedServer(http.HandlerFunc(f.serve))
	if ln != nil {
		f.srv.Listener.Close()
		f.srv.Listener = ln
	}
	f.srv.Start()
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeRomana) serve(w http.ResponseWriter, r *http.Request) {
	if m := f.meet; m != nil {
		var ok bool
		switch {
		case r.Method == "POST" && r.URL.Path == "/endpoints":
			ok = m.arrive(m.endpoints, m.namespaces)
		case r.Method == "GET" && r.URL.Path == "/namespaces":
			ok = m.arrive(m.namespaces, m.endpoints)
		default:
			ok = true
		}
		if !ok {
			http.Error(w, "asked alone: the other request did not come within 2s", 500)
			return
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, r.Method+" "+r.URL.Path)
	switch {
	case r.Method == "GET" && r.URL.Path == "/":
		svcs := []map[string]any{
			{"name": "ipam", "links": []map[string]string{{"href": "http://10.0.0.1:9601", "rel": "service"}}},
		}
		if !f.noProxy {
			svcs = append(svcs, map[string]any{"name": "kube-cni-proxy", "links": []map[string]string{{"href": f.srv.URL, "rel": "service"}}})
		}
		json.NewEncoder(w).Encode(map[string]any{"service_name": "root", "services": svcs,
			"links": []map[string]string{{"href": "/config/ipam", "rel": "ipam-config"}}})
	case r.URL.Path == "/endpoints":
		var req endpointRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.Namespace == "" || req.PodName == "" || (r.Method == "POST" && req.Host == "") {
			http.Error(w, "romanaCNIRequest incomplete", 422)
			return
		}
		key := req.Namespace + "/" + req.PodName
		if r.Method == "DELETE" {
			ip, ok := f.allocs[key]
			if !ok {
				http.Error(w, "allocation info for address for '"+key+"' not found", http.StatusNotFound)
				return
			}
			delete(f.allocs, key)
			fmt.Fprintf(w, `{"ip":%q}`, ip)
			return
		}
		if f.allocStatus != 0 {
			http.Error(w, "Error during request to ipam", f.allocStatus)
			return
		}
		if f.allocNoIP {
			fmt.Fprint(w, `{"tenant_id":"1"}`)
			return
		}
		f.next++
		ip := fmt.Sprintf("10.112.%d.%d", f.next/250, f.next%250+3)
		f.allocs[key] = ip
		fmt.Fprintf(w, `{"ip":%q,"name":%q}`, ip, req.PodName)
	case r.Method == "GET" && r.URL.Path == "/namespaces":
		if f.namespaceFails {
			http.Error(w, "Error invoking kubectl", 500)
			return
		}
		ann := map[string]string{}
		if f.isolation {
			ann["net.beta.kubernetes.io/networkpolicy"] = `{"ingress":{"isolation":"DefaultDeny"}}`
		}
		json.NewEncoder(w).Encode(map[string]any{"metadata": map[string]any{"name": r.URL.Query().Get("namespace"), "annotations": ann}})
	case r.URL.Path == "/pod":
		var req podRequest
		json.NewDecoder(r.Body).Decode(&req)
		if r.Method == "POST" {
			if f.agentStatus != 0 {
				http.Error(w, "agent says no", f.agentStatus)
				return
			}
			f.agentPosts = append(f.agentPosts, req)
		} else {
			f.agentDeletes = append(f.agentDeletes, req)
		}
		fmt.Fprint(w, `"OK"`)
	default:
		http.NotFound(w, r)
	}
}

func (f *fakeRomana) count(call string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.calls {
		if c == call {
			n++
		}
	}
	return n
}

func (f *fakeRomana) allocated() map[string]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	m := map[string]string{}
	for k, v := range f.allocs {
		m[k] = v
	}
	return m
}

func (f *fakeRomana) conf(cniVersion string) []byte {
	return []byte(fmt.Sprintf(`{"cniVersion":%q,"name":"romana-k8s-network","type":"romana","romana_root":%q,
"segment_label_name":"romanaSegment","agent_url":%q,"ipam":{"type":"romana-ipam"}}`, cniVersion, f.srv.URL, f.srv.URL))
}

func uniq(prefix string) string {
	b := make([]byte, 4)
	rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// needRoot skips, loudly, where the test cannot make network namespaces.
func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("SKIPPED: the plugin tests make network namespaces and veth pairs: run them as root")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("SKIPPED: no ip(8) to make the test's network namespaces (make host-tools)")
	}
}

func run(t *testing.T, name string, args ...string) {
	t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

// node is a network namespace standing in for a node: lo up and romana-gw with the
// node's gateway address, as the agent leaves it (a veth, since this kernel has no dummy
// links).
type node struct {
	name, path string
	gw         string
}

func newNode(t *testing.T) *node {
	needRoot(t)
	n := &node{name: uniq("rcni-node-"), gw: "10.112.0.1"}
	n.path = "/var/run/netns/" + n.name
	run(t, "ip", "netns", "add", n.name)
	t.Cleanup(func() { exec.Command("ip", "netns", "delete", n.name).Run() })
	run(t, "ip", "-n", n.name, "link", "set", "lo", "up")
	run(t, "ip", "-n", n.name, "link", "add", GatewayLink, "type", "veth", "peer", "name", "romana-gwp")
	run(t, "ip", "-n", n.name, "link", "set", GatewayLink, "up")
	run(t, "ip", "-n", n.name, "addr", "add", n.gw+"/28", "dev", GatewayLink)
	return n
}

// in runs fn on a thread in the node's namespace (the plugin's host namespace). HTTP
// dials happen on other threads, in the test's own namespace, where the fake listens.
func (n *node) in(t *testing.T, fn func()) {
	t.Helper()
	done := make(chan struct{})
	var setErr error
	go func() {
		defer close(done)
		runtime.LockOSThread()
		orig, err := ns.GetCurrentNS()
		if err != nil {
			setErr = err
			return
		}
		defer orig.Close()
		target, err := ns.GetNS(n.path)
		if err != nil {
			setErr = err
			return
		}
		defer target.Close()
		if err := target.Set(); err != nil {
			setErr = err
			return
		}
		fn()
		if orig.Set() == nil {
			runtime.UnlockOSThread()
		}
	}()
	<-done
	if setErr != nil {
		t.Fatalf("enter node namespace: %v", setErr)
	}
}

// links returns the names of the links in the namespace at path, lo left out.
func links(t *testing.T, path string) []string {
	t.Helper()
	var names []string
	err := ns.WithNetNSPath(path, func(ns.NetNS) error {
		ls, err := netlinksafe.LinkList()
		if err != nil {
			return err
		}
		for _, l := range ls {
			if l.Attrs().Name != "lo" {
				names = append(names, l.Attrs().Name)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("list links in %s: %v", path, err)
	}
	return names
}

// podVeths are the node's links the plugin made (veth0-…).
func (n *node) podVeths(t *testing.T) []string {
	var out []string
	for _, l := range links(t, n.path) {
		if strings.HasPrefix(l, "veth0-") {
			out = append(out, l)
		}
	}
	return out
}

// newNetnsPod makes a pod namespace as containerd does: /var/run/netns/NAME.
func newNetnsPod(t *testing.T) string {
	name := uniq("rcni-pod-")
	run(t, "ip", "netns", "add", name)
	t.Cleanup(func() { exec.Command("ip", "netns", "delete", name).Run() })
	return "/var/run/netns/" + name
}

// newProcPod makes a pod namespace as dockershim named it: /proc/PID/ns/net of a
// process in its own network namespace.
func newProcPod(t *testing.T) string {
	needRoot(t)
	if _, err := exec.LookPath("unshare"); err != nil {
		t.Skip("SKIPPED: no unshare(1) for a /proc/PID/ns/net pod (make host-tools)")
	}
	cmd := exec.Command("unshare", "--net", "sleep", "600")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	self, _ := os.Readlink("/proc/self/ns/net")
	path := fmt.Sprintf("/proc/%d/ns/net", cmd.Process.Pid)
	for i := 0; i < 200; i++ {
		if l, err := os.Readlink(path); err == nil && l != self {
			return path
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("%s never left the test's namespace", path)
	return ""
}

func cmdArgs(conf []byte, netns, pod string) *skel.CmdArgs {
	return &skel.CmdArgs{ContainerID: uniq("c0ffee"), Netns: netns, IfName: "eth0",
		Args: "IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=" + pod + ";K8S_POD_INFRA_CONTAINER_ID=x", StdinData: conf}
}
