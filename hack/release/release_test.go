package main

import (
	"bufio"
	"bytes"
	"context"
	"debug/elf"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	cdx "github.com/CycloneDX/cyclonedx-go"
	"golang.org/x/mod/modfile"
)

// TestMakeRelease runs `make release` as a user does, for this machine's platform only,
// into a temporary directory, and checks what it wrote: the binary runs `version` and
// carries the stamped version, it is static, SHA256SUMS matches (by our hash and by
// `sha256sum -c`, the README's way), and the SBOM lists helm.sh/helm/v3 at the version
// go.mod pins.
//
// Only the host's platform: building all four costs minutes of the two cores CI has
// (each other platform is a full compile the build cache does not hold), and this
// machine could not run the other three anyway. The host build shares the cache of
// `make build` (same flags, CGO_ENABLED=0, -trimpath), so this test takes seconds
// once the cache is warm. The cross-compiled binaries are made by the same code with
// other GOOS/GOARCH only.
func TestMakeRelease(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a release binary with make release (seconds with a warm build cache, a few minutes cold); runs without -short, as in make test")
	}
	if _, err := exec.LookPath("make"); err != nil {
		t.Fatalf("make release needs make: %v", err)
	}
	const version = "v9.8.7-releasetest"
	host := runtime.GOOS + "/" + runtime.GOARCH
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "make", "-C", "../..", "release", "VERSION="+version, "RELEASE_DIR="+dir, "RELEASE_PLATFORMS="+host)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make release: %v\n%s", err, out)
	}

	name := binaryName(host)
	bin := filepath.Join(dir, name)
	helmVersion := goModVersion(t, "helm.sh/helm/v3")

	// The binary runs and says what it is.
	out, err := exec.CommandContext(ctx, bin, "version", "-o", "json").Output()
	if err != nil {
		t.Fatalf("%s version: %v", name, err)
	}
	var info struct{ Version, HelmSDK string }
	if err := json.Unmarshal(out, &info); err != nil {
		t.Fatalf("%s version -o json: %v\n%s", name, err, out)
	}
	if info.Version != version || info.HelmSDK != helmVersion {
		t.Errorf("%s version says version %q, Helm SDK %q; want %q and %q", name, info.Version, info.HelmSDK, version, helmVersion)
	}

	// Static: no interpreter, no shared library (an ELF check; darwin binaries always
	// link libSystem, so there only CGO_ENABLED=0 in the SBOM below counts).
	if runtime.GOOS == "linux" {
		f, err := elf.Open(bin)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range f.Progs {
			if p.Type == elf.PT_INTERP {
				t.Errorf("%s has a program interpreter: not static", name)
			}
		}
		if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
			t.Errorf("%s needs shared libraries %v: not static", name, libs)
		}
		f.Close()
	}

	// SHA256SUMS names the binary and its SBOM, and nothing else, with their hashes.
	sums := readSums(t, filepath.Join(dir, "SHA256SUMS"))
	want := []string{name, name + ".cdx.json"}
	if len(sums) != len(want) {
		t.Errorf("SHA256SUMS lists %v, want %v", sums, want)
	}
	for _, f := range want {
		got, err := sha256File(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		if sums[f] != got {
			t.Errorf("SHA256SUMS has %s for %s; the file's is %s", sums[f], f, got)
		}
	}
	if _, err := exec.LookPath("sha256sum"); err == nil {
		// The README's check passes on the release, and fails on a changed byte.
		if out, err := runIn(dir, "sha256sum", "-c", "SHA256SUMS"); err != nil {
			t.Errorf("sha256sum -c SHA256SUMS: %v\n%s", err, out)
		}
		// The README's line for one file.
		readme := "grep ' " + name + "$' SHA256SUMS | sha256sum -c -"
		if out, err := runIn(dir, "sh", "-c", readme); err != nil || strings.TrimSpace(out) != name+": OK" {
			t.Errorf("%s: %v\n%s", readme, err, out)
		}
		sbom := filepath.Join(dir, name+".cdx.json")
		b, _ := os.ReadFile(sbom)
		if err := os.WriteFile(sbom, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
		if out, err := runIn(dir, "sha256sum", "-c", "SHA256SUMS"); err == nil {
			t.Errorf("sha256sum -c passed on a changed SBOM:\n%s", out)
		}
		if err := os.WriteFile(sbom, b, 0o644); err != nil {
			t.Fatal(err)
		}
	} else {
		t.Log("no sha256sum on this machine: the sums were checked in Go only")
	}

	// The SBOM: CycloneDX, the binary as its application (by hash), helm at go.mod's version.
	f, err := os.Open(filepath.Join(dir, name+".cdx.json"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var bom cdx.BOM
	if err := cdx.NewBOMDecoder(f, cdx.BOMFileFormatJSON).Decode(&bom); err != nil {
		t.Fatalf("decode the SBOM: %v", err)
	}
	if bom.BOMFormat != "CycloneDX" || bom.Metadata == nil || bom.Metadata.Component == nil || bom.Components == nil {
		t.Fatalf("the SBOM is not a CycloneDX BOM with an application and components: %+v", bom)
	}
	app := bom.Metadata.Component
	binSum, _ := sha256File(bin)
	if app.Version != version || app.Hashes == nil || len(*app.Hashes) != 1 || (*app.Hashes)[0].Value != binSum {
		t.Errorf("the SBOM's application is %s %s with hashes %+v; want version %s and the binary's SHA-256 %s",
			app.Name, app.Version, app.Hashes, version, binSum)
	}
	props := map[string]string{}
	if app.Properties != nil {
		for _, p := range *app.Properties {
			props[p.Name] = p.Value
		}
	}
	if props["go:CGO_ENABLED"] != "0" || props["go:GOOS"]+"/"+props["go:GOARCH"] != host {
		t.Errorf("the SBOM says CGO_ENABLED=%q, platform %s/%s; want 0 and %s", props["go:CGO_ENABLED"], props["go:GOOS"], props["go:GOARCH"], host)
	}
	var helm *cdx.Component
	for i, c := range *bom.Components {
		if c.Name == "helm.sh/helm/v3" {
			helm = &(*bom.Components)[i]
		}
	}
	switch {
	case helm == nil:
		t.Errorf("the SBOM lists no helm.sh/helm/v3 among its %d components", len(*bom.Components))
	case helm.Version != helmVersion || helm.PackageURL != "pkg:golang/helm.sh/helm/v3@"+helmVersion:
		t.Errorf("the SBOM lists helm.sh/helm/v3 %s (%s); go.mod pins %s", helm.Version, helm.PackageURL, helmVersion)
	}
}

// goModVersion is the version go.mod requires of module path.
func goModVersion(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile("../../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	mf, err := modfile.Parse("go.mod", data, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range mf.Require {
		if r.Mod.Path == path {
			return r.Mod.Version
		}
	}
	t.Fatalf("go.mod requires no %s", path)
	return ""
}

// readSums reads a SHA256SUMS file: file name -> hex digest.
func readSums(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sums := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		sum, name, ok := strings.Cut(sc.Text(), "  ")
		if !ok || len(sum) != 64 {
			t.Fatalf("SHA256SUMS: line %q is not `<sha256>  <file>`", sc.Text())
		}
		sums[name] = sum
	}
	return sums
}

func runIn(dir, name string, args ...string) (string, error) {
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}
