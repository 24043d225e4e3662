package images

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// Options tune Mirror and Resolve.
type Options struct {
	// Insecure allows plain-HTTP registries (local and test registries).
	Insecure bool
	// DryRun plans the copies and writes nothing. The plan comes from the references
	// alone, so a bastion that cannot reach the source registry still sees it.
	DryRun bool
	// ReadRegistries, with DryRun, also reads each source's digest and the destination,
	// to tell what is already there and what cannot be read.
	ReadRegistries bool
	// Keychain finds credentials; nil means the usual Docker config
	// (authn.DefaultKeychain).
	Keychain authn.Keychain
	// Transport overrides the HTTP transport (tests).
	Transport http.RoundTripper
	// Progress receives one line per event; nil discards them.
	Progress func(string)
}

// Outcome of one image.
const (
	Copied  = "copied"
	Skipped = "skipped"
	Planned = "planned"
	Failed  = "failed"
)

// Result is what happened to one image.
type Result struct {
	Source      string `json:"source"`
	Destination string `json:"destination"`
	Digest      string `json:"digest,omitempty"`
	Outcome     string `json:"outcome"`
	// Platforms is the number of platforms of an index (0 for a single image).
	Platforms int    `json:"platforms,omitempty"`
	Error     string `json:"error,omitempty"`
}

// Summary counts the outcomes.
type Summary struct {
	Results                        []Result
	Copied, Skipped, Planned, Fail int
}

// Destination is where an image goes: <to>/<name>:<tag>, exactly where
// `install --registry <to>` makes the chart look. A reference by digest alone keeps
// its digest (<to>/<name>@sha256:...), since it has no tag to carry over.
func Destination(src, to string, insecure bool) (string, error) {
	ref, err := name.ParseReference(src, nameOpts(insecure)...)
	if err != nil {
		return "", fmt.Errorf("image %s: %w", src, err)
	}
	base := strings.TrimSuffix(to, "/") + "/" + NameOf(src)
	switch r := ref.(type) {
	case name.Digest:
		return base + "@" + r.DigestStr(), nil
	case name.Tag:
		return base + ":" + r.TagStr(), nil
	}
	return "", fmt.Errorf("image %s: neither a tag nor a digest", src)
}

// CheckPrefix reports whether to is a usable REGISTRY/ORG prefix: a reference under it
// must parse. The error speaks of to alone, not of the reference made to test it, and
// says what to write instead.
func CheckPrefix(to string, insecure bool) error {
	p := strings.TrimSuffix(to, "/")
	// A URL is the common slip of someone who knows the registry by its web address;
	// the parser's own words name a Go option (name.Insecure).
	if scheme, rest, ok := strings.Cut(p, "://"); ok {
		return fmt.Errorf("has a scheme (%s://): a registry/org prefix is host[:port]/org, without one; write --to %s (a plain-HTTP registry also takes --insecure)", scheme, rest)
	}
	const probe = "/romana-check:1"
	_, err := name.ParseReference(p+probe, nameOpts(insecure)...)
	if err == nil {
		return nil
	}
	// The most common mistake, and the parser's message does not name it: image
	// references are lower case only (registry hosts are case-insensitive anyway).
	if low := strings.ToLower(p); low != p {
		if _, lerr := name.ParseReference(low+probe, nameOpts(insecure)...); lerr == nil {
			return fmt.Errorf("upper case: image references are lower case only; write --to %s", low)
		}
	}
	return fmt.Errorf("not a registry/org prefix (%s); give host[:port]/org, e.g. --to registry.example.com:5000/romana", strings.ReplaceAll(err.Error(), p+probe, p))
}

// Mirror copies every image to <to>/<name>:<tag>. An image index is copied whole, with
// every platform, and digests are kept; each destination digest is verified against
// the source after the copy. An image already at the destination with the same digest
// is skipped, so a re-run after a partial failure copies only what is missing. One
// failed image does not stop the others.
func Mirror(ctx context.Context, refs []string, to string, o Options) Summary {
	var s Summary
	for _, src := range refs {
		r := mirrorOne(ctx, src, to, o)
		switch r.Outcome {
		case Copied:
			s.Copied++
		case Skipped:
			s.Skipped++
		case Planned:
			s.Planned++
		default:
			s.Fail++
		}
		s.Results = append(s.Results, r)
	}
	return s
}

func mirrorOne(ctx context.Context, src, to string, o Options) Result {
	progress := o.Progress
	if progress == nil {
		progress = func(string) {}
	}
	dst, err := Destination(src, to, o.Insecure)
	r := Result{Source: src, Destination: dst}
	fail := func(stage, ref string, err error) Result {
		r.Outcome, r.Error = Failed, fmt.Sprintf("%s %s: %s", stage, ref, Classify(err))
		progress(fmt.Sprintf("✗ %s: %s", src, r.Error))
		return r
	}
	if err != nil {
		return fail("parse", src, err)
	}
	if o.DryRun && !o.ReadRegistries {
		r.Outcome = Planned
		progress(fmt.Sprintf("would copy %s -> %s", src, dst))
		return r
	}
	srcRef, err := name.ParseReference(src, nameOpts(o.Insecure)...)
	if err != nil {
		return fail("parse", src, err)
	}
	dstRef, err := name.ParseReference(dst, nameOpts(o.Insecure)...)
	if err != nil {
		return fail("parse", dst, err)
	}
	desc, err := remote.Get(srcRef, o.remoteOpts(ctx)...)
	if err != nil {
		return fail("read source", src, err)
	}
	r.Digest = desc.Digest.String()
	if have, err := remote.Head(dstRef, o.remoteOpts(ctx)...); err == nil && have.Digest == desc.Digest {
		r.Outcome = Skipped
		progress(fmt.Sprintf("= %s already at %s (%s)", src, dst, short(desc.Digest)))
		return r
	}
	if o.DryRun {
		r.Outcome = Planned
		progress(fmt.Sprintf("would copy %s -> %s (%s)", src, dst, short(desc.Digest)))
		return r
	}
	updates := make(chan v1.Update, 16)
	done := make(chan struct{})
	go func() {
		defer close(done)
		var last int64
		for u := range updates {
			// One line per ~10% keeps a terminal informed without flooding a log.
			if u.Total > 0 && (u.Complete == u.Total || (u.Complete-last)*10 >= u.Total) {
				progress(fmt.Sprintf("  %s: %d/%d bytes", NameOf(src), u.Complete, u.Total))
				last = u.Complete
			}
		}
	}()
	opts := append(o.remoteOpts(ctx), remote.WithProgress(updates))
	if desc.MediaType.IsIndex() {
		idx, err := desc.ImageIndex()
		if err == nil {
			if m, merr := idx.IndexManifest(); merr == nil {
				r.Platforms = len(m.Manifests)
			}
			err = remote.WriteIndex(dstRef, idx, opts...)
		}
		if err != nil {
			<-done
			return fail("write destination", dst, err)
		}
	} else {
		img, err := desc.Image()
		if err == nil {
			err = remote.Write(dstRef, img, opts...)
		}
		if err != nil {
			<-done
			return fail("write destination", dst, err)
		}
	}
	<-done
	got, err := remote.Head(dstRef, o.remoteOpts(ctx)...)
	if err != nil {
		return fail("verify destination", dst, err)
	}
	if got.Digest != desc.Digest {
		return fail("verify destination", dst, fmt.Errorf("digest %s differs from the source's %s", got.Digest, desc.Digest))
	}
	r.Outcome = Copied
	progress(fmt.Sprintf("✓ %s -> %s (%s)", src, dst, short(desc.Digest)))
	return r
}

// Resolve returns each image's digest at its registry, for --pin-digests.
func Resolve(ctx context.Context, refs []string, o Options) (map[string]string, error) {
	out := map[string]string{}
	var errs []error
	for _, src := range refs {
		ref, err := name.ParseReference(src, nameOpts(o.Insecure)...)
		if err != nil {
			errs = append(errs, fmt.Errorf("image %s: %w", src, err))
			continue
		}
		d, err := remote.Head(ref, o.remoteOpts(ctx)...)
		if err != nil {
			errs = append(errs, fmt.Errorf("resolve %s: %s", src, Classify(err)))
			continue
		}
		out[src] = d.Digest.String()
	}
	return out, errors.Join(errs...)
}

// Classify says whether a registry error is about auth, a missing image or the network,
// so the message tells the user what to fix.
func Classify(err error) string {
	var te *transport.Error
	if errors.As(err, &te) {
		switch {
		case te.StatusCode == http.StatusUnauthorized || te.StatusCode == http.StatusForbidden:
			return fmt.Sprintf("auth: the registry refused the credentials (HTTP %d); log in with `docker login` or fix ~/.docker/config.json: %v", te.StatusCode, err)
		case te.StatusCode == http.StatusNotFound || hasCode(te, transport.ManifestUnknownErrorCode, transport.NameUnknownErrorCode):
			return fmt.Sprintf("not found: no such image or tag (HTTP %d): %v", te.StatusCode, err)
		}
		return fmt.Sprintf("registry error (HTTP %d): %v", te.StatusCode, err)
	}
	var ne net.Error
	var oe *net.OpError
	if errors.As(err, &ne) || errors.As(err, &oe) || strings.Contains(err.Error(), "connection refused") || strings.Contains(err.Error(), "server gave HTTP response to HTTPS client") {
		hint := ""
		if strings.Contains(err.Error(), "HTTP response to HTTPS client") {
			hint = " (a plain-HTTP registry needs --insecure)"
		}
		return fmt.Sprintf("network: %v%s", err, hint)
	}
	return err.Error()
}

func hasCode(te *transport.Error, codes ...transport.ErrorCode) bool {
	for _, d := range te.Errors {
		for _, c := range codes {
			if d.Code == c {
				return true
			}
		}
	}
	return false
}

func nameOpts(insecure bool) []name.Option {
	if insecure {
		return []name.Option{name.Insecure}
	}
	return nil
}

func (o Options) remoteOpts(ctx context.Context) []remote.Option {
	kc := o.Keychain
	if kc == nil {
		kc = authn.DefaultKeychain
	}
	opts := []remote.Option{remote.WithContext(ctx), remote.WithAuthFromKeychain(kc)}
	if o.Transport != nil {
		opts = append(opts, remote.WithTransport(o.Transport))
	}
	return opts
}

func short(d v1.Hash) string {
	s := d.String()
	if len(s) > 19 {
		return s[:19]
	}
	return s
}
