package images

import (
	"context"
	"errors"
	"net/http"
	"sync"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// Presence is what a registry said about one image.
type Presence string

const (
	// Present: the registry has the tag (or digest).
	Present Presence = "present"
	// Missing: the registry answered that it has no such image or tag.
	Missing Presence = "missing"
	// Unconfirmed: no answer either way (unreachable, air-gapped, credentials needed).
	Unconfirmed Presence = "unconfirmed"
)

// Finding is the answer for one image reference.
type Finding struct {
	Image    string
	Presence Presence
	// Detail says why, in Classify's words, when the image is not Present.
	Detail string
}

// Exists asks each image's registry, in parallel, whether the reference exists (a
// manifest HEAD: nothing is pulled). ctx bounds the whole call, so an air-gapped
// network costs at most its deadline.
func Exists(ctx context.Context, refs []string, o Options) []Finding {
	out := make([]Finding, len(refs))
	var wg sync.WaitGroup
	for i, src := range refs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i] = exists(ctx, src, o)
		}()
	}
	wg.Wait()
	return out
}

func exists(ctx context.Context, src string, o Options) Finding {
	ref, err := name.ParseReference(src, nameOpts(o.Insecure)...)
	if err != nil {
		return Finding{Image: src, Presence: Missing, Detail: "not a valid image reference: " + err.Error()}
	}
	_, err = remote.Head(ref, o.remoteOpts(ctx)...)
	if err == nil {
		return Finding{Image: src, Presence: Present}
	}
	var te *transport.Error
	if errors.As(err, &te) && (te.StatusCode == http.StatusNotFound || hasCode(te, transport.ManifestUnknownErrorCode, transport.NameUnknownErrorCode)) {
		return Finding{Image: src, Presence: Missing, Detail: Classify(err)}
	}
	if ctx.Err() != nil {
		return Finding{Image: src, Presence: Unconfirmed, Detail: "network: no answer before the deadline (" + ctx.Err().Error() + ")"}
	}
	return Finding{Image: src, Presence: Unconfirmed, Detail: Classify(err)}
}
