// Package diag collects a diagnostics bundle (romanactl sysdump): the release, the
// cluster objects Romana lives among, the pre-flight report and Romana's pod logs, in
// one .tar.gz with an index. One failed item is recorded and the rest still collected.
// Neither Secret data nor the datastore password enters the bundle: only Romana's
// objects are collected, without kubectl's last-applied annotations (a 2016 install's
// copy of its plain-text password), and every env value that carries the password is
// masked. It never prints: progress goes to a callback.
package diag

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"
	"time"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chartutil"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/romana/romanactl/internal/install"
)

// Options bound and describe a sysdump.
type Options struct {
	// Since limits logs to this recent past (0: all the kubelet keeps).
	Since time.Duration
	// LogLimit caps each log, in bytes; TotalLimit the whole bundle before compression.
	LogLimit, TotalLimit int64
	// Chart is romanactl's embedded chart, for the pre-flight when there is no release.
	Chart *chart.Chart
	// Now stamps the bundle.
	Now time.Time
	// Progress receives one line per item.
	Progress func(string)
}

// Item is one entry of the index: a file and where it came from, or what failed.
type Item struct {
	File   string `json:"file,omitempty"`
	Source string `json:"source"`
	Bytes  int    `json:"bytes,omitempty"`
	Error  string `json:"error,omitempty"`
	// Truncated says a cap cut it.
	Truncated bool `json:"truncated,omitempty"`
}

// Index is index.json: every file with its source, and every item that failed.
type Index struct {
	Created   string `json:"created"`
	Namespace string `json:"namespace"`
	Release   string `json:"release"`
	Items     []Item `json:"items"`
	Failed    []Item `json:"failed"`
	// Capped says the total cap stopped the collection of further logs.
	Capped bool `json:"capped,omitempty"`
}

type dump struct {
	c     *install.Client
	o     Options
	tw    *tar.Writer
	index Index
	total int64
}

// Collect writes the bundle to w as a gzip'd tar and returns its index. It fails as a
// whole only when w cannot be written.
func Collect(ctx context.Context, c *install.Client, o Options, w io.Writer) (*Index, error) {
	if o.Progress == nil {
		o.Progress = func(string) {}
	}
	gz := gzip.NewWriter(w)
	d := &dump{c: c, o: o, tw: tar.NewWriter(gz), index: Index{Created: o.Now.UTC().Format(time.RFC3339), Namespace: c.Namespace, Release: install.ReleaseName}}
	if err := d.collect(ctx); err != nil {
		return nil, err
	}
	idx, _ := json.MarshalIndent(d.index, "", "  ")
	if err := d.put("index.json", idx); err != nil {
		return nil, err
	}
	if err := d.tw.Close(); err != nil {
		return nil, err
	}
	return &d.index, gz.Close()
}

func (d *dump) collect(ctx context.Context) error {
	ns := d.c.Namespace
	cs := d.c.Kube
	hist, herr := d.c.History()
	if err := d.item("release/history.json", "helm history (revision, status, chart, the Romana tag deployed, description; no manifests)", func() ([]byte, error) {
		if herr != nil {
			return nil, herr
		}
		type rev struct {
			Revision    int    `json:"revision"`
			Status      string `json:"status"`
			Chart       string `json:"chart"`
			AppVersion  string `json:"appVersion"`
			Updated     string `json:"updated"`
			Description string `json:"description"`
			// RomanaVersion is the tag the revision deployed (install.DeployedVersion).
			RomanaVersion string `json:"romanaVersion"`
			Pinned        bool   `json:"pinned,omitempty"`
		}
		var out []rev
		for _, r := range hist {
			tag, pinned := install.DeployedVersion(r)
			out = append(out, rev{r.Version, r.Info.Status.String(), r.Chart.Metadata.Name + "-" + r.Chart.Metadata.Version,
				r.Chart.Metadata.AppVersion, r.Info.LastDeployed.UTC().Format(time.RFC3339), r.Info.Description, tag, pinned})
		}
		return json.MarshalIndent(out, "", "  ")
	}); err != nil {
		return err
	}
	if err := d.item("release/status.json", "romanactl status (release, DaemonSets by node role, wiring, Lease)", func() ([]byte, error) {
		st, err := d.c.GetStatus(ctx)
		if err != nil {
			return nil, err
		}
		return json.MarshalIndent(st, "", "  ")
	}); err != nil {
		return err
	}
	var newest = func() (*chart.Chart, map[string]any, string, error) {
		if herr != nil || len(hist) == 0 {
			return nil, nil, "", fmt.Errorf("no release %s in %s", install.ReleaseName, ns)
		}
		r := hist[len(hist)-1]
		return r.Chart, r.Config, r.Manifest, nil
	}
	if err := d.item("release/values.yaml", "the newest revision's effective values (chart defaults under the supplied ones), passwords redacted", func() ([]byte, error) {
		ch, cfg, _, err := newest()
		if err != nil {
			return nil, err
		}
		eff, err := chartutil.CoalesceValues(ch, cfg)
		if err != nil {
			return nil, err
		}
		return yaml.Marshal(redact(eff.AsMap()))
	}); err != nil {
		return err
	}
	if err := d.item("release/manifest.yaml", "the newest revision's rendered manifest, Secret data masked", func() ([]byte, error) {
		_, _, m, err := newest()
		if err != nil {
			return nil, err
		}
		return []byte(m), nil // put masks the Secret's data, as it does for every file
	}); err != nil {
		return err
	}
	dss, dsErr := d.daemonSets(ctx)
	pods, podErr := d.pods(ctx)
	// The values to hide wherever an env entry holds them: a 2016 install has the
	// password in plain env, and kubectl's last-applied annotation copies it.
	var known []string
	for _, l := range []any{dss, pods} {
		if m, err := toJSONMap(l); err == nil {
			known = append(known, install.PasswordsIn(m)...)
		}
	}
	for _, o := range []struct {
		file, source string
		get          func() (any, error)
	}{
		{"cluster/daemonsets.yaml", "Romana's DaemonSets in " + ns + " (" + romanaSelector + ", and romana-services and romana-agent by name), " + masked,
			func() (any, error) { return dss, dsErr }},
		{"cluster/pods.yaml", "Romana's Pods in " + ns + " (" + romanaSelector + ", " + legacySelector + "), " + masked,
			func() (any, error) { return pods, podErr }},
		{"cluster/events.yaml", "Events in " + ns + " about objects named romana*", func() (any, error) {
			l, err := cs.CoreV1().Events(ns).List(ctx, metav1.ListOptions{})
			if err != nil {
				return nil, err
			}
			items := l.Items[:0]
			for _, e := range l.Items {
				if strings.HasPrefix(e.InvolvedObject.Name, "romana") {
					items = append(items, e)
				}
			}
			l.Items = items
			return l, nil
		}},
		{"cluster/nodes.yaml", "Nodes", func() (any, error) { return cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{}) }},
		{"cluster/servicecidrs.yaml", "ServiceCIDRs (networking.k8s.io/v1), where discovery says they are served", func() (any, error) {
			// Before 1.33 the API is not served: say so, rather than record a 404 as a failure.
			if !install.DiscoverNetworkingAPIs(cs).ServiceCIDRs {
				return map[string]any{"served": false, "note": "this cluster does not serve networking.k8s.io/v1 servicecidrs (GA in 1.33): the pre-flight reads the service range from kubeadm-config, else a dry-run create"}, nil
			}
			return cs.NetworkingV1().ServiceCIDRs().List(ctx, metav1.ListOptions{})
		}},
		{"cluster/kubeadm-config.yaml", "ConfigMap kube-system/kubeadm-config", func() (any, error) {
			return cs.CoreV1().ConfigMaps("kube-system").Get(ctx, "kubeadm-config", metav1.GetOptions{})
		}},
		{"cluster/version.yaml", "the API server's version", func() (any, error) { return cs.Discovery().ServerVersion() }},
	} {
		if err := d.item(o.file, o.source, func() ([]byte, error) {
			v, err := o.get()
			if err != nil {
				return nil, err
			}
			m, err := toJSONMap(v)
			if err != nil {
				return nil, err
			}
			install.MaskPasswords(m, known, true)
			return yaml.Marshal(m)
		}); err != nil {
			return err
		}
	}
	if err := d.item("preflight.json", "the pre-flight, against the newest revision's values (chart defaults when there is none)", func() ([]byte, error) {
		ch, cfg, m, err := newest()
		if err != nil {
			ch, cfg, m = d.o.Chart, map[string]any{}, ""
		}
		eff, err := chartutil.CoalesceValues(ch, cfg)
		if err != nil {
			return nil, err
		}
		env, _ := eff["environment"].(string)
		// version-skew too: a bundle from a release that a newer romanactl made says so.
		last, lastErr := d.c.Newest(ctx)
		r, err := install.Preflight(ctx, cs, install.PreflightInput{Namespace: ns, Env: env, EnvReason: "from the values",
			Effective: eff.AsMap(), KubeVersion: ch.Metadata.KubeVersion, Manifest: m, Chart: ch,
			Last: last, LastErr: lastErr, Version: d.c.Version})
		if err != nil {
			return nil, err
		}
		return json.MarshalIndent(r, "", "  ")
	}); err != nil {
		return err
	}
	return d.logs(ctx, pods, podErr)
}

const (
	// romanaSelector picks the chart's objects, and legacySelector the pods of the 2016
	// manifests (their DaemonSets have no labels of their own), so that an install not
	// yet migrated gives a useful bundle too.
	romanaSelector = "app.kubernetes.io/part-of=romana"
	legacySelector = "app in (romana-services,romana-agent)"
	masked         = "kubectl's last-applied annotations dropped and every env value that carries the datastore password masked"
)

// daemonSets lists Romana's DaemonSets, and only those: the rest of the namespace is
// other software's (and may hold its own credentials).
func (d *dump) daemonSets(ctx context.Context) (*appsv1.DaemonSetList, error) {
	api := d.c.Kube.AppsV1().DaemonSets(d.c.Namespace)
	l, err := api.List(ctx, metav1.ListOptions{LabelSelector: romanaSelector})
	if err != nil {
		return nil, err
	}
	for _, n := range []string{"romana-services", "romana-agent"} {
		if slices.ContainsFunc(l.Items, func(ds appsv1.DaemonSet) bool { return ds.Name == n }) {
			continue
		}
		ds, err := api.Get(ctx, n, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
		case err != nil:
			return nil, err
		default:
			l.Items = append(l.Items, *ds)
		}
	}
	return l, nil
}

// pods lists Romana's pods: the chart's, and those of a 2016 install (a static Pod's
// mirror included).
func (d *dump) pods(ctx context.Context) (*corev1.PodList, error) {
	api := d.c.Kube.CoreV1().Pods(d.c.Namespace)
	var out *corev1.PodList
	for _, sel := range []string{romanaSelector, legacySelector} {
		l, err := api.List(ctx, metav1.ListOptions{LabelSelector: sel})
		if err != nil {
			return nil, err
		}
		if out == nil {
			out = l
			continue
		}
		for _, p := range l.Items {
			if !slices.ContainsFunc(out.Items, func(q corev1.Pod) bool { return q.UID == p.UID }) {
				out.Items = append(out.Items, p)
			}
		}
	}
	return out, nil
}

// toJSONMap is v as encoding/json sees it, which is how sigs.k8s.io/yaml writes it.
func toJSONMap(v any) (any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var m any
	return m, json.Unmarshal(b, &m)
}

// logs collects the current and previous log of every container of Romana's pods.
func (d *dump) logs(ctx context.Context, pods *corev1.PodList, err error) error {
	if err != nil {
		d.fail(Item{Source: "Pods with " + romanaSelector + " or " + legacySelector, Error: err.Error()})
		return nil
	}
	for _, p := range pods.Items {
		for _, ct := range p.Spec.Containers {
			for _, previous := range []bool{false, true} {
				file := fmt.Sprintf("logs/%s/%s.log", p.Name, ct.Name)
				what := "current"
				if previous {
					file = fmt.Sprintf("logs/%s/%s.previous.log", p.Name, ct.Name)
					what = "previous"
				}
				if d.o.TotalLimit > 0 && d.total >= d.o.TotalLimit {
					d.index.Capped = true
					d.fail(Item{File: file, Source: "log", Error: fmt.Sprintf("skipped: the bundle reached --max-bytes (%d)", d.o.TotalLimit)})
					continue
				}
				if err := d.item(file, fmt.Sprintf("%s log of %s/%s container %s", what, p.Namespace, p.Name, ct.Name), func() ([]byte, error) {
					opts := &corev1.PodLogOptions{Container: ct.Name, Previous: previous}
					if d.o.LogLimit > 0 {
						opts.LimitBytes = &d.o.LogLimit
					}
					if d.o.Since > 0 {
						s := int64(d.o.Since.Seconds())
						opts.SinceSeconds = &s
					}
					data, err := d.c.Kube.CoreV1().Pods(p.Namespace).GetLogs(p.Name, opts).DoRaw(ctx)
					return redactDSN(data), err
				}); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// dsnPassword matches the password of a Go MySQL data source name, user:password@tcp(…)
// or @unix(…). Romana's v0.9.3.5 services print theirs, with the datastore password,
// when they create their schemas (seen with the real programs: "str:
// root:<password>@tcp(127.0.0.1:3306)/policy?parseTime=true"), so romana-services' log
// holds it.
var dsnPassword = regexp.MustCompile(`([A-Za-z0-9_.-]+):[^@\s]+@(tcp|unix)\(`)

// redactDSN masks every data source name's password in a log.
func redactDSN(log []byte) []byte {
	return dsnPassword.ReplaceAll(log, []byte("${1}:(redacted)@${2}("))
}

// item runs get and stores its output as file, or records why it failed. It returns
// an error only when the bundle itself cannot be written.
func (d *dump) item(file, source string, get func() ([]byte, error)) error {
	data, err := get()
	if err != nil {
		// A failed log request's body is the API server's error, not a log: record it.
		d.fail(Item{File: file, Source: source, Error: err.Error()})
		return nil
	}
	it := Item{File: file, Source: source, Bytes: len(data)}
	if d.o.LogLimit > 0 && int64(len(data)) >= d.o.LogLimit && bytes.HasPrefix([]byte(file), []byte("logs/")) {
		it.Truncated = true
	}
	d.index.Items = append(d.index.Items, it)
	d.total += int64(len(data))
	d.o.Progress(fmt.Sprintf("✓ %s (%d bytes)", file, len(data)))
	return d.put(file, data)
}

func (d *dump) fail(it Item) {
	d.index.Failed = append(d.index.Failed, it)
	d.o.Progress(fmt.Sprintf("✗ %s: %s", it.File, it.Error))
}

func (d *dump) put(name string, data []byte) error {
	// Defence in depth: nothing that looks like Secret data leaves, whatever a source
	// returned.
	data = []byte(MaskSecretData(string(data)))
	hdr := &tar.Header{Name: "romana-sysdump/" + name, Mode: 0o644, Size: int64(len(data)), ModTime: d.o.Now}
	if err := d.tw.WriteHeader(hdr); err != nil {
		return err
	}
	_, err := d.tw.Write(data)
	return err
}

var (
	secretKindRE = regexp.MustCompile(`(?m)^\s*(- )?kind: Secret\s*$`)
	dataKeyRE    = regexp.MustCompile(`^(\s*(?:- )?)(data|stringData):\s*$`)
	passwordRE   = regexp.MustCompile(`(?i)password`)
)

// MaskSecretData hides the values of every data: and stringData: block in each YAML
// document that holds a Secret, whatever its indentation (a list of items included):
// the bundle carries no Secret data, whatever a source returned. Documents without a
// Secret (kubeadm-config's data) are left as they are.
func MaskSecretData(s string) string {
	docs := strings.Split(install.MaskSecrets(s), "\n---")
	for d, doc := range docs {
		if !secretKindRE.MatchString(doc) {
			continue
		}
		lines := strings.Split(doc, "\n")
		for i := 0; i < len(lines); i++ {
			m := dataKeyRE.FindStringSubmatch(lines[i])
			if m == nil {
				continue
			}
			col := len(m[1])
			for i+1 < len(lines) {
				next := lines[i+1]
				ind := len(next) - len(strings.TrimLeft(next, " "))
				if strings.TrimSpace(next) == "" || ind <= col {
					break
				}
				key, _, _ := strings.Cut(strings.TrimSpace(next), ":")
				lines[i+1] = strings.Repeat(" ", ind) + key + ": <hidden>"
				i++
			}
		}
		docs[d] = strings.Join(lines, "\n")
	}
	return strings.Join(docs, "\n---")
}

// redact hides any value under a key named like a password.
func redact(m map[string]any) map[string]any {
	for k, v := range m {
		switch x := v.(type) {
		case map[string]any:
			m[k] = redact(x)
		default:
			if passwordRE.MatchString(k) && k != "passwordFile" {
				m[k] = "<redacted>"
			}
		}
	}
	return m
}
