package install

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/release"
	"helm.sh/helm/v3/pkg/storage/driver"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/kubectl/pkg/util/podutils"

	"github.com/romana/romanactl/internal/lock"
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
	// Wiring lists what is wrong between romana-root and the pods (empty when sound).
	Wiring []string `json:"wiring,omitempty"`
	// LockedBy names the live holder of the release's Lease, if any.
	LockedBy string `json:"lockedBy,omitempty"`
	// Unverified: the deployed revision was made by romanactl to be waited for, and its
	// wait never succeeded (see install.Unverified).
	Unverified bool `json:"unverified,omitempty"`
	// Hint is the next step for a release that is not deployed, or not verified.
	Hint string `json:"hint,omitempty"`
	// RomanaVersion is the tag of Romana's images that this revision deployed
	// (DeployedVersion), which --tag makes differ from the chart's appVersion.
	RomanaVersion string `json:"romanaVersion"`
	// Pinned says the revision pinned Romana's images by digest (--pin-digests).
	Pinned bool `json:"pinned,omitempty"`
}

// DeployedVersion is the tag of Romana's images that rel deployed, as the chart's
// romana.tag helper picked it: image.tag of the revision's values (its config over its
// chart's values), else its chart's appVersion. The chart's appVersion alone would say
// v0.9.3.5 for a revision that `upgrade --tag=v0.9.3` made. pinned says a digest
// (image.digests, from --pin-digests) chose the services or agent image: the pods run
// the bytes the tag named when it was pinned.
func DeployedVersion(rel *release.Release) (tag string, pinned bool) {
	if rel == nil || rel.Chart == nil || rel.Chart.Metadata == nil {
		return "", false
	}
	vals, err := chartutil.CoalesceValues(rel.Chart, rel.Config)
	if err != nil {
		vals = rel.Config
	}
	if tag, _ = values.LookupString(vals, "image.tag"); tag == "" {
		tag = rel.Chart.Metadata.AppVersion
	}
	for _, k := range []string{"image.digests.services", "image.digests.agent"} {
		if d, _ := values.LookupString(vals, k); d != "" {
			pinned = true
		}
	}
	return tag, pinned
}

// VersionText is DeployedVersion for a person: the tag, and "pinned by digest" when
// the images were pinned.
func VersionText(tag string, pinned bool) string {
	if pinned {
		return tag + ", pinned by digest"
	}
	return tag
}

// ErrNotHealthy is returned (with the status) when Romana is not healthy.
var ErrNotHealthy = errors.New("romana is not healthy")

// ErrNoRelease is wrapped by every command's error when the namespace holds no release
// romana. It is an operational answer, not an input error: the command was well
// formed and the cluster holds nothing to act on, so it exits 1, as `helm status`,
// `helm history`, `helm upgrade` and `helm uninstall` of a missing release do, and as
// `kubectl get` of a missing object does.
var ErrNoRelease = errors.New("no release " + ReleaseName)

// noRelease says that namespace ns holds no release, followed by hint (what that means
// for the command, or its next step).
func noRelease(ns, hint string) error {
	return fmt.Errorf("%w in namespace %s (-n)%s", ErrNoRelease, ns, hint)
}

// GetStatus reads the release and counts ready/desired pods per DaemonSet and node role.
// It works for a release that plain helm installed too.
func (c *Client) GetStatus(ctx context.Context) (*Status, error) {
	rel, err := action.NewStatus(c.Cfg).Run(ReleaseName)
	if errors.Is(err, driver.ErrReleaseNotFound) {
		return nil, noRelease(c.Namespace, "; `romanactl install` installs it")
	}
	if err != nil {
		return nil, fmt.Errorf("read release: %w", err)
	}
	st := &Status{Release: rel.Name, Namespace: rel.Namespace, Revision: rel.Version, State: rel.Info.Status.String(),
		Chart: rel.Chart.Metadata.Name + "-" + rel.Chart.Metadata.Version, AppVersion: rel.Chart.Metadata.AppVersion,
		Updated: rel.Info.LastDeployed.Time, Description: rel.Info.Description}
	st.RomanaVersion, st.Pinned = DeployedVersion(rel)
	if h, err := lock.Current(ctx, c.Kube, c.Namespace, ReleaseName); err == nil && h != nil {
		st.LockedBy = fmt.Sprintf("%s running `romanactl %s` since %s", h.Identity, h.Command, h.Since.Format(time.RFC3339))
	}
	if rel.Info.Status.IsPending() {
		if st.LockedBy != "" {
			st.Hint = "an operation is in progress (" + st.LockedBy + ")"
		} else {
			st.Hint = "no romanactl holds the release's Lease: a helm CLI is at work, or the command that wrote this revision was killed; " +
				"if nothing is running, `romanactl recover` ends it (`romanactl recover --dry-run` shows how)"
		}
	}
	if rel.Info.Status == release.StatusFailed && !MadeByRomanactl(rel) {
		st.Hint = c.failedOutside(rel)
	}
	if rel.Info.Status == release.StatusDeployed && Unverified(rel) {
		st.Unverified = true
		switch n, gerr := c.lastGood(rel.Version - 1); {
		case st.LockedBy != "":
			st.Hint = fmt.Sprintf("revision %d is not verified ready yet: an operation is in progress (%s)", rel.Version, st.LockedBy)
		case gerr == nil:
			st.Hint = fmt.Sprintf("revision %d was never verified ready: the command that made it stopped during its wait, so it is not known to be good; "+
				"`romanactl recover` rolls back to revision %d, the newest good one", rel.Version, n)
		default:
			st.Hint = fmt.Sprintf("revision %d was never verified ready: the command that made it stopped during its wait, so it is not known to be good, "+
				"and no earlier revision is; `romanactl upgrade` with values that work replaces it", rel.Version)
		}
	}
	nodes, err := nodeMetadata(ctx, c.Kube)
	if err != nil {
		return nil, fmt.Errorf("list nodes: %w", err)
	}
	roleOf := map[string]string{}
	for _, n := range nodes {
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
		// A page at a time: a thousand agent pods need not be held at once.
		opts := metav1.ListOptions{LabelSelector: labels.SelectorFromSet(d.Spec.Selector.MatchLabels).String(), Limit: 250}
		for {
			pods, err := c.Kube.CoreV1().Pods(c.Namespace).List(ctx, opts)
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
				if podutils.IsPodReady(&p) {
					rc.Ready++
				}
				ds.ByRole[role] = rc
			}
			if opts.Continue = pods.Continue; opts.Continue == "" {
				break
			}
		}
		switch {
		case name == "romana-services" && ds.Desired == 0:
			ds.Problem = "schedules no pod: no node matches services.nodeSelector"
		case name == "romana-agent" && ds.Desired != len(nodes):
			ds.Problem = fmt.Sprintf("runs on %d of %d nodes", ds.Desired, len(nodes))
		case ds.Ready != ds.Desired:
			ds.Problem = fmt.Sprintf("%d pod(s) not ready", ds.Desired-ds.Ready)
		}
		ds.Healthy = ds.Problem == ""
		st.Healthy = st.Healthy && ds.Healthy
		st.DaemonSets = append(st.DaemonSets, ds)
	}
	st.Wiring = c.wiring(ctx, servicesInRelease(rel.Config))
	if len(st.Wiring) > 0 {
		st.Healthy = false
	}
	if !st.Healthy {
		return st, ErrNotHealthy
	}
	return st, nil
}

// wiring checks the live connections the counts do not show: every agent points at
// romana-root's clusterIP and port, the Service selects the romana-services pods, and
// it has ready endpoints. Each problem comes with its fix.
func (c *Client) wiring(ctx context.Context, servicesDS bool) []string {
	var out []string
	svc, err := c.Kube.CoreV1().Services(c.Namespace).Get(ctx, "romana-root", metav1.GetOptions{})
	if err != nil {
		return []string{fmt.Sprintf("Service romana-root: %v; fix: `romanactl upgrade` recreates it from the release", err)}
	}
	port := int32(0)
	for _, p := range svc.Spec.Ports {
		if p.Name == "root" || port == 0 {
			port = p.Port
		}
	}
	want := fmt.Sprintf("--romana-root=http://%s:%d", svc.Spec.ClusterIP, port)
	if ds, err := c.Kube.AppsV1().DaemonSets(c.Namespace).Get(ctx, "romana-agent", metav1.GetOptions{}); err == nil {
		for _, ctr := range ds.Spec.Template.Spec.Containers {
			for _, a := range ctr.Args {
				if strings.HasPrefix(a, "--romana-root=") && a != want {
					out = append(out, fmt.Sprintf("romana-agent runs with %s but romana-root is %s:%d; fix: `romanactl upgrade --cluster-ip=%s` (or `romanactl rollback --recreate-root-service`)",
						a, svc.Spec.ClusterIP, port, svc.Spec.ClusterIP))
				}
			}
		}
	}
	if !servicesDS {
		return out // romana-services is a static Pod outside the release
	}
	pods, err := c.Kube.CoreV1().Pods(c.Namespace).List(ctx, metav1.ListOptions{LabelSelector: labels.SelectorFromSet(svc.Spec.Selector).String()})
	if err == nil && len(pods.Items) == 0 {
		// Written as a label selector (app=x), as kubectl takes it, not as a Go map.
		out = append(out, fmt.Sprintf("romana-root's selector %s matches no pod; fix: `romanactl upgrade` restores the chart's selector", labels.SelectorFromSet(svc.Spec.Selector)))
		return out
	}
	slices, err := c.Kube.DiscoveryV1().EndpointSlices(c.Namespace).List(ctx, metav1.ListOptions{LabelSelector: "kubernetes.io/service-name=romana-root"})
	if err == nil {
		ready := 0
		for _, sl := range slices.Items {
			for _, e := range sl.Endpoints {
				if e.Conditions.Ready == nil || *e.Conditions.Ready {
					ready++
				}
			}
		}
		if ready == 0 {
			out = append(out, "romana-root has no ready endpoint: agents cannot reach romana-services; fix: see `kubectl -n "+c.Namespace+" describe pods -l app=romana-services`")
		}
	}
	return out
}

// History returns the release's revisions, oldest first. Helm's History returns the
// records in the storage's order, which for Secrets is by name: v10 sorts before v2.
func (c *Client) History() ([]*release.Release, error) {
	h := action.NewHistory(c.Cfg)
	h.Max = MaxHistory
	rels, err := h.Run(ReleaseName)
	if errors.Is(err, driver.ErrReleaseNotFound) {
		return nil, noRelease(c.Namespace, "; `romanactl install` installs it")
	}
	slices.SortFunc(rels, func(a, b *release.Release) int { return a.Version - b.Version })
	return rels, err
}

// Uninstall removes the release and everything in it but the kept password Secret,
// holding the Lease. First, unless KeepNodeState, it runs the node cleanup on every
// node and collects each node's report; Helm's own hooks are then skipped (the cleanup
// has run).
func (c *Client) Uninstall(ctx context.Context, o UninstallOptions) (*UninstallResult, error) {
	last, err := c.Cfg.Releases.Last(ReleaseName)
	if errors.Is(err, driver.ErrReleaseNotFound) {
		return nil, noRelease(c.Namespace, ": nothing to uninstall")
	}
	if err != nil {
		return nil, fmt.Errorf("read the release: %w", err)
	}
	res := &UninstallResult{}
	err = c.locked(ctx, func(ctx context.Context) error {
		if o.KeepNodeState {
			res.NodeCleanup = "--keep-node-state: the nodes keep Romana's interface, rules and files"
		} else {
			if err := c.cleanupNodes(ctx, last, o, res); err != nil {
				return err
			}
		}
		// The node cleanup may have run past the Lease's loss: then another command
		// holds the release, and this one deletes nothing of it.
		if err := c.mayWrite(ctx); err != nil {
			return c.stopped(err, "the node cleanup ran, and the release was not uninstalled")
		}
		un := action.NewUninstall(c.Cfg)
		un.Wait = o.Wait
		un.Timeout = o.Timeout
		un.DisableHooks = true
		var err error
		res.Release, err = un.Run(ReleaseName)
		if errors.Is(err, driver.ErrReleaseNotFound) {
			return noRelease(c.Namespace, ": nothing to uninstall")
		}
		if err != nil {
			return err
		}
		// With the release gone the Lease locks nothing: delete it rather than leave
		// an object of Romana's behind (a re-install creates it again). Only a
		// Lease this command still holds is deleted; a failed delete is said.
		if derr := c.lease.lock.Delete(ctx); derr != nil {
			res.LeaseKept = fmt.Sprintf("%v; `kubectl -n %s delete lease %s` removes it once no romanactl command runs", derr, c.Namespace, lock.Name(ReleaseName))
		}
		return nil
	})
	return res, err
}
