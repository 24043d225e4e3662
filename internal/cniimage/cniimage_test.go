package cniimage

import (
	"archive/tar"
	"bytes"
	"debug/elf"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/romana/romanactl/internal/registrytest"
)

// TestImagePushPull builds the image from the real plugin cross-compiled for both
// platforms, writes it to an OCI layout, pushes it from there to an in-process registry
// and pulls it back: an OCI index with linux/amd64 and linux/arm64, the entrypoint and
// labels set, and in each layer /romana-cni, executable, a static ELF for its platform,
// which (on this machine's platform) runs and says its version.
func TestImagePushPull(t *testing.T) {
	dir := t.TempDir()
	bins := map[string]string{}
	for _, arch := range []string{"amd64", "arm64"} {
		bins[arch] = filepath.Join(dir, "romana-cni-"+arch)
		cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w -X main.version=v-test", "-o", bins[arch], "../../cmd/romana-cni")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+arch)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("build romana-cni for %s: %v\n%s", arch, err, out)
		}
	}
	o := Options{Binaries: bins, Version: "v-test", Revision: "abc123"}
	idx, err := Build(o)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := Build(o)
	d1, _ := idx.Digest()
	d2, _ := again.Digest()
	if d1 != d2 {
		t.Errorf("two builds of the same binaries differ: %s, %s", d1, d2)
	}
	lay := filepath.Join(dir, "layout")
	if err := WriteLayout(lay, "0.1.0", idx); err != nil {
		t.Fatal(err)
	}
	// Written twice: the second replaces the first.
	if err := WriteLayout(lay, "0.1.0", idx); err != nil {
		t.Fatal(err)
	}
	fromLayout, err := ReadLayout(lay)
	if err != nil {
		t.Fatal(err)
	}
	host, stop := registrytest.Start()
	defer stop()
	ref, err := Ref(host+"/org", "0.1.0", true)
	if err != nil {
		t.Fatal(err)
	}
	if ref.String() != host+"/org/romanactl-cni:0.1.0" {
		t.Errorf("reference %s, want %s/org/romanactl-cni:0.1.0", ref, host)
	}
	pushed, err := Push(fromLayout, ref)
	if err != nil {
		t.Fatal(err)
	}
	if pushed != d1 {
		t.Errorf("pushed %s, built %s", pushed, d1)
	}

	pulled, err := remote.Index(ref)
	if err != nil {
		t.Fatalf("pull %s: %v", ref, err)
	}
	m, err := pulled.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if m.MediaType != types.OCIImageIndex || len(m.Manifests) != 2 {
		t.Fatalf("pulled %s with %d manifests, want an OCI index of 2", m.MediaType, len(m.Manifests))
	}
	machines := map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}
	seen := map[string]bool{}
	for _, desc := range m.Manifests {
		p := desc.Platform
		if p == nil || p.OS != "linux" || machines[p.Architecture] == 0 {
			t.Errorf("manifest %s: platform %v", desc.Digest, p)
			continue
		}
		seen[p.Architecture] = true
		img, err := pulled.Image(desc.Digest)
		if err != nil {
			t.Fatal(err)
		}
		cf, err := img.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		if strings.Join(cf.Config.Entrypoint, " ") != Entrypoint || cf.Architecture != p.Architecture || cf.OS != "linux" {
			t.Errorf("%s: entrypoint %v, platform %s/%s", p.Architecture, cf.Config.Entrypoint, cf.OS, cf.Architecture)
		}
		if cf.Config.Labels["org.opencontainers.image.version"] != "v-test" || cf.Config.Labels["org.opencontainers.image.source"] != Source ||
			cf.Config.Labels["org.opencontainers.image.revision"] != "abc123" {
			t.Errorf("%s: labels %v", p.Architecture, cf.Config.Labels)
		}
		layers, err := img.Layers()
		if err != nil || len(layers) != 1 {
			t.Fatalf("%s: %d layers (%v), want 1", p.Architecture, len(layers), err)
		}
		rc, err := layers[0].Uncompressed()
		if err != nil {
			t.Fatal(err)
		}
		tr := tar.NewReader(rc)
		hdr, err := tr.Next()
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(tr)
		rc.Close()
		if "/"+hdr.Name != Entrypoint || hdr.Mode&0o111 != 0o111 || hdr.Typeflag != tar.TypeReg {
			t.Errorf("%s: the layer holds %s mode %o, want %s executable", p.Architecture, hdr.Name, hdr.Mode, Entrypoint)
		}
		ef, err := elf.NewFile(bytes.NewReader(data))
		if err != nil {
			t.Fatalf("%s: %s is not an ELF binary: %v", p.Architecture, Entrypoint, err)
		}
		if ef.Machine != machines[p.Architecture] || ef.Type != elf.ET_EXEC {
			t.Errorf("%s: ELF machine %v type %v, want %v ET_EXEC", p.Architecture, ef.Machine, ef.Type, machines[p.Architecture])
		}
		for _, prog := range ef.Progs {
			if prog.Type == elf.PT_INTERP {
				t.Errorf("%s: the binary has an interpreter: not static", p.Architecture)
			}
		}
		if p.Architecture == runtime.GOARCH {
			exe := filepath.Join(dir, "pulled-romana-cni")
			if err := os.WriteFile(exe, data, 0o755); err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command(exe, "version").Output()
			if err != nil || strings.TrimSpace(string(out)) != "v-test" {
				t.Errorf("the pulled %s binary's version: %q, %v", p.Architecture, out, err)
			}
		}
	}
	if !seen["amd64"] || !seen["arm64"] {
		t.Errorf("platforms pulled: %v, want linux/amd64 and linux/arm64", seen)
	}
}
