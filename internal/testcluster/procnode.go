package testcluster

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
	authv1 "k8s.io/api/authentication/v1"
	coordv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"
)

// ProcessNode is a node whose pods this machine runs as processes, the pods that Run
// chooses; the others are marked running without running anything, as kwok does for its
// nodes. Each node has its own root file system (Root: hostPath volumes are directories
// under it) and network namespace (NetNS: where its hostNetwork pods run). A container
// runs its command (the pod must name one) with the host's programs, in a private mount
// namespace whose root is a copy-on-write overlay of the host's, with the pod's volumes,
// its service account token and its termination message file mounted where the pod
// asks: the scripts the chart renders run as they would on a node, on state the test
// put there, and the API server sees the pod go through its phases.
//
// It is a kubelet stand-in for tests: no images, no resource limits, no probes (a
// running container is ready), no restarts. kwok leaves these nodes alone (it manages
// only nodes annotated kwok.x-k8s.io/node=fake).
type ProcessNode struct {
	Name, Root, NetNS, IP string
	// Run says which pods run for real.
	Run func(*corev1.Pod) bool
	// Stall says which pods the node leaves pending for ever, as a hung kubelet does.
	Stall func(*corev1.Pod) bool

	c      *Cluster
	base   string
	cancel context.CancelFunc
	done   chan struct{}
	mu     sync.Mutex
	pods   map[types.UID]*podRun
}

type podRun struct {
	cancel context.CancelFunc
	done   chan struct{}
}

// AddProcessNode registers a node that runs the pods run chooses as processes. It needs
// root (mount and network namespaces), ip (iproute2) and unshare.
func (c *Cluster) AddProcessNode(ctx context.Context, name string, controlPlane bool, ip string, run func(*corev1.Pod) bool) (*ProcessNode, error) {
	base, err := os.MkdirTemp("", "romana-node-"+name+"-")
	if err != nil {
		return nil, err
	}
	suffix := make([]byte, 3)
	_, _ = rand.Read(suffix)
	n := &ProcessNode{Name: name, Root: filepath.Join(base, "root"), NetNS: "romanactl-" + name + "-" + hex.EncodeToString(suffix), IP: ip,
		Run: run, c: c, base: base, done: make(chan struct{}), pods: map[types.UID]*podRun{}}
	if err := os.MkdirAll(n.Root, 0o755); err != nil {
		return nil, err
	}
	if out, err := exec.Command("ip", "netns", "add", n.NetNS).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("ip netns add %s: %v: %s", n.NetNS, err, out)
	}
	if out, err := exec.Command("ip", "-n", n.NetNS, "link", "set", "lo", "up").CombinedOutput(); err != nil {
		n.removeNetNS()
		return nil, fmt.Errorf("lo up in %s: %v: %s", n.NetNS, err, out)
	}
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{
		"kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64", "type": "process",
	}}}
	if controlPlane {
		node.Labels[ControlPlaneLabel] = ""
		node.Spec.Taints = []corev1.Taint{{Key: ControlPlaneLabel, Effect: corev1.TaintEffectNoSchedule}}
	}
	created, err := c.Client.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{})
	if err != nil {
		n.removeNetNS()
		return nil, fmt.Errorf("create node %s: %w", name, err)
	}
	capacity := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("32"), corev1.ResourceMemory: resource.MustParse("256Gi"), corev1.ResourcePods: resource.MustParse("110")}
	created.Status = corev1.NodeStatus{
		Addresses:   []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: ip}, {Type: corev1.NodeHostName, Address: name}},
		Capacity:    capacity,
		Allocatable: capacity,
		Conditions:  []corev1.NodeCondition{n.ready()},
		NodeInfo:    corev1.NodeSystemInfo{KubeletVersion: c.Version, OperatingSystem: "linux", Architecture: "amd64", ContainerRuntimeVersion: NodeRuntime},
		Phase:       corev1.NodeRunning,
	}
	if _, err := c.Client.CoreV1().Nodes().UpdateStatus(ctx, created, metav1.UpdateOptions{}); err != nil {
		n.removeNetNS()
		return nil, fmt.Errorf("set node %s status: %w", name, err)
	}
	lctx, cancel := context.WithCancel(context.Background())
	n.cancel = cancel
	go n.loop(lctx)
	return n, nil
}

func (n *ProcessNode) ready() corev1.NodeCondition {
	now := metav1.Now()
	return corev1.NodeCondition{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "ProcessNodeReady",
		Message: "a test's process node", LastHeartbeatTime: now, LastTransitionTime: now}
}

// Stop kills the node's processes, and removes its network namespace and its files.
func (n *ProcessNode) Stop() {
	n.cancel()
	<-n.done
	n.removeNetNS()
	_ = os.RemoveAll(n.base)
}

func (n *ProcessNode) removeNetNS() { _ = exec.Command("ip", "netns", "delete", n.NetNS).Run() }

// InNetNS runs a command in the node's network namespace (to put or look at state there).
func (n *ProcessNode) InNetNS(args ...string) ([]byte, error) {
	return exec.Command("ip", append([]string{"netns", "exec", n.NetNS}, args...)...).CombinedOutput()
}

// loop renews the node's heartbeat (its Lease and its Ready condition) and starts and
// stops the node's pods.
func (n *ProcessNode) loop(ctx context.Context) {
	defer close(n.done)
	defer func() {
		n.mu.Lock()
		runs := make([]*podRun, 0, len(n.pods))
		for _, r := range n.pods {
			runs = append(runs, r)
		}
		n.mu.Unlock()
		for _, r := range runs {
			r.cancel()
			<-r.done
		}
	}()
	beat := time.NewTicker(10 * time.Second)
	defer beat.Stop()
	tick := time.NewTicker(300 * time.Millisecond)
	defer tick.Stop()
	n.heartbeat(ctx)
	for {
		select {
		case <-ctx.Done():
			return
		case <-beat.C:
			n.heartbeat(ctx)
		case <-tick.C:
			n.syncPods(ctx)
		}
	}
}

func (n *ProcessNode) heartbeat(ctx context.Context) {
	leases := n.c.Client.CoordinationV1().Leases("kube-node-lease")
	now := metav1.NewMicroTime(time.Now())
	secs := int32(40)
	l, err := leases.Get(ctx, n.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		_, _ = leases.Create(ctx, &coordv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: n.Name},
			Spec: coordv1.LeaseSpec{HolderIdentity: &n.Name, LeaseDurationSeconds: &secs, RenewTime: &now}}, metav1.CreateOptions{})
	} else if err == nil {
		l.Spec.RenewTime = &now
		_, _ = leases.Update(ctx, l, metav1.UpdateOptions{})
	}
	_ = retry.RetryOnConflict(retry.DefaultRetry, func() error {
		node, err := n.c.Client.CoreV1().Nodes().Get(ctx, n.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		node.Status.Conditions = []corev1.NodeCondition{n.ready()}
		_, err = n.c.Client.CoreV1().Nodes().UpdateStatus(ctx, node, metav1.UpdateOptions{})
		return err
	})
}

func (n *ProcessNode) syncPods(ctx context.Context) {
	l, err := n.c.Client.CoreV1().Pods("").List(ctx, metav1.ListOptions{FieldSelector: "spec.nodeName=" + n.Name})
	if err != nil {
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	for i := range l.Items {
		p := &l.Items[i]
		r, known := n.pods[p.UID]
		switch {
		case p.DeletionTimestamp != nil:
			// The kubelet's part of a deletion: stop the containers, then remove the pod.
			if known {
				r.cancel()
				go func(uid types.UID, r *podRun, p corev1.Pod) {
					<-r.done
					n.forget(uid)
					n.deletePod(p)
				}(p.UID, r, *p)
				n.pods[p.UID] = &podRun{cancel: func() {}, done: r.done}
			} else {
				n.pods[p.UID] = &podRun{cancel: func() {}, done: make(chan struct{})}
				go n.deletePod(*p)
			}
		case !known && p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed:
			pctx, cancel := context.WithCancel(ctx)
			r := &podRun{cancel: cancel, done: make(chan struct{})}
			n.pods[p.UID] = r
			pod := p.DeepCopy()
			go func() {
				defer close(r.done)
				if n.Stall != nil && n.Stall(pod) {
					<-pctx.Done()
					return
				}
				if n.Run != nil && n.Run(pod) {
					n.runPod(pctx, pod)
				} else {
					n.simulate(pctx, pod)
				}
			}()
		}
	}
}

func (n *ProcessNode) forget(uid types.UID) {
	n.mu.Lock()
	defer n.mu.Unlock()
	delete(n.pods, uid)
}

func (n *ProcessNode) deletePod(p corev1.Pod) {
	zero := int64(0)
	_ = n.c.Client.CoreV1().Pods(p.Namespace).Delete(context.Background(), p.Name,
		metav1.DeleteOptions{GracePeriodSeconds: &zero, Preconditions: &metav1.Preconditions{UID: &p.UID}})
}

// simulate marks a pod running and ready without running it.
func (n *ProcessNode) simulate(ctx context.Context, p *corev1.Pod) {
	now := metav1.Now()
	var inits, ctrs []corev1.ContainerStatus
	for _, ct := range p.Spec.InitContainers {
		inits = append(inits, corev1.ContainerStatus{Name: ct.Name, Image: ct.Image, Ready: true,
			State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: "Completed", StartedAt: now, FinishedAt: now}}})
	}
	for _, ct := range p.Spec.Containers {
		ctrs = append(ctrs, corev1.ContainerStatus{Name: ct.Name, Image: ct.Image, Ready: true, Started: ptr(true),
			State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: now}}})
	}
	n.setStatus(ctx, p, corev1.PodRunning, inits, ctrs, true)
}

// runPod runs the init containers one after the other, then the containers, and
// records each one's state in the pod's status.
func (n *ProcessNode) runPod(ctx context.Context, p *corev1.Pod) {
	dir := filepath.Join(n.base, "pods", string(p.UID))
	vols, err := n.volumes(ctx, p, dir)
	if err == nil {
		err = n.serviceAccountToken(ctx, p, dir, vols)
	}
	if err != nil {
		n.failPod(ctx, p, "volumes: "+err.Error())
		return
	}
	var inits []corev1.ContainerStatus
	for _, ct := range p.Spec.InitContainers {
		st := n.runContainer(ctx, p, ct, vols, dir, nil)
		inits = append(inits, st)
		if st.State.Terminated == nil || st.State.Terminated.ExitCode != 0 {
			n.setStatus(ctx, p, corev1.PodPending, inits, nil, false)
			return
		}
	}
	// The containers start together; each one's end is recorded as it comes.
	var mu sync.Mutex
	ctrs := make([]corev1.ContainerStatus, len(p.Spec.Containers))
	var wg sync.WaitGroup
	started := make(chan struct{}, len(p.Spec.Containers))
	for i, ct := range p.Spec.Containers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st := n.runContainer(ctx, p, ct, vols, dir, func(running corev1.ContainerStatus) {
				mu.Lock()
				ctrs[i] = running
				mu.Unlock()
				started <- struct{}{}
			})
			mu.Lock()
			ctrs[i] = st
			mu.Unlock()
		}()
	}
	for range p.Spec.Containers {
		select {
		case <-started:
		case <-ctx.Done():
			wg.Wait()
			return
		}
	}
	mu.Lock()
	n.setStatus(ctx, p, corev1.PodRunning, inits, append([]corev1.ContainerStatus(nil), ctrs...), true)
	mu.Unlock()
	wg.Wait()
	if ctx.Err() != nil {
		return
	}
	phase := corev1.PodSucceeded
	for _, st := range ctrs {
		if t := st.State.Terminated; t == nil || t.ExitCode != 0 {
			phase = corev1.PodFailed
		}
	}
	n.setStatus(ctx, p, phase, inits, ctrs, false)
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

func (n *ProcessNode) setStatus(ctx context.Context, p *corev1.Pod, phase corev1.PodPhase, inits, ctrs []corev1.ContainerStatus, ready bool) {
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
			return corev1.PodCondition{Type: t, Status: s, LastTransitionTime: now}
		}
		initialized := len(inits) == len(p.Spec.InitContainers)
		for _, st := range inits {
			initialized = initialized && st.State.Terminated != nil && st.State.Terminated.ExitCode == 0
		}
		cur.Status.Phase = phase
		cur.Status.HostIP = n.IP
		cur.Status.HostIPs = []corev1.HostIP{{IP: n.IP}}
		if p.Spec.HostNetwork {
			cur.Status.PodIP, cur.Status.PodIPs = n.IP, []corev1.PodIP{{IP: n.IP}}
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

// volumes materialises the pod's volumes under dir and returns each one's source path:
// hostPath under the node's root, configMap and projected (the service account token,
// the cluster's CA, the namespace) as files, emptyDir as a directory.
func (n *ProcessNode) volumes(ctx context.Context, p *corev1.Pod, dir string) (map[string]string, error) {
	out := map[string]string{}
	for _, v := range p.Spec.Volumes {
		src := filepath.Join(dir, "volumes", v.Name)
		switch {
		case v.HostPath != nil:
			src = filepath.Join(n.Root, v.HostPath.Path)
			if v.HostPath.Type == nil || *v.HostPath.Type != corev1.HostPathFile {
				if err := os.MkdirAll(src, 0o755); err != nil {
					return nil, err
				}
			}
		case v.ConfigMap != nil:
			cm, err := n.c.Client.CoreV1().ConfigMaps(p.Namespace).Get(ctx, v.ConfigMap.Name, metav1.GetOptions{})
			if err != nil {
				return nil, err
			}
			if err := writeFiles(src, cm.Data); err != nil {
				return nil, err
			}
		case v.Projected != nil:
			files := map[string]string{}
			for _, s := range v.Projected.Sources {
				switch {
				case s.ServiceAccountToken != nil:
					tr, err := n.c.Client.CoreV1().ServiceAccounts(p.Namespace).CreateToken(ctx, p.Spec.ServiceAccountName, &authv1.TokenRequest{
						Spec: authv1.TokenRequestSpec{BoundObjectRef: &authv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: p.Name, UID: p.UID}},
					}, metav1.CreateOptions{})
					if err != nil {
						return nil, fmt.Errorf("token for %s: %w", p.Spec.ServiceAccountName, err)
					}
					files[s.ServiceAccountToken.Path] = tr.Status.Token
				case s.ConfigMap != nil && s.ConfigMap.Name == "kube-root-ca.crt":
					files["ca.crt"] = string(n.c.Config.CAData)
				case s.DownwardAPI != nil:
					for _, item := range s.DownwardAPI.Items {
						if item.FieldRef != nil {
							files[item.Path] = fieldValue(p, n, item.FieldRef.FieldPath)
						}
					}
				}
			}
			if err := writeFiles(src, files); err != nil {
				return nil, err
			}
		case v.EmptyDir != nil:
			if err := os.MkdirAll(src, 0o755); err != nil {
				return nil, err
			}
		default:
			return nil, fmt.Errorf("volume %s: only hostPath, configMap, projected and emptyDir run here", v.Name)
		}
		out[v.Name] = src
	}
	return out, nil
}

// saMountPath is where a pod finds its service account's token, CA and namespace.
const saMountPath = "/var/run/secrets/kubernetes.io/serviceaccount"

// serviceAccountToken does what the ServiceAccount admission plugin does where the
// test's API server leaves it out (it has no token controller): a pod that does not
// opt out gets its token, the cluster's CA and its namespace at saMountPath.
func (n *ProcessNode) serviceAccountToken(ctx context.Context, p *corev1.Pod, dir string, vols map[string]string) error {
	if a := p.Spec.AutomountServiceAccountToken; a != nil && !*a {
		return nil
	}
	for _, ct := range append(append([]corev1.Container{}, p.Spec.InitContainers...), p.Spec.Containers...) {
		for _, m := range ct.VolumeMounts {
			if m.MountPath == saMountPath {
				return nil
			}
		}
	}
	sa := cmp.Or(p.Spec.ServiceAccountName, "default")
	tr, err := n.c.Client.CoreV1().ServiceAccounts(p.Namespace).CreateToken(ctx, sa, &authv1.TokenRequest{
		Spec: authv1.TokenRequestSpec{BoundObjectRef: &authv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: p.Name, UID: p.UID}},
	}, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("token for service account %s: %w", sa, err)
	}
	const name = "process-node-service-account"
	src := filepath.Join(dir, "volumes", name)
	if err := writeFiles(src, map[string]string{"token": tr.Status.Token, "ca.crt": string(n.c.Config.CAData), "namespace": p.Namespace}); err != nil {
		return err
	}
	vols[name] = src
	for _, cts := range [][]corev1.Container{p.Spec.InitContainers, p.Spec.Containers} {
		for i := range cts {
			cts[i].VolumeMounts = append(cts[i].VolumeMounts, corev1.VolumeMount{Name: name, MountPath: saMountPath, ReadOnly: true})
		}
	}
	return nil
}

func writeFiles(dir string, files map[string]string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			return err
		}
	}
	return nil
}

func fieldValue(p *corev1.Pod, n *ProcessNode, path string) string {
	switch path {
	case "metadata.namespace":
		return p.Namespace
	case "metadata.name":
		return p.Name
	case "spec.nodeName":
		return n.Name
	case "status.hostIP", "status.podIP":
		return n.IP
	case "spec.serviceAccountName":
		return p.Spec.ServiceAccountName
	}
	return ""
}

// mountScript builds the container's root in a private mount namespace and runs its
// command there: an overlay of the host's root (what the container writes outside its
// volumes is thrown away), a small /dev, /proc and /sys, then each volume mount and
// the termination message file.
const mountScript = `set -e
R="$1"; shift
mount -t tmpfs tmpfs "$R"
mkdir "$R/up" "$R/work" "$R/root"
mount -t overlay overlay -o "lowerdir=/,upperdir=$R/up,workdir=$R/work" "$R/root"
mount -t proc proc "$R/root/proc"
mount --rbind /sys "$R/root/sys"
mount -t tmpfs tmpfs "$R/root/dev"
for d in null zero random urandom full tty; do touch "$R/root/dev/$d"; mount --bind "/dev/$d" "$R/root/dev/$d"; done
mkdir -p "$R/root/dev/pts" "$R/root/dev/shm" "$R/root/tmp"
while [ "$1" != -- ]; do
	src="$1"; dst="$2"; shift 2
	# Made and resolved inside the new root: a symlink there (/var/run -> /run) must
	# not lead to the host's directory.
	if [ -d "$src" ]; then chroot "$R/root" mkdir -p "$dst"; else chroot "$R/root" mkdir -p "$(dirname "$dst")"; chroot "$R/root" touch "$dst"; fi
	mount --bind "$src" "$R/root$(chroot "$R/root" readlink -f "$dst")"
done
shift
exec chroot "$R/root" "$@"
`

// runContainer runs one container to its end (or until ctx ends), calling running
// once it has started, and returns its final status.
func (n *ProcessNode) runContainer(ctx context.Context, p *corev1.Pod, ct corev1.Container, vols map[string]string, dir string, running func(corev1.ContainerStatus)) corev1.ContainerStatus {
	st := corev1.ContainerStatus{Name: ct.Name, Image: ct.Image}
	fail := func(why string) corev1.ContainerStatus {
		now := metav1.Now()
		st.State = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 128, Reason: "StartError", Message: why, StartedAt: now, FinishedAt: now}}
		if running != nil {
			running(st)
		}
		return st
	}
	argv := append(append([]string{}, ct.Command...), ct.Args...)
	if len(argv) == 0 {
		return fail("no command: a process node runs only containers that name their command")
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
	args := []string{"-m", "--propagation", "private", "sh", "-c", mountScript, "sh", filepath.Join(cdir, "rootfs")}
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
	name, full := "unshare", args
	if p.Spec.HostNetwork {
		name, full = "ip", append([]string{"netns", "exec", n.NetNS, "unshare"}, args...)
	}
	cmd := exec.Command(name, full...)
	cmd.Env = n.env(ctx, p, ct)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	logFile, err := os.Create(filepath.Join(cdir, "log"))
	if err != nil {
		return fail(err.Error())
	}
	defer logFile.Close()
	cmd.Stdout, cmd.Stderr = logFile, logFile
	started := metav1.Now()
	if err := cmd.Start(); err != nil {
		return fail(err.Error())
	}
	st.Ready, st.Started = true, ptr(true)
	st.State = corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: started}}
	if running != nil {
		running(st)
	}
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	select {
	case err = <-waited:
	case <-ctx.Done():
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		err = <-waited
	}
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
	st.Ready, st.Started = false, ptr(false)
	st.State = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: int32(code), Reason: reason,
		Message: strings.TrimSpace(string(msg)), StartedAt: started, FinishedAt: metav1.Now()}}
	return st
}

// env is the container's environment: what the pod spec sets (values, fields, keys of
// ConfigMaps and Secrets), and the API server's address as the kubelet gives it.
func (n *ProcessNode) env(ctx context.Context, p *corev1.Pod, ct corev1.Container) []string {
	u, _ := url.Parse(n.c.Config.Host)
	host, port, _ := net.SplitHostPort(u.Host)
	out := []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOSTNAME=" + n.Name,
		"KUBERNETES_SERVICE_HOST=" + host, "KUBERNETES_SERVICE_PORT=" + port}
	for _, e := range ct.Env {
		v := e.Value
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
		out = append(out, e.Name+"="+v)
	}
	return out
}

// ForwardAPIServer makes the API server answer at its own address inside the node's
// network namespace too (a listener opened there, forwarding to the host's loopback),
// so that a hostNetwork pod reaches it as KUBERNETES_SERVICE_HOST, with the same TLS
// name. It lasts until the node stops.
func (n *ProcessNode) ForwardAPIServer() error {
	u, err := url.Parse(n.c.Config.Host)
	if err != nil {
		return err
	}
	ln, err := listenInNetNS("/run/netns/"+n.NetNS, u.Host)
	if err != nil {
		return fmt.Errorf("listen in %s: %w", n.NetNS, err)
	}
	go func() {
		<-n.done
		ln.Close()
	}()
	go func() {
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer in.Close()
				out, err := net.Dial("tcp", u.Host)
				if err != nil {
					return
				}
				defer out.Close()
				go func() { _, _ = io.Copy(out, in) }()
				_, _ = io.Copy(in, out)
			}()
		}
	}()
	return nil
}

// listenInNetNS opens a TCP listener inside another network namespace: the socket
// keeps the namespace it was made in after the thread switches back.
func listenInNetNS(nsPath, addr string) (net.Listener, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	self, err := os.Open(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()))
	if err != nil {
		return nil, err
	}
	defer self.Close()
	target, err := os.Open(nsPath)
	if err != nil {
		return nil, err
	}
	defer target.Close()
	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		return nil, err
	}
	ln, lerr := net.Listen("tcp", addr)
	if err := unix.Setns(int(self.Fd()), unix.CLONE_NEWNET); err != nil {
		// This thread is in the wrong namespace: it must not run anything else.
		runtime.Goexit()
	}
	return ln, lerr
}

func ptr[T any](v T) *T { return &v }

// ContainerLog is what a container that ran on this node wrote.
func (n *ProcessNode) ContainerLog(pod types.UID, container string) ([]byte, error) {
	return os.ReadFile(filepath.Join(n.base, "pods", string(pod), container, "log"))
}
