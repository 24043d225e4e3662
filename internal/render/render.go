// Package render renders the embedded chart client-side, like `helm template`: what
// the offline commands (template, values, plan, images) need. It reaches no cluster and
// imports nothing that does.
package render

import (
	"bytes"
	"fmt"
	"strings"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/release"
	"helm.sh/helm/v3/pkg/releaseutil"

	"github.com/romana/romanactl/internal/values"
)

const (
	// ReleaseName is the one release romanactl manages.
	ReleaseName = "romana"
	// DefaultNamespace is where a CNI belongs: kube-system, which exists from the
	// start and is exempt from most admission policies.
	DefaultNamespace = "kube-system"
	// staticPodTemplate is added to a copy of the chart to render the static Pod. It is
	// never part of a release.
	staticPodTemplate = "templates/zz-romanactl-static-pod.yaml"
)

// Rendered is the outcome of a client-side render.
type Rendered struct {
	// Manifest is the release's manifests followed by its hooks, exactly as
	// `helm template` prints them.
	Manifest string
	// StaticPod is the romana-services Pod for /etc/kubernetes/manifests; set only when
	// services.deploy is staticPod.
	StaticPod string
	// Notes is the rendered NOTES.txt.
	Notes string
}

// RenderOptions tune a client-side render.
type RenderOptions struct {
	// Namespace is the release namespace; "" means kube-system.
	Namespace string
	// Validated says the values already passed values.Validate, which checks them
	// against values.schema.json itself: the render then skips a second compile and
	// run of the schema (a measurable part of a template run).
	Validated bool
	// CrossFieldChecked says, beside Validated, that values.Validate's Go rules hold
	// every rule of this chart's romana.validate helper: true for romanactl's own
	// (embedded) chart only, whose parity the fuzz test and the bad-input corpus hold.
	// The render then leaves the helper's templates out: executing it re-checks what
	// Go has accepted, and was a third of a template run's allocations. Another chart
	// (--chart) may carry rules this romanactl does not know, so it keeps them. Plain
	// helm always runs the helper.
	CrossFieldChecked bool
}

// validateTemplates are the chart's own cross-field check: romana.validate, its helpers,
// and the template that runs it. They render nothing.
var validateTemplates = map[string]bool{"templates/validate.yaml": true, "templates/_validate.tpl": true}

// Render renders the chart client-side, like `helm template romana ./chart -n NS`.
// supplied are the user's values (see values.Supplied).
func Render(ch *chart.Chart, supplied map[string]any, o RenderOptions) (*Rendered, error) {
	if o.Namespace == "" {
		o.Namespace = DefaultNamespace
	}
	rel, err := renderRelease(ch, supplied, o)
	if err != nil {
		return nil, err
	}
	out := &Rendered{Manifest: templateOutput(rel)}
	if rel.Info != nil {
		out.Notes = rel.Info.Notes
	}
	if deploy, _ := values.Lookup(rel.Config, "services.deploy"); deploy == "staticPod" {
		pod, err := renderStaticPod(ch, supplied, o)
		if err != nil {
			return nil, err
		}
		out.StaticPod = pod
	}
	return out, nil
}

func renderRelease(ch *chart.Chart, supplied map[string]any, o RenderOptions) (*release.Release, error) {
	if o.Validated && o.CrossFieldChecked {
		cp := *ch
		cp.Templates = make([]*chart.File, 0, len(ch.Templates))
		for _, t := range ch.Templates {
			if !validateTemplates[t.Name] {
				cp.Templates = append(cp.Templates, t)
			}
		}
		ch = &cp
	}
	client := action.NewInstall(&action.Configuration{Log: func(string, ...any) {}})
	client.DryRun = true
	client.DryRunOption = "client"
	client.ClientOnly = true
	client.Replace = true
	client.IncludeCRDs = true
	client.ReleaseName = ReleaseName
	client.Namespace = o.Namespace
	client.SkipSchemaValidation = o.Validated
	client.KubeVersion = clientKubeVersion()
	rel, err := client.Run(ch, supplied)
	if err != nil {
		if err = ClassifyInput(err); !values.IsInputError(err) {
			err = fmt.Errorf("render chart: %w", err)
		}
		return nil, err
	}
	return rel, nil
}

// renderStaticPod renders the romana.services.staticPod helper through a template
// added to a copy of the chart, so it shares every helper with the DaemonSet.
func renderStaticPod(ch *chart.Chart, supplied map[string]any, o RenderOptions) (string, error) {
	cp := *ch
	cp.Templates = []*chart.File{{Name: staticPodTemplate, Data: []byte(`{{ include "romana.services.staticPod" . }}`)}}
	for _, t := range ch.Templates {
		if strings.HasPrefix(t.Name, "templates/_") {
			cp.Templates = append(cp.Templates, t)
		}
	}
	o.Validated = true // the full render above has checked them
	rel, err := renderRelease(&cp, supplied, o)
	if err != nil {
		return "", err
	}
	for _, m := range releaseutil.SplitManifests(rel.Manifest) {
		if strings.Contains(m, "kind: Pod") {
			return strings.TrimSpace(strings.Replace(m, "# Source: romana/"+staticPodTemplate,
				"# Source: romana static Pod: save as /etc/kubernetes/manifests/romana-services.yaml on each control-plane node", 1)) + "\n", nil
		}
	}
	return "", fmt.Errorf("render static pod: no Pod in the output")
}

// templateOutput joins manifests and hooks the way `helm template` does, so the two
// outputs can be compared byte for byte.
func templateOutput(rel *release.Release) string {
	var b bytes.Buffer
	fmt.Fprintln(&b, strings.TrimSpace(rel.Manifest))
	for _, h := range rel.Hooks {
		fmt.Fprintf(&b, "---\n# Source: %s\n%s\n", h.Path, h.Manifest)
	}
	return b.String()
}

// OfflineKubeVersion is the Kubernetes version an offline render assumes: the one
// the linked client-go speaks (go.mod's k8s.io/client-go v0.37.x means v1.37;
// TestOfflineKubeVersionMatchesGoMod keeps the two together). Helm's release builds
// stamp the same through ldflags; without it the SDK assumes v1.20.0, which the
// chart's kubeVersion refuses.
const OfflineKubeVersion = "v1.37.0"

func clientKubeVersion() *chartutil.KubeVersion {
	kv, err := chartutil.ParseKubeVersion(OfflineKubeVersion)
	if err != nil {
		panic(err) // a constant: covered by tests
	}
	return kv
}

// ClassifyInput marks errors caused by the values (the schema, romana.validate) as
// input errors: they exit 2 like any other invalid input. Others pass unchanged.
func ClassifyInput(err error) error {
	msg := err.Error()
	if strings.Contains(msg, "values don't meet the specifications of the schema") || strings.Contains(msg, "romana: ") {
		return &values.InputError{Err: err}
	}
	return err
}
