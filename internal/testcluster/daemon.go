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

// Up starts a cluster in the background (a detached `serve` process) and returns when it
// is ready. It is idempotent: a healthy cluster is left alone, and a stale one (its
// server gone, or never ready) is cleaned up first.
func Up(ctx context.Context, self string, o Options, out io.Writer) error {
	dir, err := filepath.Abs(o.Dir)
	if err != nil {
		return err
	}
	if Healthy(ctx, dir) {
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
	cmd := exec.Command(self, "serve", "--dir", dir, "--bin", o.BinDir, "--workers", strconv.Itoa(o.Workers), "--k8s", o.Minor)
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
	deadline := time.After(120 * time.Second)
	for {
		if _, err := os.Stat(filepath.Join(dir, readyFile)); err == nil {
			fmt.Fprintf(out, "cluster up: %s nodes ready, kubeconfig %s\n", strconv.Itoa(o.Workers+1), filepath.Join(dir, "kubeconfig"))
			return nil
		}
		select {
		case err := <-exited:
			return fmt.Errorf("cluster server exited (%v); its log:\n%s", err, tail(filepath.Join(dir, logFile), 30))
		case <-deadline:
			return fmt.Errorf("cluster not ready after 120s; log in %s", filepath.Join(dir, logFile))
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// Serve runs a cluster in the foreground until SIGINT or SIGTERM. Up starts it detached.
func Serve(ctx context.Context, o Options) error {
	dir, err := filepath.Abs(o.Dir)
	if err != nil {
		return err
	}
	o.Dir = dir
	if err := os.WriteFile(filepath.Join(dir, pidFile), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	c, err := Start(ctx, o)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, readyFile), nil, 0o644); err != nil {
		c.Stop()
		return err
	}
	<-ctx.Done()
	fmt.Fprintln(o.Log, "stopping")
	err = c.Stop()
	_ = os.Remove(filepath.Join(dir, readyFile))
	_ = os.Remove(filepath.Join(dir, pidFile))
	return err
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
		for i := 0; i < 150 && syscall.Kill(pid, 0) == nil; i++ {
			time.Sleep(200 * time.Millisecond)
		}
	}
	killed := killStale(dir)
	if err := os.RemoveAll(dir); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	fmt.Fprintf(out, "cluster down (%d leftover processes killed), %s removed\n", killed, dir)
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
