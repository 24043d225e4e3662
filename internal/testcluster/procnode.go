package testcluster

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
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
// under it), network namespace (NetNS, with eth0 at the node's address on a network
// the process nodes share) and hostname. A container runs in a private mount namespace
// whose root is a copy-on-write overlay of the host's, with its image's files (Images),
// the pod's volumes, its service account token and its termination message file
// mounted where the pod asks: the programs and scripts the chart renders run as they
// would on a node, and the API server sees the pod go through its phases.
//
// It is a kubelet stand-in for tests. It runs hostNetwork pods in the node's namespace
// and gives other pods a network namespace of their own through the node's CNI
// configuration, as the container runtime does (RuntimeDocker or RuntimeContainerd).
// It restarts containers that exit, with back-off, runs readiness and liveness probes,
// and reports the pod's and the node's status. It has no images to pull (an image it
// does not know runs its command with the host's programs) and no resource limits. kwok
// leaves these nodes alone (it manages only nodes annotated kwok.x-k8s.io/node=fake).
type ProcessNode struct {
	Name, Root, NetNS, IP string
	// Run says which pods run for real.
	Run func(*corev1.Pod) bool
	// Stall says which pods the node leaves pending for ever, as a hung kubelet does.
	Stall func(*corev1.Pod) bool
	// Runtime is the container runtime the node emulates.
	Runtime string

	images  Images
	backOff time.Duration
	c       *Cluster
	net     *nodeNet
	base    string
	cancel  context.CancelFunc
	done    chan struct{}
	mu      sync.Mutex
	pods    map[types.UID]*podRun
	// stopping is set when the node itself stops: its pods' processes end, but it does
	// not take their networks down with CNI DEL (a kubelet that stops does not either,
	// and the services DEL calls may be gone by then).
	stopping atomic.Bool
	// hostPaths are the host directories the node's pods asked for (the node's own
	// files, under Root), which the node's programs see at their paths (NodeCommand).
	hostPaths map[string]bool
}

// The container runtimes a process node can emulate, as Nodes report them in
// status.nodeInfo.containerRuntimeVersion.
const (
	// RuntimeDocker is Docker Engine behind cri-dockerd: a docker command on the node
	// that runs the images the node knows, and pod network namespaces named
	// /proc/<pid>/ns/net, as dockershim passed them to CNI plugins.
	RuntimeDocker = "docker"
	// RuntimeContainerd is containerd: no docker command, and pod network namespaces
	// bind-mounted at /var/run/netns/<name>.
	RuntimeContainerd = "containerd"
)

// RuntimeVersion is what a Node of the runtime reports.
func RuntimeVersion(runtime string) string {
	if runtime == RuntimeContainerd {
		return "containerd://2.1.4"
	}
	return NodeRuntime
}

type podRun struct {
	cancel context.CancelFunc
	done   chan struct{}
	state  *podState
	pod    *corev1.Pod // as it was when the node took it (nil for one it only deletes)
}

// NodeOptions describe a process node.
type NodeOptions struct {
	Name         string
	ControlPlane bool
	// IP is the node's InternalIP, on the process nodes' /24.
	IP string
	// Run says which pods run for real (nil: none).
	Run func(*corev1.Pod) bool
	// Images stands the node's programs in for container images (nil: none).
	Images Images
	// Runtime is RuntimeDocker (the default) or RuntimeContainerd.
	Runtime string
	// BackOff is the first delay before a container that exited is started again; it
	// doubles up to 30 times as much. Zero means 2s (the kubelet starts at 10s; tests
	// wait less).
	BackOff time.Duration
}

// AddProcessNode registers a node that runs the pods run chooses as processes. It needs
// root (mount and network namespaces), ip (iproute2) and unshare.
func (c *Cluster) AddProcessNode(ctx context.Context, name string, controlPlane bool, ip string, run func(*corev1.Pod) bool) (*ProcessNode, error) {
	return c.AddNodeProcesses(ctx, NodeOptions{Name: name, ControlPlane: controlPlane, IP: ip, Run: run})
}

// AddNodeProcesses registers a process node.
func (c *Cluster) AddNodeProcesses(ctx context.Context, o NodeOptions) (*ProcessNode, error) {
	name, ip := o.Name, o.IP
	base, err := os.MkdirTemp("", "romana-node-"+name+"-")
	if err != nil {
		return nil, err
	}
	suffix := make([]byte, 3)
	_, _ = rand.Read(suffix)
	n := &ProcessNode{Name: name, Root: filepath.Join(base, "root"), NetNS: "romanactl-" + name + "-" + hex.EncodeToString(suffix), IP: ip,
		Run: o.Run, Runtime: cmp.Or(o.Runtime, RuntimeDocker), images: o.Images, backOff: cmp.Or(o.BackOff, 2*time.Second),
		c: c, base: base, done: make(chan struct{}), pods: map[types.UID]*podRun{}, hostPaths: map[string]bool{}}
	if n.Runtime != RuntimeDocker && n.Runtime != RuntimeContainerd {
		return nil, fmt.Errorf("node %s: runtime %q: a process node emulates %s or %s", name, n.Runtime, RuntimeDocker, RuntimeContainerd)
	}
	for _, d := range nodeViewDirs {
		if err := os.MkdirAll(filepath.Join(n.Root, d), 0o755); err != nil {
			return nil, err
		}
	}
	if out, err := exec.Command("ip", "netns", "add", n.NetNS).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("ip netns add %s: %v: %s", n.NetNS, err, out)
	}
	if out, err := exec.Command("ip", "-n", n.NetNS, "link", "set", "lo", "up").CombinedOutput(); err != nil {
		n.removeNetNS()
		return nil, fmt.Errorf("lo up in %s: %v: %s", n.NetNS, err, out)
	}
	nn, err := c.network()
	if err == nil {
		err = nn.attach(n)
	}
	if err != nil {
		n.removeNetNS()
		return nil, fmt.Errorf("node %s on the node network: %w", name, err)
	}
	n.net = nn
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{
		"kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64", "type": "process",
	}}}
	if o.ControlPlane {
		node.Labels[ControlPlaneLabel] = ""
		node.Spec.Taints = []corev1.Taint{{Key: ControlPlaneLabel, Effect: corev1.TaintEffectNoSchedule}}
	}
	created, err := c.Client.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{})
	if err != nil {
		n.removeNetNS()
		return nil, fmt.Errorf("create node %s: %w", name, err)
	}
	capacity := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("32"), corev1.ResourceMemory: resource.MustParse("256Gi"), corev1.ResourcePods: resource.MustParse("110")}
	status := corev1.NodeStatus{
		Addresses:   []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: ip}, {Type: corev1.NodeHostName, Address: name}},
		Capacity:    capacity,
		Allocatable: capacity,
		Conditions:  []corev1.NodeCondition{n.ready()},
		NodeInfo:    corev1.NodeSystemInfo{KubeletVersion: c.Version, OperatingSystem: "linux", Architecture: "amd64", ContainerRuntimeVersion: RuntimeVersion(n.Runtime)},
		Phase:       corev1.NodeRunning,
	}
	// The node controllers may change the Node (taints) between its creation and this.
	err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
		created.Status = status
		_, err := c.Client.CoreV1().Nodes().UpdateStatus(ctx, created, metav1.UpdateOptions{})
		if apierrors.IsConflict(err) {
			if cur, gerr := c.Client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{}); gerr == nil {
				created = cur
			}
		}
		return err
	})
	if err != nil {
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
	n.stopping.Store(true)
	n.cancel()
	<-n.done
	if n.net != nil {
		n.net.detach(n)
	}
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
				// A pod deleted before this node started it: nothing runs, so its done
				// closes once the pod is removed (Stop waits on every run's done).
				done := make(chan struct{})
				n.pods[p.UID] = &podRun{cancel: func() {}, done: done}
				go func(p corev1.Pod) {
					defer close(done)
					n.deletePod(p)
				}(*p)
			}
		case !known && p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed:
			pctx, cancel := context.WithCancel(ctx)
			pod := p.DeepCopy()
			r := &podRun{cancel: cancel, done: make(chan struct{}), state: &podState{}, pod: pod}
			n.pods[p.UID] = r
			go func() {
				defer close(r.done)
				if n.Stall != nil && n.Stall(pod) {
					<-pctx.Done()
					return
				}
				if n.Run != nil && n.Run(pod) {
					n.runPod(pctx, pod, r.state)
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
	n.push(ctx, p, &podState{phase: corev1.PodRunning, inits: inits, ctrs: ctrs})
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
			n.mu.Lock()
			n.hostPaths[filepath.Clean(v.HostPath.Path)] = true
			n.mu.Unlock()
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
	req := &authv1.TokenRequest{}
	// The API server binds a token to a pod only when the pod names that account; a
	// pod that names none (the admission plugin that would write "default" is left
	// out) gets an unbound one, e.g. the 2016 manifests' pods.
	if p.Spec.ServiceAccountName != "" {
		req.Spec.BoundObjectRef = &authv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: p.Name, UID: p.UID}
	}
	tr, err := n.c.Client.CoreV1().ServiceAccounts(p.Namespace).CreateToken(ctx, sa, req, metav1.CreateOptions{})
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

// inNetNS runs f on a thread switched into another network namespace: a socket f opens
// keeps that namespace after the thread switches back.
func inNetNS(nsPath string, f func()) error {
	runtime.LockOSThread()
	self, err := os.Open(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()))
	if err != nil {
		runtime.UnlockOSThread()
		return err
	}
	defer self.Close()
	target, err := os.Open(nsPath)
	if err != nil {
		runtime.UnlockOSThread()
		return err
	}
	defer target.Close()
	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread()
		return err
	}
	f()
	if err := unix.Setns(int(self.Fd()), unix.CLONE_NEWNET); err != nil {
		// This thread is in the wrong namespace: exiting while still locked ends the
		// thread, so nothing else runs on it.
		runtime.Goexit()
	}
	runtime.UnlockOSThread()
	return nil
}

// listenInNetNS opens a TCP listener inside another network namespace.
func listenInNetNS(nsPath, addr string) (ln net.Listener, err error) {
	if nerr := inNetNS(nsPath, func() { ln, err = net.Listen("tcp", addr) }); nerr != nil {
		return nil, nerr
	}
	return ln, err
}

func ptr[T any](v T) *T { return &v }

// ContainerLog is what a container that ran on this node wrote.
func (n *ProcessNode) ContainerLog(pod types.UID, container string) ([]byte, error) {
	return os.ReadFile(filepath.Join(n.base, "pods", string(pod), container, "log"))
}
