package install

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestMaskPasswords: every env value that carries the password is hidden, by its name
// or by its value, in an object or a list, and so is kubectl's last-applied copy; a
// label with the same word as the password is left alone.
func TestMaskPasswords(t *testing.T) {
	const pw = "Zq8-pw"
	lastApplied := `{"spec":{"template":{"spec":{"containers":[{"name":"romana-datastore","env":[{"name":"MYSQL_ROOT_PASSWORD","value":"` + pw + `"}]}]}}}}`
	tests := []struct {
		name      string
		obj       string
		drop      bool
		wantKnown []string
		keep      []string
	}{
		{name: "plain env by name", obj: `{"spec":{"containers":[{"env":[{"name":"MYSQL_ROOT_PASSWORD","value":"` + pw + `"},{"name":"MYSQL_ROOT_PASSWORD_FILE","value":"/etc/romana/datastore-password"}]}]}}`,
			wantKnown: []string{pw}, keep: []string{"/etc/romana/datastore-password"}},
		{name: "a copy under another name, in a list", obj: `{"items":[{"spec":{"initContainers":[{"env":[{"name":"DB_SECRET_COPY","value":"` + pw + `"},{"name":"MYSQL_ROOT_PASSWORD","value":"` + pw + `"}]}]}}]}`,
			wantKnown: []string{pw}},
		{name: "only in last-applied, replaced", obj: `{"metadata":{"labels":{"app":"` + pw + `"},"annotations":{"kubectl.kubernetes.io/last-applied-configuration":` + mustQuote(lastApplied) + `}},"spec":{"containers":[{"env":[{"name":"X","value":"` + pw + `"}]}]}}`,
			wantKnown: []string{pw}, keep: []string{`"app":"` + pw + `"`, `"kubectl.kubernetes.io/last-applied-configuration":"(value hidden)"`}},
		{name: "only in last-applied, dropped", obj: `{"metadata":{"annotations":{"kubectl.kubernetes.io/last-applied-configuration":` + mustQuote(lastApplied) + `,"other":"kept"}}}`,
			drop: true, wantKnown: []string{pw}, keep: []string{`"annotations":{"other":"kept"}`}},
		{name: "a Secret reference", obj: `{"env":[{"name":"MYSQL_ROOT_PASSWORD","valueFrom":{"secretKeyRef":{"name":"romana-datastore","key":"password"}}}]}`,
			keep: []string{`"secretKeyRef":{"key":"password","name":"romana-datastore"}`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var obj any
			if err := json.Unmarshal([]byte(tt.obj), &obj); err != nil {
				t.Fatal(err)
			}
			known := PasswordsIn(obj)
			if strings.Join(known, ",") != strings.Join(tt.wantKnown, ",") {
				t.Errorf("PasswordsIn = %q, want %q", known, tt.wantKnown)
			}
			MaskPasswords(obj, known, tt.drop)
			out, _ := json.Marshal(obj)
			masked := strings.ReplaceAll(string(out), `"app":"`+pw+`"`, "")
			if strings.Contains(masked, pw) || strings.Contains(masked, "last-applied") && tt.drop {
				t.Errorf("not masked: %s", out)
			}
			for _, k := range tt.keep {
				if !strings.Contains(string(out), k) {
					t.Errorf("lost %s: %s", k, out)
				}
			}
		})
	}
}

func mustQuote(s string) string { b, _ := json.Marshal(s); return string(b) }
