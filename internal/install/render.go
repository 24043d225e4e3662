package install

import (
	"fmt"
	"strings"

	"github.com/romana/romanactl/internal/render"
	"github.com/romana/romanactl/internal/values"
)

const (
	// ReleaseName and DefaultNamespace are render's: one release, in kube-system.
	ReleaseName      = render.ReleaseName
	DefaultNamespace = render.DefaultNamespace
)

// classify marks errors caused by the values (the schema, romana.validate) as input
// errors: they exit 2 like any other invalid input. Others pass unchanged.
func classify(err error) error {
	if err = render.ClassifyInput(err); values.IsInputError(err) {
		return err
	}
	if unreachable(err) {
		return fmt.Errorf("the API server is unreachable: %w", err)
	}
	return err
}

// unreachable recognises the errors of an API server that is down, restarting or cut
// off, so that messages say so rather than show a bare transport error.
func unreachable(err error) bool {
	if err == nil {
		return false
	}
	msg := err.Error()
	for _, s := range []string{"connection refused", "connection reset", "i/o timeout", "EOF", "no route to host",
		"the server is currently unable to handle the request", "http2: client connection lost", "Client.Timeout exceeded"} {
		if strings.Contains(msg, s) {
			return !strings.Contains(msg, "API server is unreachable")
		}
	}
	return false
}
