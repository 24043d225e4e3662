package install

import (
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"
)

// Debug writes --debug lines: the Helm SDK's log, romanactl's own steps and every API
// request. It is safe for concurrent use (client-go calls from several goroutines) and
// a nil *Debug writes nothing.
type Debug struct {
	mu sync.Mutex
	w  io.Writer
}

// NewDebug returns a Debug writing to w, or nil (off) when w is nil.
func NewDebug(w io.Writer) *Debug {
	if w == nil {
		return nil
	}
	return &Debug{w: w}
}

// Printf writes one line, prefixed and time-stamped like klog's, so that it reads like
// kubectl -v=6 next to the API request lines.
func (d *Debug) Printf(format string, args ...any) {
	if d == nil {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	fmt.Fprintf(d.w, "debug %s %s\n", time.Now().Format("15:04:05.000"), fmt.Sprintf(format, args...))
}

// Wrap is a client-go transport wrapper (rest.Config.WrapTransport) that logs each
// request's verb, URL and status with its duration, as kubectl -v=6 does. Bodies are
// never logged, so a Secret's data cannot reach the output.
func (d *Debug) Wrap(rt http.RoundTripper) http.RoundTripper {
	if d == nil {
		return rt
	}
	return roundTripFunc(func(req *http.Request) (*http.Response, error) {
		start := time.Now()
		resp, err := rt.RoundTrip(req)
		ms := time.Since(start).Milliseconds()
		switch {
		case err != nil:
			d.Printf("%s %s failed after %d ms: %v", req.Method, req.URL, ms, err)
		default:
			d.Printf("%s %s %s in %d milliseconds", req.Method, req.URL, resp.Status, ms)
		}
		return resp, err
	})
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
