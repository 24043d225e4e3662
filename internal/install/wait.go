package install

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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
	var lastSvc, lastAgent dsState
	nodeCount := 0
	for {
		nodes, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		if ctx.Err() != nil {
			// Requests made with an expired context fail; report what was last seen.
			return waitError(ctx, o, lastSvc, lastAgent, nodeCount, last)
		}
		if err == nil {
			agent := getDS(ctx, cs, o.Namespace, "romana-agent")
			ok := agent.found && agent.desired == int64(len(nodes.Items)) && agent.ready == agent.desired && agent.updated == agent.desired && agent.observed >= agent.gen
			line := agent.String() + fmt.Sprintf(" (%d nodes)", len(nodes.Items))
			var svc dsState
			if o.Services {
				svc = getDS(ctx, cs, o.Namespace, "romana-services")
				ok = ok && svc.found && svc.desired >= 1 && svc.ready == svc.desired && svc.updated == svc.desired && svc.observed >= svc.gen
				line = svc.String() + ", " + line
			}
			if ok {
				progress("ready: " + line)
				return nil
			}
			if line != last {
				progress("waiting: " + line)
				last = line
			}
			if ctx.Err() != nil {
				return waitError(ctx, o, lastSvc, lastAgent, nodeCount, last)
			}
			lastSvc, lastAgent, nodeCount = svc, agent, len(nodes.Items)
		}
		select {
		case <-ctx.Done():
			return waitError(ctx, o, lastSvc, lastAgent, nodeCount, last)
		case <-time.After(300 * time.Millisecond):
		}
	}
}

// waitError says why the wait ended and, where the state shows it, what is wrong.
func waitError(ctx context.Context, o WaitOptions, svc, agent dsState, nodes int, state string) error {
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
	msg := fmt.Sprintf("wait for Romana: %s (%s)", why, state)
	if len(hints) > 0 {
		msg += "; " + strings.Join(hints, "; ")
	}
	return errors.New(msg)
}

func getDS(ctx context.Context, cs kubernetes.Interface, ns, name string) dsState {
	ds, err := cs.AppsV1().DaemonSets(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return dsState{name: name}
	}
	return fromDS(ds)
}

func fromDS(ds *appsv1.DaemonSet) dsState {
	return dsState{name: ds.Name, found: true, desired: int64(ds.Status.DesiredNumberScheduled), ready: int64(ds.Status.NumberReady),
		updated: int64(ds.Status.UpdatedNumberScheduled), gen: ds.Generation, observed: ds.Status.ObservedGeneration}
}
