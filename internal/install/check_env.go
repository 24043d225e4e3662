package install

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// The environment checks: environment, and the kops limitations.

// DetectEnv picks the environment for --env=auto: kubeadm-config means kubeadm; the kops
// instance-group node label means kops; anything else is custom.
func DetectEnv(ctx context.Context, cs kubernetes.Interface) (env, reason string, err error) {
	_, err = cs.CoreV1().ConfigMaps("kube-system").Get(ctx, "kubeadm-config", metav1.GetOptions{})
	switch {
	case err == nil:
		return "kubeadm", "ConfigMap kube-system/kubeadm-config exists", nil
	case !apierrors.IsNotFound(err):
		return "", "", fmt.Errorf("read kubeadm-config: %w", err)
	}
	nodes, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: "kops.k8s.io/instancegroup", Limit: 1})
	if err != nil {
		return "", "", fmt.Errorf("list nodes: %w", err)
	}
	if len(nodes.Items) > 0 {
		return "kops", fmt.Sprintf("node %s has the kops.k8s.io/instancegroup label", nodes.Items[0].Name), nil
	}
	return "custom", "neither kubeadm-config nor kops node labels found", nil
}

// kopsChecks are the original guide's three kops limitations, with its advice.
func kopsChecks(s *pfState) []Check {
	if s.in.Env != "kops" {
		return nil
	}
	return []Check{
		{Name: "kops-single-subnet", Severity: Warn, Message: "an automated Romana install supports a single subnet only", Fix: "run the cluster in one subnet"},
		{Name: "kops-network-cidr", Severity: Warn, Message: "kops' default --network-cidr 172.20.0.0/16 is too large for this setup", Fix: "create the cluster with --network-cidr=172.20.0.0/21"},
		{Name: "kops-source-dest-check", Severity: Warn, Message: "EC2 SourceDestCheck is on by default, which drops pod traffic between hosts", Fix: "disable SourceDestCheck on every instance"},
	}
}
