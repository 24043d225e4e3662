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

// Romana's v0.9.3.5 services log their MySQL data source name, password included, when
// they create their schemas (the real programs' log in cmd/romanactl/real_test.go).
func TestRedactDSN(t *testing.T) {
	const pw = "NIsTFZFKhLnM1Yurbqe8XlgK6JMDIIlY8CJpo1uW"
	log := "Schema created.\nstr:  root:" + pw + "@tcp(127.0.0.1:3306)/policy?parseTime=true\nroot:" + pw + "@unix(/run/mysqld/mysqld.sock)/ipam\nkeep: http://10.99.99.99:9600 and a:b@c\n"
	got := string(redactDSN([]byte(log)))
	if strings.Contains(got, pw) {
		t.Fatalf("the password is still in the log:\n%s", got)
	}
	for _, want := range []string{"str:  root:(redacted)@tcp(127.0.0.1:3306)/policy?parseTime=true", "root:(redacted)@unix(/run/mysqld/mysqld.sock)/ipam", "keep: http://10.99.99.99:9600 and a:b@c"} {
		if !strings.Contains(got, want) {
			t.Errorf("no %q in:\n%s", want, got)
		}
	}
}
