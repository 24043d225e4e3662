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
}

func (n *schemaNode) closed() bool { return string(n.AdditionalProperties) == "false" }

// unknownKeys reports every key in supplied that the chart's schema does not know,
// with the closest known key. values.schema.json is the one list of keys: the Go side
// reads it rather than keeping a second one.
func unknownKeys(ch *chart.Chart, supplied map[string]any) ([]Problem, error) {
	if len(ch.Schema) == 0 {
		return nil, nil
	}
	var root schemaNode
	if err := json.Unmarshal(ch.Schema, &root); err != nil {
		return nil, fmt.Errorf("parse chart schema: %w", err)
	}
	root.resolveRefs(root.Defs, 0)
	var known []string
	collectPaths(&root, "", &known)
	var problems []Problem
	walkUnknown(&root, "", supplied, known, &problems)
	sort.Slice(problems, func(i, j int) bool { return problems[i].Key < problems[j].Key })
	return problems, nil
}

// resolveRefs replaces local "#/$defs/NAME" references with the definitions they
// name, so the walk below sees shared objects (image, resources) like inline ones.
func (n *schemaNode) resolveRefs(defs map[string]*schemaNode, depth int) {
	if n == nil || depth > 16 {
		return
	}
	if name, ok := strings.CutPrefix(n.Ref, "#/$defs/"); ok {
		if d := defs[name]; d != nil {
			n.Properties, n.AdditionalProperties, n.Items = d.Properties, d.AdditionalProperties, d.Items
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

func walkUnknown(n *schemaNode, prefix string, v any, known []string, out *[]Problem) {
	switch v := v.(type) {
	case map[string]any:
		if n.Properties == nil {
			return
		}
		for k, child := range v {
			p := join(prefix, k)
			if sn, ok := n.Properties[k]; ok {
				walkUnknown(sn, p, child, known, out)
				continue
			}
			if !n.closed() {
				continue
			}
			pr := Problem{Key: p, Reason: "unknown key"}
			if s := suggest(p, known); s != "" {
				pr.Fix = fmt.Sprintf("did you mean %s?", s)
			} else if prefix == "" {
				pr.Fix = "see `romanactl values` for every key"
			} else {
				pr.Fix = fmt.Sprintf("known keys under %s: %s", prefix, strings.Join(sortedKeys(n.Properties), ", "))
			}
			*out = append(*out, pr)
		}
	case []any:
		if n.Items != nil {
			for i, item := range v {
				walkUnknown(n.Items, fmt.Sprintf("%s[%d]", prefix, i), item, known, out)
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
