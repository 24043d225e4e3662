// Package registrytest runs real registry servers (go-containerregistry's) on loopback
// and seeds them with random images under the names the Romana chart uses, for the
// image tests and for `make mirror-demo`.
package registrytest

import (
	"fmt"
	"io"
	"log"
	"net/http/httptest"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	romana "github.com/romana/romanactl"
)

// Start runs an in-memory registry on a free loopback port and returns its host:port
// and a function that stops it.
func Start() (string, func()) {
	s := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	return strings.TrimPrefix(s.URL, "http://"), s.Close
}

// ChartImages are the images the chart deploys by default, by name and tag; agent is
// pushed as a two-platform index (linux/amd64, linux/arm64). romanactl's CNI plugin
// image carries the chart's version (romana.cniImage), whatever Romana's tag.
func ChartImages(tag string) map[string]string {
	return map[string]string{"services": tag, "agent": tag, "mysql": "5", "kubectl": "v1.34.0", "busybox": "1.37", "romanactl-cni": chartVersion()}
}

// chartVersion is the embedded chart's version.
func chartVersion() string {
	ch, err := romana.Chart()
	if err != nil {
		panic(err)
	}
	return ch.Metadata.Version
}

// Seed pushes random images for every chart image to <host>/<org>/<name>:<tag> and
// returns their digests by name.
func Seed(host, org, tag string) (map[string]string, error) {
	digests := map[string]string{}
	for n, t := range ChartImages(tag) {
		ref, err := name.ParseReference(fmt.Sprintf("%s/%s/%s:%s", host, org, n, t), name.Insecure)
		if err != nil {
			return nil, err
		}
		var d v1.Hash
		if n == "agent" {
			idx, err := Index("amd64", "arm64")
			if err != nil {
				return nil, err
			}
			if err := remote.WriteIndex(ref, idx); err != nil {
				return nil, err
			}
			d, _ = idx.Digest()
		} else {
			img, err := random.Image(512, 2)
			if err != nil {
				return nil, err
			}
			if err := remote.Write(ref, img); err != nil {
				return nil, err
			}
			d, _ = img.Digest()
		}
		digests[n] = d.String()
	}
	return digests, nil
}

// Index builds a random image index with one linux image per architecture.
func Index(archs ...string) (v1.ImageIndex, error) {
	var adds []mutate.IndexAddendum
	for _, arch := range archs {
		img, err := random.Image(512, 2)
		if err != nil {
			return nil, err
		}
		adds = append(adds, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: arch}}})
	}
	return mutate.AppendManifests(empty.Index, adds...), nil
}
