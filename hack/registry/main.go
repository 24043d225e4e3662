// Command registry runs a plain-HTTP, in-memory image registry on loopback, for trying
// `romanactl images mirror` locally (`make mirror-demo`):
//
//	registry --addr 127.0.0.1:5000 [--seed romana --tag v0.9.3.5]
//
// With --seed it first pushes random images under the chart's names (services, agent as
// a two-platform index, mysql:5, busybox:1.37) to <addr>/<seed>/.
package main

import (
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"time"

	"github.com/google/go-containerregistry/pkg/registry"

	"github.com/romana/romanactl/internal/registrytest"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:5000", "loopback address to listen on")
	seed := flag.String("seed", "", "org to seed with the chart's images (empty: none)")
	tag := flag.String("tag", "v0.9.3.5", "tag of the seeded Romana images")
	flag.Parse()
	srv := &http.Server{Addr: *addr, Handler: registry.New(registry.Logger(log.New(io.Discard, "", 0))), ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	time.Sleep(200 * time.Millisecond)
	if *seed != "" {
		digests, err := registrytest.Seed(*addr, *seed, *tag)
		if err != nil {
			fmt.Fprintln(os.Stderr, "Error: seed:", err)
			os.Exit(1)
		}
		for n, d := range digests {
			fmt.Printf("seeded %s/%s/%s %s\n", *addr, *seed, n, d)
		}
	}
	fmt.Printf("registry listening on http://%s\n", *addr)
	if err := <-errc; err != nil {
		fmt.Fprintln(os.Stderr, "Error:", err)
		os.Exit(1)
	}
}
