package install

import (
	"encoding/json"
	"regexp"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// LastApplied is the annotation `kubectl apply` writes on every object it applies: the
// whole object as applied, so a 2016 install's DaemonSet carries the datastore
// password there in plain text, next to (and after a migrate, instead of) its env.
const LastApplied = corev1.LastAppliedConfigAnnotation

// Hidden is what a masked value reads in a diff or a bundle.
const Hidden = "(value hidden)"

// passwordEnvRE matches the env names that carry a password: MYSQL_ROOT_PASSWORD, which
// the 2016 specs set in plain text and the chart from its Secret, and any other name
// with PASSWORD or PASSWD in it.
var passwordEnvRE = regexp.MustCompile(`(?i)pass(word|wd)`)

// passwordEnv says whether an env entry of this name carries a password. A *_FILE
// entry (the chart's MYSQL_ROOT_PASSWORD_FILE) names the file holding it, which is
// worth seeing.
func passwordEnv(name string) bool {
	return passwordEnvRE.MatchString(name) && !strings.HasSuffix(strings.ToUpper(name), "_FILE")
}

// PasswordsIn returns the plain values of the password env entries anywhere in obj (an
// object or a list decoded from JSON), those in kubectl's last-applied annotation
// included: the values to look for in env entries of any other name.
func PasswordsIn(obj any) []string {
	var out []string
	walk(obj, func(m map[string]any) {
		if env, ok := m["env"].([]any); ok {
			for _, e := range env {
				if e, ok := e.(map[string]any); ok {
					if n, _ := e["name"].(string); passwordEnv(n) {
						if v, _ := e["value"].(string); v != "" && !slices.Contains(out, v) {
							out = append(out, v)
						}
					}
				}
			}
		}
		if ann, ok := m["annotations"].(map[string]any); ok {
			if s, ok := ann[LastApplied].(string); ok {
				var applied any
				if json.Unmarshal([]byte(s), &applied) == nil {
					for _, v := range PasswordsIn(applied) {
						if !slices.Contains(out, v) {
							out = append(out, v)
						}
					}
				}
			}
		}
	})
	return out
}

// MaskPasswords hides, in place, anywhere in obj: the value of every env entry named
// like a password or equal to one of known, and kubectl's last-applied annotation,
// which copies every env value (dropped when drop, else its value replaced by Hidden
// so that a diff still shows it go). Values elsewhere are left alone: the 2016
// password is "romana", which is also every label's value.
func MaskPasswords(obj any, known []string, drop bool) {
	walk(obj, func(m map[string]any) {
		if env, ok := m["env"].([]any); ok {
			for _, e := range env {
				if e, ok := e.(map[string]any); ok {
					n, _ := e["name"].(string)
					v, isString := e["value"].(string)
					if isString && v != "" && (passwordEnv(n) || slices.Contains(known, v)) {
						e["value"] = Hidden
					}
				}
			}
		}
		if ann, ok := m["annotations"].(map[string]any); ok {
			if _, ok := ann[LastApplied]; ok {
				if drop {
					delete(ann, LastApplied)
				} else {
					ann[LastApplied] = Hidden
				}
			}
		}
	})
}

// walk calls f on every map in v, outermost first.
func walk(v any, f func(map[string]any)) {
	switch x := v.(type) {
	case map[string]any:
		f(x)
		for _, c := range x {
			walk(c, f)
		}
	case []any:
		for _, c := range x {
			walk(c, f)
		}
	}
}
