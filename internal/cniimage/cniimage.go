// Package cniimage builds the romanactl-cni image without a Docker daemon: the static
// romana-cni binary on an empty base, one image per platform, in one OCI index; it
// writes the index to an OCI image layout and pushes it from there.
package cniimage

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

const (
	// Name is the image's repository name under a registry/org.
	Name = "romanactl-cni"
	// Entrypoint is where the binary sits in the image, and what runs.
	Entrypoint = "/romana-cni"
	// Source is the image's org.opencontainers.image.source label.
	Source = "https://github.com/romana/romanactl"
)

// Options say what goes into the image.
type Options struct {
	// Binaries are the static romana-cni binaries by GOARCH (amd64, arm64).
	Binaries map[string]string
	// Version is the plugin's version (the label and the configuration's marker).
	Version string
	// Revision is the source's commit, for the label; may be empty.
	Revision string
	// Created is the images' creation time; the zero time keeps builds reproducible.
	Created time.Time
}

// Build returns the OCI index: one linux image per architecture.
func Build(o Options) (v1.ImageIndex, error) {
	if len(o.Binaries) == 0 {
		return nil, fmt.Errorf("no binaries to put in the image")
	}
	arches := make([]string, 0, len(o.Binaries))
	for a := range o.Binaries {
		arches = append(arches, a)
	}
	sort.Strings(arches)
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	for _, arch := range arches {
		img, err := image(arch, o.Binaries[arch], o)
		if err != nil {
			return nil, fmt.Errorf("%s image: %w", arch, err)
		}
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: img,
			Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: arch}}})
	}
	return idx, nil
}

func image(arch, bin string, o Options) (v1.Image, error) {
	data, err := os.ReadFile(bin)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	hdr := &tar.Header{Name: Entrypoint[1:], Mode: 0o755, Size: int64(len(data)), Typeflag: tar.TypeReg, ModTime: o.Created, Format: tar.FormatPAX}
	if err := tw.WriteHeader(hdr); err != nil {
		return nil, err
	}
	if _, err := tw.Write(data); err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	tb := buf.Bytes()
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(tb)), nil },
		tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, err
	}
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	img, err = mutate.AppendLayers(img, layer)
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", arch
	cf.Created = v1.Time{Time: o.Created}
	cf.Config.Entrypoint = []string{Entrypoint}
	cf.Config.Labels = Labels(o)
	return mutate.ConfigFile(img, cf)
}

// Labels are the images' OCI labels.
func Labels(o Options) map[string]string {
	l := map[string]string{
		"org.opencontainers.image.title":       Name,
		"org.opencontainers.image.description": "romanactl's CNI plugin for Romana v0.9.3.5: " + Entrypoint + " install puts it on a node as /opt/cni/bin/romana",
		"org.opencontainers.image.source":      Source,
		"org.opencontainers.image.version":     o.Version,
		"org.opencontainers.image.licenses":    "Apache-2.0",
	}
	if o.Revision != "" {
		l["org.opencontainers.image.revision"] = o.Revision
	}
	return l
}

// WriteLayout writes idx to an OCI image layout at dir, tagged tag, replacing what was
// there: the new layout is written beside it and renamed into place.
func WriteLayout(dir, tag string, idx v1.ImageIndex) error {
	tmp := dir + ".tmp"
	if err := os.RemoveAll(tmp); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return err
	}
	p, err := layout.Write(tmp, empty.Index)
	if err != nil {
		return fmt.Errorf("write layout %s: %w", dir, err)
	}
	if err := p.AppendIndex(idx, layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": tag})); err != nil {
		return fmt.Errorf("write layout %s: %w", dir, err)
	}
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	return os.Rename(tmp, dir)
}

// ReadLayout returns the index WriteLayout wrote at dir.
func ReadLayout(dir string) (v1.ImageIndex, error) {
	root, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		return nil, fmt.Errorf("read layout %s (run make image first): %w", dir, err)
	}
	m, err := root.IndexManifest()
	if err != nil {
		return nil, err
	}
	if len(m.Manifests) != 1 {
		return nil, fmt.Errorf("layout %s holds %d entries, want the one index make image writes", dir, len(m.Manifests))
	}
	return root.ImageIndex(m.Manifests[0].Digest)
}

// Ref is the image's reference under registry (host[:port]/org): REGISTRY/romanactl-cni:TAG.
func Ref(registry, tag string, plainHTTP bool) (name.Reference, error) {
	var opts []name.Option
	if plainHTTP {
		opts = append(opts, name.Insecure)
	}
	return name.ParseReference(fmt.Sprintf("%s/%s:%s", registry, Name, tag), opts...)
}

// Push pushes idx to ref and returns its digest.
func Push(idx v1.ImageIndex, ref name.Reference) (v1.Hash, error) {
	if err := remote.WriteIndex(ref, idx, remote.WithAuthFromKeychain(authn.DefaultKeychain)); err != nil {
		return v1.Hash{}, fmt.Errorf("push %s: %w", ref, err)
	}
	return idx.Digest()
}
