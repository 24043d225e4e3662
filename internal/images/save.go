package images

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chartutil"

	"github.com/romana/romanactl/internal/values"
)

// The archive that `images save` writes and `images load` reads is an OCI image
// layout (https://github.com/opencontainers/image-spec/blob/main/image-layout.md) in
// a tar: oci-layout, index.json and blobs/sha256/<hex>, which any OCI tool reads
// (`skopeo copy oci-archive:`, `oras`, `crane`), plus ArchiveManifest, the list of what
// it holds by name and digest. index.json has one entry per image and one for the
// chart, each annotated with its name and tag.
const (
	// ArchiveManifest is the archive's table of contents, a JSON Archive.
	ArchiveManifest = "romana-images.json"
	// AnnotationName, AnnotationSource: an index.json entry's image name ("agent")
	// and the reference it was saved from.
	AnnotationName   = "io.romana.image.name"
	AnnotationSource = "io.romana.image.source"
	// AnnotationRefName is the OCI annotation for the tag an entry is loaded as.
	AnnotationRefName = "org.opencontainers.image.ref.name"
	// Helm's media types for a chart stored as an OCI artifact (helm push), so that
	// helm pull and `romanactl --chart oci://` read the loaded chart.
	HelmConfigMediaType = "application/vnd.cncf.helm.config.v1+json"
	HelmChartMediaType  = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"
)

// Archive is the table of contents of an images archive.
type Archive struct {
	Images []ArchiveEntry `json:"images"`
	Chart  *ArchiveEntry  `json:"chart,omitempty"`
}

// ArchiveEntry is one image (or the chart) in an archive.
type ArchiveEntry struct {
	// Name is the repository's last element ("agent"; "romana" for the chart).
	Name string `json:"name"`
	// Tag is the tag it is loaded as (the chart's version for the chart).
	Tag string `json:"tag"`
	// Source is the reference it was saved from ("" for the chart).
	Source string `json:"source,omitempty"`
	// Digest is its manifest's (or index's) digest, kept by load.
	Digest    string `json:"digest"`
	MediaType string `json:"mediaType"`
	// Platforms lists an index's platforms (os/arch[/variant]).
	Platforms []string `json:"platforms,omitempty"`
	// Size is the bytes of its blobs and manifests in the archive (shared blobs
	// counted for each image).
	Size int64 `json:"size"`
	// SourceDigest is the source index's digest when --platform cut it down (Digest is
	// then that of the platform's image, or of a new index of the chosen platforms).
	SourceDigest string `json:"sourceDigest,omitempty"`
}

// SaveOptions tune Save.
type SaveOptions struct {
	Options
	// Platforms keeps only these platforms of each index ("" or empty: every one).
	Platforms []v1.Platform
	// Chart is saved beside the images as a Helm OCI artifact (nil: no chart).
	Chart *chart.Chart
	// Bytes reports the bytes written of one image so far, for a terminal; nil is off.
	Bytes func(image string, done, total int64)
}

// ParsePlatform parses os/arch[/variant], as docker and crane take --platform.
func ParsePlatform(s string) (v1.Platform, error) {
	p, err := v1.ParsePlatform(s)
	if err != nil || p.OS == "" || p.Architecture == "" || strings.Count(s, "/") > 2 {
		return v1.Platform{}, fmt.Errorf("not os/arch[/variant], e.g. linux/amd64 or linux/arm64/v8")
	}
	return *p, nil
}

// Save writes every image of refs (all platforms of an index, or those of
// o.Platforms) and o.Chart to path as one OCI image layout tar. It writes a temporary
// file beside path and renames it into place only when everything is written, so
// path is either the old file, or complete. It reads every source first (manifests
// only), so an unreachable image fails before a byte is written.
func Save(ctx context.Context, refs []string, path string, o SaveOptions) (*Archive, error) {
	progress := o.Progress
	if progress == nil {
		progress = func(string) {}
	}
	var items []*saveItem
	var errs []error
	for _, src := range refs {
		it, err := resolveForSave(ctx, src, o)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		items = append(items, it)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".partial-*")
	if err != nil {
		return nil, fmt.Errorf("create a temporary file beside %s: %w", path, err)
	}
	tmp := f.Name()
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(tmp)
		}
	}()
	w := newLayoutTar(f)
	arch := &Archive{}
	var index v1.IndexManifest
	index.SchemaVersion = 2
	index.MediaType = types.OCIImageIndex
	for _, it := range items {
		e := it.entry
		var total int64
		if it.idx != nil {
			total, err = indexSize(it.idx)
		} else {
			total, err = imageSize(it.img)
		}
		if err != nil {
			return nil, fmt.Errorf("read %s: %s", e.Source, Classify(err))
		}
		before := w.written
		if o.Bytes != nil {
			w.onWrite = func() { o.Bytes(e.Name, w.written-before, total) }
		}
		var desc v1.Descriptor
		if it.idx != nil {
			desc, err = w.index(it.idx)
		} else {
			desc, err = w.image(it.img)
		}
		w.onWrite = nil
		if err != nil {
			return nil, fmt.Errorf("save %s: %s", e.Source, Classify(err))
		}
		e.Size = w.written - before
		desc.Annotations = map[string]string{AnnotationRefName: e.Tag, AnnotationName: e.Name, AnnotationSource: e.Source}
		index.Manifests = append(index.Manifests, desc)
		arch.Images = append(arch.Images, e)
		progress(fmt.Sprintf("✓ %s (%s, %s)", e.Source, short(desc.Digest), sizeText(e.Size)))
	}
	if o.Chart != nil {
		img, err := chartArtifact(o.Chart)
		if err != nil {
			return nil, err
		}
		before := w.written
		desc, err := w.image(img)
		if err != nil {
			return nil, fmt.Errorf("save the chart: %w", err)
		}
		e := &ArchiveEntry{Name: o.Chart.Metadata.Name, Tag: o.Chart.Metadata.Version, Digest: desc.Digest.String(), MediaType: string(desc.MediaType), Size: w.written - before}
		desc.Annotations = map[string]string{AnnotationRefName: e.Tag, AnnotationName: e.Name}
		index.Manifests = append(index.Manifests, desc)
		arch.Chart = e
		progress(fmt.Sprintf("✓ chart %s %s (%s)", e.Name, e.Tag, short(desc.Digest)))
	}
	layoutFile, _ := json.Marshal(map[string]string{"imageLayoutVersion": "1.0.0"})
	indexJSON, err := json.MarshalIndent(index, "", "  ")
	if err != nil {
		return nil, err
	}
	toc, err := json.MarshalIndent(arch, "", "  ")
	if err != nil {
		return nil, err
	}
	for _, file := range []struct {
		name string
		data []byte
	}{{ArchiveManifest, append(toc, '\n')}, {"oci-layout", layoutFile}, {"index.json", indexJSON}} {
		// index.json last: a copy cut short anywhere lacks it, which load tells.
		if err := w.file(file.name, file.data); err != nil {
			return nil, fmt.Errorf("write %s: %w", tmp, err)
		}
	}
	if err := w.tw.Close(); err != nil {
		return nil, fmt.Errorf("write %s: %w", tmp, err)
	}
	// CreateTemp makes the file 0600; the archive holds nothing secret (public images
	// and the chart), and is carried and read by others.
	if err := f.Chmod(0o644); err != nil {
		return nil, fmt.Errorf("write %s: %w", tmp, err)
	}
	if err := f.Sync(); err != nil {
		return nil, fmt.Errorf("write %s: %w", tmp, err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("write %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return nil, fmt.Errorf("move %s into place: %w", path, err)
	}
	ok = true
	return arch, nil
}

type saveItem struct {
	entry ArchiveEntry
	img   v1.Image
	idx   v1.ImageIndex
}

// resolveForSave reads src's manifest and picks what to save: the image, the whole
// index, or with o.Platforms the chosen platforms of an index (one platform: its
// image; several: a new index of them).
func resolveForSave(ctx context.Context, src string, o SaveOptions) (*saveItem, error) {
	ref, err := name.ParseReference(src, nameOpts(o.Insecure)...)
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", src, err)
	}
	tag := "latest"
	switch r := ref.(type) {
	case name.Tag:
		tag = r.TagStr()
	case name.Digest:
		tag = "" // loaded by digest alone
	}
	desc, err := remote.Get(ref, o.remoteOpts(ctx)...)
	if err != nil {
		return nil, fmt.Errorf("read %s: %s", src, Classify(err))
	}
	it := &saveItem{entry: ArchiveEntry{Name: NameOf(src), Tag: tag, Source: src, Digest: desc.Digest.String(), MediaType: string(desc.MediaType)}}
	if !desc.MediaType.IsIndex() {
		it.img, err = desc.Image()
		if err != nil {
			return nil, fmt.Errorf("read %s: %s", src, Classify(err))
		}
		return it, nil
	}
	idx, err := desc.ImageIndex()
	if err != nil {
		return nil, fmt.Errorf("read %s: %s", src, Classify(err))
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, fmt.Errorf("read %s: %s", src, Classify(err))
	}
	var all, chosen []string
	var keep []v1.Descriptor
	for _, m := range im.Manifests {
		if m.Platform == nil {
			continue
		}
		all = append(all, m.Platform.String())
		if len(o.Platforms) == 0 || slices.ContainsFunc(o.Platforms, func(p v1.Platform) bool { return m.Platform.Satisfies(p) }) {
			keep = append(keep, m)
			chosen = append(chosen, m.Platform.String())
		}
	}
	switch {
	case len(o.Platforms) == 0:
		it.idx, it.entry.Platforms = idx, all
	case len(keep) == 0:
		return nil, values.Inputf("--platform %s: %s has none of %s; it has %s (pick from those)", platformsText(o.Platforms), src, platformsText(o.Platforms), strings.Join(all, ", "))
	case len(keep) == 1:
		img, err := idx.Image(keep[0].Digest)
		if err != nil {
			return nil, fmt.Errorf("read %s (%s): %s", src, chosen[0], Classify(err))
		}
		it.img, it.entry.Platforms = img, chosen
		it.entry.SourceDigest, it.entry.Digest, it.entry.MediaType = it.entry.Digest, keep[0].Digest.String(), string(keep[0].MediaType)
	default:
		cut := mutate.RemoveManifests(idx, func(d v1.Descriptor) bool {
			return !slices.ContainsFunc(keep, func(k v1.Descriptor) bool { return k.Digest == d.Digest })
		})
		d, err := cut.Digest()
		if err != nil {
			return nil, err
		}
		it.idx, it.entry.Platforms = cut, chosen
		it.entry.SourceDigest, it.entry.Digest = it.entry.Digest, d.String()
	}
	return it, nil
}

func platformsText(ps []v1.Platform) string {
	var s []string
	for _, p := range ps {
		s = append(s, p.String())
	}
	return strings.Join(s, ", ")
}

// chartArtifact is the chart as Helm stores it in a registry (helm push): the
// packaged chart as the one layer, its Chart.yaml as JSON as the config.
func chartArtifact(ch *chart.Chart) (v1.Image, error) {
	dir, err := os.MkdirTemp("", "romanactl-chart-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	p, err := chartutil.Save(ch, dir)
	if err != nil {
		return nil, fmt.Errorf("package the chart: %w", err)
	}
	tgz, err := os.ReadFile(p)
	if err != nil {
		return nil, err
	}
	cfg, err := json.Marshal(ch.Metadata)
	if err != nil {
		return nil, err
	}
	layer := static.NewLayer(tgz, HelmChartMediaType)
	ld, err := partial.Descriptor(layer)
	if err != nil {
		return nil, err
	}
	m := v1.Manifest{SchemaVersion: 2, MediaType: types.OCIManifestSchema1,
		Config: v1.Descriptor{MediaType: HelmConfigMediaType, Size: int64(len(cfg)), Digest: sha256Hash(cfg)},
		Layers: []v1.Descriptor{*ld},
		Annotations: map[string]string{"org.opencontainers.image.title": ch.Metadata.Name, "org.opencontainers.image.version": ch.Metadata.Version,
			"org.opencontainers.image.description": ch.Metadata.Description}}
	raw, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	return partial.CompressedToImage(&artifact{manifest: raw, config: cfg, layer: layer})
}

// artifact is an OCI manifest with a config that is not an image's (Helm's chart).
type artifact struct {
	manifest, config []byte
	layer            v1.Layer
}

func (a *artifact) RawConfigFile() ([]byte, error) { return a.config, nil }
func (a *artifact) MediaType() (types.MediaType, error) {
	return types.OCIManifestSchema1, nil
}
func (a *artifact) RawManifest() ([]byte, error) { return a.manifest, nil }
func (a *artifact) LayerByDigest(h v1.Hash) (partial.CompressedLayer, error) {
	if d, _ := a.layer.Digest(); d == h {
		return a.layer, nil
	}
	if h == sha256Hash(a.config) {
		return static.NewLayer(a.config, HelmConfigMediaType), nil
	}
	return nil, fmt.Errorf("no blob %s in the chart artifact", h)
}

func sha256Hash(b []byte) v1.Hash {
	s := sha256.Sum256(b)
	return v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(s[:])}
}

// imageSize is the bytes an image adds to the archive: manifest, config and layers.
func imageSize(img v1.Image) (int64, error) {
	m, err := img.Manifest()
	if err != nil {
		return 0, err
	}
	raw, err := img.RawManifest()
	if err != nil {
		return 0, err
	}
	n := int64(len(raw)) + m.Config.Size
	for _, l := range m.Layers {
		n += l.Size
	}
	return n, nil
}

func indexSize(idx v1.ImageIndex) (int64, error) {
	raw, err := idx.RawManifest()
	if err != nil {
		return 0, err
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return 0, err
	}
	n := int64(len(raw))
	for _, d := range im.Manifests {
		var s int64
		switch {
		case d.MediaType.IsIndex():
			child, err := idx.ImageIndex(d.Digest)
			if err == nil {
				s, err = indexSize(child)
			}
			if err != nil {
				return 0, err
			}
		case d.MediaType.IsImage():
			img, err := idx.Image(d.Digest)
			if err == nil {
				s, err = imageSize(img)
			}
			if err != nil {
				return 0, err
			}
		}
		n += s
	}
	return n, nil
}

// layoutTar writes an OCI image layout into a tar stream, each blob once.
type layoutTar struct {
	tw      *tar.Writer
	seen    map[v1.Hash]bool
	written int64
	onWrite func()
}

func newLayoutTar(w io.Writer) *layoutTar {
	return &layoutTar{tw: tar.NewWriter(w), seen: map[v1.Hash]bool{}}
}

func (l *layoutTar) file(name string, data []byte) error {
	if err := l.tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(data)), Typeflag: tar.TypeReg}); err != nil {
		return err
	}
	_, err := l.tw.Write(data)
	return err
}

// blob writes blobs/sha256/<hex> from r (size bytes), checking that the bytes have
// that digest; a blob already written is skipped.
func (l *layoutTar) blob(h v1.Hash, size int64, open func() (io.ReadCloser, error)) error {
	if l.seen[h] {
		return nil
	}
	if h.Algorithm != "sha256" {
		return fmt.Errorf("blob %s: only sha256 digests are supported", h)
	}
	rc, err := open()
	if err != nil {
		return err
	}
	defer rc.Close()
	if err := l.tw.WriteHeader(&tar.Header{Name: "blobs/sha256/" + h.Hex, Mode: 0o644, Size: size, Typeflag: tar.TypeReg}); err != nil {
		return err
	}
	sum := sha256.New()
	n, err := io.Copy(io.MultiWriter(l.tw, sum, countWriter{l}), io.LimitReader(rc, size+1))
	if err != nil {
		return fmt.Errorf("blob %s: %w", h, err)
	}
	if n != size || hex.EncodeToString(sum.Sum(nil)) != h.Hex {
		return fmt.Errorf("blob %s: the registry sent %d bytes that do not have that digest (want %d)", h, n, size)
	}
	l.seen[h] = true
	return nil
}

type countWriter struct{ l *layoutTar }

func (c countWriter) Write(p []byte) (int, error) {
	c.l.written += int64(len(p))
	if c.l.onWrite != nil {
		c.l.onWrite()
	}
	return len(p), nil
}

func (l *layoutTar) raw(h v1.Hash, data []byte) error {
	return l.blob(h, int64(len(data)), func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil })
}

// image writes an image's layers, config and manifest, and returns its descriptor.
func (l *layoutTar) image(img v1.Image) (v1.Descriptor, error) {
	layers, err := img.Layers()
	if err != nil {
		return v1.Descriptor{}, err
	}
	for _, layer := range layers {
		d, err := layer.Digest()
		if err != nil {
			return v1.Descriptor{}, err
		}
		size, err := layer.Size()
		if err != nil {
			return v1.Descriptor{}, err
		}
		if err := l.blob(d, size, layer.Compressed); err != nil {
			return v1.Descriptor{}, err
		}
	}
	cfg, err := img.RawConfigFile()
	if err != nil {
		return v1.Descriptor{}, err
	}
	cn, err := img.ConfigName()
	if err != nil {
		return v1.Descriptor{}, err
	}
	if err := l.raw(cn, cfg); err != nil {
		return v1.Descriptor{}, err
	}
	desc, err := partial.Descriptor(img)
	if err != nil {
		return v1.Descriptor{}, err
	}
	raw, err := img.RawManifest()
	if err != nil {
		return v1.Descriptor{}, err
	}
	return *desc, l.raw(desc.Digest, raw)
}

// index writes an index's children, then the index, and returns its descriptor.
func (l *layoutTar) index(idx v1.ImageIndex) (v1.Descriptor, error) {
	im, err := idx.IndexManifest()
	if err != nil {
		return v1.Descriptor{}, err
	}
	for _, d := range im.Manifests {
		switch {
		case d.MediaType.IsIndex():
			child, err := idx.ImageIndex(d.Digest)
			if err != nil {
				return v1.Descriptor{}, err
			}
			if _, err := l.index(child); err != nil {
				return v1.Descriptor{}, err
			}
		case d.MediaType.IsImage():
			img, err := idx.Image(d.Digest)
			if err != nil {
				return v1.Descriptor{}, err
			}
			if _, err := l.image(img); err != nil {
				return v1.Descriptor{}, err
			}
		default:
			return v1.Descriptor{}, fmt.Errorf("index entry %s has media type %s, neither an image nor an index", d.Digest, d.MediaType)
		}
	}
	desc, err := partial.Descriptor(idx)
	if err != nil {
		return v1.Descriptor{}, err
	}
	raw, err := idx.RawManifest()
	if err != nil {
		return v1.Descriptor{}, err
	}
	return *desc, l.raw(desc.Digest, raw)
}

// sizeText is n bytes for a person (1.2 MB).
func sizeText(n int64) string {
	switch {
	case n >= 1e9:
		return fmt.Sprintf("%.1f GB", float64(n)/1e9)
	case n >= 1e6:
		return fmt.Sprintf("%.1f MB", float64(n)/1e6)
	case n >= 1e3:
		return fmt.Sprintf("%.1f kB", float64(n)/1e3)
	}
	return fmt.Sprintf("%d B", n)
}

// SizeText is sizeText for the commands.
func SizeText(n int64) string { return sizeText(n) }
