package install

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/release"
	"helm.sh/helm/v3/pkg/storage"
	"helm.sh/helm/v3/pkg/storage/driver"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
)

// releaseSelector selects the release's records, as Helm's storage does (History).
const releaseSelector = "name=" + ReleaseName + ",owner=helm"

// newest reads the release's newest record, as Helm's Storage.Last does, but without
// reading the others: Last lists every record's Secret and decodes each (base64,
// gzip, JSON of the whole chart and manifest) to keep one, and an upgrade's plan asked
// twice, ten records each time. Here the records are listed by their metadata alone
// (the revision is a label), and only the newest Secret is read and decoded. Other
// storage drivers (the tests' memory driver) go through Last.
func (c *Client) newest(ctx context.Context) (*release.Release, error) {
	if _, ok := c.Cfg.Releases.Driver.(*driver.Secrets); !ok || c.meta == nil {
		return c.Cfg.Releases.Last(ReleaseName)
	}
	list, err := c.meta.Resource(schema.GroupVersionResource{Version: "v1", Resource: "secrets"}).Namespace(c.Namespace).
		List(ctx, metav1.ListOptions{LabelSelector: releaseSelector})
	if err != nil {
		return nil, err
	}
	newest := 0
	for _, s := range list.Items {
		if v, err := strconv.Atoi(s.Labels["version"]); err == nil && v > newest {
			newest = v
		}
	}
	if newest == 0 {
		return nil, driver.ErrReleaseNotFound
	}
	rel, err := c.Cfg.Releases.Get(ReleaseName, newest)
	if errors.Is(err, driver.ErrReleaseNotFound) || apierrors.IsNotFound(err) {
		// Deleted between the list and the read (an uninstall): ask Helm's way.
		return c.Cfg.Releases.Last(ReleaseName)
	}
	return rel, err
}

// knownNewest is a storage driver for an upgrade's server-side dry run: Helm's upgrade
// asks storage for the release's whole history only to take its newest record, which
// the plan has just read. Every other question (the deployed revision, a write) goes to
// the real driver; a dry run writes nothing.
type knownNewest struct {
	driver.Driver
	newest *release.Release
}

func (d knownNewest) Query(labels map[string]string) ([]*release.Release, error) {
	if len(labels) == 2 && labels["name"] == d.newest.Name && labels["owner"] == "helm" {
		return []*release.Release{d.newest}, nil
	}
	return d.Driver.Query(labels)
}

// withNewest is the client's storage, answering history questions with newest.
func (c *Client) withNewest(newest *release.Release) *storage.Storage {
	return &storage.Storage{Driver: knownNewest{Driver: c.Cfg.Releases.Driver, newest: newest},
		MaxHistory: c.Cfg.Releases.MaxHistory, Log: c.Cfg.Releases.Log}
}

// freshCapabilities are what Helm's upgrade asks the cluster for (the server version
// and every API version and kind), read as fresh as Helm reads them, but without the
// kubeconfig's disk cache: Helm invalidates that cache and so rewrites a file per API
// group on every run, which was a tenth of a no-op upgrade's time.
func (c *Client) freshCapabilities() (*chartutil.Capabilities, error) {
	dc := c.Kube.Discovery()
	v, err := dc.ServerVersion()
	if err != nil {
		return nil, fmt.Errorf("read the server version: %w", err)
	}
	apis, err := action.GetVersionSet(dc)
	if err != nil && !discovery.IsGroupDiscoveryFailedError(err) {
		return nil, err
	}
	return &chartutil.Capabilities{APIVersions: apis, HelmVersion: chartutil.DefaultCapabilities.HelmVersion,
		KubeVersion: chartutil.KubeVersion{Version: v.GitVersion, Major: v.Major, Minor: v.Minor}}, nil
}
