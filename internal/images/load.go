package images

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// ErrBadArchive is wrapped by every error about the archive itself (missing,
// truncated, not an OCI image layout, a blob that does not match its digest): the
// user's input, not the registry.
var ErrBadArchive = errors.New("bad images archive")

// LoadOptions tune Load.
type LoadOptions struct {
	Options
	// Bytes reports the bytes pushed of one image so far, for a terminal; nil is off.
	Bytes func(image string, done, total int64)
}

// Load pushes every image and the chart of the archive at path to <to>/<name>:<tag>
// (the chart to <to>/<chart>:<version>, as helm push puts it), with the digests the
// archive holds. An image already there with the same digest is skipped; a registry
// has blobs it already holds skipped too, so a re-run after a failure pushes only
// what is missing. A tag is written last, after every blob and manifest under it, so
// a failed push leaves no tag on a partial image. One failed image does not stop the
// others. The archive is unpacked into a temporary directory, checking every blob
// against its digest, before anything is pushed.
func Load(ctx context.Context, archivePath, to string, o LoadOptions) (*Archive, Summary, error) {
	progress := o.Progress
	if progress == nil {
		progress = func(string) {}
	}
	dir, err := os.MkdirTemp("", "romanactl-load-")
	if err != nil {
		return nil, Summary{}, err
	}
	defer os.RemoveAll(dir)
	arch, err := unpack(archivePath, dir)
	if err != nil {
		return nil, Summary{}, err
	}
	lp, err := layout.FromPath(dir)
	if err != nil {
		return nil, Summary{}, fmt.Errorf("%w: %s: %v", ErrBadArchive, archivePath, err)
	}
	root, err := lp.ImageIndex()
	if err != nil {
		return nil, Summary{}, fmt.Errorf("%w: %s: index.json: %v", ErrBadArchive, archivePath, err)
	}
	im, err := root.IndexManifest()
	if err != nil {
		return nil, Summary{}, fmt.Errorf("%w: %s: index.json: %v", ErrBadArchive, archivePath, err)
	}
	byDigest := map[string]v1.Descriptor{}
	for _, d := range im.Manifests {
		byDigest[d.Digest.String()] = d
	}
	entries := append([]ArchiveEntry{}, arch.Images...)
	if arch.Chart != nil {
		entries = append(entries, *arch.Chart)
	}
	var s Summary
	for _, e := range entries {
		desc, ok := byDigest[e.Digest]
		if !ok {
			return nil, Summary{}, fmt.Errorf("%w: %s: %s lists %s %s, which index.json does not hold", ErrBadArchive, archivePath, ArchiveManifest, e.Name, e.Digest)
		}
		r := loadOne(ctx, root, desc, e, to, o)
		switch r.Outcome {
		case Copied:
			s.Copied++
			progress(fmt.Sprintf("✓ %s -> %s (%s)", e.Name, r.Destination, short(desc.Digest)))
		case Skipped:
			s.Skipped++
			progress(fmt.Sprintf("= %s already at %s (%s), skipped", e.Name, r.Destination, short(desc.Digest)))
		default:
			s.Fail++
			progress(fmt.Sprintf("✗ %s: %s", e.Name, r.Error))
		}
		s.Results = append(s.Results, r)
	}
	return arch, s, nil
}

func loadOne(ctx context.Context, root v1.ImageIndex, desc v1.Descriptor, e ArchiveEntry, to string, o LoadOptions) Result {
	dst := strings.TrimSuffix(to, "/") + "/" + e.Name
	if e.Tag != "" {
		dst += ":" + e.Tag
	} else {
		dst += "@" + e.Digest
	}
	r := Result{Source: e.Source, Destination: dst, Digest: e.Digest}
	if r.Source == "" {
		r.Source = "chart " + e.Name + " " + e.Tag
	}
	fail := func(stage string, err error) Result {
		r.Outcome, r.Error = Failed, fmt.Sprintf("%s %s: %s", stage, dst, Classify(err))
		return r
	}
	ref, err := name.ParseReference(dst, nameOpts(o.Insecure)...)
	if err != nil {
		return fail("parse", err)
	}
	if have, err := remote.Head(ref, o.remoteOpts(ctx)...); err == nil && have.Digest == desc.Digest {
		r.Outcome = Skipped
		return r
	}
	updates := make(chan v1.Update, 16)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for u := range updates {
			if o.Bytes != nil {
				o.Bytes(e.Name, u.Complete, u.Total)
			}
		}
	}()
	opts := append(o.remoteOpts(ctx), remote.WithProgress(updates))
	if desc.MediaType.IsIndex() {
		idx, ierr := root.ImageIndex(desc.Digest)
		if ierr == nil {
			if m, merr := idx.IndexManifest(); merr == nil {
				r.Platforms = len(m.Manifests)
			}
			err = remote.WriteIndex(ref, idx, opts...)
		} else {
			err = ierr
			close(updates)
		}
	} else {
		img, ierr := root.Image(desc.Digest)
		if ierr == nil {
			err = remote.Write(ref, img, opts...)
		} else {
			err = ierr
			close(updates)
		}
	}
	<-done
	if err != nil {
		return fail("push", err)
	}
	got, err := remote.Head(ref, o.remoteOpts(ctx)...)
	if err != nil {
		return fail("verify", err)
	}
	if got.Digest != desc.Digest {
		return fail("verify", fmt.Errorf("digest %s differs from the archive's %s", got.Digest, desc.Digest))
	}
	r.Outcome = Copied
	return r
}

// unpack extracts the archive into dir, refusing anything but an OCI image layout
// from `images save`: every blob is checked against its name (sha256), and the
// table of contents must be there.
func unpack(archivePath, dir string) (*Archive, error) {
	f, err := os.Open(archivePath)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("%w: %s does not exist; write one with `romanactl images save -o %s` where the registries are reachable", ErrBadArchive, archivePath, filepath.Base(archivePath))
		}
		return nil, fmt.Errorf("%w: %v", ErrBadArchive, err)
	}
	defer f.Close()
	tr := tar.NewReader(f)
	seen := map[string]bool{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %s is not a complete tar (%v): it may have been cut short in transfer; copy it again, or write it again with `romanactl images save`", ErrBadArchive, archivePath, err)
		}
		clean := path.Clean(h.Name)
		if h.Typeflag == tar.TypeDir {
			continue
		}
		if h.Typeflag != tar.TypeReg || strings.HasPrefix(clean, "../") || path.IsAbs(clean) || strings.Contains(clean, "/../") {
			return nil, fmt.Errorf("%w: %s holds %q, which no OCI image layout from `romanactl images save` has", ErrBadArchive, archivePath, h.Name)
		}
		target := filepath.Join(dir, filepath.FromSlash(clean))
		if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
			return nil, err
		}
		out, err := os.Create(target)
		if err != nil {
			return nil, err
		}
		sum := sha256.New()
		n, err := io.Copy(io.MultiWriter(out, sum), tr)
		if cerr := out.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %s is cut short (%v, %d of %d bytes): copy the archive again, or write it again with `romanactl images save`", ErrBadArchive, archivePath, h.Name, err, n, h.Size)
		}
		if hexDigest, ok := strings.CutPrefix(clean, "blobs/sha256/"); ok && hex.EncodeToString(sum.Sum(nil)) != hexDigest {
			return nil, fmt.Errorf("%w: %s: blob %s does not have that digest: the archive is damaged; copy it again", ErrBadArchive, archivePath, hexDigest)
		}
		seen[clean] = true
	}
	if !seen["oci-layout"] || !seen["index.json"] {
		kind := "no OCI image layout (no oci-layout and index.json)"
		blobs := false
		for n := range seen {
			blobs = blobs || strings.HasPrefix(n, "blobs/sha256/")
		}
		switch {
		case blobs:
			// `images save` writes index.json last: blobs without it are a file cut
			// short at an entry's end, where a tar reader sees a clean end.
			return nil, fmt.Errorf("%w: %s is cut short: it holds blobs but not index.json, which `romanactl images save` writes last; copy the archive again, or write it again with `romanactl images save`", ErrBadArchive, archivePath)
		case seen["manifest.json"]:
			kind = "a `docker save` tarball, not an OCI image layout"
		}
		return nil, fmt.Errorf("%w: %s is %s; `romanactl images load` takes the file `romanactl images save -o FILE` writes", ErrBadArchive, archivePath, kind)
	}
	if !seen[ArchiveManifest] {
		return nil, fmt.Errorf("%w: %s is an OCI image layout without %s, so not one `romanactl images save` wrote: it does not say which image is which; write one with `romanactl images save`", ErrBadArchive, archivePath, ArchiveManifest)
	}
	data, err := os.ReadFile(filepath.Join(dir, ArchiveManifest))
	if err != nil {
		return nil, err
	}
	var arch Archive
	if err := json.Unmarshal(data, &arch); err != nil {
		return nil, fmt.Errorf("%w: %s: %s: %v", ErrBadArchive, archivePath, ArchiveManifest, err)
	}
	if len(arch.Images) == 0 {
		return nil, fmt.Errorf("%w: %s: %s lists no image", ErrBadArchive, archivePath, ArchiveManifest)
	}
	return &arch, nil
}
