package install

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
)

// WaitOptions tune Wait.
type WaitOptions struct {
	Namespace string
	Timeout   time.Duration
	// Services says whether romana-services is a DaemonSet of the release.
	Services bool
}

// dsState is one DaemonSet's rollout, as Wait sees it.
type dsState struct {
	name                         string
	desired, ready, updated, gen int64
	observed                     int64
	found                        bool
	// stale: the last read failed, and this is what was seen before it.
	stale bool
}

func (s dsState) String() string {
	if !s.found {
		return s.name + " not found"
	}
	return fmt.Sprintf("%s %d/%d ready", s.name, s.ready, s.desired)
}

// Wait waits until Romana is really up. Helm's own DaemonSet check counts a DaemonSet
// that schedules zero pods as ready; this one requires romana-services to have at
// least one pod and all of them ready, and romana-agent to be ready on every node
// (it tolerates every taint, so every node must run it), both at their current
// generation. It prints a line each time the picture changes, and stops when ctx is
// cancelled (SIGINT/SIGTERM) or the timeout passes.
func Wait(ctx context.Context, cs kubernetes.Interface, o WaitOptions, progress func(string)) error {
	if o.Timeout <= 0 {
		o.Timeout = 5 * time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	last := ""
	var lastErr error
	var lastSvc, lastAgent dsState
	nodeCount := 0
	err := wait.PollUntilContextCancel(ctx, 300*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		nodes, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		if ctx.Err() != nil {
			// Requests made with an expired context fail; report what was last seen.
			return false, ctx.Err()
		}
		lastErr = err
		if err != nil {
			if unreachable(err) && last != "api-down" {
				progress("waiting: the API server is unreachable (" + err.Error() + "); retrying until the timeout")
				last = "api-down"
			}
			return false, nil
		}
		agent := getDS(ctx, cs, o.Namespace, "romana-agent", lastAgent)
		ok := !agent.stale && agent.found && agent.desired == int64(len(nodes.Items)) && agent.ready == agent.desired && agent.updated == agent.desired && agent.observed >= agent.gen
		line := agent.String() + fmt.Sprintf(" (%d nodes)", len(nodes.Items))
		var svc dsState
		if o.Services {
			svc = getDS(ctx, cs, o.Namespace, "romana-services", lastSvc)
			ok = ok && !svc.stale && svc.found && svc.desired >= 1 && svc.ready == svc.desired && svc.updated == svc.desired && svc.observed >= svc.gen
			line = svc.String() + ", " + line
		}
		if ok {
			progress("ready: " + line)
			return true, nil
		}
		if line != last {
			progress("waiting: " + line)
			last = line
		}
		if ctx.Err() != nil {
			return false, ctx.Err()
		}
		lastSvc, lastAgent, nodeCount = svc, agent, len(nodes.Items)
		return false, nil
	})
	if err != nil {
		return waitError(ctx, cs, o, lastSvc, lastAgent, nodeCount, last, lastErr)
	}
	return nil
}

// waitError says why the wait ended and, where the state shows it, what is wrong.
func waitError(ctx context.Context, cs kubernetes.Interface, o WaitOptions, svc, agent dsState, nodes int, state string, lastErr error) error {
	why := "timed out after " + o.Timeout.String()
	if errors.Is(context.Cause(ctx), context.Canceled) {
		why = "interrupted"
	}
	var hints []string
	if o.Services && svc.found && svc.desired == 0 {
		hints = append(hints, "romana-services schedules no pod: no node matches services.nodeSelector, or services.tolerations do not cover the control plane's taints")
	}
	if agent.found && agent.desired < int64(nodes) {
		hints = append(hints, fmt.Sprintf("romana-agent runs on %d of %d nodes: agent.tolerations do not cover every node's taints, and a node without the agent has no pod network", agent.desired, nodes))
	}
	if state == "api-down" && lastErr != nil {
		return fmt.Errorf("wait for Romana: %s; the API server is unreachable: %v", why, lastErr)
	}
	// The cluster often knows why: the DaemonSet controller records refused pods as
	// FailedCreate events, and the scheduler says why a pod stays pending.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	hints = append(hints, clusterReasons(rctx, cs, o.Namespace)...)
	msg := fmt.Sprintf("wait for Romana: %s (%s)", why, state)
	if len(hints) > 0 {
		msg += "; " + strings.Join(hints, "; ")
	}
	return errors.New(msg)
}

// getDS reads a DaemonSet. Only NotFound means absent: any other error (a throttled
// or failed request) keeps what was seen before, so a transient error is never
// reported as a missing DaemonSet.
func getDS(ctx context.Context, cs kubernetes.Interface, ns, name string, prev dsState) dsState {
	ds, err := cs.AppsV1().DaemonSets(ns).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return dsState{name: name}
	}
	if err != nil {
		prev.name = name
		prev.stale = true
		return prev
	}
	return fromDS(ds)
}

func fromDS(ds *appsv1.DaemonSet) dsState {
	return dsState{name: ds.Name, found: true, desired: int64(ds.Status.DesiredNumberScheduled), ready: int64(ds.Status.NumberReady),
		updated: int64(ds.Status.UpdatedNumberScheduled), gen: ds.Generation, observed: ds.Status.ObservedGeneration}
}

// clusterReasons collects what the cluster says about Romana's missing pods: the
// newest FailedCreate event of each DaemonSet, and the unschedulable reason of pending
// pods (one line per distinct reason).
func clusterReasons(ctx context.Context, cs kubernetes.Interface, ns string) []string {
	var out []string
	seen := map[string]bool{}
	for _, name := range []string{"romana-services", "romana-agent"} {
		evs, err := cs.CoreV1().Events(ns).List(ctx, metav1.ListOptions{
			FieldSelector: "involvedObject.kind=DaemonSet,involvedObject.name=" + name + ",reason=FailedCreate"})
		if err != nil || len(evs.Items) == 0 {
			continue
		}
		newest := evs.Items[0]
		for _, e := range evs.Items[1:] {
			if eventTime(e).After(eventTime(newest)) {
				newest = e
			}
		}
		out = append(out, fmt.Sprintf("%s cannot create pods (FailedCreate, %d×): %s", name, max(newest.Count, 1), newest.Message))
	}
	pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app in (romana-services, romana-agent)", FieldSelector: "status.phase=Pending"})
	if err == nil {
		for _, p := range pods.Items {
			for _, c := range p.Status.Conditions {
				if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse && c.Message != "" {
					line := fmt.Sprintf("%s pod %s is not scheduled (%s): %s", p.Labels["app"], p.Name, c.Reason, c.Message)
					if key := p.Labels["app"] + c.Message; !seen[key] {
						seen[key] = true
						out = append(out, line)
					}
				}
			}
		}
	}
	return out
}

func eventTime(e corev1.Event) time.Time {
	if !e.LastTimestamp.IsZero() {
		return e.LastTimestamp.Time
	}
	return e.EventTime.Time
}
