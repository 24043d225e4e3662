package install

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/version"
	"k8s.io/client-go/kubernetes"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/release"

	"github.com/romana/romanactl/internal/images"
	"github.com/romana/romanactl/internal/values"
)

// Severity of a pre-flight check's outcome.
type Severity string

const (
	// Pass is ✓.
	Pass Severity = "pass"
	// Warn is ‼: install goes on; --skip-check NAME acknowledges it.
	Warn Severity = "warn"
	// Fail is ✗: install and upgrade stop before any write.
	Fail Severity = "fail"
	// Skipped is a ‼ check the user acknowledged with --skip-check.
	Skipped Severity = "skipped"
)

// Symbol is how a severity prints.
func (s Severity) Symbol() string {
	return map[Severity]string{Pass: "✓", Warn: "‼", Fail: "✗", Skipped: "-"}[s]
}

// Check is one pre-flight result.
type Check struct {
	Name     string   `json:"name"`
	Severity Severity `json:"severity"`
	Message  string   `json:"message"`
	Fix      string   `json:"fix,omitempty"`
	// Detail is what a summary Message leaves out (images-exist: each image with its
	// registry's answer); shown by -o json and --debug, not in the table.
	Detail []string `json:"detail,omitempty"`
}

// Report is the outcome of the pre-flight.
type Report struct {
	Environment string  `json:"environment"`
	ServiceCIDR string  `json:"serviceCIDR,omitempty"`
	Checks      []Check `json:"checks"`
}

// Failed returns the ✗ checks.
func (r *Report) Failed() []Check {
	var out []Check
	for _, c := range r.Checks {
		if c.Severity == Fail {
			out = append(out, c)
		}
	}
	return out
}

// Warned returns the ‼ checks (not those acknowledged with --skip-check).
func (r *Report) Warned() []Check {
	var out []Check
	for _, c := range r.Checks {
		if c.Severity == Warn {
			out = append(out, c)
		}
	}
	return out
}

// PreflightError is returned when a ✗ check stops an install or upgrade: invalid input
// for this cluster, so it exits 2. With Warnings (check --pre --fail-on=warning) the
// ‼ checks count too.
type PreflightError struct {
	Report   *Report
	Warnings bool
}

func (e *PreflightError) Error() string {
	var lines []string
	bad := e.Report.Failed()
	if e.Warnings {
		bad = append(bad, e.Report.Warned()...)
	}
	for _, c := range bad {
		l := fmt.Sprintf("  %s %s: %s", c.Severity.Symbol(), c.Name, c.Message)
		if c.Fix != "" {
			l += "; " + c.Fix
		}
		lines = append(lines, l)
	}
	if e.Warnings && len(e.Report.Failed()) == 0 {
		return fmt.Sprintf("pre-flight warned and --fail-on=warning was given (acknowledge a ‼ check with --skip-check NAME), nothing was changed:\n%s", strings.Join(lines, "\n"))
	}
	return fmt.Sprintf("pre-flight failed, nothing was changed:\n%s", strings.Join(lines, "\n"))
}

// Unwrap makes a PreflightError an input error (exit 2).
func (e *PreflightError) Unwrap() error {
	return &values.InputError{Err: fmt.Errorf("pre-flight failed")}
}

// CheckDef is one pre-flight check: its name, what it can report, and how it runs.
// Checks is the one list: the run order, --skip-check, `check --help` and the README's
// table all come from it (TestREADMEChecksAreTheTable holds the README to it).
type CheckDef struct {
	Name string
	// Marks is what it can report: "✗", "‼", "✗ / ‼" or "✓" (informational).
	Marks string
	// Short is its line in `check --help`; What its row in the README.
	Short, What string
	// run returns its results (none when it does not apply, e.g. kops-* elsewhere).
	run func(*pfState) []Check
}

// Skippable is whether --skip-check may acknowledge it: it can report ‼.
func (d CheckDef) Skippable() bool { return strings.Contains(d.Marks, "‼") }

// Checks are the pre-flight checks, in the order they run and print.
var Checks = []CheckDef{
	{Name: "kubernetes-version", Marks: "✗", Short: "the server satisfies the chart's kubeVersion",
		What: "the server satisfies the chart's `kubeVersion` (>= 1.25)",
		run: func(s *pfState) []Check {
			if s.in.KubeVersion != "" && !chartutil.IsCompatibleRange(s.in.KubeVersion, s.sv.GitVersion) {
				return []Check{{Name: "kubernetes-version", Severity: Fail, Message: fmt.Sprintf("the cluster runs %s; the chart needs %s", s.sv.GitVersion, s.in.KubeVersion), Fix: "upgrade the cluster"}}
			}
			return []Check{{Name: "kubernetes-version", Severity: Pass, Message: fmt.Sprintf("%s satisfies %s", s.sv.GitVersion, s.in.KubeVersion)}}
		}},
	{Name: "version-skew", Marks: "‼", Short: "the release was not made by a newer romanactl or chart than this one",
		What: "the release's newest revision was not made by a newer chart (its record's chart version) or a newer romanactl (the record's `romanactl.romana.io/version` label) than this binary and its chart; an upgrade from here would take Romana back to the older chart, which `upgrade` refuses without `--allow-downgrade` (exit 2)",
		run: func(s *pfState) []Check {
			if s.in.Version == "" {
				return nil
			}
			if s.in.LastErr != nil {
				return []Check{{Name: "version-skew", Severity: Warn, Message: "cannot tell which chart and romanactl made the release: " + s.in.LastErr.Error(), Fix: "run with rights to read the release's Secrets in the namespace (the permissions check names what is missing)"}}
			}
			return []Check{versionSkew(s.in.Last, s.in.Chart, s.in.Version)}
		}},
	{Name: "permissions", Marks: "✗", Short: "SelfSubjectAccessReview for every kind and verb an install needs",
		What: "a SelfSubjectAccessReview for every kind and verb an install needs (DaemonSets, Services, Secrets, ConfigMaps, ServiceAccounts, Pods and romanactl's Lease in the namespace; ClusterRoles and ClusterRoleBindings)",
		run:  func(s *pfState) []Check { return []Check{permissions(s.ctx, s.cs, s.in.Namespace)} }},
	{Name: "service-range", Marks: "✗", Short: "romanaRoot.clusterIP is inside the cluster's service range (ServiceCIDR API, else kubeadm-config, else a dry-run create)",
		What: "`romanaRoot.clusterIP` lies inside the cluster's real service range, found from the ServiceCIDR API where discovery says it is served (any of the cluster's ServiceCIDRs that holds the address, else the default `kubernetes` one), then `kubeadm-config`, then the error of a server-side dry-run create of the root Service",
		run:  serviceRangeChecks},
	// agent-cluster-ip-cidr is reported by serviceRangeChecks, from the same range.
	{Name: "agent-cluster-ip-cidr", Marks: "‼", Short: "agent.clusterIPCIDR equals that range",
		What: "`agent.clusterIPCIDR` (the agent's NAT exclusion) equals that range",
		run:  func(*pfState) []Check { return nil }},
	{Name: "cluster-ip-free", Marks: "✗", Short: "no other Service holds romanaRoot.clusterIP (IPAddress API)",
		What: "no other Service holds the address (the IPAddress API names the holder where discovery says it is served; elsewhere, as before 1.33, Services are listed). A server-side dry run does not catch this",
		run: func(s *pfState) []Check {
			return []Check{clusterIPFree(s)}
		}},
	{Name: "ownership", Marks: "✗", Short: "no object the chart creates exists outside the release",
		What: "no object the chart creates (DaemonSets, romana-root, the ClusterRole and its binding) already exists outside release `romana`, which would stop Helm half-way; names the Helm release that owns it, or says it belongs to none (e.g. a 2016 `kubectl apply` install)",
		run:  func(s *pfState) []Check { return []Check{ownership(s.ctx, s.cs, s.in.Namespace, s.in.Adopt)} }},
	{Name: "other-cni", Marks: "✗", Short: "no other network (Calico, Cilium, Flannel, Weave Net, Antrea, kube-router) runs on the cluster",
		What: "the cluster has no other network: no DaemonSet of " + otherCNINames() + " in any namespace (by its well-known name, pod label or image), no Node annotation such an agent writes (`projectcalico.org/…`, `flannel.alpha.coreos.com/…`, `io.cilium.network.…`, `node.antrea.io/…`, `kube-router.io/…`), and no running pod, other than hostNetwork ones and Romana's own, with an address outside Romana's range (`services.cidr`, and the `--cidr` of a romana-services already running: an upgrade or a migrate of a 2016 install is not another network). Romana's CNI config must be the only file in `/etc/cni/net.d` (romana/romana#154): see [Moving from another network](#moving-from-another-network)",
		run: func(s *pfState) []Check {
			dss, pods, err := otherCNIState(s.ctx, s.cs)
			if err != nil {
				return []Check{{Name: "other-cni", Severity: Fail, Message: "cannot tell whether the cluster has another network: " + err.Error(), Fix: "run with rights to list DaemonSets and pods in every namespace"}}
			}
			return []Check{otherCNI(s.in.Namespace, s.romanaCIDR, dss, pods, s.nodes)}
		}},
	{Name: "datastore-secret", Marks: "✗ / ‼", Short: "datastore.existingSecret, when set, exists with key password",
		What: "with `datastore.existingSecret`: that Secret exists in the namespace with a non-empty key `password` (✗: romana-services would not start), and holds the same password as a `romana-datastore` Secret kept from an earlier install, if any (‼: the datastore on the hosts was initialised with that one). Without it: the chart generates and keeps its own",
		run:  func(s *pfState) []Check { return []Check{datastoreSecret(s.ctx, s.cs, s.in.Namespace, s.in.Effective)} }},
	{Name: "pod-admission", Marks: "✗", Short: "the DaemonSets' pods pass admission (server-side dry run)",
		What: "each DaemonSet's pod template, sent as a Pod with a server-side dry run in the target namespace, is accepted by admission (Pod Security, a policy engine's webhook); a refusal is named in the server's words. Without it a refused DaemonSet is created, never gets a pod, and the wait runs out",
		run: func(s *pfState) []Check {
			if s.in.Manifest == "" {
				return nil
			}
			return []Check{podAdmission(s.ctx, s.cs, s.in.Namespace, s.in.Manifest)}
		}},
	{Name: "images-exist", Marks: "✗ / ‼", Short: "every image of the release is in its registry (✗ not there, ‼ no answer)",
		What: "every image of the release exists in its registry (a manifest HEAD with go-containerregistry, credentials from the Docker config, all images in parallel, 5 s at most). ✗ when a registry answers that a tag is not there (every pod would sit in `ImagePullBackOff`); ‼ when no registry answers or it wants credentials (air-gapped clusters pull from mirrors romanactl may not see: it says so in one line per registry and goes on; `-o json` and `--debug` list each image with its registry's answer)",
		run: func(s *pfState) []Check {
			if s.in.Manifest == "" {
				return nil
			}
			return []Check{imagesExist(s.ctx, s.in.Manifest, s.in.Registry)}
		}},
	{Name: "romana-compat", Marks: "‼", Short: "what the chosen Romana line cannot do on this cluster (chart/compat.yaml), or \"unknown\"",
		What: "what the chosen Romana line cannot do on this cluster, from `chart/compat.yaml` and the cluster's discovery. For v0.9.3: its listener watches NetworkPolicies under `extensions/v1beta1`, which Kubernetes stopped serving in 1.16, so NetworkPolicies are not enforced; the check names the cluster version and the API group. A tag of no known line says \"unknown\", never passes",
		run: func(s *pfState) []Check {
			if s.in.Chart == nil {
				return nil
			}
			tag, _ := values.LookupString(s.in.Effective, "image.tag")
			cidr, _ := values.LookupString(s.in.Effective, "services.cidr")
			return []Check{romanaCompat(s.cs, s.in.Chart, tag, cidr, s.sv.GitVersion)}
		}},
	{Name: "container-runtime", Marks: "✗ / ‼", Short: "every node's container runtime is one the chosen CNI plugin (cni.plugin) can attach pods on",
		What: "every node's container runtime (`status.nodeInfo.containerRuntimeVersion`) is one the chosen CNI plugin can attach pods on (`cni.plugin`, `chart/compat.yaml`). romanactl's own plugin (the default) serves every runtime and the check says which nodes run which. v0.9.3's own plugin (`--cni-plugin=upstream`) runs `docker run quay.io/romana/cni` on the node and reads `CNI_NETNS` as `/proc/<pid>/ns/net`: ✗ names the nodes on containerd or CRI-O (no docker, `/var/run/netns` paths: no pod would get an address) and points at `--cni-plugin=romanactl` or Docker Engine with cri-dockerd; ‼ names nodes whose runtime is unknown",
		run: func(s *pfState) []Check {
			if s.in.Chart == nil {
				return nil
			}
			tag, _ := values.LookupString(s.in.Effective, "image.tag")
			plugin, _ := values.LookupString(s.in.Effective, "cni.plugin")
			return []Check{containerRuntime(s.in.Chart, tag, plugin, s.nodes)}
		}},
	{Name: "address-plan", Marks: "✗", Short: "services.cidr overlaps no service range, node IP or podCIDR",
		What: "`services.cidr` overlaps neither the service range, nor any node's InternalIP, nor any node's podCIDR",
		run:  func(s *pfState) []Check { return []Check{addressPlan(s.romanaCIDR, s.svcRange, s.nodes)} }},
	{Name: "ip-family", Marks: "✗ / ‼", Short: "the cluster is IPv4 (✗ IPv6 only, ‼ dual-stack: IPv6 gets no pod addresses)",
		What: "Romana is IPv4 only. ✗ for an IPv6-only cluster (the `kubernetes` Service's first IP family is IPv6, or every service range is IPv6) or IPv6-only nodes (IPv6 podCIDRs and no IPv4 InternalIP); ‼ for a dual-stack cluster (a node with podCIDRs of both families, or an IPv6 service range: the ServiceCIDRs where that API is served, else `kubeadm-config`'s `serviceSubnet`), saying what happens to IPv6: pods get no IPv6 address from Romana, so IPv6 Services get no endpoints on its pods",
		run: func(s *pfState) []Check {
			return []Check{ipFamily(s.nodes, readServiceRanges(s.ctx, s.cs, s.apis))}
		}},
	{Name: "plan-capacity", Marks: "✗", Short: "the address plan has room for every node (services.nodes)",
		What: "the cluster has no more nodes than `services.nodes`, the address plan's room for nodes: a node beyond it gets no pod addresses. v0.9.3's services fix it at 256",
		run: func(s *pfState) []Check {
			n, _ := values.LookupInt(s.in.Effective, "services.nodes")
			return []Check{planCapacity(n, len(s.nodes))}
		}},
	{Name: "placement", Marks: "✗", Short: "a node matches services.nodeSelector, its taints tolerated",
		What: "a node matches `services.nodeSelector` and its NoSchedule/NoExecute taints are tolerated by `services.tolerations`, or romana-services would run nowhere",
		run: func(s *pfState) []Check {
			if v, _ := values.Lookup(s.in.Effective, "services.deploy"); v != "daemonSet" {
				return []Check{{Name: "placement", Severity: Pass, Message: "services.deploy=staticPod: romana-services runs from /etc/kubernetes/manifests, not the release"}}
			}
			sel, _ := values.Lookup(s.in.Effective, "services.nodeSelector")
			tol, _ := values.Lookup(s.in.Effective, "services.tolerations")
			return []Check{placement(sel, tolerations(tol), s.nodes)}
		}},
	{Name: "agent-coverage", Marks: "‼", Short: "agent.tolerations cover every node's taints",
		What: "`agent.tolerations` tolerate every node's taints; a node without the agent has no pod network (and the wait would not finish)",
		run: func(s *pfState) []Check {
			tol, _ := values.Lookup(s.in.Effective, "agent.tolerations")
			return []Check{agentCoverage(tolerations(tol), s.nodes)}
		}},
	{Name: "environment", Marks: "‼", Short: "which environment is used, and why; ‼ when detection finds another",
		What: "which environment is used and why; ‼ when `--env` (or the release's) is kubeadm or kops and detection (as `--env=auto`) finds another, with the evidence (e.g. `kubeadm-config` exists)",
		run:  envCheck},
	{Name: "kops-single-subnet", Marks: "‼", Short: "with kops: a single subnet only", What: "with kops: an automated install supports a single subnet only (the original guide)", run: kopsChecks},
	// The other two kops checks are reported by kopsChecks with the first.
	{Name: "kops-network-cidr", Marks: "‼", Short: "with kops: --network-cidr=172.20.0.0/21", What: "with kops: kops' default `--network-cidr` 172.20.0.0/16 is too large; use 172.20.0.0/21", run: func(*pfState) []Check { return nil }},
	{Name: "kops-source-dest-check", Marks: "‼", Short: "with kops: EC2 SourceDestCheck off", What: "with kops: EC2 SourceDestCheck drops pod traffic between hosts; disable it", run: func(*pfState) []Check { return nil }},
}

// CheckNames lists every check; with skippable, only those --skip-check accepts.
func CheckNames(skippable bool) []string {
	var out []string
	for _, d := range Checks {
		if !skippable || d.Skippable() {
			out = append(out, d.Name)
		}
	}
	return out
}

// CheckSkips validates --skip-check names: unknown names and ✗-only checks are refused.
func CheckSkips(skips []string) error {
	for _, s := range skips {
		i := slices.IndexFunc(Checks, func(d CheckDef) bool { return d.Name == s })
		switch {
		case i >= 0 && Checks[i].Skippable():
		case i >= 0:
			return values.Inputf("--skip-check %s: only ‼ checks can be skipped (%s); a ✗ check means the install would break the cluster", s, strings.Join(CheckNames(true), ", "))
		default:
			return values.Inputf("--skip-check %q: unknown check; the ‼ checks are %s", s, strings.Join(CheckNames(true), ", "))
		}
	}
	return nil
}

// PreflightInput is what the pre-flight checks.
type PreflightInput struct {
	Namespace string
	// Env is the environment in use and why it was chosen.
	Env, EnvReason string
	// Effective are the validated values.
	Effective map[string]any
	// KubeVersion is the chart's kubeVersion constraint.
	KubeVersion string
	// Skip are the ‼ checks the user acknowledged (--skip-check).
	Skip []string
	// Manifest is the rendered release; its DaemonSets' pod templates are sent to the
	// API server as Pods with a server-side dry run (pod-admission), and its images are
	// looked up in their registries (images-exist). Empty skips both.
	Manifest string
	// Chart is the chart being installed: its compat.yaml and appVersion say what the
	// chosen Romana line can do on this cluster (romana-compat). Nil skips the check.
	Chart *chart.Chart
	// Registry is how images-exist reaches registries (--insecure, test transports).
	Registry images.Options
	// Adopt: objects of no release are to be taken over (migrate), not a ✗.
	Adopt bool
	// Last is the release's newest revision (nil: none), and Version the romanactl
	// running: version-skew compares them. An empty Version skips the check.
	Last    *release.Release
	Version string
	// LastErr is why Last could not be read (version-skew says so).
	LastErr error
}

// registryDeadline bounds images-exist: an air-gapped cluster costs this much, once.
const registryDeadline = 5 * time.Second

// pfState is what the checks share: the inputs, and what the cluster told once.
type pfState struct {
	ctx        context.Context
	cs         kubernetes.Interface
	in         PreflightInput
	sv         *version.Info
	clusterIP  netip.Addr
	romanaCIDR netip.Prefix
	agentCIDR  netip.Prefix
	svcRange   netip.Prefix
	svcSource  string
	dryRunErr  error
	apis       NetworkingAPIs
	nodes      []corev1.Node
	lc         *liveCluster
}

// Preflight runs every check of Checks against the live cluster. It only reads (and
// makes server-side dry-run requests, which write nothing).
func Preflight(ctx context.Context, cs kubernetes.Interface, in PreflightInput) (*Report, error) {
	s := &pfState{ctx: ctx, cs: cs, in: in}
	var err error
	if s.sv, err = cs.Discovery().ServerVersion(); err != nil {
		return nil, fmt.Errorf("reach the API server: %w", err)
	}
	str := func(k string) string { v, _ := values.LookupString(in.Effective, k); return v }
	s.clusterIP, _ = netip.ParseAddr(str("romanaRoot.clusterIP"))
	s.romanaCIDR, _ = netip.ParsePrefix(str("services.cidr"))
	s.agentCIDR, _ = netip.ParsePrefix(str("agent.clusterIPCIDR"))
	port, _ := values.LookupInt(in.Effective, "romanaRoot.port")
	s.apis = DiscoverNetworkingAPIs(cs)
	s.svcRange, s.svcSource, s.dryRunErr = ServiceRange(ctx, cs, s.apis, in.Namespace, s.clusterIP, port)
	nodes, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list nodes: %w", err)
	}
	s.nodes = nodes.Items

	r := &Report{Environment: in.Env}
	if s.svcRange.IsValid() {
		r.ServiceCIDR = s.svcRange.String()
	}
	for _, d := range Checks {
		for _, c := range d.run(s) {
			if c.Severity == Warn && slices.Contains(in.Skip, c.Name) {
				c.Severity = Skipped
			}
			r.Checks = append(r.Checks, c)
		}
	}
	return r, nil
}
