package render

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

func TestOfflineKubeVersionMatchesGoMod(t *testing.T) {
	gomod, err := os.ReadFile("../../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`k8s.io/client-go v0\.(\d+)\.`).FindSubmatch(gomod)
	if m == nil {
		t.Fatal("go.mod does not require k8s.io/client-go")
	}
	if want := "v1." + string(m[1]) + ".0"; OfflineKubeVersion != want {
		t.Fatalf("OfflineKubeVersion = %s, but go.mod's client-go speaks %s", OfflineKubeVersion, want)
	}
	if !strings.HasPrefix(clientKubeVersion().Version, "v1.") {
		t.Fatal(clientKubeVersion())
	}
}
