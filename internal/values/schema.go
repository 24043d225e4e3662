package values

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"helm.sh/helm/v3/pkg/chart"
)

// schemaNode is the part of a JSON schema that knowing the chart's keys needs.
type schemaNode struct {
	Ref                  string                 `json:"$ref"`
	Defs                 map[string]*schemaNode `json:"$defs"`
	Properties           map[string]*schemaNode `json:"properties"`
	AdditionalProperties json.RawMessage        `json:"additionalProperties"`
	Items                *schemaNode            `json:"items"`
	Required             []string               `json:"required"`
}

func (n *schemaNode) closed() bool { return string(n.AdditionalProperties) == "false" }

// loadSchema parses the chart's schema with its local references resolved; nil when
// the chart has none.
func loadSchema(ch *chart.Chart) (*schemaNode, error) {
	if len(ch.Schema) == 0 {
		return nil, nil
	}
	var root schemaNode
	if err := json.Unmarshal(ch.Schema, &root); err != nil {
		return nil, fmt.Errorf("parse chart schema: %w", err)
	}
	root.resolveRefs(root.Defs, 0)
	return &root, nil
}

// missingKeys reports every key the schema requires that the effective values lack.
// A key is missing when the user set it (or its section) to null: Helm's coalescing
// then deletes the chart's default, and a template would render "null" (a null
// services.nodeSelector puts the datastore on every node) or fail on a nil pointer.
func missingKeys(root *schemaNode, effective map[string]any) []Problem {
	if root == nil {
		return nil
	}
	var out []Problem
	walkRequired(root, "", effective, &out)
	return out
}

func walkRequired(n *schemaNode, prefix string, v map[string]any, out *[]Problem) {
	for _, name := range n.Required {
		p := join(prefix, name)
		child, ok := v[name]
		sn := n.Properties[name]
		section := sn != nil && sn.Properties != nil
		if !ok || child == nil {
			what := "a key"
			if section {
				what = "a section"
			}
			*out = append(*out, Problem{Key: p, Flag: FlagFor(p), Value: "null",
				Reason: fmt.Sprintf("is null or missing: it is %s of the chart's values, which the templates need (null deletes the chart's default)", what),
				Fix:    "remove the null to keep the default (`romanactl values` shows it), or give a value"})
			continue
		}
		m, isMap := child.(map[string]any)
		if section && !isMap {
			// --set-json image=1 (or a values file's `image: x`) replaces the whole
			// section, as null does: every default inside it is gone, and checks of its
			// keys would only report them as empty.
			*out = append(*out, Problem{Key: p, Flag: FlagFor(p), Value: show(child),
				Reason: fmt.Sprintf("replaces the section %s with %s: a section is a map (of %s), and a value in its place deletes every default inside it, as null does", p, kindOf(child), keyList(sn)),
				Fix:    fmt.Sprintf("set a key inside it instead, e.g. --set %s.%s=…, or remove the value to keep the defaults (`romanactl values` shows them)", p, firstKey(sn))})
			continue
		}
		if isMap && sn != nil {
			walkRequired(sn, p, m, out)
		}
	}
}

// keyList names a section's keys, sorted, for a message.
func keyList(n *schemaNode) string {
	keys := make([]string, 0, len(n.Properties))
	for k := range n.Properties {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return strings.Join(keys, ", ")
}

// firstKey is a section's first required key (else its first key), for an example.
func firstKey(n *schemaNode) string {
	for _, k := range n.Required {
		if n.Properties[k] != nil && n.Properties[k].Properties == nil {
			return k
		}
	}
	keys := strings.Split(keyList(n), ", ")
	return keys[0]
}

// unknownKeys reports every key in supplied that the chart's schema does not know,
// with the closest known key. values.schema.json is the one list of keys: the Go side
// reads it rather than keeping a second one.
func unknownKeys(root *schemaNode, supplied map[string]any) []Problem {
	if root == nil {
		return nil
	}
	var known []string
	collectPaths(root, "", &known)
	var found []unknownKey
	walkUnknown(root, "", supplied, &found)
	sort.Slice(found, func(i, j int) bool { return found[i].key < found[j].key })
	problems := make([]Problem, len(found))
	for i, u := range found {
		problems[i] = Problem{Key: u.key, Reason: "unknown key"}
		// A suggestion costs an edit distance against every known key: only the
		// problems that will be shown get one, so 100k unknown keys stay fast.
		if i < MaxShown {
			problems[i].Fix = u.fix(known)
		}
	}
	return problems
}

// resolveRefs replaces local "#/$defs/NAME" references with the definitions they
// name, so the walk below sees shared objects (image, resources) like inline ones.
func (n *schemaNode) resolveRefs(defs map[string]*schemaNode, depth int) {
	if n == nil || depth > 16 {
		return
	}
	if name, ok := strings.CutPrefix(n.Ref, "#/$defs/"); ok {
		if d := defs[name]; d != nil {
			n.Properties, n.AdditionalProperties, n.Items, n.Required = d.Properties, d.AdditionalProperties, d.Items, d.Required
		}
		n.Ref = ""
	}
	for _, c := range n.Properties {
		c.resolveRefs(defs, depth+1)
	}
	n.Items.resolveRefs(defs, depth+1)
}

func collectPaths(n *schemaNode, prefix string, out *[]string) {
	for name, child := range n.Properties {
		p := join(prefix, name)
		*out = append(*out, p)
		collectPaths(child, p, out)
	}
}

// unknownKey is a key the schema does not know, with where it was found.
type unknownKey struct {
	key, prefix string
	parent      *schemaNode
}

// fix suggests the closest known key, or lists the keys known where it was found.
func (u unknownKey) fix(known []string) string {
	switch s := suggest(u.key, known); {
	case s != "":
		return fmt.Sprintf("did you mean %s?", s)
	case u.prefix == "":
		return "see `romanactl values` for every key"
	}
	return fmt.Sprintf("known keys under %s: %s", u.prefix, strings.Join(sortedKeys(u.parent.Properties), ", "))
}

func walkUnknown(n *schemaNode, prefix string, v any, out *[]unknownKey) {
	switch v := v.(type) {
	case map[string]any:
		if n.Properties == nil {
			return
		}
		for k, child := range v {
			p := join(prefix, k)
			if sn, ok := n.Properties[k]; ok {
				walkUnknown(sn, p, child, out)
				continue
			}
			if n.closed() {
				*out = append(*out, unknownKey{key: p, prefix: prefix, parent: n})
			}
		}
	case []any:
		if n.Items != nil {
			for i, item := range v {
				walkUnknown(n.Items, fmt.Sprintf("%s[%d]", prefix, i), item, out)
			}
		}
	}
}

// suggest returns the known path closest to p: first by the whole path, then by the
// last element alone (a right key at the wrong level, like a top-level "cidr").
func suggest(p string, known []string) string {
	best, bestD := "", 1<<30
	leaf := p[strings.LastIndex(p, ".")+1:]
	for _, k := range known {
		d := levenshtein(strings.ToLower(p), strings.ToLower(k))
		kl := k[strings.LastIndex(k, ".")+1:]
		if ld := levenshtein(strings.ToLower(leaf), strings.ToLower(kl)); ld < d {
			d = ld + 1 // prefer a whole-path match of equal distance
		}
		if d < bestD || (d == bestD && k < best) {
			best, bestD = k, d
		}
	}
	if bestD > max(2, len(leaf)/3) {
		return ""
	}
	return best
}

func levenshtein(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

func join(prefix, name string) string {
	if prefix == "" {
		return name
	}
	return prefix + "." + name
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// UndeclaredFlagKeys lists the keys romanactl's dedicated flags set that ch's values
// schema does not declare: such a chart would refuse them, or ignore them.
func UndeclaredFlagKeys(ch *chart.Chart) ([]string, error) {
	root, err := loadSchema(ch)
	if err != nil {
		return nil, err
	}
	if root == nil {
		return []string{"(the chart has no values.schema.json)"}, nil
	}
	var missing []string
	for _, f := range Flags {
		for _, k := range f.Keys {
			n := root
			for _, p := range splitKey(k) {
				if n = n.Properties[p]; n == nil {
					break
				}
			}
			if n == nil {
				missing = append(missing, k)
			}
		}
	}
	return missing, nil
}
