package testcluster

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// Proxy is a fault-injecting reverse proxy in front of the cluster's kube-apiserver.
// Clients reach it over plain HTTP on loopback with no credentials; it forwards with
// the admin's. Rules make chosen requests fail, wait, or lose their connection, and
// every request is recorded, so a test can assert what reached the API server.
type Proxy struct {
	// URL is the proxy's address; KubeconfigPath points a client at it.
	URL            string
	KubeconfigPath string

	srv   *http.Server
	ln    net.Listener
	mu    sync.Mutex
	rules []*Rule
	log   []Request
}

// Rule matches requests by method and path and decides their fate.
type Rule struct {
	// Method ("" for any) and PathContains ("" for any) select requests.
	Method       string
	PathContains string
	// Times limits how many requests the rule acts on (0: no limit).
	Times int
	// Status, when set, answers with this HTTP status instead of forwarding.
	Status int
	// Delay waits before forwarding (or failing).
	Delay time.Duration
	// Cut closes the client's connection without an answer.
	Cut bool
	// DropAnswer forwards the request, then closes the client's connection without
	// the API server's answer: a connection lost after the server applied a write.
	DropAnswer bool

	hits int
}

// Request is one request the proxy saw, and what it did with it.
type Request struct {
	Method, Path string
	Fault        string // "", "status 500", "cut", "delay 2s", "answer dropped"
	// At is when the request reached the proxy; Status is the API server's answer
	// (0 when there was none), so a test can tell a write that changed something from
	// one the server refused (a 409 Conflict).
	At     time.Time
	Status int
}

// statusWriter remembers the status of a forwarded answer. Unwrap lets the reverse
// proxy flush through it (watches stream).
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// StartProxy starts a proxy in front of the cluster and writes a kubeconfig for it in dir.
func (c *Cluster) StartProxy(dir string) (*Proxy, error) {
	target, err := url.Parse(c.Config.Host)
	if err != nil {
		return nil, err
	}
	tr, err := rest.TransportFor(c.Config)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Proxy{URL: "http://" + ln.Addr().String(), ln: ln}
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.Transport = tr
	rp.FlushInterval = -1 // watches stream
	p.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rule := p.match(r)
		req := Request{Method: r.Method, Path: r.URL.Path, At: time.Now()}
		if rule != nil {
			if rule.Delay > 0 {
				req.Fault = "delay " + rule.Delay.String()
				select {
				case <-time.After(rule.Delay):
				case <-r.Context().Done():
					return
				}
			}
			switch {
			case rule.Cut:
				req.Fault = "cut"
				p.record(req)
				if hj, ok := w.(http.Hijacker); ok {
					if conn, _, err := hj.Hijack(); err == nil {
						_ = conn.Close()
						return
					}
				}
				panic(http.ErrAbortHandler)
			case rule.DropAnswer:
				rec := httptest.NewRecorder()
				rp.ServeHTTP(rec, r)
				req.Fault, req.Status = "answer dropped", rec.Code
				p.record(req)
				if hj, ok := w.(http.Hijacker); ok {
					if conn, _, err := hj.Hijack(); err == nil {
						_ = conn.Close()
						return
					}
				}
				panic(http.ErrAbortHandler)
			case rule.Status != 0:
				req.Fault = "status " + strconv.Itoa(rule.Status)
				req.Status = rule.Status
				p.record(req)
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(rule.Status)
				fmt.Fprintf(w, `{"kind":"Status","apiVersion":"v1","status":"Failure","message":"injected fault: %d","reason":"InternalError","code":%d}`, rule.Status, rule.Status)
				return
			}
		}
		sw := &statusWriter{ResponseWriter: w}
		rp.ServeHTTP(sw, r)
		req.Status = sw.status
		p.record(req)
	}), TLSNextProto: map[string]func(*http.Server, *tls.Conn, http.Handler){}}
	go func() { _ = p.srv.Serve(ln) }()

	kc := clientcmdapi.NewConfig()
	kc.Clusters["proxy"] = &clientcmdapi.Cluster{Server: p.URL}
	kc.AuthInfos["proxy"] = &clientcmdapi.AuthInfo{}
	kc.Contexts["proxy"] = &clientcmdapi.Context{Cluster: "proxy", AuthInfo: "proxy"}
	kc.CurrentContext = "proxy"
	p.KubeconfigPath = filepath.Join(dir, "proxy-kubeconfig")
	if err := clientcmd.WriteToFile(*kc, p.KubeconfigPath); err != nil {
		p.Close()
		return nil, err
	}
	return p, nil
}

func (p *Proxy) match(r *http.Request) *Rule {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, rule := range p.rules {
		if rule.Method != "" && rule.Method != r.Method {
			continue
		}
		if rule.PathContains != "" && !strings.Contains(r.URL.Path, rule.PathContains) {
			continue
		}
		if rule.Times > 0 && rule.hits >= rule.Times {
			continue
		}
		rule.hits++
		return rule
	}
	return nil
}

func (p *Proxy) record(r Request) {
	p.mu.Lock()
	p.log = append(p.log, r)
	p.mu.Unlock()
}

// Add installs a rule; the returned function removes it.
func (p *Proxy) Add(r *Rule) (remove func()) {
	p.mu.Lock()
	p.rules = append(p.rules, r)
	p.mu.Unlock()
	return func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		for i, x := range p.rules {
			if x == r {
				p.rules = append(p.rules[:i], p.rules[i+1:]...)
				return
			}
		}
	}
}

// Hits says how many requests a rule acted on.
func (p *Proxy) Hits(r *Rule) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return r.hits
}

// Requests returns the requests seen so far and forgets them.
func (p *Proxy) Requests() []Request {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := p.log
	p.log = nil
	return out
}

// Writes filters requests that change something (SelfSubjectAccessReviews, which
// only ask, and dry runs are left out by the caller's judgement: see IsWrite).
func Writes(rs []Request) []Request {
	var out []Request
	for _, r := range rs {
		if IsWrite(r) {
			out = append(out, r)
		}
	}
	return out
}

// IsWrite: a POST, PUT, PATCH or DELETE that reached the API server (an answer dropped
// on the way back included), except the
// access reviews the pre-flight asks (they store nothing).
func IsWrite(r Request) bool {
	switch r.Method {
	case http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
	default:
		return false
	}
	return (r.Fault == "" || r.Fault == "answer dropped") && !strings.Contains(r.Path, "selfsubjectaccessreviews")
}

// Close stops the proxy.
func (p *Proxy) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = p.srv.Shutdown(ctx)
	_ = p.srv.Close()
}

// apiServerPID finds the kube-apiserver this process runs (envtest starts it as a child).
func (c *Cluster) apiServerPID() (int, error) {
	if c.apiserver != nil {
		return c.apiserver.Process.Pid, nil
	}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0, err
	}
	me := strconv.Itoa(os.Getpid())
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...
		s := string(stat)
		rest := s[strings.LastIndexByte(s, ')')+2:]
		f := strings.Fields(rest)
		if len(f) < 2 || f[1] != me || !strings.Contains(s, "(kube-apiserver)") {
			continue
		}
		return pid, nil
	}
	return 0, fmt.Errorf("no kube-apiserver child of pid %s", me)
}

// StopAPIServer kills kube-apiserver with SIGKILL, as a crash or a lost machine would
// (a SIGTERM lets it drain for up to ~30 s, which blurs when it went away), while etcd
// and every other component keep running. It returns a function that starts it again
// with the same arguments, certificates and port, and waits until it serves.
func (c *Cluster) StopAPIServer() (restart func(ctx context.Context) error, err error) {
	pid, err := c.apiServerPID()
	if err != nil {
		return nil, err
	}
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return nil, err
	}
	argv := strings.Split(strings.TrimRight(string(raw), "\x00"), "\x00")
	proc, _ := os.FindProcess(pid)
	if err := proc.Signal(syscall.SIGKILL); err != nil {
		return nil, err
	}
	if c.apiserver != nil {
		_ = c.apiserver.Wait()
	} else {
		deadline := time.Now().Add(30 * time.Second)
		for time.Now().Before(deadline) {
			if _, err := os.Stat(fmt.Sprintf("/proc/%d/cmdline", pid)); err != nil {
				break
			}
			// envtest reaps its own child; a zombie has an empty cmdline.
			if b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid)); len(b) == 0 {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return func(ctx context.Context) error {
		cmd := exec.Command(argv[0], argv[1:]...)
		logf, err := os.Create(filepath.Join(os.TempDir(), fmt.Sprintf("kube-apiserver-restart-%d.log", time.Now().UnixNano())))
		if err != nil {
			return err
		}
		cmd.Stdout, cmd.Stderr = logf, logf
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if err := cmd.Start(); err != nil {
			return err
		}
		c.apiserver = cmd
		ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
		defer cancel()
		for {
			if _, err := c.Client.Discovery().ServerVersion(); err == nil {
				return nil
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("kube-apiserver did not come back: %w", ctx.Err())
			case <-time.After(200 * time.Millisecond):
			}
		}
	}, nil
}

// RestartComponent stops one of the components this cluster started
// (kube-controller-manager, kube-scheduler, kwok) and starts it again with the same
// arguments. On a real control plane these run with leader election: one that cannot
// renew its lease while kube-apiserver is away exits, and the kubelet starts it again
// with fresh caches. Tests of an API-server outage restart them the same way.
func (c *Cluster) RestartComponent(name string) error {
	for i, p := range c.procs {
		if filepath.Base(p.Path) != name {
			continue
		}
		stopProcess(p, 10*time.Second)
		cmd := exec.Command(p.Path, p.Args[1:]...)
		cmd.Stdout, cmd.Stderr = p.Stdout, p.Stderr
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if err := cmd.Start(); err != nil {
			return fmt.Errorf("restart %s: %w", name, err)
		}
		c.procs[i] = cmd
		return nil
	}
	return fmt.Errorf("no component %s", name)
}

// AcceptedWritesSince filters the writes (IsWrite) that reached the proxy after t and
// that the API server accepted (a 2xx answer): what changed the cluster since t.
func AcceptedWritesSince(rs []Request, t time.Time) []Request {
	var out []Request
	for _, r := range rs {
		if IsWrite(r) && r.At.After(t) && r.Status >= 200 && r.Status < 300 {
			out = append(out, r)
		}
	}
	return out
}
