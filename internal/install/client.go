package install

import (
	"fmt"
	"io"

	"helm.sh/helm/v3/pkg/action"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"

	"github.com/romana/romanactl/internal/images"
	"github.com/romana/romanactl/internal/values"
)

// MaxHistory is how many revisions a release keeps, like `helm upgrade --history-max 10`.
const MaxHistory = 10

// Client holds what every cluster operation needs: a Helm SDK configuration (Secret
// storage, the release namespace) and a clientset for the checks and the wait.
type Client struct {
	Cfg       *action.Configuration
	Kube      kubernetes.Interface
	Namespace string
	// Progress receives progress lines (checks, wait). It is never nil.
	Progress io.Writer
	// Command is what the release's Lease records this process runs, e.g.
	// "upgrade --tag=v0.9.3".
	Command string
	// Registry is how the pre-flight's images-exist reaches registries (--insecure).
	Registry images.Options
	// Version is romanactl's own, recorded on the revisions it makes (VersionLabel) and
	// compared by the pre-flight's version-skew.
	Version string
	// Debug receives --debug lines; nil is off.
	Debug *Debug
	// adopt: the install in progress takes over objects of no release (migrate).
	adopt bool
	// lease is the release's Lease while an operation holds it (nil otherwise).
	lease *heldLease
	// meta lists objects by their metadata alone (the release's records: see newest).
	meta metadata.Interface
}

// NewClient builds a Client from a kubeconfig getter (cli-runtime's ConfigFlags).
// Nothing contacts the cluster until an operation runs.
func NewClient(getter genericclioptions.RESTClientGetter, namespace string, progress io.Writer, debug *Debug) (*Client, error) {
	if namespace == "" {
		namespace = DefaultNamespace
	}
	if progress == nil {
		progress = io.Discard
	}
	useFieldManager()
	cfg := new(action.Configuration)
	// The Helm SDK's own log (what helm --debug prints) goes to --debug.
	helmLog := func(format string, v ...any) { debug.Printf("helm: "+format, v...) }
	if err := cfg.Init(getter, namespace, "secret", helmLog); err != nil {
		return nil, fmt.Errorf("set up the Helm SDK: %w", err)
	}
	cfg.Releases.MaxHistory = MaxHistory
	// Without any kubeconfig client-go falls back to http://localhost:8080, and the user
	// sees "connection refused" instead of the real problem.
	if raw, err := getter.ToRawKubeConfigLoader().RawConfig(); err == nil && len(raw.Clusters) == 0 {
		return nil, values.Inputf("no kubeconfig found: this command talks to a cluster, and none of --kubeconfig, $KUBECONFIG or ~/.kube/config names one; pass --kubeconfig=PATH, set KUBECONFIG=PATH, or copy the cluster's admin kubeconfig to ~/.kube/config (on a kubeadm control-plane node: /etc/kubernetes/admin.conf)")
	}
	rc, err := getter.ToRESTConfig()
	if err != nil {
		return nil, values.Inputf("load kubeconfig: %w (give --kubeconfig, or set KUBECONFIG)", err)
	}
	// client-go's default of 5 requests/s would queue the pre-flight's access reviews
	// for seconds; kubectl allows 50.
	rc.QPS, rc.Burst = 50, 100
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, err
	}
	meta, err := metadata.NewForConfig(rc)
	if err != nil {
		return nil, err
	}
	return &Client{Cfg: cfg, Kube: cs, Namespace: namespace, Progress: progress, Debug: debug, meta: meta}, nil
}
