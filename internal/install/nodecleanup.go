package install

import (
	"context"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"

	"helm.sh/helm/v3/pkg/release"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/yaml"

	"github.com/romana/romanactl/internal/values"
)

const (
	// CleanupName is the node-cleanup hook DaemonSet (chart/templates/cleanup-hook.yaml).
	CleanupName = "romana-cleanup"
	// PurgeName is the datastore purge: the same pod as the cleanup, run by romanactl
	// only on the nodes romana-services ran on (uninstall --purge-datastore).
	PurgeName = "romana-purge"
	// cleanupContainer is the init container whose termination message is a node's report.
	cleanupContainer = "cleanup"
	// The selector labels of the chart's DaemonSets (and of the 2016 objects).
	agentSelector    = "app=romana-agent"
	servicesSelector = "app=romana-services"
)

// UninstallOptions tune Uninstall.
type UninstallOptions struct {
	Wait    bool
	Timeout time.Duration
	// KeepNodeState skips the node cleanup.
	KeepNodeState bool
	// PurgeDatastore also removes what the datastore wrote in services.dataDir, on the
	// nodes romana-services ran on.
	PurgeDatastore bool
}

// NodeReport is what the cleanup said on one node.
type NodeReport struct {
	Node    string `json:"node"`
	Removed int    `json:"removed"`
	Failed  int    `json:"failed"`
	// Lines are the script's report; Error says why there is no report.
	Lines []string `json:"lines,omitempty"`
	Error string   `json:"error,omitempty"`
}

// Cleaned is true when the node reported and nothing failed.
func (r NodeReport) Cleaned() bool { return r.Error == "" && r.Failed == 0 }

// UninstallResult is what Uninstall did.
type UninstallResult struct {
	Release *release.UninstallReleaseResponse
	// Nodes are the cleanup reports, one per node the agent ran on or the cleanup ran
	// on (none with KeepNodeState, or when the release's chart has no cleanup hook).
	Nodes []NodeReport
	// NodeCleanup says why the node cleanup did not run, when it did not.
	NodeCleanup string
	// Purge are the datastore purge's reports, one per node romana-services ran on;
	// PurgeSkipped says why nothing was purged, when PurgeDatastore was asked.
	Purge        []NodeReport
	PurgeSkipped string
	DataDir      string
	// LeaseKept says why romanactl's Lease (its lock on the release) is still there
	// after the uninstall, "" when it was deleted.
	LeaseKept string
}

var doneRE = regexp.MustCompile(`romana-cleanup: done: removed (\d+), failed (\d+)`)

// cleanupNodes runs the release's cleanup hook on every node the agent runs on, and
// with PurgeDatastore the purge on every node romana-services runs on: creates the
// DaemonSets from the hook Helm stored with the release, waits until each node's pod
// has reported (is ready: its init container ran the script), reads every report from
// one paged pod list (the init container's termination message), and deletes the
// DaemonSets. Every node the agent ran on gets a report or is named. The caller holds
// the Lease.
func (c *Client) cleanupNodes(ctx context.Context, rel *release.Release, o UninstallOptions, res *UninstallResult) error {
	var ds *appsv1.DaemonSet
	for _, h := range rel.Hooks {
		if h.Kind == "DaemonSet" && h.Name == CleanupName {
			ds = &appsv1.DaemonSet{}
			if err := yaml.Unmarshal([]byte(h.Manifest), ds); err != nil {
				return fmt.Errorf("read the cleanup hook: %w", err)
			}
		}
	}
	if ds == nil || !hasInit(ds, cleanupContainer) {
		res.NodeCleanup = fmt.Sprintf("revision %d's chart has no node cleanup hook that reports (upgrade to this romanactl's chart first, or clean the nodes by hand: README, Uninstall)", rel.Version)
		return nil
	}
	ds.Namespace = c.Namespace
	ds.ResourceVersion = ""
	run := []*appsv1.DaemonSet{ds}

	agentNodes, err := c.podNodes(ctx, agentSelector)
	if err != nil {
		return fmt.Errorf("list the agent's pods: %w", err)
	}
	var servicesNodes []string
	if o.PurgeDatastore {
		dataDir, ok := ReleaseDataDir(rel)
		if !ok {
			return fmt.Errorf("--purge-datastore: revision %d names no services.dataDir", rel.Version)
		}
		res.DataDir = dataDir
		if servicesNodes, err = c.podNodes(ctx, servicesSelector); err != nil {
			return fmt.Errorf("list romana-services' pods: %w", err)
		}
		if len(servicesNodes) == 0 {
			res.PurgeSkipped = fmt.Sprintf("no node runs romana-services (no pod labelled %s), so none is known to hold the datastore; %s was not purged anywhere", servicesSelector, dataDir)
		} else {
			run = append(run, purgeDaemonSet(ds, dataDir, servicesNodes))
		}
	}

	dss := c.Kube.AppsV1().DaemonSets(c.Namespace)
	for _, d := range run {
		// before-hook-creation: a cleanup left by an earlier run goes first.
		if err := c.deleteDaemonSet(ctx, d.Name); err != nil {
			return err
		}
	}
	c.progress("running the node cleanup (DaemonSet %s) on the %d node(s) the agent ran on", CleanupName, len(agentNodes))
	if len(run) > 1 {
		c.progress("purging %s (DaemonSet %s) on the node(s) romana-services ran on: %s", res.DataDir, PurgeName, strings.Join(servicesNodes, ", "))
	}
	defer func() {
		if err := c.leaseLost(); err != nil {
			// Write nothing more once the Lease is lost; say what stays.
			for _, d := range run {
				c.progress("‼ the Lease was lost, so DaemonSet %s stays: delete it with kubectl -n %s delete ds %s", d.Name, c.Namespace, d.Name)
			}
			return
		}
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		for _, d := range run {
			if err := c.deleteDaemonSet(dctx, d.Name); err != nil {
				c.progress("‼ could not delete DaemonSet %s: %v (kubectl -n %s delete ds %s)", d.Name, err, c.Namespace, d.Name)
			}
		}
	}()
	// The pods of an earlier run may still be going (they are deleted in the
	// background): only the pods of the DaemonSets made now report.
	owner := map[string]types.UID{}
	for _, d := range run {
		made, err := dss.Create(ctx, d, metav1.CreateOptions{})
		if err != nil {
			return fmt.Errorf("create DaemonSet %s: %w", d.Name, err)
		}
		owner[d.Name] = made.UID
	}

	timeout := o.Timeout
	if timeout <= 0 {
		timeout = 5 * time.Minute
	}
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	last := ""
	_ = wait.PollUntilContextCancel(wctx, 500*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		done, ready, desired := true, int32(0), int32(0)
		for _, d := range run {
			got, err := dss.Get(ctx, d.Name, metav1.GetOptions{})
			if err != nil {
				return false, nil
			}
			st := got.Status
			ready, desired = ready+st.NumberReady, desired+st.DesiredNumberScheduled
			done = done && st.ObservedGeneration >= got.Generation && st.DesiredNumberScheduled > 0 && st.NumberReady == st.DesiredNumberScheduled
		}
		if line := fmt.Sprintf("node cleanup: %d of %d pods reported", ready, desired); desired > 0 && line != last {
			c.progress("%s", line)
			last = line
		}
		return done, nil
	})

	if err := c.leaseLost(); err != nil {
		return c.stopped(err, "the node cleanup was running, and the release was not uninstalled")
	}
	reports, err := c.reports(ctx, CleanupName, owner[CleanupName])
	if err != nil {
		return err
	}
	res.Nodes = agentReports(agentNodes, reports)
	if len(run) > 1 {
		purged, err := c.reports(ctx, PurgeName, owner[PurgeName])
		if err != nil {
			return err
		}
		res.Purge = compare(servicesNodes, purged, "romana-services ran there")
	}
	return nil
}

// purgeDaemonSet is the cleanup's pod set to purge dataDir only (NODE_STATE=0), pinned
// to the nodes romana-services ran on: the datastore lives there, and nowhere else may
// lose a directory of the same name.
func purgeDaemonSet(cleanup *appsv1.DaemonSet, dataDir string, nodes []string) *appsv1.DaemonSet {
	ds := cleanup.DeepCopy()
	ds.Name = PurgeName
	ds.Labels["app.kubernetes.io/component"] = "purge"
	ds.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"app": PurgeName}}
	ds.Spec.Template.Labels["app"] = PurgeName
	ds.Spec.Template.Labels["app.kubernetes.io/component"] = "purge"
	pod := &ds.Spec.Template.Spec
	// The named nodes exactly, whatever their taints: the services ran there.
	pod.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
		NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchFields: []corev1.NodeSelectorRequirement{{Key: "metadata.name", Operator: corev1.NodeSelectorOpIn, Values: nodes}}}},
	}}}
	pod.NodeSelector = nil
	pod.Tolerations = []corev1.Toleration{{Operator: corev1.TolerationOpExists}}
	pod.Volumes = append(pod.Volumes, corev1.Volume{Name: "datastore", VolumeSource: corev1.VolumeSource{
		HostPath: &corev1.HostPathVolumeSource{Path: dataDir}}})
	for i := range pod.InitContainers {
		ct := &pod.InitContainers[i]
		if ct.Name != cleanupContainer {
			continue
		}
		ct.VolumeMounts = append(ct.VolumeMounts, corev1.VolumeMount{Name: "datastore", MountPath: "/host" + dataDir})
		ct.Env = append(ct.Env, corev1.EnvVar{Name: "NODE_STATE", Value: "0"},
			corev1.EnvVar{Name: "PURGE_DATASTORE", Value: "1"}, corev1.EnvVar{Name: "DATA_DIR", Value: dataDir})
	}
	return ds
}

func hasInit(ds *appsv1.DaemonSet, name string) bool {
	for _, ct := range ds.Spec.Template.Spec.InitContainers {
		if ct.Name == name {
			return true
		}
	}
	return false
}

// podNodes lists the nodes of the namespace's pods with a label, a page at a time.
func (c *Client) podNodes(ctx context.Context, selector string) ([]string, error) {
	seen := map[string]bool{}
	err := c.eachPod(ctx, selector, func(p *corev1.Pod) {
		if p.Spec.NodeName != "" && p.DeletionTimestamp == nil {
			seen[p.Spec.NodeName] = true
		}
	})
	return keys(seen), err
}

// eachPod calls fn on every pod of the namespace with the label, 500 per request: the
// requests grow with the pods by the page, not by the node.
func (c *Client) eachPod(ctx context.Context, selector string, fn func(*corev1.Pod)) error {
	opts := metav1.ListOptions{LabelSelector: selector, Limit: 500}
	for {
		l, err := c.Kube.CoreV1().Pods(c.Namespace).List(ctx, opts)
		if err != nil {
			return err
		}
		for i := range l.Items {
			fn(&l.Items[i])
		}
		if opts.Continue = l.Continue; opts.Continue == "" {
			return nil
		}
	}
}

// reports reads the report of every pod of a cleanup DaemonSet (the one with UID
// owner), by node: the init container's termination message ("" while it has not run).
func (c *Client) reports(ctx context.Context, name string, owner types.UID) (map[string]NodeReport, error) {
	out := map[string]NodeReport{}
	err := c.eachPod(ctx, "app="+name, func(p *corev1.Pod) {
		if p.Spec.NodeName == "" || !ownedBy(p, owner) {
			return
		}
		msg, ended := initMessage(p)
		r := parseReport(p.Spec.NodeName, msg, ended)
		if r.Error == noReportEnded {
			// The pod is deleted with the cleanup right after: what it ended with is
			// said here, since its log will be gone.
			r.Error = fmt.Sprintf("no report: its cleanup pod %s/%s ended without one (%s): the script did not run to its end", p.Namespace, p.Name, endedHow(p))
		}
		out[p.Spec.NodeName] = r
	})
	if err != nil {
		return nil, fmt.Errorf("list DaemonSet %s's pods: %w", name, err)
	}
	return out, nil
}

func ownedBy(p *corev1.Pod, uid types.UID) bool {
	for _, o := range p.OwnerReferences {
		if o.UID == uid {
			return true
		}
	}
	return false
}

// initMessage is the cleanup init container's termination message, and whether it ended.
func initMessage(p *corev1.Pod) (string, bool) {
	for _, st := range p.Status.InitContainerStatuses {
		if st.Name != cleanupContainer {
			continue
		}
		if t := st.State.Terminated; t != nil {
			return t.Message, true
		}
		if t := st.LastTerminationState.Terminated; t != nil {
			return t.Message, true
		}
	}
	return "", false
}

// endedHow says how the cleanup container ended: its exit code and reason.
func endedHow(p *corev1.Pod) string {
	for _, st := range p.Status.InitContainerStatuses {
		if st.Name != cleanupContainer {
			continue
		}
		t := st.State.Terminated
		if t == nil {
			t = st.LastTerminationState.Terminated
		}
		if t != nil {
			how := fmt.Sprintf("exit code %d", t.ExitCode)
			if t.Reason != "" {
				how += ", " + t.Reason
			}
			return how
		}
	}
	return "no exit status"
}

// noReportEnded is parseReport's answer for a pod that ended without a report;
// reports names the pod in it.
const noReportEnded = "no report: the cleanup ended without one"

// parseReport reads the script's report (chart/files/cleanup.sh).
func parseReport(node, text string, ended bool) NodeReport {
	r := NodeReport{Node: node}
	m := doneRE.FindStringSubmatch(text)
	switch {
	case m == nil && ended:
		r.Error = noReportEnded
		return r
	case m == nil:
		r.Error = "no report: the cleanup did not finish before the timeout"
		return r
	}
	fmt.Sscan(m[1], &r.Removed)
	fmt.Sscan(m[2], &r.Failed)
	for _, l := range strings.Split(strings.TrimSpace(text), "\n") {
		if strings.HasPrefix(l, "romana-cleanup: ") {
			r.Lines = append(r.Lines, strings.TrimPrefix(l, "romana-cleanup: "))
		}
	}
	return r
}

// agentReports is one report per node the agent ran on or the cleanup ran on.
func agentReports(agentNodes []string, reports map[string]NodeReport) []NodeReport {
	return compare(union(agentNodes, keys(reports)), reports, "the agent ran there")
}

// compare gives one report per node that should have reported, naming the ones that
// did not (why says why the node should have).
func compare(nodes []string, reports map[string]NodeReport, why string) []NodeReport {
	out := make([]NodeReport, 0, len(nodes))
	for _, n := range nodes {
		r, ok := reports[n]
		if !ok {
			r = NodeReport{Node: n, Error: "no report: no cleanup pod ran there (" + why + "; is the node down or unschedulable?)"}
		}
		out = append(out, r)
	}
	return out
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func union(a, b []string) []string {
	seen := map[string]bool{}
	for _, s := range append(append([]string{}, a...), b...) {
		seen[s] = true
	}
	return keys(seen)
}

// deleteDaemonSet deletes a DaemonSet and waits until the object is gone. Its pods go
// in the background: the garbage collector removes them (they only idle once they have
// reported), and waiting for a thousand of them took most of a minute.
func (c *Client) deleteDaemonSet(ctx context.Context, name string) error {
	bg := metav1.DeletePropagationBackground
	err := c.Kube.AppsV1().DaemonSets(c.Namespace).Delete(ctx, name, metav1.DeleteOptions{PropagationPolicy: &bg})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	return wait.PollUntilContextTimeout(ctx, 300*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		_, err := c.Kube.AppsV1().DaemonSets(c.Namespace).Get(ctx, name, metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})
}

// ReleaseDataDir is services.dataDir as a revision deployed it: the user's value, else
// that revision's chart's default.
func ReleaseDataDir(rel *release.Release) (string, bool) {
	if d, _ := values.LookupString(rel.Config, "services.dataDir"); d != "" {
		return d, true
	}
	if rel.Chart != nil {
		if d, _ := values.LookupString(rel.Chart.Values, "services.dataDir"); d != "" {
			return d, true
		}
	}
	return "", false
}
