package values

import (
	"fmt"
	"os"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/strvals"
	"sigs.k8s.io/yaml"
)

// Options are the user's values, layer by layer. Precedence, weakest first: chart
// defaults < environment file < ValueFiles (in order) < Set < SetString < Flags.
type Options struct {
	// Env names an environment file in the chart; "" means none (chart defaults only).
	Env string
	// ValueFiles are -f/--values files, merged in order.
	ValueFiles []string
	// Set and SetString are --set and --set-string expressions.
	Set       []string
	SetString []string
	// Flags maps a dedicated flag's name (see Flags) to its text, for the flags the
	// user actually gave.
	Flags map[string]string
	// Overrides are values romanactl itself sets last, by chart key (the digests
	// --pin-digests resolves).
	Overrides map[string]any
}

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
	for _, f := range o.ValueFiles {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, Inputf("-f %s: %w", f, err)
		}
		fv := map[string]any{}
		if err := yaml.Unmarshal(data, &fv); err != nil {
			return nil, Inputf("-f %s: not a YAML map of values: %w", f, err)
		}
		vals = MergeMaps(vals, fv)
	}
	for _, s := range o.Set {
		if err := strvals.ParseInto(s, vals); err != nil {
			return nil, Inputf("--set %q: %w", s, err)
		}
	}
	for _, s := range o.SetString {
		if err := strvals.ParseIntoString(s, vals); err != nil {
			return nil, Inputf("--set-string %q: %w", s, err)
		}
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

// Effective returns the chart defaults coalesced with the supplied values: what the
// templates see as .Values.
func Effective(ch *chart.Chart, supplied map[string]any) (map[string]any, error) {
	v, err := chartutil.CoalesceValues(ch, copyMap(supplied))
	if err != nil {
		return nil, fmt.Errorf("merge values: %w", err)
	}
	return v.AsMap(), nil
}

// MergeMaps merges b into a, recursively for maps; b wins. It is Helm's -f semantics.
func MergeMaps(a, b map[string]any) map[string]any {
	out := make(map[string]any, len(a))
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		if bv, ok := v.(map[string]any); ok {
			if av, ok := out[k].(map[string]any); ok {
				out[k] = MergeMaps(av, bv)
				continue
			}
		}
		out[k] = v
	}
	return out
}

// setPath sets a dotted key in vals, creating maps on the way. Dedicated flags write
// their values with it rather than through strvals, so that a value with commas or
// brackets (a URL) is never re-parsed as --set syntax.
func setPath(vals map[string]any, key string, v any) {
	parts := splitKey(key)
	m := vals
	for _, p := range parts[:len(parts)-1] {
		next, ok := m[p].(map[string]any)
		if !ok {
			next = map[string]any{}
			m[p] = next
		}
		m = next
	}
	m[parts[len(parts)-1]] = v
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
