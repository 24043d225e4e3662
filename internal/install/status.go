package install

import (
	"context"
	"errors"
	"fmt"
	"time"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/release"
	"helm.sh/helm/v3/pkg/storage/driver"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/romana/romanactl/internal/values"
)

// RoleCount is ready/desired pods of a DaemonSet on the nodes of one role.
type RoleCount struct {
	Ready   int `json:"ready"`
	Desired int `json:"desired"`
}

// DaemonSetStatus is one DaemonSet's health.
type DaemonSetStatus struct {
	Name    string               `json:"name"`
	Ready   int                  `json:"ready"`
	Desired int                  `json:"desired"`
	ByRole  map[string]RoleCount `json:"byRole"`
	Healthy bool                 `json:"healthy"`
	Problem string               `json:"problem,omitempty"`
}

// Status is the release and its DaemonSets.
type Status struct {
	Release     string            `json:"release"`
	Namespace   string            `json:"namespace"`
	Revision    int               `json:"revision"`
	State       string            `json:"state"`
	Chart       string            `json:"chart"`
	AppVersion  string            `json:"appVersion"`
	Updated     time.Time         `json:"updated"`
	Description string            `json:"description"`
	DaemonSets  []DaemonSetStatus `json:"daemonSets"`
	Healthy     bool              `json:"healthy"`
}

// ErrNotHealthy is returned (with the status) when Romana is not healthy.
var ErrNotHealthy = errors.New("romana is not healthy")

// GetStatus reads the release and counts ready/desired pods per DaemonSet and node role.
// It works for a release that plain helm installed too.
func (c *Client) GetStatus(ctx context.Context) (*Status, error) {
	rel, err := action.NewStatus(c.Cfg).Run(ReleaseName)
	if errors.Is(err, driver.ErrReleaseNotFound) {
		return nil, values.Inputf("no release %s in %s", ReleaseName, c.Namespace)
	}
	if err != nil {
		return nil, fmt.Errorf("read release: %w", err)
	}
	st := &Status{Release: rel.Name, Namespace: rel.Namespace, Revision: rel.Version, State: rel.Info.Status.String(),
		Chart: rel.Chart.Metadata.Name + "-" + rel.Chart.Metadata.Version, AppVersion: rel.Chart.Metadata.AppVersion,
		Updated: rel.Info.LastDeployed.Time, Description: rel.Info.Description}
	nodes, err := c.Kube.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list nodes: %w", err)
	}
	roleOf := map[string]string{}
	for _, n := range nodes.Items {
		roleOf[n.Name] = "worker"
		if _, ok := n.Labels["node-role.kubernetes.io/control-plane"]; ok {
			roleOf[n.Name] = "control-plane"
		}
	}
	names := []string{"romana-agent"}
	if servicesInRelease(rel.Config) {
		names = []string{"romana-services", "romana-agent"}
	}
	st.Healthy = rel.Info.Status == release.StatusDeployed
	for _, name := range names {
		ds := DaemonSetStatus{Name: name, ByRole: map[string]RoleCount{}}
		d, err := c.Kube.AppsV1().DaemonSets(c.Namespace).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			ds.Problem = "not found: " + err.Error()
			st.DaemonSets = append(st.DaemonSets, ds)
			st.Healthy = false
			continue
		}
		ds.Desired, ds.Ready = int(d.Status.DesiredNumberScheduled), int(d.Status.NumberReady)
		pods, err := c.Kube.CoreV1().Pods(c.Namespace).List(ctx, metav1.ListOptions{LabelSelector: labels.SelectorFromSet(d.Spec.Selector.MatchLabels).String()})
		if err != nil {
			return nil, fmt.Errorf("list %s pods: %w", name, err)
		}
		for _, p := range pods.Items {
			role := roleOf[p.Spec.NodeName]
			if role == "" {
				role = "unscheduled"
			}
			rc := ds.ByRole[role]
			rc.Desired++
			if podReady(&p) {
				rc.Ready++
			}
			ds.ByRole[role] = rc
		}
		switch {
		case name == "romana-services" && ds.Desired == 0:
			ds.Problem = "schedules no pod: no node matches services.nodeSelector"
		case name == "romana-agent" && ds.Desired != len(nodes.Items):
			ds.Problem = fmt.Sprintf("runs on %d of %d nodes", ds.Desired, len(nodes.Items))
		case ds.Ready != ds.Desired:
			ds.Problem = fmt.Sprintf("%d pod(s) not ready", ds.Desired-ds.Ready)
		}
		ds.Healthy = ds.Problem == ""
		st.Healthy = st.Healthy && ds.Healthy
		st.DaemonSets = append(st.DaemonSets, ds)
	}
	if !st.Healthy {
		return st, ErrNotHealthy
	}
	return st, nil
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// History returns the release's revisions, oldest first.
func (c *Client) History() ([]*release.Release, error) {
	h := action.NewHistory(c.Cfg)
	h.Max = MaxHistory
	rels, err := h.Run(ReleaseName)
	if errors.Is(err, driver.ErrReleaseNotFound) {
		return nil, values.Inputf("no release %s in %s", ReleaseName, c.Namespace)
	}
	return rels, err
}

// Uninstall removes the release and everything in it but the kept password Secret.
func (c *Client) Uninstall(wait bool, timeout time.Duration) (*release.UninstallReleaseResponse, error) {
	un := action.NewUninstall(c.Cfg)
	un.Wait = wait
	un.Timeout = timeout
	res, err := un.Run(ReleaseName)
	if errors.Is(err, driver.ErrReleaseNotFound) {
		return nil, values.Inputf("no release %s in %s", ReleaseName, c.Namespace)
	}
	return res, err
}
