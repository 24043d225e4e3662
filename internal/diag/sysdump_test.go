package diag

import (
	"strings"
	"testing"
)

// TestMaskSecretData: the data of any Secret in a YAML text is hidden, whatever the
// indentation, and nothing else is touched.
func TestMaskSecretData(t *testing.T) {
	in := "items:\n- apiVersion: v1\n  kind: Secret\n  data:\n    password: c2VjcmV0\n    other: eA==\n  type: Opaque\n" +
		"---\nkind: Secret\nstringData:\n  password: plain-secret\nmetadata:\n  name: x\n" +
		"---\nkind: ConfigMap\ndata:\n  key: visible\n"
	out := MaskSecretData(in)
	for _, secret := range []string{"c2VjcmV0", "eA==", "plain-secret"} {
		if strings.Contains(out, secret) {
			t.Errorf("%s survived:\n%s", secret, out)
		}
	}
	if !strings.Contains(out, "type: Opaque") || !strings.Contains(out, "name: x") || !strings.Contains(out, "    password: <hidden>") {
		t.Errorf("masked too much or too little:\n%s", out)
	}
	if r := redact(map[string]any{"datastore": map[string]any{"password": "x", "existingSecret": "s"}, "services": map[string]any{"passwordFile": "/etc/p"}}); r["datastore"].(map[string]any)["password"] != "<redacted>" ||
		r["services"].(map[string]any)["passwordFile"] != "/etc/p" {
		t.Errorf("redact: %v", r)
	}
}
