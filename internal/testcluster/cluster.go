// Package testcluster runs a real local control plane for tests and for `make demo`:
// etcd and kube-apiserver through controller-runtime's envtest, plus
// kube-controller-manager, kube-scheduler and kwok (which simulates nodes and marks
// their pods Running), all built from the Go module proxy by `make controlplane`:
// etcd, kubectl and kwok into bin/, the Kubernetes components of each minor into
// bin/<minor>/ (`make controlplane K8S=1.25`). Nothing here is a fake: the API server
// decides clusterIP allocation, immutable fields, RBAC and admission, as on a real
// cluster.
package testcluster

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// Defaults that make the local cluster look like a kubeadm cluster, so that
// `--env=kubeadm` works unchanged.
const (
	ServiceCIDR = "10.96.0.0/12"
	ClusterCIDR = "10.244.0.0/16"
	// DefaultMinor is the Kubernetes minor a cluster runs when neither Options nor
	// $ROMANACTL_K8S names one: the newest module under test/controlplane/ (a unit
	// test holds the two together).
	DefaultMinor = "1.37"
	// ControlPlaneLabel is the label (and taint key) kubeadm puts on its control-plane nodes.
	ControlPlaneLabel = "node-role.kubernetes.io/control-plane"
)

// Options configure a cluster.
type Options struct {
	// BinDir holds etcd, kwok and kwok-stages.yaml, and a directory per minor with
	// kube-apiserver, kube-controller-manager and kube-scheduler.
	BinDir string
	// Minor is the Kubernetes minor to run ("1.25"); empty means $ROMANACTL_K8S, then
	// DefaultMinor.
	Minor string
	// ServiceCIDR and ClusterCIDR are the service and pod ranges (empty: the kubeadm
	// defaults above); a kops-like cluster uses kops's 100.64.0.0/13 and 100.96.0.0/11.
	ServiceCIDR, ClusterCIDR string
	// Kops makes the cluster look like one kops made: no kubeadm-config, and every node
	// labelled with its kops instance group.
	Kops bool
	// Dir holds the admin kubeconfig and the components' logs. Required.
	Dir string
	// Workers is the number of simulated worker nodes, besides one control-plane node.
	Workers int
	// NoControlPlaneNode leaves out the control-plane node (to test placement checks, or
	// to let AddRealNodes add a real one).
	NoControlPlaneNode bool
	// FirstWorker numbers the simulated workers from worker-<FirstWorker> (and their
	// addresses alike), so that real workers added after Start (AddRealNodes' worker-0,
	// …) keep their names.
	FirstWorker int
	// Log receives progress lines; nil discards them.
	Log io.Writer
}

// Cluster is a running local control plane.
type Cluster struct {
	// KubeconfigPath is an admin kubeconfig (a user in system:masters).
	KubeconfigPath string
	// Config is the admin REST config.
	Config *rest.Config
	// Client is an admin clientset.
	Client kubernetes.Interface
	// Minor is the Kubernetes minor running, and Version its version as the API server
	// reports it.
	Minor, Version string
	// ServiceCIDR and ClusterCIDR are the ranges the cluster runs with.
	ServiceCIDR, ClusterCIDR string

	kops  bool
	env   *envtest.Environment
	procs []*exec.Cmd
	// apiserver is kube-apiserver once StopAPIServer's restart started it again
	// (envtest's own process is gone then).
	apiserver *exec.Cmd
	log       io.Writer
	once      sync.Once

	// The process nodes' network (nodenet.go), made by the first process node.
	netOnce sync.Once
	net     *nodeNet
	netErr  error
}

// Start brings up etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok,
// registers the simulated nodes and the kubeadm-config ConfigMap, and waits until every
// node is Ready.
func Start(ctx context.Context, o Options) (_ *Cluster, err error) {
	if o.Log == nil {
		o.Log = io.Discard
	}
	bin, err := filepath.Abs(o.BinDir)
	if err != nil {
		return nil, err
	}
	minor := cmp.Or(o.Minor, os.Getenv("ROMANACTL_K8S"), DefaultMinor)
	k8s := filepath.Join(bin, minor)
	for _, b := range []string{"etcd", "kwok", "kwok-stages.yaml", minor + "/kube-apiserver", minor + "/kube-controller-manager", minor + "/kube-scheduler"} {
		if _, err := os.Stat(filepath.Join(bin, b)); err != nil {
			return nil, fmt.Errorf("%s is missing from %s: run `make controlplane K8S=%s`", b, bin, minor)
		}
	}
	if err := os.MkdirAll(o.Dir, 0o755); err != nil {
		return nil, err
	}
	c := &Cluster{log: o.Log, Minor: minor, kops: o.Kops, ServiceCIDR: cmp.Or(o.ServiceCIDR, ServiceCIDR), ClusterCIDR: cmp.Or(o.ClusterCIDR, ClusterCIDR),
		env: &envtest.Environment{
			BinaryAssetsDirectory:    bin,
			ControlPlaneStartTimeout: 60 * time.Second,
			ControlPlaneStopTimeout:  30 * time.Second,
		}}
	c.env.ControlPlane.GetAPIServer().Path = filepath.Join(k8s, "kube-apiserver")
	api := c.env.ControlPlane.GetAPIServer().Configure()
	api.Set("service-cluster-ip-range", c.ServiceCIDR)
	// The agent is privileged: a real cluster that runs a CNI allows it.
	api.Set("allow-privileged", "true")
	defer func() {
		if err != nil {
			c.Stop()
		}
	}()
	start := time.Now()
	if _, err := c.env.Start(); err != nil {
		return nil, fmt.Errorf("start etcd and kube-apiserver: %w", err)
	}
	admin, err := c.env.AddUser(envtest.User{Name: "romana-admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return nil, fmt.Errorf("add admin user: %w", err)
	}
	kc, err := admin.KubeConfig()
	if err != nil {
		return nil, err
	}
	c.KubeconfigPath = filepath.Join(o.Dir, "kubeconfig")
	if err := os.WriteFile(c.KubeconfigPath, kc, 0o600); err != nil {
		return nil, err
	}
	c.Config = admin.Config()
	// client-go's default 5 requests/s throttles tests that poll (a wait, a watch of
	// the release) into false timeouts, and registering a thousand nodes into minutes.
	c.Config.QPS, c.Config.Burst = 200, 400
	if c.Client, err = kubernetes.NewForConfig(c.Config); err != nil {
		return nil, err
	}
	sv, err := c.Client.Discovery().ServerVersion()
	if err != nil {
		return nil, fmt.Errorf("read the API server's version: %w", err)
	}
	c.Version = sv.GitVersion
	fmt.Fprintf(o.Log, "etcd and kube-apiserver %s up in %.1fs (%s)\n", c.Version, time.Since(start).Seconds(), c.Config.Host)

	kubeconfig := "--kubeconfig=" + c.KubeconfigPath
	components := []struct {
		name string
		args []string
	}{
		{"kube-controller-manager", []string{kubeconfig, "--leader-elect=false", "--secure-port=0",
			// No service account signing key here; the token controller would fail.
			"--controllers=*,-serviceaccount-token", "--allocate-node-cidrs=true",
			"--cluster-cidr=" + c.ClusterCIDR, "--service-cluster-ip-range=" + c.ServiceCIDR}},
		{"kube-scheduler", []string{kubeconfig, "--leader-elect=false", "--secure-port=0"}},
		// kwok fakes the kubelet of the nodes AddNode makes (annotated), and leaves a
		// test's process nodes (AddProcessNode) to run their pods for real.
		{"kwok", []string{kubeconfig, "--manage-all-nodes=false", "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
			// The heartbeat-with-lease stage renews node status only every 10 minutes and
			// relies on node leases in between; without them the node lifecycle controller
			// marks every node (and its pods) NotReady after ~40s.
			"--node-lease-duration-seconds=40", "--config=" + filepath.Join(bin, "kwok-stages.yaml"),
			"--server-address=127.0.0.1:" + freePort()}},
	}
	for _, comp := range components {
		dir := k8s
		if comp.name == "kwok" {
			dir = bin
		}
		if err := c.startProcess(filepath.Join(dir, comp.name), comp.args, filepath.Join(o.Dir, comp.name+".log")); err != nil {
			return nil, err
		}
	}
	if !o.Kops {
		if err := c.seedKubeadm(ctx); err != nil {
			return nil, err
		}
	}
	if !o.NoControlPlaneNode {
		if err := c.AddNode(ctx, "control-plane-0", true, "172.18.0.10"); err != nil {
			return nil, err
		}
	}
	// Workers are registered 16 at a time: a thousand one after another would take
	// minutes of round trips (make bench-scale).
	sem := make(chan struct{}, 16)
	errs := make(chan error, o.Workers)
	var wg sync.WaitGroup
	for i := range o.Workers {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			errs <- c.AddNode(ctx, fmt.Sprintf("worker-%d", o.FirstWorker+i), false, workerIP(o.FirstWorker+i))
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			return nil, err
		}
	}
	if err := c.WaitNodesReady(ctx, 60*time.Second+time.Duration(o.Workers)*100*time.Millisecond); err != nil {
		return nil, err
	}
	fmt.Fprintf(o.Log, "cluster ready in %.1fs\n", time.Since(start).Seconds())
	return c, nil
}

func (c *Cluster) startProcess(path string, args []string, logPath string) error {
	logf, err := os.Create(logPath)
	if err != nil {
		return err
	}
	cmd := exec.Command(path, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	// Die with the parent, so a killed test run leaves no orphans behind.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("start %s: %w", filepath.Base(path), err)
	}
	c.procs = append(c.procs, cmd)
	return nil
}

// seedKubeadm creates the kubeadm-config ConfigMap kubeadm leaves in kube-system, where
// installers look for the service subnet.
func (c *Cluster) seedKubeadm(ctx context.Context) error {
	cm := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "kubeadm-config", Namespace: "kube-system"},
		Data: map[string]string{"ClusterConfiguration": fmt.Sprintf(`apiVersion: kubeadm.k8s.io/v1beta4
kind: ClusterConfiguration
kubernetesVersion: %s
networking:
  dnsDomain: cluster.local
  serviceSubnet: %s
  podSubnet: %s
`, c.Version, c.ServiceCIDR, c.ClusterCIDR)},
	}
	_, err := c.Client.CoreV1().ConfigMaps("kube-system").Create(ctx, cm, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create kubeadm-config: %w", err)
	}
	return nil
}

// workerIP is worker i's InternalIP: 172.18.0.20 onwards, spilling into the next /24s
// for large clusters.
func workerIP(i int) string {
	n := 20 + i
	return fmt.Sprintf("172.18.%d.%d", n/250, n%250)
}

// NodeRuntime is the container runtime the test cluster's nodes report: Docker Engine
// with cri-dockerd, the runtime Romana v0.9.3.5's CNI plugin needs (the pre-flight's
// container-runtime check). kwok keeps a runtime a node already reports.
const NodeRuntime = "docker://28.2.2"

// AddNode registers a simulated node that kwok manages. A control-plane node carries
// kubeadm's label and NoSchedule taint.
func (c *Cluster) AddNode(ctx context.Context, name string, controlPlane bool, ip string) error {
	n := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{
			"kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64", "type": "kwok",
		}, Annotations: map[string]string{"kwok.x-k8s.io/node": "fake"}},
	}
	if c.kops {
		n.Labels["kops.k8s.io/instancegroup"] = "nodes"
		if controlPlane {
			n.Labels["kops.k8s.io/instancegroup"] = "control-plane"
		}
	}
	if controlPlane {
		n.Labels[ControlPlaneLabel] = ""
		n.Spec.Taints = []corev1.Taint{{Key: ControlPlaneLabel, Effect: corev1.TaintEffectNoSchedule}}
	}
	created, err := c.Client.CoreV1().Nodes().Create(ctx, n, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("create node %s: %w", name, err)
	}
	created.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: ip}, {Type: corev1.NodeHostName, Address: name}}
	created.Status.NodeInfo.ContainerRuntimeVersion = NodeRuntime
	if _, err := c.Client.CoreV1().Nodes().UpdateStatus(ctx, created, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("set node %s address: %w", name, err)
	}
	return nil
}

// WaitNodesReady waits until every node is Ready and has a podCIDR.
func (c *Cluster) WaitNodesReady(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		nodes, err := c.Client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		if err == nil {
			ready := 0
			for _, n := range nodes.Items {
				for _, cond := range n.Status.Conditions {
					if cond.Type == corev1.NodeReady && cond.Status == corev1.ConditionTrue && n.Spec.PodCIDR != "" {
						ready++
					}
				}
			}
			if ready == len(nodes.Items) {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("nodes not ready: %w (logs in the cluster dir)", ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// Stop stops every component. It is safe to call more than once.
func (c *Cluster) Stop() error {
	var errs []error
	c.once.Do(func() {
		c.stopNetwork()
		for i := len(c.procs) - 1; i >= 0; i-- {
			stopProcess(c.procs[i], 10*time.Second)
		}
		if c.apiserver != nil {
			stopProcess(c.apiserver, 20*time.Second)
		}
		if err := c.env.Stop(); err != nil {
			errs = append(errs, fmt.Errorf("stop etcd and kube-apiserver: %w", err))
		}
	})
	return errors.Join(errs...)
}

// stopProcess sends SIGTERM, and SIGKILL if the process has not exited after grace.
func stopProcess(p *exec.Cmd, grace time.Duration) {
	_ = p.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = p.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(grace):
		_ = p.Process.Kill()
		<-done
	}
}

func freePort() string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "0"
	}
	defer l.Close()
	return fmt.Sprint(l.Addr().(*net.TCPAddr).Port)
}
