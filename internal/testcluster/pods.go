package testcluster

import (
	"context"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// PodNamespace is where bin/cluster pod add puts its pods.
const PodNamespace = "default"

// podCreatedBy labels the pods bin/cluster pod add makes.
const podCreatedBy = "app.kubernetes.io/created-by"

// Pod is the pod bin/cluster pod add makes: bound to a node (no scheduler: a
// control-plane node's NoSchedule taint does not keep it off), not hostNetwork, its
// one container sleeping. A real node runs it as any pod: the node's runtime makes its
// network namespace and attaches it through the node's installed CNI config and plugin.
// The image is not in the node's catalog, so the container runs sleep from the host.
// Its grace period stays the default: a deletion then waits for the node, which stops
// the container, runs CNI DEL and removes the pod (a grace period of 0 would let the API
// server drop the object before the node has cleaned up).
func Pod(node, name string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: PodNamespace, Labels: map[string]string{podCreatedBy: "bin-cluster"}},
		Spec: corev1.PodSpec{
			NodeName:                     node,
			AutomountServiceAccountToken: ptr(false),
			Containers: []corev1.Container{{Name: "sleep", Image: "docker.io/library/busybox:1.36",
				Command: []string{"sleep", "infinity"}}},
		},
	}
}

// AddPod creates Pod(node, name) on a real node and waits, up to timeout, for its
// address. A sandbox the node's CNI plugin failed is an error with the plugin's
// message (the pod stays, and the node retries it with back-off, as a kubelet does).
func AddPod(ctx context.Context, cs kubernetes.Interface, node, name string, timeout time.Duration) (string, error) {
	n, err := cs.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return "", fmt.Errorf("no node %q: `kubectl get nodes -l type=process` lists the real ones", node)
	}
	if err != nil {
		return "", fmt.Errorf("get node %s: %w", node, err)
	}
	if n.Labels["type"] != "process" {
		return "", fmt.Errorf("node %s is kwok's (it runs nothing, and a pod there gets no network): pick a real node, `kubectl get nodes -l type=process`", node)
	}
	if _, err := cs.CoreV1().Pods(PodNamespace).Create(ctx, Pod(node, name), metav1.CreateOptions{}); err != nil {
		if apierrors.IsAlreadyExists(err) {
			return "", fmt.Errorf("pod %s/%s exists already: pick another name, or remove it with `cluster pod del %s`", PodNamespace, name, name)
		}
		return "", fmt.Errorf("create pod %s/%s: %w", PodNamespace, name, err)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	last := "no status yet"
	for {
		p, err := cs.CoreV1().Pods(PodNamespace).Get(ctx, name, metav1.GetOptions{})
		if err == nil {
			switch {
			case p.Status.PodIP != "":
				return p.Status.PodIP, nil
			case strings.HasPrefix(p.Status.Message, "FailedCreatePodSandBox"):
				return "", fmt.Errorf("pod %s/%s on %s has no network: %s\n(the node retries with back-off; `cluster pod del %s` removes the pod)", PodNamespace, name, node, p.Status.Message, name)
			case p.Status.Phase == corev1.PodFailed:
				return "", fmt.Errorf("pod %s/%s on %s failed: %s", PodNamespace, name, node, p.Status.Message)
			}
			last = fmt.Sprintf("phase %q%s", p.Status.Phase, podMessage(p))
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("pod %s/%s on %s has no address after %s (%s): is the node's runtime running? `cluster pod del %s` removes it", PodNamespace, name, node, timeout, last, name)
		case <-time.After(300 * time.Millisecond):
		}
	}
}

// DeletePod deletes a pod and waits, up to timeout, until it is gone: its node has
// stopped its container, run the CNI plugin's DEL and removed its network namespace.
func DeletePod(ctx context.Context, cs kubernetes.Interface, name string, timeout time.Duration) error {
	err := cs.CoreV1().Pods(PodNamespace).Delete(ctx, name, metav1.DeleteOptions{})
	if apierrors.IsNotFound(err) {
		return fmt.Errorf("no pod %s in namespace %s (`kubectl get pods -n %s` lists them)", name, PodNamespace, PodNamespace)
	}
	if err != nil {
		return fmt.Errorf("delete pod %s/%s: %w", PodNamespace, name, err)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		_, err := cs.CoreV1().Pods(PodNamespace).Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("pod %s/%s still exists after %s: its node has not finished the CNI DEL (the node's log: serve.log in the cluster dir)", PodNamespace, name, timeout)
		case <-time.After(300 * time.Millisecond):
		}
	}
}
