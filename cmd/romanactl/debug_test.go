package main

import (
	"encoding/base64"
	"regexp"
	"strings"
	"testing"
)

// TestClusterDebug: --debug shows the Helm SDK's log, romanactl's steps and every API
// request (verb, URL, status, time) on stderr, like kubectl -v=6, and never the
// datastore password. Without it, none of that appears.
func TestClusterDebug(t *testing.T) {
	cluster(t)
	r := mustOK(t, rc(t, "install", "--debug", "--skip-check", "images-exist"))
	reqRE := regexp.MustCompile(`(?m)^debug \d\d:\d\d:\d\d\.\d{3} (GET|POST|PUT|PATCH|DELETE) https://127\.0\.0\.1:\d+/\S+ \d{3} \S.* in \d+ milliseconds$`)
	if n := len(reqRE.FindAllString(r.stderr, -1)); n < 20 {
		t.Errorf("%d API request lines, want many:\n%.3000s", n, r.stderr)
	}
	for _, want := range []string{
		"POST https://", "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases", // the Lease
		"/api/v1/namespaces/kube-system/secrets", // Helm's release storage
		"debug ", "helm: ", "romanactl: pre-flight took", "romanactl: Lease kube-system/romanactl-romana acquired", "romanactl: Lease released (ok)",
	} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("--debug output lacks %q", want)
		}
	}
	pw := password(t)
	// pw is the decoded data; a manifest or a request body would carry its base64.
	if len(pw) < 32 || strings.Contains(r.stderr+r.stdout, pw) || strings.Contains(r.stderr+r.stdout, base64.StdEncoding.EncodeToString([]byte(pw))) {
		t.Fatal("the password (or its base64) is in --debug output")
	}
	// Off by default: not one request line, no Helm log.
	r = mustOK(t, rc(t, "status"))
	if reqRE.MatchString(r.stderr) || strings.Contains(r.stderr, "helm: ") {
		t.Errorf("debug output without --debug:\n%s", r.stderr)
	}
	// Offline commands take --debug too (the Helm SDK's render log).
	if r := run(t, "template", "--debug"); r.code != 0 {
		t.Errorf("template --debug: exit %d %s", r.code, r.stderr)
	}
}
