package testcluster

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The control socket: bin/cluster exec and pod exec are separate processes from the
// serve process that runs the nodes, and the node's view (its mount namespace with the
// hostPaths its pods asked for, its docker) and a container's process live only there.
// So the CLI sends the serve process its request and its own stdin, stdout and stderr
// (SCM_RIGHTS on a unix seqpacket socket); the serve process runs the command with
// them, exactly as the node runs its own programs, and answers with the exit code. A
// terminal, a pipe or a file works alike, and nothing is copied through the socket.

// controlSocket is the socket's name in the cluster directory.
const controlSocket = "control.sock"

// ExecRequest is a command for the serve process to run: on a real node, as the
// node's own programs run (NodeCommand), or in a pod's container on a real node (its
// mount, network and UTS namespaces, as kubectl exec).
type ExecRequest struct {
	Node      string   `json:"node,omitempty"`
	Pod       string   `json:"pod,omitempty"`
	Namespace string   `json:"namespace,omitempty"`
	Container string   `json:"container,omitempty"`
	Argv      []string `json:"argv"`
	Env       []string `json:"env,omitempty"`
}

type execReply struct {
	Exit  int    `json:"exit"`
	Error string `json:"error,omitempty"`
}

// controlServer answers ExecRequests on the control socket.
type controlServer struct {
	c      *Cluster
	rn     *RealNodes
	ln     *net.UnixListener
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// serveControl listens on path for ExecRequests until stop, which also kills the
// commands still running.
func (c *Cluster) serveControl(path string, rn *RealNodes) (stop func(), err error) {
	if len(path) >= 108 {
		return nil, fmt.Errorf("control socket %s: a unix socket path must be shorter than 108 bytes; use a shorter --dir", path)
	}
	_ = os.Remove(path)
	ln, err := net.ListenUnix("unixpacket", &net.UnixAddr{Name: path, Net: "unixpacket"})
	if err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &controlServer{c: c, rn: rn, ln: ln, ctx: ctx, cancel: cancel}
	s.wg.Add(1)
	go s.accept()
	return func() {
		cancel()
		ln.Close()
		s.wg.Wait()
		_ = os.Remove(path)
	}, nil
}

func (s *controlServer) accept() {
	defer s.wg.Done()
	for {
		conn, err := s.ln.AcceptUnix()
		if err != nil {
			return
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer conn.Close()
			code, err := s.handle(conn)
			reply := execReply{Exit: code}
			if err != nil {
				reply = execReply{Exit: -1, Error: err.Error()}
			}
			data, _ := json.Marshal(reply)
			_, _ = conn.Write(data)
		}()
	}
}

// handle runs one request with the descriptors that came with it.
func (s *controlServer) handle(conn *net.UnixConn) (int, error) {
	buf := make([]byte, 1<<20)
	oob := make([]byte, unix.CmsgSpace(3*4))
	n, oobn, _, _, err := conn.ReadMsgUnix(buf, oob)
	if err != nil {
		return 0, fmt.Errorf("read request: %w", err)
	}
	var fds []int
	if msgs, err := unix.ParseSocketControlMessage(oob[:oobn]); err == nil {
		for _, m := range msgs {
			if r, err := unix.ParseUnixRights(&m); err == nil {
				fds = append(fds, r...)
			}
		}
	}
	files := make([]*os.File, len(fds))
	for i, fd := range fds {
		files[i] = os.NewFile(uintptr(fd), fmt.Sprintf("fd%d", i))
		defer files[i].Close()
	}
	if len(files) != 3 {
		return 0, fmt.Errorf("request came with %d file descriptors, not 3 (stdin, stdout, stderr)", len(files))
	}
	var req ExecRequest
	if err := json.Unmarshal(buf[:n], &req); err != nil {
		return 0, fmt.Errorf("request: %w", err)
	}
	if len(req.Argv) == 0 {
		return 0, errors.New("no command to run: give one after --")
	}
	// The command ends when the client goes (its connection closes: Ctrl-C, or killed)
	// or when the serve process stops.
	ctx, cancel := context.WithCancel(s.ctx)
	defer cancel()
	go func() {
		_, _ = conn.Read(make([]byte, 1))
		cancel()
	}()
	cmd, err := s.command(ctx, req)
	if err != nil {
		return 0, err
	}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = files[0], files[1], files[2]
	err = cmd.Run()
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		if code := exit.ExitCode(); code >= 0 {
			return code, nil
		}
		return 128 + int(exit.Sys().(syscall.WaitStatus).Signal()), nil
	case err != nil:
		return 0, fmt.Errorf("run %s: %w", req.Argv[0], err)
	}
	return 0, nil
}

// command is the process a request runs.
func (s *controlServer) command(ctx context.Context, req ExecRequest) (*exec.Cmd, error) {
	if req.Pod == "" {
		n := s.rn.Node(req.Node)
		if n == nil {
			_, err := s.c.State(s.rn, "").Node(req.Node)
			return nil, err
		}
		return n.NodeCommand(ctx, req.Env, req.Argv...)
	}
	ns := cmp.Or(req.Namespace, PodNamespace)
	p, err := s.c.Client.CoreV1().Pods(ns).Get(ctx, req.Pod, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("no pod %s in namespace %s: `cluster pod add NODE %s` creates one", req.Pod, ns, req.Pod)
	}
	if err != nil {
		return nil, fmt.Errorf("get pod %s/%s: %w", ns, req.Pod, err)
	}
	n := s.rn.Node(p.Spec.NodeName)
	if n == nil {
		return nil, fmt.Errorf("pod %s/%s is on node %q, which is not a real node of this cluster (kwok's nodes run nothing)", ns, req.Pod, p.Spec.NodeName)
	}
	ct := req.Container
	if ct == "" && len(p.Spec.Containers) > 0 {
		ct = p.Spec.Containers[0].Name
	}
	pid := n.ContainerPID(p.UID, ct)
	if pid == 0 {
		return nil, fmt.Errorf("container %s of pod %s/%s is not running on %s (phase %s%s)", ct, ns, req.Pod, n.Name, p.Status.Phase, podMessage(p))
	}
	cmd := enterContainer(ctx, pid, req.Argv...)
	cmd.Env = append([]string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}, req.Env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	return cmd, nil
}

func podMessage(p *corev1.Pod) string {
	if p.Status.Message == "" {
		return ""
	}
	return ": " + p.Status.Message
}

// Exec has the serve process of the background cluster in dir run req with the given
// stdin, stdout and stderr, and returns the command's exit code. When ctx ends first
// (the user pressed Ctrl-C), the serve process kills the command.
func Exec(ctx context.Context, dir string, req ExecRequest, stdin, stdout, stderr *os.File) (int, error) {
	st, err := ReadState(dir)
	if err != nil {
		return 0, err
	}
	if req.Pod == "" {
		if _, err := st.Node(req.Node); err != nil {
			return 0, err
		}
	}
	if len(req.Argv) == 0 {
		return 0, errors.New("no command to run: give one after --, e.g. -- ip route")
	}
	conn, err := net.DialUnix("unixpacket", nil, &net.UnixAddr{Name: st.Socket, Net: "unixpacket"})
	if err != nil {
		return 0, fmt.Errorf("the cluster's serve process does not answer on %s (%v): is it up? `make cluster-up REAL_NODES=1` starts one", st.Socket, err)
	}
	defer conn.Close()
	data, err := json.Marshal(req)
	if err != nil {
		return 0, err
	}
	rights := unix.UnixRights(int(stdin.Fd()), int(stdout.Fd()), int(stderr.Fd()))
	if _, _, err := conn.WriteMsgUnix(data, rights, nil); err != nil {
		return 0, fmt.Errorf("send the request to %s: %w", st.Socket, err)
	}
	type result struct {
		r   execReply
		err error
	}
	done := make(chan result, 1)
	go func() {
		buf := make([]byte, 1<<16)
		n, err := conn.Read(buf)
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = errors.New("the serve process closed the connection without an answer (did it stop?)")
			}
			done <- result{err: err}
			return
		}
		var r execReply
		err = json.Unmarshal(buf[:n], &r)
		done <- result{r: r, err: err}
	}()
	select {
	case <-ctx.Done():
		conn.Close()
		return 0, fmt.Errorf("interrupted: %w (the command was killed)", ctx.Err())
	case res := <-done:
		if res.err != nil {
			return 0, res.err
		}
		if res.r.Error != "" {
			return 0, errors.New(strings.TrimSpace(res.r.Error))
		}
		return res.r.Exit, nil
	}
}
