package images

import (
	"fmt"
	"strings"

	"github.com/romana/romanactl/internal/values"
)

// Slot is one image the chart deploys and the chart key that pins it to a digest.
type Slot struct {
	DigestKey string
	// Ref is the reference by tag the chart renders while the digest is empty.
	Ref string
}

// Slots computes, from effective values, the tag reference of every image the chart
// deploys and the key that pins it. The formula is the chart's romana.image helper;
// PinnedRefs checks the rendered result, so a container added to the chart without a
// digest key cannot go unpinned silently.
func Slots(vals map[string]any, appVersion, chartVersion string) []Slot {
	str := func(k string) string { v, _ := values.Lookup(vals, k); return fmt.Sprint(v) }
	ref := func(registry, name, tag string) string {
		return fmt.Sprintf("%s/%s:%s", strings.TrimSuffix(registry, "/"), name, tag)
	}
	tag := str("image.tag")
	if tag == "" {
		tag = appVersion // as romana.tag does
	}
	slots := []Slot{
		{"image.digests.services", ref(str("image.registry"), "services", tag)},
		{"image.digests.agent", ref(str("image.registry"), "agent", tag)},
		{"datastore.image.digest", ref(str("datastore.image.registry"), str("datastore.image.name"), str("datastore.image.tag"))},
		{"apiProxy.image.digest", ref(str("apiProxy.image.registry"), str("apiProxy.image.name"), str("apiProxy.image.tag"))},
		{"tests.image.digest", ref(str("tests.image.registry"), str("tests.image.name"), str("tests.image.tag"))},
	}
	// romanactl's CNI plugin image is rendered only with cni.plugin=romanactl; its tag
	// is the chart's version unless cni.image.tag says otherwise (romana.cniImage).
	if str("cni.plugin") == "romanactl" {
		cniTag := str("cni.image.tag")
		if cniTag == "" {
			cniTag = chartVersion
		}
		slots = append(slots, Slot{"cni.image.digest", ref(str("image.registry"), str("cni.image.name"), cniTag)})
	}
	return slots
}

// Unpinned returns the images of a render that carry no digest.
func Unpinned(imgs []Image) []string {
	var out []string
	for _, i := range imgs {
		if !strings.Contains(i.Image, "@sha256:") {
			out = append(out, i.Image)
		}
	}
	return out
}
