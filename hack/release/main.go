// Command release builds romanactl's release binaries (`make release`): one static
// binary per platform, a CycloneDX SBOM of each, and SHA256SUMS over them all.
//
//	go run ./hack/release -version v0.2.0 -ldflags '-s -w -X main.version=v0.2.0' -out dist/release
//
// Each SBOM is read from the binary it describes (debug/buildinfo: the modules the Go
// linker put into it, with their versions and go.sum hashes), so it lists what the
// binary holds, not what go.mod might pull in. The BOM model and its JSON are
// cyclonedx-go's.
package main

import (
	"context"
	"crypto/sha256"
	"debug/buildinfo"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"

	cdx "github.com/CycloneDX/cyclonedx-go"
)

// platforms are the ones a release carries.
var platforms = []string{"linux/amd64", "linux/arm64", "darwin/amd64", "darwin/arm64"}

// options say what to build and where.
type options struct {
	version   string   // stamped into the binaries (-X main.version) and named in the SBOMs
	ldflags   string   // the Makefile's LDFLAGS, so a release is built as `make build` builds
	out       string   // the directory the release goes into
	platforms []string // os/arch
	pkg       string   // the package to build
	goCmd     string   // the go command (the Makefile's GO)
}

func main() {
	o := options{pkg: "./cmd/romanactl"}
	var only string
	flag.StringVar(&o.goCmd, "go", "go", "the go command to build with (the Makefile's GO)")
	flag.StringVar(&o.version, "version", "dev", "the version the binaries carry (the Makefile's VERSION)")
	flag.StringVar(&o.ldflags, "ldflags", "", "linker flags, the Makefile's LDFLAGS (-X main.version=…)")
	flag.StringVar(&o.out, "out", "dist/release", "the directory to write the release into")
	flag.StringVar(&only, "platforms", "", "os/arch pairs to build, separated by spaces or commas (default: "+strings.Join(platforms, " ")+")")
	flag.Parse()
	o.platforms = strings.FieldsFunc(only, func(r rune) bool { return r == ',' || r == ' ' })
	if len(o.platforms) == 0 {
		o.platforms = platforms
	}
	if err := release(context.Background(), o, os.Stderr); err != nil {
		fmt.Fprintf(os.Stderr, "release: %v\n", err)
		os.Exit(1)
	}
}

// binaryName is the file name of the binary for os/arch.
func binaryName(platform string) string {
	return "romanactl-" + strings.ReplaceAll(platform, "/", "-")
}

// release builds every platform into o.out, writes each binary's SBOM beside it
// (NAME.cdx.json) and SHA256SUMS over the binaries and the SBOMs. The directory is
// emptied first: a release holds only what this run built.
func release(ctx context.Context, o options, log io.Writer) error {
	if err := os.RemoveAll(o.out); err != nil {
		return err
	}
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		return err
	}
	var files []string
	for _, p := range o.platforms {
		goos, goarch, ok := strings.Cut(p, "/")
		if !ok || goos == "" || goarch == "" {
			return fmt.Errorf("platform %q: want os/arch, e.g. linux/amd64", p)
		}
		name := binaryName(p)
		bin := filepath.Join(o.out, name)
		fmt.Fprintf(log, "release: building %s\n", bin)
		cmd := exec.CommandContext(ctx, o.goCmd, "build", "-trimpath", "-ldflags", o.ldflags, "-o", bin, o.pkg)
		// Static, as helm's release builds are: no cgo, so no libc to match on the host.
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+goos, "GOARCH="+goarch)
		cmd.Stdout, cmd.Stderr = log, log
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("build %s: %w", p, err)
		}
		bom, err := sbom(bin, o.version)
		if err != nil {
			return err
		}
		sbomName := name + ".cdx.json"
		f, err := os.Create(filepath.Join(o.out, sbomName))
		if err != nil {
			return err
		}
		err = cdx.NewBOMEncoder(f, cdx.BOMFileFormatJSON).SetPretty(true).Encode(bom)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("write the SBOM of %s: %w", name, err)
		}
		files = append(files, name, sbomName)
	}
	return writeSums(o.out, files)
}

// writeSums writes SHA256SUMS in the form `sha256sum -c` reads: the hex digest, two
// spaces, the file name.
func writeSums(dir string, files []string) error {
	slices.Sort(files)
	var b strings.Builder
	for _, name := range files {
		sum, err := sha256File(filepath.Join(dir, name))
		if err != nil {
			return err
		}
		fmt.Fprintf(&b, "%s  %s\n", sum, name)
	}
	return os.WriteFile(filepath.Join(dir, "SHA256SUMS"), []byte(b.String()), 0o644)
}

func sha256File(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// sbom describes the binary at path from its build information: the main module as
// the application, every module linked into it as a library it depends on.
func sbom(path, version string) (*cdx.BOM, error) {
	bi, err := buildinfo.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read the build information of %s: %w", path, err)
	}
	sum, err := sha256File(path)
	if err != nil {
		return nil, err
	}
	settings := map[string]string{}
	for _, s := range bi.Settings {
		settings[s.Key] = s.Value
	}
	mainRef := purl(bi.Main.Path, version)
	app := cdx.Component{
		BOMRef:      mainRef,
		Type:        cdx.ComponentTypeApplication,
		Name:        bi.Main.Path,
		Version:     version,
		PackageURL:  mainRef,
		Description: "romanactl for " + settings["GOOS"] + "/" + settings["GOARCH"],
		Hashes:      &[]cdx.Hash{{Algorithm: cdx.HashAlgoSHA256, Value: sum}},
		Properties: &[]cdx.Property{
			{Name: "go:version", Value: bi.GoVersion},
			{Name: "go:package", Value: bi.Path},
			{Name: "go:GOOS", Value: settings["GOOS"]},
			{Name: "go:GOARCH", Value: settings["GOARCH"]},
			{Name: "go:CGO_ENABLED", Value: settings["CGO_ENABLED"]},
		},
	}
	var libs []cdx.Component
	var refs []string
	for _, d := range bi.Deps {
		m := d
		if d.Replace != nil {
			m = d.Replace
		}
		ref := purl(m.Path, m.Version)
		c := cdx.Component{
			BOMRef:     ref,
			Type:       cdx.ComponentTypeLibrary,
			Name:       m.Path,
			Version:    m.Version,
			PackageURL: ref,
			Scope:      cdx.ScopeRequired,
		}
		if m.Sum != "" {
			// go.sum's hash of the module's files (h1:, base64 SHA-256 of a file list):
			// not one of CycloneDX's hash forms, so a property, as cyclonedx-gomod does.
			c.Properties = &[]cdx.Property{{Name: "go:module:sum", Value: m.Sum}}
		}
		if d.Replace != nil {
			c.Description = "replaces " + d.Path + "@" + d.Version
		}
		libs = append(libs, c)
		refs = append(refs, ref)
	}
	if len(libs) == 0 {
		return nil, errors.New(path + ": its build information lists no module")
	}
	bom := cdx.NewBOM()
	// The serial number is the binary's hash: the same binary gets the same SBOM.
	bom.SerialNumber = "urn:uuid:" + uuidFrom(sum)
	bom.Metadata = &cdx.Metadata{
		Component: &app,
		Tools: &cdx.ToolsChoice{Components: &[]cdx.Component{{
			Type: cdx.ComponentTypeApplication, Name: "hack/release", Group: bi.Main.Path,
			Description: "romanactl's make release, with github.com/CycloneDX/cyclonedx-go",
		}}},
	}
	bom.Components = &libs
	bom.Dependencies = &[]cdx.Dependency{{Ref: mainRef, Dependencies: &refs}}
	return bom, nil
}

// purl is the package URL of a Go module version (pkg:golang/PATH@VERSION).
func purl(path, version string) string {
	if version == "" || version == "(devel)" {
		return "pkg:golang/" + path
	}
	return "pkg:golang/" + path + "@" + strings.ReplaceAll(version, "+", "%2B")
}

// uuidFrom forms an RFC 4122 UUID (version 5 layout) from a hex SHA-256.
func uuidFrom(sum string) string {
	b, _ := hex.DecodeString(sum[:32])
	b[6] = b[6]&0x0f | 0x50
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}
