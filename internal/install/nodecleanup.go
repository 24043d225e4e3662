package install

import (
	"context"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"helm.sh/helm/v3/pkg/release"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/yaml"

	"github.com/romana/romanactl/internal/values"
)

// CleanupName is the node-cleanup hook DaemonSet (chart/templates/cleanup-hook.yaml).
const CleanupName = "romana-cleanup"

// UninstallOptions tune Uninstall.
type UninstallOptions struct {
	Wait    bool
	Timeout time.Duration
	// KeepNodeState skips the node cleanup.
	KeepNodeState bool
	// PurgeDatastore also removes the datastore's data directory on the nodes.
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
	// Nodes are the cleanup reports, one per node the hook ran on (none with
	// KeepNodeState, or when the release's chart has no cleanup hook).
	Nodes []NodeReport
	// NodeCleanup says why the node cleanup did not run, when it did not.
	NodeCleanup string
}

var doneRE = regexp.MustCompile(`romana-cleanup: done: removed (\d+), failed (\d+)`)

// cleanupNodes runs the release's cleanup hook on every node the agent runs on:
// creates the DaemonSet from the hook Helm stored with the release, waits until each
// node's pod has reported (is ready), reads each report from the pod's log, and deletes
// the DaemonSet. The caller holds the Lease.
func (c *Client) cleanupNodes(ctx context.Context, rel *release.Release, o UninstallOptions) ([]NodeReport, string, error) {
	var ds *appsv1.DaemonSet
	for _, h := range rel.Hooks {
		if h.Kind == "DaemonSet" && h.Name == CleanupName {
			ds = &appsv1.DaemonSet{}
			if err := yaml.Unmarshal([]byte(h.Manifest), ds); err != nil {
				return nil, "", fmt.Errorf("read the cleanup hook: %w", err)
			}
		}
	}
	if ds == nil {
		return nil, fmt.Sprintf("revision %d's chart has no node cleanup hook", rel.Version), nil
	}
	ds.Namespace = c.Namespace
	if o.PurgeDatastore {
		dataDir, ok := ReleaseDataDir(rel)
		if !ok {
			return nil, "", fmt.Errorf("--purge-datastore: revision %d names no services.dataDir", rel.Version)
		}
		pod := &ds.Spec.Template.Spec
		pod.Volumes = append(pod.Volumes, corev1.Volume{Name: "datastore", VolumeSource: corev1.VolumeSource{
			HostPath: &corev1.HostPathVolumeSource{Path: dataDir}}})
		ct := &pod.Containers[0]
		ct.VolumeMounts = append(ct.VolumeMounts, corev1.VolumeMount{Name: "datastore", MountPath: "/host" + dataDir})
		ct.Env = append(ct.Env, corev1.EnvVar{Name: "PURGE_DATASTORE", Value: "1"}, corev1.EnvVar{Name: "DATA_DIR", Value: dataDir})
	}
	dss := c.Kube.AppsV1().DaemonSets(c.Namespace)
	// before-hook-creation: a cleanup left by `helm uninstall` goes first.
	if err := c.deleteCleanup(ctx); err != nil {
		return nil, "", err
	}
	c.progress("running the node cleanup (DaemonSet %s) on every node the agent ran on", CleanupName)
	if _, err := dss.Create(ctx, ds, metav1.CreateOptions{}); err != nil {
		return nil, "", fmt.Errorf("create the node cleanup: %w", err)
	}
	defer func() {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		if err := c.deleteCleanup(dctx); err != nil {
			c.progress("‼ could not delete DaemonSet %s: %v (kubectl -n %s delete ds %s)", CleanupName, err, c.Namespace, CleanupName)
		}
	}()
	timeout := o.Timeout
	if timeout <= 0 {
		timeout = 5 * time.Minute
	}
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	last := ""
	_ = wait.PollUntilContextCancel(wctx, 500*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		d, err := dss.Get(ctx, CleanupName, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		line := fmt.Sprintf("node cleanup: %d of %d nodes reported", d.Status.NumberReady, d.Status.DesiredNumberScheduled)
		if line != last {
			c.progress("%s", line)
			last = line
		}
		return d.Status.ObservedGeneration >= d.Generation && d.Status.DesiredNumberScheduled > 0 && d.Status.NumberReady == d.Status.DesiredNumberScheduled, nil
	})
	pods, err := c.Kube.CoreV1().Pods(c.Namespace).List(ctx, metav1.ListOptions{LabelSelector: "app=" + CleanupName})
	if err != nil {
		return nil, "", fmt.Errorf("list the node cleanup's pods: %w", err)
	}
	// One log read per node is the only way to its report; 8 at a time, so a thousand
	// nodes cost seconds, not minutes (the client's QPS limit still applies).
	out := make([]NodeReport, len(pods.Items))
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	for i, p := range pods.Items {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			out[i] = c.nodeReport(ctx, p)
		}()
	}
	wg.Wait()
	sort.Slice(out, func(i, j int) bool { return out[i].Node < out[j].Node })
	return out, "", nil
}

// nodeReport reads one cleanup pod's report from its log.
func (c *Client) nodeReport(ctx context.Context, p corev1.Pod) NodeReport {
	r := NodeReport{Node: p.Spec.NodeName}
	if r.Node == "" {
		r.Node = p.Name
	}
	logs, err := c.Kube.CoreV1().Pods(c.Namespace).GetLogs(p.Name, &corev1.PodLogOptions{Container: "cleanup"}).DoRaw(ctx)
	switch m := doneRE.FindStringSubmatch(string(logs)); {
	case err != nil:
		r.Error = "no report: " + err.Error()
	case m == nil:
		r.Error = "no report yet (the cleanup did not finish before the timeout)"
	default:
		fmt.Sscan(m[1], &r.Removed)
		fmt.Sscan(m[2], &r.Failed)
		for _, l := range strings.Split(strings.TrimSpace(string(logs)), "\n") {
			if strings.HasPrefix(l, "romana-cleanup: ") {
				r.Lines = append(r.Lines, strings.TrimPrefix(l, "romana-cleanup: "))
			}
		}
	}
	return r
}

// deleteCleanup deletes the cleanup DaemonSet and its pods, and waits until it is gone.
func (c *Client) deleteCleanup(ctx context.Context) error {
	fg := metav1.DeletePropagationForeground
	err := c.Kube.AppsV1().DaemonSets(c.Namespace).Delete(ctx, CleanupName, metav1.DeleteOptions{PropagationPolicy: &fg})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	return wait.PollUntilContextTimeout(ctx, 300*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		_, err := c.Kube.AppsV1().DaemonSets(c.Namespace).Get(ctx, CleanupName, metav1.GetOptions{})
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
