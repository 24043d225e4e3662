package compat_test

import (
	"os"
	"testing"

	"github.com/romana/romanactl/internal/compat"
)

func TestLinesByTag(t *testing.T) {
	data, err := os.ReadFile("../../chart/compat.yaml")
	if err != nil {
		t.Fatal(err)
	}
	table, err := compat.Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	for tag, want := range map[string]string{
		"v0.9.3": "v0.9.3", "v0.9.3.5": "v0.9.3", "0.9.3.7": "v0.9.3", "v0.9.3.5-rc1": "v0.9.3",
		"v1.0": "v1.x", "v1.2.2": "v1.x", "1": "v1.x", "v2.0.5": "v2.x",
		// no known line: a user's build, or a near miss that is not the line
		"v0.9.30": "", "v0.9.2": "", "v10": "", "latest": "", "own-build.7": "", "v9": "",
	} {
		l, ok := table.For(tag)
		if got := l.Name; ok != (want != "") || got != want {
			t.Errorf("tag %s: line %q (known %v), want %q", tag, got, ok, want)
		}
	}
	v093, _ := table.For("v0.9.3.5")
	if !v093.Drivable || v093.ServicesParsesNodes == nil || *v093.ServicesParsesNodes || v093.NetworkPolicyAPI != "extensions/v1beta1" {
		t.Errorf("v0.9.3 line: %+v", v093)
	}
	for _, tag := range []string{"v1.0", "v2.0"} {
		if l, _ := table.For(tag); l.Drivable || l.Differs == "" {
			t.Errorf("%s must be refused with a reason: %+v", tag, l)
		}
	}
	if _, err := compat.Parse([]byte("lines:\n  - name: x\n    match: '('\n")); err == nil {
		t.Error("a bad pattern was accepted")
	}
	if _, err := compat.Parse([]byte("lines:\n  - name: x\n    mtch: 'a'\n")); err == nil {
		t.Error("an unknown field was accepted")
	}
}
