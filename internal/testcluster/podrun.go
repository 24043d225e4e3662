package testcluster

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/util/retry"
)

// podState is what the node knows of a pod it runs: the statuses it reports, and the
// process of each running container (for ExecInContainer).
type podState struct {
	mu       sync.Mutex
	phase    corev1.PodPhase
	inits    []corev1.ContainerStatus
	ctrs     []corev1.ContainerStatus
	podIP    string
	message  string
	pids     map[string]int
	sandbox  *sandbox
	probeOK  map[string]bool
	finished bool
}

// runPod runs the pod's sandbox (its network, unless it is hostNetwork), its init
// containers one after the other, then its containers, restarting them as the pod's
// restartPolicy says, and reports each change in the pod's status.
func (n *ProcessNode) runPod(ctx context.Context, p *corev1.Pod, st *podState) {
	dir := filepath.Join(n.base, "pods", string(p.UID))
	st.pids, st.probeOK = map[string]int{}, map[string]bool{}
	vols, err := n.volumes(ctx, p, dir)
	if err == nil {
		err = n.serviceAccountToken(ctx, p, dir, vols)
	}
	if err != nil {
		n.failPod(ctx, p, "volumes: "+err.Error())
		return
	}
	st.phase = corev1.PodPending
	if !p.Spec.HostNetwork {
		// The kubelet retries a sandbox that failed, with back-off; the error shows in
		// the pod's status message (this node keeps no events).
		var sb *sandbox
		for backOff := n.backOff; ; backOff = min(2*backOff, 30*n.backOff) {
			if sb, err = n.startSandbox(ctx, p); err == nil {
				break
			}
			st.mu.Lock()
			st.message = "FailedCreatePodSandBox: " + err.Error()
			st.mu.Unlock()
			n.push(ctx, p, st)
			if !sleepCtx(ctx, backOff) {
				return
			}
		}
		defer n.stopSandbox(p, sb)
		st.mu.Lock()
		st.sandbox, st.podIP, st.message = sb, sb.ip, ""
		st.mu.Unlock()
	}
	restart := p.Spec.RestartPolicy
	for _, ct := range p.Spec.InitContainers {
		backOff := n.backOff
		for attempt := 0; ; attempt++ {
			cs := n.runOnce(ctx, p, ct, vols, dir, st, true, attempt)
			if ctx.Err() != nil {
				return
			}
			if t := cs.State.Terminated; t != nil && t.ExitCode == 0 {
				break
			}
			if restart == corev1.RestartPolicyNever {
				n.setPhase(ctx, p, st, corev1.PodFailed)
				return
			}
			if !sleepCtx(ctx, backOff) {
				return
			}
			backOff = min(2*backOff, 30*n.backOff)
		}
	}
	var wg sync.WaitGroup
	for _, ct := range p.Spec.Containers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			backOff := n.backOff
			for attempt := 0; ; attempt++ {
				began := time.Now()
				cs := n.runOnce(ctx, p, ct, vols, dir, st, false, attempt)
				if ctx.Err() != nil {
					return
				}
				code := cs.State.Terminated.ExitCode
				if restart == corev1.RestartPolicyNever || (restart == corev1.RestartPolicyOnFailure && code == 0) {
					return
				}
				// A container that ran for a while starts again from the first delay, as
				// the kubelet's back-off resets.
				if time.Since(began) > 10*time.Minute {
					backOff = n.backOff
				}
				n.waiting(ctx, p, st, ct.Name, cs, "CrashLoopBackOff", fmt.Sprintf("back-off %s restarting failed container %s", backOff, ct.Name))
				if !sleepCtx(ctx, backOff) {
					return
				}
				backOff = min(2*backOff, 30*n.backOff)
			}
		}()
	}
	wg.Wait()
	if ctx.Err() != nil {
		return
	}
	phase := corev1.PodSucceeded
	st.mu.Lock()
	for _, cs := range st.ctrs {
		if t := cs.State.Terminated; t == nil || t.ExitCode != 0 {
			phase = corev1.PodFailed
		}
	}
	st.mu.Unlock()
	n.setPhase(ctx, p, st, phase)
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	select {
	case <-ctx.Done():
		return false
	case <-time.After(d):
		return true
	}
}

// status finds (or adds) a container's status in the pod's state; st.mu is held.
func (st *podState) status(name, image string, init bool) *corev1.ContainerStatus {
	list := &st.ctrs
	if init {
		list = &st.inits
	}
	for i := range *list {
		if (*list)[i].Name == name {
			return &(*list)[i]
		}
	}
	*list = append(*list, corev1.ContainerStatus{Name: name, Image: image})
	return &(*list)[len(*list)-1]
}

func (n *ProcessNode) setPhase(ctx context.Context, p *corev1.Pod, st *podState, phase corev1.PodPhase) {
	st.mu.Lock()
	st.phase, st.finished = phase, true
	st.mu.Unlock()
	n.push(ctx, p, st)
}

func (n *ProcessNode) waiting(ctx context.Context, p *corev1.Pod, st *podState, name string, last corev1.ContainerStatus, reason, msg string) {
	st.mu.Lock()
	cs := st.status(name, last.Image, false)
	cs.LastTerminationState = last.State
	cs.State = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason, Message: msg}}
	cs.Ready, cs.Started = false, ptr(false)
	cs.RestartCount++
	st.mu.Unlock()
	n.push(ctx, p, st)
}

// push writes the pod's status from the node's state.
func (n *ProcessNode) push(ctx context.Context, p *corev1.Pod, st *podState) {
	st.mu.Lock()
	phase, podIP, msg := st.phase, st.podIP, st.message
	inits := slices.Clone(st.inits)
	ctrs := slices.Clone(st.ctrs)
	st.mu.Unlock()
	initialized := len(inits) == len(p.Spec.InitContainers)
	for _, cs := range inits {
		initialized = initialized && cs.State.Terminated != nil && cs.State.Terminated.ExitCode == 0
	}
	if phase == corev1.PodPending && initialized && len(ctrs) > 0 {
		phase = corev1.PodRunning
	}
	ready := initialized && len(ctrs) == len(p.Spec.Containers) && phase == corev1.PodRunning
	for _, cs := range ctrs {
		ready = ready && cs.Ready
	}
	_ = retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cur, err := n.c.Client.CoreV1().Pods(p.Namespace).Get(ctx, p.Name, metav1.GetOptions{})
		if err != nil || cur.UID != p.UID {
			return err
		}
		now := metav1.Now()
		cond := func(t corev1.PodConditionType, ok bool) corev1.PodCondition {
			s := corev1.ConditionFalse
			if ok {
				s = corev1.ConditionTrue
			}
			for _, c := range cur.Status.Conditions {
				if c.Type == t && c.Status == s {
					return c
				}
			}
			return corev1.PodCondition{Type: t, Status: s, LastTransitionTime: now}
		}
		cur.Status.Phase, cur.Status.Message = phase, msg
		cur.Status.HostIP = n.IP
		cur.Status.HostIPs = []corev1.HostIP{{IP: n.IP}}
		switch {
		case p.Spec.HostNetwork:
			cur.Status.PodIP, cur.Status.PodIPs = n.IP, []corev1.PodIP{{IP: n.IP}}
		case podIP != "":
			cur.Status.PodIP, cur.Status.PodIPs = podIP, []corev1.PodIP{{IP: podIP}}
		}
		if cur.Status.StartTime == nil {
			cur.Status.StartTime = &now
		}
		cur.Status.InitContainerStatuses, cur.Status.ContainerStatuses = inits, ctrs
		cur.Status.Conditions = []corev1.PodCondition{cond(corev1.PodScheduled, true), cond(corev1.PodInitialized, initialized),
			cond(corev1.ContainersReady, ready), cond(corev1.PodReady, ready)}
		_, err = n.c.Client.CoreV1().Pods(p.Namespace).UpdateStatus(ctx, cur, metav1.UpdateOptions{})
		return err
	})
}

func (n *ProcessNode) failPod(ctx context.Context, p *corev1.Pod, why string) {
	_ = retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cur, err := n.c.Client.CoreV1().Pods(p.Namespace).Get(ctx, p.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		cur.Status.Phase, cur.Status.Message = corev1.PodFailed, why
		_, err = n.c.Client.CoreV1().Pods(p.Namespace).UpdateStatus(ctx, cur, metav1.UpdateOptions{})
		return err
	})
}

// mountScript builds the container's root in a private mount and UTS namespace and
// runs its command there: the hostname, an overlay of the host's root (what the
// container writes outside its volumes is thrown away), a small /dev, /proc and /sys,
// then each mount (an image's file, a volume, the termination message file; a source
// of "mkdir:" only makes the directory).
const mountScript = `set -e
R="$1"; echo "$2" > /proc/sys/kernel/hostname; shift 2
mount -t tmpfs tmpfs "$R"
mkdir "$R/up" "$R/work" "$R/root"
mount -t overlay overlay -o "lowerdir=/,upperdir=$R/up,workdir=$R/work" "$R/root"
mount -t proc proc "$R/root/proc"
mount --rbind /sys "$R/root/sys"
mount -t tmpfs tmpfs "$R/root/dev"
for d in null zero random urandom full tty; do touch "$R/root/dev/$d"; mount --bind "/dev/$d" "$R/root/dev/$d"; done
mkdir -p "$R/root/dev/pts" "$R/root/dev/shm" "$R/root/tmp"
ln -s /proc/self/fd "$R/root/dev/fd"; ln -s /proc/self/fd/0 "$R/root/dev/stdin"; ln -s /proc/self/fd/1 "$R/root/dev/stdout"; ln -s /proc/self/fd/2 "$R/root/dev/stderr"
while [ "$1" != -- ]; do
	src="$1"; dst="$2"; shift 2
	if [ "$src" = mkdir: ]; then chroot "$R/root" mkdir -p "$dst"; continue; fi
	# Made and resolved inside the new root: a symlink there (/var/run -> /run) must
	# not lead to the host's directory.
	if [ -d "$src" ]; then chroot "$R/root" mkdir -p "$dst"; else chroot "$R/root" mkdir -p "$(dirname "$dst")"; chroot "$R/root" touch "$dst"; fi
	mount --rbind "$src" "$R/root$(chroot "$R/root" readlink -f "$dst")"
done
shift
cd "$R/root"
exec chroot "$R/root" "$@"
`

// containerArgv is the command a container runs: the pod's command and args, else the
// image's entrypoint with the pod's args or the image's command, with $(VAR)
// references to the container's environment expanded, as the kubelet does.
func containerArgv(ct corev1.Container, img *Image, env []string) []string {
	cmd, args := ct.Command, ct.Args
	if len(cmd) == 0 && img != nil {
		cmd = img.Entrypoint
		if len(args) == 0 {
			args = img.Cmd
		}
	}
	vars := map[string]string{}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		vars[k] = v
	}
	var out []string
	for _, a := range append(slices.Clone(cmd), args...) {
		out = append(out, expandVars(a, vars))
	}
	return out
}

// expandVars expands $(NAME) when NAME is defined and turns $$ into $, leaving any
// other text as it is (Kubernetes' rules for command, args and env values).
func expandVars(s string, vars map[string]string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || i+1 == len(s) {
			b.WriteByte(s[i])
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i++
		case '(':
			if end := strings.IndexByte(s[i+2:], ')'); end >= 0 {
				if v, ok := vars[s[i+2:i+2+end]]; ok {
					b.WriteString(v)
					i += 2 + end
					continue
				}
			}
			b.WriteByte('$')
		default:
			b.WriteByte('$')
		}
	}
	return b.String()
}

// runOnce runs one container to its end (or until ctx ends), recording its states in
// st, and returns its final status.
func (n *ProcessNode) runOnce(ctx context.Context, p *corev1.Pod, ct corev1.Container, vols map[string]string, dir string, st *podState, init bool, attempt int) corev1.ContainerStatus {
	set := func(f func(cs *corev1.ContainerStatus)) corev1.ContainerStatus {
		st.mu.Lock()
		cs := st.status(ct.Name, ct.Image, init)
		f(cs)
		out := *cs
		st.mu.Unlock()
		n.push(ctx, p, st)
		return out
	}
	fail := func(why string) corev1.ContainerStatus {
		now := metav1.Now()
		return set(func(cs *corev1.ContainerStatus) {
			cs.Ready, cs.Started = false, ptr(false)
			cs.State = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 128, Reason: "StartError", Message: why, StartedAt: now, FinishedAt: now}}
		})
	}
	img := n.images.Lookup(ct.Image)
	env := n.env(ctx, p, ct, img)
	argv := containerArgv(ct, img, env)
	if len(argv) == 0 {
		return fail("no command: the node does not know image " + ct.Image + ", so the container must name its command")
	}
	cdir := filepath.Join(dir, ct.Name)
	if err := os.MkdirAll(filepath.Join(cdir, "rootfs"), 0o755); err != nil {
		return fail(err.Error())
	}
	msgPath := cmp.Or(ct.TerminationMessagePath, corev1.TerminationMessagePathDefault)
	msgFile := filepath.Join(cdir, "termination-log")
	if err := os.WriteFile(msgFile, nil, 0o644); err != nil {
		return fail(err.Error())
	}
	hostname := p.Name
	if p.Spec.HostNetwork {
		hostname = n.Name
	}
	args := []string{"-m", "-u", "--propagation", "private", "sh", "-c", mountScript, "sh", filepath.Join(cdir, "rootfs"), hostname}
	if img != nil {
		paths := make([]string, 0, len(img.Files))
		for dst := range img.Files {
			paths = append(paths, dst)
		}
		slices.Sort(paths)
		for _, dst := range paths {
			args = append(args, cmp.Or(img.Files[dst], "mkdir:"), dst)
		}
	}
	for _, m := range ct.VolumeMounts {
		src, ok := vols[m.Name]
		if !ok {
			return fail("volume mount " + m.Name + ": no such volume")
		}
		if m.SubPath != "" {
			src = filepath.Join(src, m.SubPath)
		}
		args = append(args, src, m.MountPath)
	}
	args = append(args, msgFile, msgPath, "--")
	args = append(args, argv...)
	// Only the image's own entrypoint makes the links: a container that runs another
	// command of the image (the chart's cleanup runs the agent image) does not.
	if img != nil && p.Spec.HostNetwork && len(ct.Command) == 0 {
		if err := n.dummyLinks(img.DummyLinks); err != nil {
			return fail(err.Error())
		}
	}
	var cmd *exec.Cmd
	st.mu.Lock()
	sb := st.sandbox
	st.mu.Unlock()
	switch {
	case p.Spec.HostNetwork:
		cmd = exec.Command("ip", append([]string{"netns", "exec", n.NetNS, "unshare"}, args...)...)
	case sb != nil:
		cmd = exec.Command("nsenter", append([]string{"--net=" + sb.netns, "unshare"}, args...)...)
	default:
		cmd = exec.Command("unshare", args...)
	}
	cmd.Env = env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	logFile, err := os.OpenFile(filepath.Join(cdir, "log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fail(err.Error())
	}
	defer logFile.Close()
	cmd.Stdout, cmd.Stderr = logFile, logFile
	started := metav1.Now()
	if err := cmd.Start(); err != nil {
		return fail(err.Error())
	}
	pid := cmd.Process.Pid
	st.mu.Lock()
	st.pids[ct.Name] = pid
	st.probeOK[ct.Name] = ct.ReadinessProbe == nil
	st.mu.Unlock()
	set(func(cs *corev1.ContainerStatus) {
		cs.Ready, cs.Started = !init && ct.ReadinessProbe == nil, ptr(true)
		cs.State = corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: started}}
	})
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	pctx, stopProbes := context.WithCancel(ctx)
	if !init {
		n.probe(pctx, p, ct, st, pid)
	}
	select {
	case err = <-waited:
	case <-ctx.Done():
		killTree(pid)
		err = <-waited
	}
	stopProbes()
	st.mu.Lock()
	delete(st.pids, ct.Name)
	st.mu.Unlock()
	code := 0
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		code = exit.ExitCode()
		if code < 0 {
			code = 137
		}
	} else if err != nil {
		code = 128
	}
	msg, _ := os.ReadFile(msgFile)
	reason := "Completed"
	if code != 0 {
		reason = "Error"
	}
	return set(func(cs *corev1.ContainerStatus) {
		cs.Ready, cs.Started = false, ptr(false)
		cs.State = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: int32(code), Reason: reason,
			Message: strings.TrimSpace(string(msg)), StartedAt: started, FinishedAt: metav1.Now()}}
	})
}

// env is the container's environment: the image's, what the pod spec sets (values with
// $(VAR) expanded, fields, keys of ConfigMaps and Secrets), and the API server's
// address as the kubelet gives it.
func (n *ProcessNode) env(ctx context.Context, p *corev1.Pod, ct corev1.Container, img *Image) []string {
	u, _ := url.Parse(n.c.Config.Host)
	host, port, _ := net.SplitHostPort(u.Host)
	hostname := p.Name
	if p.Spec.HostNetwork {
		hostname = n.Name
	}
	out := []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOSTNAME=" + hostname, "HOME=/root",
		"KUBERNETES_SERVICE_HOST=" + host, "KUBERNETES_SERVICE_PORT=" + port}
	if img != nil {
		out = append(out, img.Env...)
	}
	vars := map[string]string{}
	for _, e := range ct.Env {
		v := expandVars(e.Value, vars)
		if f := e.ValueFrom; f != nil {
			switch {
			case f.FieldRef != nil:
				v = fieldValue(p, n, f.FieldRef.FieldPath)
			case f.SecretKeyRef != nil:
				if s, err := n.c.Client.CoreV1().Secrets(p.Namespace).Get(ctx, f.SecretKeyRef.Name, metav1.GetOptions{}); err == nil {
					v = string(s.Data[f.SecretKeyRef.Key])
				}
			case f.ConfigMapKeyRef != nil:
				if cm, err := n.c.Client.CoreV1().ConfigMaps(p.Namespace).Get(ctx, f.ConfigMapKeyRef.Name, metav1.GetOptions{}); err == nil {
					v = cm.Data[f.ConfigMapKeyRef.Key]
				}
			}
		}
		vars[e.Name] = v
		out = append(out, e.Name+"="+v)
	}
	return out
}

// probe runs the container's readiness and liveness probes while ctx lasts: readiness
// sets the container's ready flag; a liveness failure (failureThreshold in a row)
// kills the container, which then restarts as its pod says.
func (n *ProcessNode) probe(ctx context.Context, p *corev1.Pod, ct corev1.Container, st *podState, pid int) {
	run := func(pr *corev1.Probe, onResult func(ok bool)) {
		if pr == nil {
			return
		}
		go func() {
			if !sleepCtx(ctx, time.Duration(pr.InitialDelaySeconds)*time.Second) {
				return
			}
			period := time.Duration(max(pr.PeriodSeconds, 1)) * time.Second
			fails := 0
			for {
				ok := n.probeOnce(ctx, p, ct, pr, st, pid) == nil
				if ok {
					fails = 0
				} else {
					fails++
				}
				if ok || fails >= int(max(pr.FailureThreshold, 1)) {
					onResult(ok)
				}
				if !sleepCtx(ctx, period) {
					return
				}
			}
		}()
	}
	run(ct.ReadinessProbe, func(ok bool) {
		st.mu.Lock()
		cs := st.status(ct.Name, ct.Image, false)
		changed := cs.Ready != ok && cs.State.Running != nil
		if changed {
			cs.Ready = ok
		}
		st.mu.Unlock()
		if changed && ctx.Err() == nil {
			n.push(ctx, p, st)
		}
	})
	run(ct.LivenessProbe, func(ok bool) {
		if !ok {
			killTree(pid)
		}
	})
}

// probeOnce runs one probe: httpGet and tcpSocket from the pod's network namespace (the
// node's for a hostNetwork pod), exec inside the container.
func (n *ProcessNode) probeOnce(ctx context.Context, p *corev1.Pod, ct corev1.Container, pr *corev1.Probe, st *podState, pid int) error {
	timeout := time.Duration(max(pr.TimeoutSeconds, 1)) * time.Second
	netns := "/run/netns/" + n.NetNS
	ip := n.IP
	st.mu.Lock()
	if sb := st.sandbox; sb != nil {
		netns, ip = sb.netns, sb.ip
	}
	st.mu.Unlock()
	port := func(p intstr.IntOrString) string {
		if p.Type == intstr.String {
			for _, cp := range ct.Ports {
				if cp.Name == p.StrVal {
					return fmt.Sprint(cp.ContainerPort)
				}
			}
		}
		return p.String()
	}
	switch {
	case pr.Exec != nil:
		cctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		return enterContainer(cctx, pid, pr.Exec.Command...).Run()
	case pr.TCPSocket != nil:
		c, err := dialInNetNS(netns, net.JoinHostPort(cmp.Or(pr.TCPSocket.Host, ip), port(pr.TCPSocket.Port)), timeout)
		if err == nil {
			c.Close()
		}
		return err
	case pr.HTTPGet != nil:
		h := pr.HTTPGet
		c, err := dialInNetNS(netns, net.JoinHostPort(cmp.Or(h.Host, ip), port(h.Port)), timeout)
		if err != nil {
			return err
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(timeout))
		if _, err := fmt.Fprintf(c, "GET %s HTTP/1.0\r\nHost: %s\r\n\r\n", cmp.Or(h.Path, "/"), ip); err != nil {
			return err
		}
		var proto string
		var code int
		if _, err := fmt.Fscan(c, &proto, &code); err != nil {
			return err
		}
		if code < 200 || code >= 400 {
			return fmt.Errorf("HTTP %d", code)
		}
		return nil
	}
	return fmt.Errorf("probe: no handler")
}

// ExecInContainer runs a command inside a running container (its mount, network and
// UTS namespaces), as kubectl exec does.
func (n *ProcessNode) ExecInContainer(pod types.UID, container string, argv ...string) ([]byte, error) {
	cmd, err := n.ContainerCommand(pod, container, argv...)
	if err != nil {
		return nil, err
	}
	return cmd.CombinedOutput()
}

// ContainerCommand is a command to run inside a running container, as ExecInContainer
// runs it, for a caller that starts and stops it itself (a signal to the command's
// process reaches the program: nsenter execs it).
func (n *ProcessNode) ContainerCommand(pod types.UID, container string, argv ...string) (*exec.Cmd, error) {
	pid := n.ContainerPID(pod, container)
	if pid == 0 {
		return nil, fmt.Errorf("container %s of pod %s is not running on %s", container, pod, n.Name)
	}
	return enterContainer(context.Background(), pid, argv...), nil
}

// enterContainer runs a command in a container's mount, network and UTS namespaces,
// at its root and working directory (the process's, as chroot left them).
func enterContainer(ctx context.Context, pid int, argv ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "nsenter", append([]string{"-t", fmt.Sprint(pid), "-m", "-n", "-u", "-r", "-w", "--"}, argv...)...)
}

// ContainerPID is the process of a running container, 0 when it does not run.
func (n *ProcessNode) ContainerPID(pod types.UID, container string) int {
	n.mu.Lock()
	r := n.pods[pod]
	n.mu.Unlock()
	if r == nil || r.state == nil {
		return 0
	}
	r.state.mu.Lock()
	defer r.state.mu.Unlock()
	return r.state.pids[container]
}

// dummyLinks makes the image's dummy links that the node lacks, as veth pairs where the
// kernel has no dummy link type (see Image.DummyLinks).
func (n *ProcessNode) dummyLinks(names []string) error {
	for _, name := range names {
		if _, err := n.InNetNS("ip", "link", "show", name); err == nil {
			continue
		}
		if _, err := n.InNetNS("ip", "link", "add", name, "type", "dummy"); err == nil {
			continue
		}
		peer := name + "-p"
		for _, args := range [][]string{{"ip", "link", "add", name, "type", "veth", "peer", "name", peer}, {"ip", "link", "set", peer, "up"}} {
			if out, err := n.InNetNS(args...); err != nil {
				return fmt.Errorf("%s stands in for dummy link %s: %v: %s", strings.Join(args, " "), name, err, out)
			}
		}
	}
	return nil
}

// killTree kills a container's process and every process under it. A process group is
// not enough: supervisord puts each program it runs in a group of its own.
func killTree(pid int) {
	children := map[int][]int{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		var p, pp int
		if _, err := fmt.Sscan(e.Name(), &p); err != nil {
			continue
		}
		stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// The command's name is in parentheses and may hold spaces: the parent pid is
		// the second field after the last ')'.
		fields := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
		if len(fields) < 2 {
			continue
		}
		if _, err := fmt.Sscan(fields[1], &pp); err == nil {
			children[pp] = append(children[pp], p)
		}
	}
	_ = syscall.Kill(-pid, syscall.SIGKILL)
	for todo := []int{pid}; len(todo) > 0; {
		p := todo[0]
		todo = append(todo[1:], children[p]...)
		_ = syscall.Kill(p, syscall.SIGKILL)
	}
}
