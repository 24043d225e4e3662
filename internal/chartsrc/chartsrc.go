// Package chartsrc loads the chart romanactl deploys from somewhere other than its own
// binary (a directory, a .tgz, or an oci:// reference, as `helm install` takes them),
// checks that it is a Romana chart romanactl can drive, and pushes the chart to an OCI
// registry with the Helm SDK's registry client (make chart-push).
package chartsrc

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/registry"
	"oras.land/oras-go/v2/errdef"

	"github.com/romana/romanactl/internal/compat"
	"github.com/romana/romanactl/internal/values"
)

// Options say how to reach an oci:// chart.
type Options struct {
	// Version is the chart version (the OCI tag) for an oci:// reference.
	Version string
	// PlainHTTP talks HTTP, not HTTPS, to the registry (a local registry).
	PlainHTTP bool
}

// Load reads a chart from a directory, a .tgz or an oci:// reference and checks that
// romanactl can drive it (Compatible). What the user named wrongly (no such path or
// chart version, not a Romana chart) is an input error (exit 2); a registry that
// cannot be reached or fails is an operational one (exit 1), as for helm and kubectl.
func Load(ref string, o Options) (*chart.Chart, error) {
	var ch *chart.Chart
	var err error
	switch {
	case strings.HasPrefix(ref, "oci://"):
		if o.Version == "" {
			return nil, values.Inputf("--chart %s: an oci:// chart needs --version (the chart version, e.g. --version 0.1.0)", ref)
		}
		ch, err = pull(ref, o)
		if err != nil {
			return nil, pullError(ref, o, err)
		}
	default:
		if o.Version != "" {
			return nil, values.Inputf("--version %s: only an oci:// --chart has versions; a directory or .tgz is the version it is", o.Version)
		}
		if _, serr := os.Stat(ref); os.IsNotExist(serr) {
			return nil, values.Inputf("--chart %s: no such file or directory; give a chart directory, a .tgz, or oci://host/path/romana", ref)
		}
		ch, err = loader.Load(ref)
	}
	if err != nil {
		return nil, values.Inputf("--chart %s: %v", ref, err)
	}
	if err := Compatible(ch); err != nil {
		return nil, values.Inputf("--chart %s: %v", ref, err)
	}
	return ch, nil
}

func pull(ref string, o Options) (*chart.Chart, error) {
	c, err := client(ref, o.PlainHTTP)
	if err != nil {
		return nil, err
	}
	res, err := c.Pull(strings.TrimPrefix(ref, "oci://")+":"+o.Version, registry.PullOptWithChart(true))
	if err != nil {
		return nil, err
	}
	ch, err := loader.LoadArchive(bytes.NewReader(res.Chart.Data))
	if err != nil {
		return nil, values.Inputf("--chart %s --version %s: the registry's artifact is not a chart: %v", ref, o.Version, err)
	}
	return ch, nil
}

// pullError says why an oci:// chart could not be pulled. The registry answering that
// the reference or version names nothing is the user's to fix (exit 2); a network
// failure, a refusal or a server error is operational (exit 1): the same command may
// work when the registry does.
func pullError(ref string, o Options, err error) error {
	at := fmt.Sprintf("--chart %s --version %s", ref, o.Version)
	var nerr net.Error
	switch {
	case values.IsInputError(err):
		return err
	case errors.Is(err, errdef.ErrNotFound):
		return values.Inputf("%s: the registry has no such chart version (%v); check the reference and --version against the registry's tags", at, err)
	case errors.As(err, &nerr):
		fix := "check the registry's address and that it is up, then run the command again"
		if !o.PlainHTTP && !Loopback(ref) {
			fix += " (a plain-HTTP registry needs --plain-http)"
		}
		return fmt.Errorf("%s: the registry cannot be reached: %w; %s", at, err, fix)
	}
	return fmt.Errorf("%s: the registry refused or failed the pull: %w; check credentials (helm registry login) and the registry's health", at, err)
}

// Push pushes a packaged chart (.tgz) to registry (host[:port]/path) as
// <registry>/<name>:<version>, an OCI artifact helm can install. It returns the
// oci:// reference and the manifest digest.
func Push(tgz, reg string, plainHTTP bool) (string, string, error) {
	data, err := os.ReadFile(tgz)
	if err != nil {
		return "", "", err
	}
	ch, err := loader.LoadArchive(bytes.NewReader(data))
	if err != nil {
		return "", "", fmt.Errorf("%s is not a packaged chart: %w", tgz, err)
	}
	reg = strings.TrimSuffix(strings.TrimPrefix(reg, "oci://"), "/")
	c, err := client("oci://"+reg, plainHTTP)
	if err != nil {
		return "", "", err
	}
	ref := fmt.Sprintf("%s/%s:%s", reg, ch.Metadata.Name, ch.Metadata.Version)
	res, err := c.Push(data, ref)
	if err != nil {
		return "", "", err
	}
	return "oci://" + reg + "/" + ch.Metadata.Name, res.Manifest.Digest, nil
}

// client is the Helm SDK's registry client, plain HTTP when asked or when the
// registry is on a loopback address (as helm users would pass --plain-http there).
func client(ref string, plainHTTP bool) (*registry.Client, error) {
	opts := []registry.ClientOption{registry.ClientOptWriter(io.Discard)}
	if plainHTTP || Loopback(ref) {
		opts = append(opts, registry.ClientOptPlainHTTP())
	}
	return registry.NewClient(opts...)
}

// Loopback says whether an oci:// reference's registry is on this machine.
func Loopback(ref string) bool {
	host := strings.TrimPrefix(ref, "oci://")
	host, _, _ = strings.Cut(host, "/")
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	return ip != nil && ip.IsLoopback()
}

// Compatible checks that ch is a chart romanactl can drive: named romana, with the
// table of Romana lines, and a values schema that declares every key romanactl's
// dedicated flags set.
func Compatible(ch *chart.Chart) error {
	if ch.Name() != "romana" {
		return fmt.Errorf("it is chart %q, not romana", ch.Name())
	}
	if _, err := compat.Load(ch); err != nil {
		return fmt.Errorf("not a chart romanactl can drive: %w", err)
	}
	missing, err := values.UndeclaredFlagKeys(ch)
	if err != nil {
		return err
	}
	if len(missing) > 0 {
		return fmt.Errorf("its values schema lacks keys romanactl sets: %s (a chart from another line, or too old for this romanactl)", strings.Join(missing, ", "))
	}
	return nil
}
