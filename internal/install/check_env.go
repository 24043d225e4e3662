package install

import (
	"context"
	"fmt"
	"slices"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/romana/romanactl/internal/values"
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

// envMismatch compares the environment in use with what DetectEnv finds, and returns the
// evidence when they differ ("" when they agree). An environment file carries the
// addresses of its kind of cluster (kops' romanaRoot.clusterIP 100.64.99.99 is not in a
// kubeadm service range), so a wrong one shows up later as a string of ✗ checks or a
// refused clusterIP change that do not name the cause. custom is never questioned: it
// carries no addresses, the user gives them.
func envMismatch(ctx context.Context, cs kubernetes.Interface, env string) (detected, evidence string, err error) {
	if env == "" || env == "custom" {
		return "", "", nil
	}
	detected, why, err := DetectEnv(ctx, cs)
	if err != nil || detected == env {
		return "", "", err
	}
	if detected == "custom" {
		why = "ConfigMap kube-system/kubeadm-config does not exist and no node has the kops.k8s.io/instancegroup label"
	}
	return detected, why, nil
}

// envCheck is the environment check: ✓ with why the environment was chosen, or ‼ when
// detection finds another one.
func envCheck(s *pfState) []Check {
	detected, why, err := envMismatch(s.ctx, s.cs, s.in.Env)
	if err != nil {
		return []Check{{Name: "environment", Severity: Warn, Message: fmt.Sprintf("%s: %s; could not compare it with the cluster: %v", s.in.Env, s.in.EnvReason, err),
			Fix: "check that the kubeconfig's user may read kube-system/kubeadm-config and list nodes"}}
	}
	if detected == "" {
		return []Check{{Name: "environment", Severity: Pass, Message: fmt.Sprintf("%s: %s", s.in.Env, s.in.EnvReason)}}
	}
	return []Check{{Name: "environment", Severity: Warn,
		Message: fmt.Sprintf("environment %s (%s) does not match the cluster, which looks like %s: %s; %s's addresses may not fit it", s.in.Env, s.in.EnvReason, detected, why, s.in.Env),
		Fix:     fmt.Sprintf("use --env=%s (or --env=auto); if the cluster really is %s, acknowledge with --skip-check environment", detected, s.in.Env)}}
}

// checkEnvMatches refuses an upgrade whose --env does not match the cluster. It comes
// before everything else the upgrade checks: the wrong environment's addresses would
// otherwise first surface as a refused clusterIP change advising
// --recreate-root-service, which would make things worse.
func (c *Client) checkEnvMatches(ctx context.Context, env string, skip []string) error {
	if slices.Contains(skip, "environment") {
		return nil
	}
	detected, why, err := envMismatch(ctx, c.Kube, env)
	if err != nil || detected == "" {
		// A user who may not read kubeadm-config or list nodes is not stopped here:
		// the pre-flight's environment check reports it as ‼.
		return nil
	}
	return values.Inputf("--env=%s does not match the cluster, which looks like %s: %s; nothing was changed. The %s environment's addresses (romanaRoot.clusterIP, agent.clusterIPCIDR, services.cidr) would replace the release's with ones made for another kind of cluster. Use --env=%s, or leave --env out to keep the release's values; if the cluster really is %s, acknowledge with --skip-check environment",
		env, detected, why, env, detected, env)
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
