package install

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
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

// progress is String, with the nodes updated over total while a rollout is under way.
func (s dsState) progress() string {
	if s.found && s.updated < s.desired {
		return fmt.Sprintf("%s %d/%d ready, %d/%d updated", s.name, s.ready, s.desired, s.updated, s.desired)
	}
	return s.String()
}

// NoTimeLimit is the timeout of a wait without a limit (--timeout=0): a hundred years,
// which every deadline computation holds without overflowing.
const NoTimeLimit = 100 * 365 * 24 * time.Hour

// timeoutText says a timeout for a progress line.
func timeoutText(d time.Duration) string {
	if d >= NoTimeLimit {
		return "no time limit"
	}
	return "timeout " + d.String()
}

// Wait waits until Romana is really up. Helm's own DaemonSet check counts a DaemonSet
// that schedules zero pods as ready; this one requires romana-services to have at
// least one pod and all of them ready, and romana-agent to be ready and updated on
// every node (it tolerates every taint, so every node must run it), both at their
// current generation. It prints a line each time the picture changes (nodes updated
// over total during a rolling update), and stops when ctx is cancelled (SIGINT/SIGTERM)
// or the timeout passes.
//
// It watches the namespace's DaemonSets instead of polling them, so the moment their
// status says ready is seen at once, and its requests do not grow with the wait's
// length or the cluster's size: a list and a watch per round (a new round only after
// the watch ends or fails), and a count of the nodes' metadata at the start of a round
// and when the DaemonSets look ready. It never reads a node or a pod one by one.
func Wait(ctx context.Context, cs kubernetes.Interface, o WaitOptions, progress func(string)) error {
	if o.Timeout <= 0 {
		o.Timeout = 5 * time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	w := &waiter{cs: cs, o: o, progress: progress,
		agent: dsState{name: "romana-agent"}, svc: dsState{name: "romana-services"}}
	for {
		if w.round(ctx) {
			return nil
		}
		select {
		case <-ctx.Done():
			return waitError(ctx, cs, o, w.svc, w.agent, w.nodes, w.last, w.lastErr)
		case <-time.After(300 * time.Millisecond):
		}
	}
}

// waiter is one Wait's view of the rollout.
type waiter struct {
	cs         kubernetes.Interface
	o          WaitOptions
	progress   func(string)
	svc, agent dsState
	nodes      int
	last       string
	lastErr    error
}

// round lists the DaemonSets, then follows them with a watch until they are ready (true)
// or the watch ends or a request fails (false: the caller starts a new round).
func (w *waiter) round(ctx context.Context) bool {
	list, err := w.cs.AppsV1().DaemonSets(w.o.Namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		w.failed(ctx, err)
		return false
	}
	w.svc.found, w.agent.found = false, false
	for i := range list.Items {
		w.see(&list.Items[i], false)
	}
	if w.nodes, err = countNodes(ctx, w.cs); err != nil {
		w.failed(ctx, err)
		return false
	}
	if w.check(ctx, false) {
		return true
	}
	wt, err := w.cs.AppsV1().DaemonSets(w.o.Namespace).Watch(ctx, metav1.ListOptions{ResourceVersion: list.ResourceVersion})
	if err != nil {
		w.failed(ctx, err)
		return false
	}
	defer wt.Stop()
	for {
		select {
		case <-ctx.Done():
			return false
		case ev, ok := <-wt.ResultChan():
			if !ok {
				return false
			}
			ds, isDS := ev.Object.(*appsv1.DaemonSet)
			switch {
			case ev.Type == watch.Error:
				// e.g. 410 Gone: the resource version is too old; list again.
				return false
			case !isDS:
				continue
			case ev.Type == watch.Deleted:
				w.see(ds, true)
			default:
				w.see(ds, false)
			}
			if w.check(ctx, true) {
				return true
			}
		}
	}
}

// see records a DaemonSet of the namespace, if it is one of Romana's.
func (w *waiter) see(ds *appsv1.DaemonSet, deleted bool) {
	var st *dsState
	switch ds.Name {
	case "romana-agent":
		st = &w.agent
	case "romana-services":
		st = &w.svc
	default:
		return
	}
	if deleted {
		*st = dsState{name: ds.Name}
		return
	}
	*st = fromDS(ds)
}

// check reports ready, printing the picture when it changed. Before saying ready it
// counts the nodes again (recount; the round has just counted them otherwise), so a
// node that joined during the wait is not missed.
func (w *waiter) check(ctx context.Context, recount bool) bool {
	ok := w.dsReady()
	if ok && recount {
		n, err := countNodes(ctx, w.cs)
		if err != nil {
			w.failed(ctx, err)
			return false
		}
		w.nodes = n
		ok = w.dsReady()
	}
	line := w.line()
	if ok {
		w.progress("ready: " + line)
		return true
	}
	if line != w.last {
		w.progress("waiting: " + line)
		w.last = line
	}
	return false
}

func (w *waiter) dsReady() bool {
	a := w.agent
	ok := a.found && a.desired == int64(w.nodes) && a.ready == a.desired && a.updated == a.desired && a.observed >= a.gen
	if w.o.Services {
		s := w.svc
		ok = ok && s.found && s.desired >= 1 && s.ready == s.desired && s.updated == s.desired && s.observed >= s.gen
	}
	return ok
}

// line is the progress line: during a rolling update it says how many nodes run the
// new pod template ("updated"), which is what a large cluster waits on.
func (w *waiter) line() string {
	line := w.agent.progress() + fmt.Sprintf(" (%d nodes)", w.nodes)
	if w.o.Services {
		line = w.svc.progress() + ", " + line
	}
	return line
}

// failed records a failed request; an unreachable API server is said once.
func (w *waiter) failed(ctx context.Context, err error) {
	if ctx.Err() != nil {
		return
	}
	w.lastErr = err
	if unreachable(err) && w.last != "api-down" {
		w.progress("waiting: the API server is unreachable (" + err.Error() + "); retrying until the timeout")
		w.last = "api-down"
	}
}

// countNodes counts the cluster's nodes by their metadata alone: a full Node is
// kilobytes, and the count is all the wait needs.
func countNodes(ctx context.Context, cs kubernetes.Interface) (int, error) {
	l, err := nodeMetadata(ctx, cs)
	return len(l), err
}

// nodeMetadata lists the nodes' metadata (names, labels) without their status, which
// is most of a Node's size: on a thousand nodes, megabytes a command need not hold.
func nodeMetadata(ctx context.Context, cs kubernetes.Interface) ([]metav1.ObjectMeta, error) {
	if rc, ok := cs.CoreV1().RESTClient().(*rest.RESTClient); ok && rc != nil {
		var l metav1.PartialObjectMetadataList
		if err := rc.Get().Resource("nodes").SetHeader("Accept", "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1").Do(ctx).Into(&l); err != nil {
			return nil, err
		}
		out := make([]metav1.ObjectMeta, len(l.Items))
		for i := range l.Items {
			out[i] = l.Items[i].ObjectMeta
		}
		return out, nil
	}
	l, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{}) // fake clientsets in unit tests
	if err != nil {
		return nil, err
	}
	out := make([]metav1.ObjectMeta, len(l.Items))
	for i := range l.Items {
		out[i] = l.Items[i].ObjectMeta
	}
	return out, nil
}

// waitError says why the wait ended and, where the state shows it, what is wrong.
func waitError(ctx context.Context, cs kubernetes.Interface, o WaitOptions, svc, agent dsState, nodes int, state string, lastErr error) error {
	// Say what ended the wait: its own --timeout, SIGINT/SIGTERM, or another cause
	// given to the caller's context (the loss of the Lease), which is no timeout.
	why := "timed out after " + o.Timeout.String()
	switch cause := context.Cause(ctx); {
	case errors.Is(cause, context.DeadlineExceeded):
	case errors.Is(cause, context.Canceled):
		why = "interrupted"
	case cause != nil:
		why = "stopped: " + cause.Error()
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
