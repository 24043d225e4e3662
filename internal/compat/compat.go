// Package compat reads the chart's table of Romana image lines (chart/compat.yaml):
// which tags the chart can drive and what each line cannot do on a given cluster. The
// chart's romana.validate reads the same file, so Go and helm users get one answer.
package compat

import (
	"fmt"
	"regexp"
	"strings"

	"helm.sh/helm/v3/pkg/chart"
	"sigs.k8s.io/yaml"
)

// File is the table's path inside the chart.
const File = "compat.yaml"

// Line is one line of Romana releases, matched by tag.
type Line struct {
	Name  string `json:"name"`
	Match string `json:"match"`
	// Drivable says whether this chart can run the line's images at all.
	Drivable bool `json:"drivable"`
	// Differs says why a line is not drivable.
	Differs string `json:"differs,omitempty"`
	// ServicesParsesNodes is whether run-romana-services takes --nodes.
	ServicesParsesNodes *bool `json:"servicesParsesNodes,omitempty"`
	// NetworkPolicyAPI is the group/version the listener watches NetworkPolicies at.
	NetworkPolicyAPI          string `json:"networkPolicyAPI,omitempty"`
	NetworkPolicyAPIRemovedIn string `json:"networkPolicyAPIRemovedIn,omitempty"`
	Entrypoints               string `json:"entrypoints,omitempty"`
	// CNIRuntimes are the node container runtimes (the scheme of a Node's
	// containerRuntimeVersion) the line's CNI plugin can attach pods on; empty: any.
	CNIRuntimes []string `json:"cniRuntimes,omitempty"`
	// PolicyAgentFirstOctet: the agent's policy agent (agent.py) matches tenants by the
	// first octet of services.cidr, right for a /8 only (see the line's note).
	PolicyAgentFirstOctet bool `json:"policyAgentFirstOctet,omitempty"`
	// CNIImage is the image the plugin runs on the node outside the chart, untagged.
	CNIImage string   `json:"cniImage,omitempty"`
	Notes    []string `json:"notes,omitempty"`

	re *regexp.Regexp
}

// Table is the whole file.
type Table struct {
	Lines []Line `json:"lines"`
}

// Load reads the table from a loaded chart.
func Load(ch *chart.Chart) (*Table, error) {
	for _, f := range ch.Files {
		if f.Name == File {
			return Parse(f.Data)
		}
	}
	return nil, fmt.Errorf("chart %s has no %s", ch.Name(), File)
}

// Parse reads the table and compiles each line's pattern.
func Parse(data []byte) (*Table, error) {
	var t Table
	if err := yaml.UnmarshalStrict(data, &t); err != nil {
		return nil, fmt.Errorf("read %s: %w", File, err)
	}
	for i := range t.Lines {
		re, err := regexp.Compile(t.Lines[i].Match)
		if err != nil {
			return nil, fmt.Errorf("%s: line %s: %w", File, t.Lines[i].Name, err)
		}
		t.Lines[i].re = re
	}
	return &t, nil
}

// For returns the line a tag belongs to; ok is false for a tag of no known line.
func (t *Table) For(tag string) (Line, bool) {
	for _, l := range t.Lines {
		if l.re.MatchString(tag) {
			return l, true
		}
	}
	return Line{}, false
}

// Names lists the known lines, for messages.
func (t *Table) Names() string {
	var n []string
	for _, l := range t.Lines {
		n = append(n, l.Name)
	}
	return strings.Join(n, ", ")
}

// Text renders the table for a terminal: each line with its tags in words and what it
// cannot do as a list, without Markdown or regular expressions.
func (t *Table) Text() string {
	var b strings.Builder
	b.WriteString("Romana lines this chart knows (chart/compat.yaml):\n")
	for _, l := range t.Lines {
		drive, what := "refused (exit 2)", []string{l.Differs}
		if l.Drivable {
			drive, what = "this chart drives it", nil
			if l.ServicesParsesNodes != nil && !*l.ServicesParsesNodes {
				what = append(what, "run-romana-services parses no --nodes and plans for 256 nodes: services.nodes must stay 256")
			}
			if l.NetworkPolicyAPI != "" {
				what = append(what, fmt.Sprintf("the listener watches NetworkPolicies under %s, which Kubernetes stopped serving in %s: NetworkPolicies are NOT enforced on any cluster this chart supports (pre-flight romana-compat ‼)", l.NetworkPolicyAPI, l.NetworkPolicyAPIRemovedIn))
			}
			if len(l.CNIRuntimes) > 0 {
				what = append(what, fmt.Sprintf("pod networking: with cni.plugin=romanactl (the default), romanactl's own plugin attaches pods on every node, containerd, CRI-O and Docker Engine; with cni.plugin=upstream, its own plugin runs docker run %s (untagged, so :latest, from a registry --registry does not change) and needs nodes on %s (Docker Engine with cri-dockerd): containerd and CRI-O nodes attach no pod (pre-flight container-runtime ✗)", l.CNIImage, strings.Join(l.CNIRuntimes, " or ")))
			}
			if l.Entrypoints != "" {
				what = append(what, "entrypoint options: "+l.Entrypoints)
			}
			what = append(what, l.Notes...)
		}
		fmt.Fprintf(&b, "\n%s (tags %s): %s\n", l.Name, TagsInWords(l.Match), drive)
		for _, w := range what {
			fmt.Fprintf(&b, "  - %s\n", w)
		}
	}
	b.WriteString("\nAny other tag: accepted (your own build); the pre-flight check romana-compat says \"unknown\" (‼).\n")
	return b.String()
}

// prefixMatch is the shape of compat.yaml's patterns: a version, then anything after a
// dot or a dash ("^v?0\.9\.3([.-].*)?$").
var prefixMatch = regexp.MustCompile(`^\^(v\?)?((?:[0-9]|\\\.)+)\(\[\.-\]\.\*\)\?\$$`)

// TagsInWords says which tags a line's pattern matches, for people: "v0.9.3, v0.9.3.*,
// v0.9.3-*, with or without the v". A pattern of another shape is shown as it is.
func TagsInWords(match string) string {
	m := prefixMatch.FindStringSubmatch(match)
	if m == nil {
		return "matching " + match
	}
	v := "v" + strings.ReplaceAll(m[2], `\.`, ".")
	words := fmt.Sprintf("%s, %s.*, %s-*", v, v, v)
	if m[1] != "" {
		words += ", with or without the v"
	}
	return words
}

// Markdown renders the table for the README's "What works on which cluster" section.
func (t *Table) Markdown() string {
	var b strings.Builder
	b.WriteString("| Line | Tags | This chart | What differs or does not work |\n|---|---|---|---|\n")
	for _, l := range t.Lines {
		drive, what := "refused (exit 2)", l.Differs
		if l.Drivable {
			drive = "drives it"
			var w []string
			if l.ServicesParsesNodes != nil && !*l.ServicesParsesNodes {
				w = append(w, "run-romana-services parses no `--nodes` and plans for 256 nodes: `services.nodes` must stay 256")
			}
			if l.NetworkPolicyAPI != "" {
				w = append(w, fmt.Sprintf("the listener watches NetworkPolicies under `%s`, which Kubernetes stopped serving in %s: on every cluster this chart supports, NetworkPolicies are **not enforced** (pre-flight `romana-compat` ‼)", l.NetworkPolicyAPI, l.NetworkPolicyAPIRemovedIn))
			}
			if len(l.CNIRuntimes) > 0 {
				w = append(w, fmt.Sprintf("pod networking: with `cni.plugin=romanactl` (the default), romanactl's own plugin attaches pods on every node, containerd, CRI-O and Docker Engine; with `cni.plugin=upstream`, its own plugin runs `docker run %s` (untagged, so `:latest`, from a registry `--registry` does not change) and needs nodes on %s (Docker Engine with cri-dockerd): containerd and CRI-O nodes attach no pod (pre-flight `container-runtime` ✗)", l.CNIImage, strings.Join(l.CNIRuntimes, " or ")))
			}
			if l.Entrypoints != "" {
				w = append(w, "entrypoint options: "+l.Entrypoints)
			}
			w = append(w, l.Notes...)
			what = strings.Join(w, "; ")
		}
		fmt.Fprintf(&b, "| %s | `%s` | %s | %s |\n", l.Name, l.Match, drive, what)
	}
	b.WriteString("| any other tag | — | accepted (your own build) | unknown: pre-flight `romana-compat` says so (‼) |\n")
	return b.String()
}
