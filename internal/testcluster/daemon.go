package testcluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

// The files a background cluster keeps in its directory (.cluster/ for make).
const (
	pidFile   = "serve.pid"
	readyFile = "ready"
	logFile   = "serve.log"
)

// ServeOptions configure a background cluster: the control plane and kwok's nodes
// (Options), and the real nodes the serve process runs (a control-plane node and
// RealNodes workers, AddRealNodes), for as long as it runs.
type ServeOptions struct {
	Options
	// RealNodes is the number of real workers; with any, control-plane-0 is real too
	// and kwok's workers are numbered after the real ones. 0: kwok's nodes only.
	RealNodes int
	// Runtime is what each real node emulates: RuntimeDocker or RuntimeContainerd.
	Runtime string
	// RomanaSrc is Romana's v0.9.3.5 source tree (ROMANA_SRC); RomanaBin the programs
	// `make romana-bin` built from it (default BinDir/romana-v0.9.3.5).
	RomanaSrc, RomanaBin string
}

// realTools are the host programs a real node runs itself (its namespaces, its network,
// the Service rules, a pod's exec).
var realTools = []string{"ip", "unshare", "nsenter", "iptables-restore", "sysctl"}

// Check reports every problem with the options at once, each with its fix. It fills in
// the defaults of RomanaBin.
func (o *ServeOptions) Check() error {
	var errs []error
	if o.Workers < 0 {
		errs = append(errs, fmt.Errorf("--workers %d: the number of kwok workers must be 0 or more", o.Workers))
	}
	if o.RealNodes < 0 {
		errs = append(errs, fmt.Errorf("--real-nodes %d: the number of real workers must be 0 or more (REAL_NODES=0 for none)", o.RealNodes))
	}
	if o.Runtime != RuntimeDocker && o.Runtime != RuntimeContainerd {
		errs = append(errs, fmt.Errorf("--runtime %q: a real node emulates %s or %s (RUNTIME=docker|containerd)", o.Runtime, RuntimeDocker, RuntimeContainerd))
	}
	if o.RealNodes <= 0 {
		return errors.Join(errs...)
	}
	if o.RomanaBin == "" {
		o.RomanaBin = RomanaBinDir(o.BinDir)
	}
	if _, err := os.Stat(filepath.Join(o.RomanaBin, ".stamp")); err != nil {
		errs = append(errs, fmt.Errorf("Romana's programs are not built in %s: run `make romana-bin` (it builds them from ROMANA_SRC)", o.RomanaBin))
	}
	if o.RomanaSrc == "" {
		errs = append(errs, errors.New("Romana's v0.9.3.5 sources: none given; set ROMANA_SRC (or --romana-src) to Romana's v0.9.3.5 tree (README: Romana's programs)"))
	} else if _, err := os.Stat(filepath.Join(o.RomanaSrc, "romana", "containerize", "targets")); err != nil {
		errs = append(errs, fmt.Errorf("--romana-src %s is not Romana's v0.9.3.5 tree (no romana/containerize/targets); set ROMANA_SRC to it (README: Romana's programs)", o.RomanaSrc))
	}
	if _, err := os.Stat(filepath.Join(o.BinDir, "kubectl")); err != nil {
		errs = append(errs, fmt.Errorf("kubectl is missing from %s (the real nodes' kubectl image): run `make controlplane`", o.BinDir))
	}
	for _, t := range realTools {
		if _, err := exec.LookPath(t); err != nil {
			errs = append(errs, fmt.Errorf("%s is not on PATH (a real node runs it): run `make host-tools`", t))
		}
	}
	if os.Geteuid() != 0 {
		errs = append(errs, errors.New("real nodes need root (network and mount namespaces): run as root, or REAL_NODES=0"))
	}
	return errors.Join(errs...)
}

// nodeCount is how many nodes the cluster registers.
func (o ServeOptions) nodeCount() int {
	if o.RealNodes > 0 {
		return o.Workers + o.RealNodes + 1
	}
	return o.Workers + 1
}

// Up starts a cluster in the background (a detached `serve` process) and returns when it
// is ready. It is idempotent: a healthy cluster is left alone, and a stale one (its
// server gone, or never ready) is cleaned up first.
func Up(ctx context.Context, self string, o ServeOptions, out io.Writer) error {
	dir, err := filepath.Abs(o.Dir)
	if err != nil {
		return err
	}
	if err := o.Check(); err != nil {
		return err
	}
	if Healthy(ctx, dir) {
		// A healthy cluster is left alone, but only when it is what was asked for.
		st, _ := ReadState(dir)
		real := max(len(st.Nodes)-1, 0)
		if real != o.RealNodes || (o.RealNodes > 0 && st.Nodes[0].Runtime != o.Runtime) {
			have := "no real nodes"
			if real > 0 || len(st.Nodes) > 0 {
				have = fmt.Sprintf("%d real workers on %s", real, st.Nodes[0].Runtime)
			}
			return fmt.Errorf("the cluster up in %s has %s, not the %d real workers on %s asked for: `make cluster-down` first", dir, have, o.RealNodes, o.Runtime)
		}
		fmt.Fprintf(out, "cluster already up: %s\n", filepath.Join(dir, "kubeconfig"))
		return nil
	}
	if _, err := os.Stat(dir); err == nil {
		fmt.Fprintf(out, "cleaning up a stale cluster in %s\n", dir)
		if err := Down(dir, io.Discard); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(filepath.Join(dir, "tmp"), 0o755); err != nil {
		return err
	}
	logf, err := os.Create(filepath.Join(dir, logFile))
	if err != nil {
		return err
	}
	defer logf.Close()
	bin, err := filepath.Abs(o.BinDir)
	if err != nil {
		return err
	}
	args := []string{"serve", "--dir", dir, "--bin", bin, "--workers", strconv.Itoa(o.Workers), "--k8s", o.Minor,
		"--real-nodes", strconv.Itoa(o.RealNodes), "--runtime", o.Runtime}
	if o.RealNodes > 0 {
		src, err := filepath.Abs(o.RomanaSrc)
		if err != nil {
			return err
		}
		args = append(args, "--romana-src", src)
	}
	cmd := exec.Command(self, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	// envtest keeps etcd's data and the API server's certificates under TMPDIR; keeping
	// them in dir means every process of this cluster names dir on its command line,
	// which is how a stale one is found and stopped.
	cmd.Env = append(os.Environ(), "TMPDIR="+filepath.Join(dir, "tmp"))
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start cluster server: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	wait := 120 * time.Second
	if o.RealNodes > 0 {
		wait += time.Duration(o.RealNodes+1) * 20 * time.Second
	}
	deadline := time.After(wait)
	for {
		if _, err := os.Stat(filepath.Join(dir, readyFile)); err == nil {
			fmt.Fprintf(out, "cluster up: %d nodes ready, kubeconfig %s\n", o.nodeCount(), filepath.Join(dir, "kubeconfig"))
			if o.RealNodes > 0 {
				names := []string{"control-plane-0"}
				for i := range o.RealNodes {
					names = append(names, fmt.Sprintf("worker-%d", i))
				}
				fmt.Fprintf(out, "real nodes (%s): %s; `cluster exec NODE -- CMD` runs a command on one, `cluster pod add NODE NAME` a pod\n", o.Runtime, strings.Join(names, ", "))
				if Python2() == "" {
					fmt.Fprintln(out, "note: no Python 2.7 for the agent image's agent.py (ROMANACTL_PYTHON2, or pyenv's 2.7): Romana's agent will not start on the real nodes")
				}
			}
			return nil
		}
		select {
		case err := <-exited:
			return fmt.Errorf("cluster server exited (%v); its log:\n%s", err, tail(filepath.Join(dir, logFile), 30))
		case <-deadline:
			return fmt.Errorf("cluster not ready after %s; log in %s", wait, filepath.Join(dir, logFile))
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// Serve runs a cluster in the foreground until SIGINT or SIGTERM: the control plane,
// kwok's nodes and the real nodes with their runtime. Up starts it detached. It
// publishes the real nodes (State, in nodes.json) and answers bin/cluster exec on the
// control socket.
func Serve(ctx context.Context, o ServeOptions) (err error) {
	dir, err := filepath.Abs(o.Dir)
	if err != nil {
		return err
	}
	o.Dir = dir
	if err := o.Check(); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, pidFile), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	if o.RealNodes > 0 {
		// AddRealNodes adds control-plane-0; kwok's workers come after the real ones.
		o.NoControlPlaneNode, o.FirstWorker = true, o.RealNodes
	}
	c, err := Start(ctx, o.Options)
	if err != nil {
		return err
	}
	var rn *RealNodes
	stopControl := func() {}
	defer func() {
		fmt.Fprintln(o.Log, "stopping")
		stopControl()
		if rn != nil {
			rn.Stop()
		}
		err = errors.Join(err, c.Stop())
		_ = os.Remove(filepath.Join(dir, readyFile))
		_ = os.Remove(filepath.Join(dir, stateFile))
		_ = os.Remove(filepath.Join(dir, pidFile))
	}()
	socket := filepath.Join(dir, controlSocket)
	if o.RealNodes > 0 {
		start := time.Now()
		kubectl := filepath.Join(o.BinDir, "kubectl")
		if kubectl, err = filepath.Abs(kubectl); err != nil {
			return err
		}
		cniPlugin, err := filepath.Abs(filepath.Join(o.BinDir, "romana-cni"))
		if err != nil {
			return err
		}
		if rn, err = c.AddRealNodes(ctx, o.RealNodes, false, o.Runtime, o.RomanaBin, o.RomanaSrc, kubectl, cniPlugin); err != nil {
			return fmt.Errorf("real nodes: %w", err)
		}
		// Published before anything else can fail: `cluster down` removes the nodes'
		// network namespaces from it even when this process is killed.
		if err := WriteState(dir, c.State(rn, socket)); err != nil {
			return err
		}
		if err := c.WaitNodesReady(ctx, time.Minute); err != nil {
			return err
		}
		if stopControl, err = c.serveControl(socket, rn); err != nil {
			return err
		}
		fmt.Fprintf(o.Log, "%d real nodes (%s) up in %.1fs\n", len(rn.Nodes), o.Runtime, time.Since(start).Seconds())
	} else if err := WriteState(dir, c.State(nil, "")); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, readyFile), nil, 0o644); err != nil {
		return err
	}
	<-ctx.Done()
	return nil
}

// Healthy reports whether the cluster in dir is up and its API server answers.
func Healthy(ctx context.Context, dir string) bool {
	if _, err := os.Stat(filepath.Join(dir, readyFile)); err != nil {
		return false
	}
	if pid := readPid(dir); pid == 0 || syscall.Kill(pid, 0) != nil {
		return false
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", filepath.Join(dir, "kubeconfig"))
	if err != nil {
		return false
	}
	cfg.Timeout = 3 * time.Second
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return false
	}
	_, err = cs.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
	return err == nil
}

// Down stops the cluster in dir and removes dir. Processes left by a server that died
// (found by dir on their command line) are killed too.
func Down(dir string, out io.Writer) error {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	if pid := readPid(dir); pid != 0 && syscall.Kill(pid, 0) == nil {
		_ = syscall.Kill(pid, syscall.SIGTERM)
		// A real node stops its pods first, each with its CNI plugin's DEL.
		for i := 0; i < 450 && syscall.Kill(pid, 0) == nil; i++ {
			time.Sleep(200 * time.Millisecond)
		}
	}
	killed := killStale(dir)
	// A serve process that was killed leaves its real nodes' network namespaces; these
	// are the ones it published (and only those: other clusters' are not ours to remove).
	netns := 0
	if st, err := ReadState(dir); err == nil {
		netns = removeNetNSes(st)
	}
	if err := os.RemoveAll(dir); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	fmt.Fprintf(out, "cluster down (%d leftover processes killed, %d leftover network namespaces removed), %s removed\n", killed, netns, dir)
	return nil
}

func readPid(dir string) int {
	b, err := os.ReadFile(filepath.Join(dir, pidFile))
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid
}

// killStale kills every process whose command line names dir.
func killStale(dir string) int {
	entries, _ := os.ReadDir("/proc")
	n := 0
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || !strings.Contains(string(cmdline), dir+"/") && !strings.Contains(string(cmdline), dir+"\x00") {
			continue
		}
		if syscall.Kill(pid, syscall.SIGKILL) == nil {
			n++
		}
	}
	return n
}

func tail(path string, lines int) string {
	b, _ := os.ReadFile(path)
	all := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(all) > lines {
		all = all[len(all)-lines:]
	}
	return strings.Join(all, "\n")
}
