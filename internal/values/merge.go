package values

import (
	"fmt"
	"regexp"
	"strings"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chartutil"
	helmvalues "helm.sh/helm/v3/pkg/cli/values"
	"helm.sh/helm/v3/pkg/getter"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// Options are the user's values, layer by layer. Precedence, weakest first: chart
// defaults < environment file < Helm's value flags (-f files in order, then --set-json,
// --set, --set-string, --set-file, --set-literal, as helm applies them) < Flags <
// Overrides.
type Options struct {
	// Env names an environment file in the chart; "" means none (chart defaults only).
	Env string
	// Helm are helm's own value flags, read by Helm's own code: -f - reads stdin, -f
	// and --set-file take http(s) URLs.
	Helm helmvalues.Options
	// Flags maps a dedicated flag's name (see Flags) to its text, for the flags the
	// user actually gave.
	Flags map[string]string
	// Overrides are values romanactl itself sets last, by chart key (the digests
	// --pin-digests resolves).
	Overrides map[string]any
	// Hints feed the suggestions of validation errors (the release's stored values, the
	// live cluster); they are never values.
	Hints Hints
}

// getters fetch -f and --set-file URLs, as helm's do (http and https; no plugins).
var getters = getter.Providers{{Schemes: []string{"http", "https"}, New: getter.NewHTTPGetter}}

// Supplied merges the layers above the chart defaults into the values the user
// supplied. This is what a Helm release stores as its config, so a later upgrade can
// reuse exactly the user's choices on top of new chart defaults.
func Supplied(ch *chart.Chart, o Options) (map[string]any, error) {
	vals := map[string]any{}
	if o.Env != "" {
		env, err := FindEnv(ch, o.Env)
		if err != nil {
			return nil, err
		}
		ev, err := env.Values()
		if err != nil {
			return nil, err
		}
		vals = ev
	}
	user, err := o.Helm.MergeValues(getters)
	if err != nil {
		return nil, &InputError{Err: blame(o.Helm, err)}
	}
	vals = Layer(vals, user)
	// An empty dedicated flag (--tag="", --cidr=, --nat=) is a slip, never a value:
	// stored, it would replace the release's value with nothing, or a boolean would be
	// read as false while the agent defaults to true.
	var empty []Problem
	for _, f := range Flags {
		if text, ok := o.Flags[f.Name]; ok && strings.TrimSpace(text) == "" {
			empty = append(empty, Problem{Key: strings.Join(f.Keys, ", "), Flag: f.Name, Value: text,
				Reason: "empty: a dedicated flag needs a value",
				Fix:    fmt.Sprintf("give one (--%s=<value>), or leave --%s out to keep the release's value (the chart's default on install)", f.Name, f.Name)})
		}
	}
	if len(empty) > 0 {
		return nil, &ValidationError{Problems: empty}
	}
	for _, f := range Flags {
		text, ok := o.Flags[f.Name]
		if !ok {
			continue
		}
		for _, key := range f.Keys {
			setPath(vals, key, f.value(text))
		}
	}
	for _, key := range sortedKeys(o.Overrides) {
		setPath(vals, key, o.Overrides[key])
	}
	return vals, nil
}

// blame finds which value flag Helm's MergeValues failed on, by trying each alone, and
// words the error with that flag and its text: helm's own message names neither the
// file it could not read nor the --set it could not parse.
func blame(h helmvalues.Options, err error) error {
	one := func(o helmvalues.Options) error { _, e := o.MergeValues(getters); return e }
	try := func(flag string, items []string, mk func(string) helmvalues.Options) error {
		for _, it := range items {
			if e := one(mk(it)); e != nil {
				if flag == "-f" {
					return fmt.Errorf("-f %s: %s", it, helmReason(e)) // a path, as the user typed it
				}
				return fmt.Errorf("%s %q: %s", flag, it, helmReason(e))
			}
		}
		return nil
	}
	for _, c := range []struct {
		flag  string
		items []string
		mk    func(string) helmvalues.Options
	}{
		{"-f", h.ValueFiles, func(s string) helmvalues.Options { return helmvalues.Options{ValueFiles: []string{s}} }},
		{"--set-json", h.JSONValues, func(s string) helmvalues.Options { return helmvalues.Options{JSONValues: []string{s}} }},
		{"--set", h.Values, func(s string) helmvalues.Options { return helmvalues.Options{Values: []string{s}} }},
		{"--set-string", h.StringValues, func(s string) helmvalues.Options { return helmvalues.Options{StringValues: []string{s}} }},
		{"--set-file", h.FileValues, func(s string) helmvalues.Options { return helmvalues.Options{FileValues: []string{s}} }},
		{"--set-literal", h.LiteralValues, func(s string) helmvalues.Options { return helmvalues.Options{LiteralValues: []string{s}} }},
	} {
		if e := try(c.flag, c.items, c.mk); e != nil {
			return e
		}
	}
	// Only together do they fail (e.g. stdin read twice): Helm's words, cleaned.
	return fmt.Errorf("%s", helmReason(err))
}

// unmarshalTypeRE finds what a values file held instead of a map, in encoding/json's words.
var unmarshalTypeRE = regexp.MustCompile(`cannot unmarshal (\w+) into Go value of type map`)

// helmReason strips Helm's "failed parsing --set data:" framing and Go's "open PATH:".
func helmReason(err error) string {
	msg := err.Error()
	for _, p := range []string{"failed parsing --set-json data", "failed parsing --set-string data: ", "failed parsing --set-file data: ",
		"failed parsing --set-literal data: ", "failed parsing --set data: "} {
		msg = strings.TrimPrefix(msg, p)
	}
	if msg == "" || strings.HasPrefix(msg, " ") {
		return "not valid JSON after key= (e.g. --set-json 'key=[1,2]')"
	}
	if rest, ok := strings.CutPrefix(msg, "failed to parse "); ok {
		if _, why, ok := strings.Cut(rest, ": "); ok {
			if m := unmarshalTypeRE.FindStringSubmatch(why); m != nil {
				return fmt.Sprintf("not a YAML map of values: it holds a %s", m[1])
			}
			why = strings.TrimPrefix(why, "error converting YAML to JSON: ")
			return "not a YAML map of values: " + why
		}
	}
	if rest, ok := strings.CutPrefix(msg, "open "); ok {
		if _, why, ok := strings.Cut(rest, ": "); ok {
			return "cannot read the file: " + why
		}
	}
	return msg
}

// Layer returns over laid on base, recursively for maps (over wins): helm's -f
// semantics, computed by Helm's chartutil.MergeTables on copies.
func Layer(base, over map[string]any) map[string]any {
	return chartutil.MergeTables(copyMap(over), copyMap(base))
}

// Effective returns the chart defaults coalesced with the supplied values: what the
// templates see as .Values.
func Effective(ch *chart.Chart, supplied map[string]any) (map[string]any, error) {
	v, err := chartutil.CoalesceValues(ch, copyMap(supplied))
	if err != nil {
		return nil, fmt.Errorf("merge values: %w", err)
	}
	return v.AsMap(), nil
}

// setPath sets a dotted key in vals, creating maps on the way. Dedicated flags write
// their values with it rather than through strvals, so that a value with commas or
// brackets (a URL) is never re-parsed as --set syntax.
func setPath(vals map[string]any, key string, v any) {
	parts := splitKey(key)
	// A scalar where a map belongs (--set services=x) gives way to the flag, as a later
	// --set would: drop it, then set through the nested-field helper.
	for i := 1; i < len(parts); i++ {
		if x, ok, _ := unstructured.NestedFieldNoCopy(vals, parts[:i]...); ok {
			if _, isMap := x.(map[string]any); !isMap {
				unstructured.RemoveNestedField(vals, parts[:i]...)
				break
			}
		}
	}
	_ = unstructured.SetNestedField(vals, v, parts...)
}

func copyMap(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		if mv, ok := v.(map[string]any); ok {
			v = copyMap(mv)
		}
		out[k] = v
	}
	return out
}
