package values

import (
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// splitKey splits a chart path such as agent.clusterIPCIDR into its parts.
func splitKey(key string) []string { return strings.Split(key, ".") }

// Lookup returns the value at a chart path in vals and whether it is present.
func Lookup(vals map[string]any, key string) (any, bool) {
	v, ok, err := unstructured.NestedFieldNoCopy(vals, splitKey(key)...)
	return v, ok && err == nil
}

// LookupString returns the string at a chart path ("" when absent or not a string) and
// whether the path is present.
func LookupString(vals map[string]any, key string) (string, bool) {
	v, ok := Lookup(vals, key)
	s, _ := v.(string)
	return s, ok
}

// LookupInt returns the number at key, in whichever form it was parsed: int64 from a
// flag or --set, float64 from YAML or JSON. ok is false for anything else.
func LookupInt(vals map[string]any, key string) (int64, bool) {
	v, _ := Lookup(vals, key)
	switch x := v.(type) {
	case int64:
		return x, true
	case int:
		return int64(x), true
	case float64:
		return int64(x), true
	}
	return 0, false
}
