package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/romana/romanactl/internal/images"
	"github.com/romana/romanactl/internal/values"
)

// byteProgress returns a callback that shows the bytes of the image in progress on
// one rewritten line of w, or nil when w is not a terminal (a log gets the per-image
// lines alone).
func byteProgress(w io.Writer) (func(image string, done, total int64), func()) {
	f, ok := w.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return nil, func() {}
	}
	var mu sync.Mutex
	shown := false
	return func(image string, done, total int64) {
			mu.Lock()
			defer mu.Unlock()
			fmt.Fprintf(w, "\r\033[K  %s: %s / %s", image, images.SizeText(done), images.SizeText(total))
			shown = true
		}, func() {
			mu.Lock()
			defer mu.Unlock()
			if shown {
				fmt.Fprint(w, "\r\033[K")
				shown = false
			}
		}
}

func newImagesSaveCmd(o *rootOptions) *cobra.Command {
	var vf *valuesFlags
	var out string
	var platforms []string
	var insecure, noChart bool
	cmd := &cobra.Command{
		Use:   "save -o FILE",
		Short: "Write every listed image and the chart to one OCI image layout tar, for an air-gapped site",
		Long: `Write every image 'images list' prints (same values flags) and the chart to FILE: one
OCI image layout (oci-layout, index.json, blobs/sha256/...) in a tar, which 'images load'
pushes to a registry inside the air gap. An image index is saved whole, every platform,
unless --platform picks some: one platform is saved as that platform's image, several as
an index of them (each image keeps its digest; a cut-down index is a new one). The
chart is saved as the OCI artifact 'helm push' makes. romana-images.json in the tar lists
every image and the chart by name, tag, source and digest.

The file is written beside FILE under a temporary name and renamed into place only when
complete: a failed save leaves FILE as it was. Every source is read before a byte is
written. On a terminal, stderr shows the bytes of the image being written.`,
		Example: `  romanactl images save -o romana-images.tar
  romanactl images save -o romana-images.tar --platform linux/amd64
  romanactl images save -o romana-images.tar --tag v0.9.3 --env kops`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if out == "" {
				return values.Inputf("-o is required: the file to write, e.g. -o romana-images.tar")
			}
			var plats []v1.Platform
			for _, p := range platforms {
				pl, err := images.ParsePlatform(p)
				if err != nil {
					return values.Inputf("--platform %q: %v", p, err)
				}
				plats = append(plats, pl)
			}
			if fi, err := os.Stat(out); err == nil && fi.IsDir() {
				return values.Inputf("-o %s: is a directory; give a file name, e.g. -o %s/romana-images.tar", out, strings.TrimSuffix(out, "/"))
			}
			imgs, err := renderedImages(cmd, o, vf)
			if err != nil {
				return err
			}
			refs := make([]string, len(imgs))
			for i, img := range imgs {
				refs[i] = img.Image
			}
			so := images.SaveOptions{Options: images.Options{Insecure: insecure}, Platforms: plats}
			if !noChart {
				if so.Chart, err = o.loadChart(); err != nil {
					return err
				}
			}
			bytes, clear := byteProgress(o.errOut)
			so.Bytes = bytes
			so.Progress = func(s string) { clear(); fmt.Fprintln(o.out, s) }
			arch, err := images.Save(cmd.Context(), refs, out, so)
			clear()
			if err != nil {
				return fmt.Errorf("images save -o %s: %w; nothing was written", out, err)
			}
			var size int64
			if fi, err := os.Stat(out); err == nil {
				size = fi.Size()
			}
			what := fmt.Sprintf("%d images", len(arch.Images))
			if arch.Chart != nil {
				what += fmt.Sprintf(" and chart %s %s", arch.Chart.Name, arch.Chart.Tag)
			}
			fmt.Fprintf(o.out, "saved %s to %s (%s); carry it across and run `romanactl images load %s --to REGISTRY/ORG`\n", what, out, images.SizeText(size), out)
			return nil
		},
	}
	vf = addValuesFlags(cmd, o, "kubeadm")
	cmd.Flags().StringVarP(&out, "output", "o", "", "the file to write, e.g. romana-images.tar (required)")
	cmd.Flags().StringSliceVar(&platforms, "platform", nil, "keep only these platforms of each image index, os/arch[/variant] (repeat or comma-separate; default: every platform)")
	cmd.Flags().BoolVar(&insecure, "insecure", false, "allow plain-HTTP source registries (local and test registries)")
	cmd.Flags().BoolVar(&noChart, "no-chart", false, "save the images alone, without the chart")
	return cmd
}

func newImagesLoadCmd(o *rootOptions) *cobra.Command {
	var to string
	var insecure bool
	cmd := &cobra.Command{
		Use:   "load FILE --to REGISTRY/ORG",
		Short: "Push the images and the chart of an 'images save' file to REGISTRY/ORG, digests kept",
		Long: `Push every image of FILE (written by 'images save') to REGISTRY/ORG/<name>:<tag>, exactly
where 'install --registry REGISTRY/ORG' looks, and the chart to REGISTRY/ORG/romana:<version>
as the OCI artifact 'helm push' makes (so --chart oci://REGISTRY/ORG/romana --version V
reads it). Digests are kept: --pin-digests then pins the digests that were saved.

An image already there with the same digest is skipped and said so; blobs the registry
holds are not sent again, so a re-run after a failure pushes only what is missing. A
tag is written after everything under it, so a failed push leaves no tag on a partial
image. FILE is unpacked and every blob checked against its digest before anything is
pushed: a missing, truncated or damaged file, or a tar of another kind, is refused
(exit 2) and nothing is pushed. Credentials come from the Docker config. On a terminal,
stderr shows the bytes of the image being pushed.`,
		Example: `  romanactl images load romana-images.tar --to registry.internal:5000/romana
  romanactl images load romana-images.tar --to localhost:5000/romana --insecure`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return &usageError{fmt.Errorf("images load takes one FILE (written by `romanactl images save`), got %d arguments", len(args))}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if to == "" {
				return values.Inputf("--to is required: the registry and org to push to, e.g. --to registry.example.com:5000/romana")
			}
			if err := images.CheckPrefix(to, insecure); err != nil {
				return values.Inputf("--to %q: %v", to, err)
			}
			bytes, clear := byteProgress(o.errOut)
			lo := images.LoadOptions{Options: images.Options{Insecure: insecure}, Bytes: bytes}
			lo.Progress = func(s string) { clear(); fmt.Fprintln(o.out, s) }
			_, s, err := images.Load(cmd.Context(), args[0], to, lo)
			clear()
			if errors.Is(err, images.ErrBadArchive) {
				return values.Inputf("images load %s: %v; nothing was pushed", args[0], err)
			}
			if err != nil {
				return fmt.Errorf("images load %s: %w", args[0], err)
			}
			fmt.Fprintf(o.out, "pushed %d, skipped %d (already there), failed %d\n", s.Copied, s.Skipped, s.Fail)
			if s.Fail > 0 {
				var failed []string
				for _, r := range s.Results {
					if r.Outcome == images.Failed {
						failed = append(failed, r.Destination)
					}
				}
				return fmt.Errorf("%d failed (the ✗ lines above say why): %s; run the same command again once the registry takes them: what is there is skipped", s.Fail, strings.Join(failed, ", "))
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&to, "to", "", "registry and org to push to: REGISTRY/ORG (required)")
	cmd.Flags().BoolVar(&insecure, "insecure", false, "allow a plain-HTTP registry (local and test registries)")
	return cmd
}
