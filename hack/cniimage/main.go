// Command cniimage builds the romanactl-cni image into an OCI image layout (make image)
// and pushes it from there (make image-push).
//
//	cniimage build --layout DIR --tag TAG --version V [--revision SHA] ARCH=BINARY...
//	cniimage push --layout DIR --registry host:port/org --tag TAG [--plain-http]
package main

import (
	"flag"
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/romana/romanactl/internal/cniimage"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	fs := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	dir := fs.String("layout", "", "the OCI image layout directory")
	tag := fs.String("tag", "", "the image's tag (the chart's version)")
	ver := fs.String("version", "", "the plugin's version, for the label")
	rev := fs.String("revision", "", "the source's commit, for the label")
	reg := fs.String("registry", "", "host[:port]/org to push to")
	plain := fs.Bool("plain-http", false, "plain HTTP (loopback registries are detected)")
	fs.Parse(os.Args[2:])
	if *dir == "" || *tag == "" {
		usage()
	}
	switch os.Args[1] {
	case "build":
		bins := map[string]string{}
		for _, a := range fs.Args() {
			arch, path, ok := strings.Cut(a, "=")
			if !ok {
				usage()
			}
			bins[arch] = path
		}
		idx, err := cniimage.Build(cniimage.Options{Binaries: bins, Version: *ver, Revision: *rev})
		if err == nil {
			err = cniimage.WriteLayout(*dir, *tag, idx)
		}
		if err != nil {
			fail(err)
		}
		d, _ := idx.Digest()
		fmt.Printf("wrote %s: %s:%s (%s), linux/%s\n", *dir, cniimage.Name, *tag, d, strings.Join(sortedKeys(bins), ", linux/"))
	case "push":
		if *reg == "" {
			usage()
		}
		idx, err := cniimage.ReadLayout(*dir)
		if err != nil {
			fail(err)
		}
		ref, err := cniimage.Ref(*reg, *tag, *plain)
		if err != nil {
			fail(err)
		}
		d, err := cniimage.Push(idx, ref)
		if err != nil {
			fail(err)
		}
		fmt.Printf("pushed %s@%s\n", ref, d)
	default:
		usage()
	}
}

func sortedKeys(m map[string]string) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: cniimage build --layout DIR --tag TAG --version V [--revision SHA] ARCH=BINARY...\n       cniimage push --layout DIR --registry host:port/org --tag TAG [--plain-http]")
	os.Exit(2)
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "cniimage:", err)
	os.Exit(1)
}
