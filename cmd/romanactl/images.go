package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"helm.sh/helm/v3/pkg/chart"

	"github.com/romana/romanactl/internal/images"
	"github.com/romana/romanactl/internal/render"
	"github.com/romana/romanactl/internal/values"
)

func newImagesCmd(o *rootOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use: "images",
		Example: `  romanactl images list
  romanactl images mirror --to registry.example.com:5000/romana
  romanactl images save -o romana-images.tar
  romanactl images load romana-images.tar --to registry.example.com:5000/romana`,
		Short: "List, mirror, save and load the images an install pulls (private registries, air-gapped clusters)",
		Long: `The images an install would pull, taken from the rendered chart (every container and
init container of every object, the static Pod included), and a copy of them to
another registry, where 'install --registry' then finds them:

  romanactl images list --env=kubeadm
  romanactl images mirror --to registry.example.com:5000/romana
  romanactl install --registry registry.example.com:5000/romana --pin-digests

For an air-gapped site, where no machine reaches both registries, in two steps with a
file carried across:

  romanactl images save -o romana-images.tar                          # where quay.io is reachable
  romanactl images load romana-images.tar --to registry.internal/romana   # inside
  romanactl install --registry registry.internal/romana --pin-digests`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return &usageError{fmt.Errorf("say list, mirror, save or load\nSee 'romanactl images --help'")}
		},
	}
	cmd.AddCommand(newImagesListCmd(o), newImagesMirrorCmd(o), newImagesSaveCmd(o), newImagesLoadCmd(o))
	return cmd
}

// renderedImages renders the chart with the values flags and lists its images.
func renderedImages(cmd *cobra.Command, o *rootOptions, vf *valuesFlags) ([]images.Image, error) {
	res, err := vf.resolve(cmd, o)
	if err != nil {
		return nil, err
	}
	ch, err := o.loadChart()
	if err != nil {
		return nil, err
	}
	r, err := render.Render(ch, res.Supplied, render.RenderOptions{Namespace: o.namespace(), Validated: true, CrossFieldChecked: o.embeddedChart()})
	if err != nil {
		return nil, err
	}
	return images.List(r.Manifest, r.StaticPod)
}

func newImagesListCmd(o *rootOptions) *cobra.Command {
	var vf *valuesFlags
	var output *outputFormat
	cmd := &cobra.Command{
		Use: "list",
		Example: `  romanactl images list
  romanactl images list --tag=v0.9.3.7 --registry=registry.example.com:5000/romana -o json`,
		Short: "Print every image the rendered chart pulls, one reference per line",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			imgs, err := renderedImages(cmd, o, vf)
			if err != nil {
				return err
			}
			if output.Structured() {
				return output.Write(o.out, imgs)
			}
			for _, i := range imgs {
				fmt.Fprintln(o.out, i.Image)
			}
			return nil
		},
	}
	vf = addValuesFlags(cmd, o, "kubeadm")
	output = addOutputFlag(cmd, "text", "text", "json", "yaml")
	return cmd
}

func newImagesMirrorCmd(o *rootOptions) *cobra.Command {
	var vf *valuesFlags
	var to string
	var mo images.Options
	cmd := &cobra.Command{
		Use:   "mirror --to REGISTRY/ORG",
		Short: "Copy every listed image to REGISTRY/ORG/<name>:<tag>, all platforms, digests kept",
		Long: `Copy every image 'images list' prints (same values flags) to REGISTRY/ORG/<name>:<tag>,
exactly where 'install --registry REGISTRY/ORG' looks. An image index is copied whole
(every platform) and digests are kept; each destination digest is verified against the
source. An image already there with the same digest is skipped, so a re-run after a
partial failure copies only what is missing. Credentials come from the Docker config
(~/.docker/config.json and its credential helpers). Exit 1 if any image failed.`,
		Example: `  romanactl images mirror --to registry.example.com:5000/romana
  romanactl images mirror --to localhost:5000/romana --insecure --dry-run
  romanactl images mirror --to localhost:5000/romana --insecure --dry-run --read-registries`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if to == "" {
				return values.Inputf("--to is required: the registry and org to copy to, e.g. --to registry.example.com:5000/romana")
			}
			if err := images.CheckPrefix(to, mo.Insecure); err != nil {
				return values.Inputf("--to %q: %v", to, err)
			}
			imgs, err := renderedImages(cmd, o, vf)
			if err != nil {
				return err
			}
			refs := make([]string, len(imgs))
			for i, img := range imgs {
				refs[i] = img.Image
			}
			if mo.ReadRegistries && !mo.DryRun {
				return values.Inputf("--read-registries: only with --dry-run (a mirror reads the registries anyway); add --dry-run, or drop --read-registries")
			}
			mo.Progress = func(s string) { fmt.Fprintln(o.out, s) }
			s := images.Mirror(cmd.Context(), refs, to, mo)
			switch {
			case mo.DryRun && !mo.ReadRegistries:
				fmt.Fprintf(o.out, "dry run: %d to copy; no registry was read (--read-registries says which are already there) and nothing was written\n", s.Planned)
			case mo.DryRun:
				fmt.Fprintf(o.out, "dry run: %d to copy, %d already there, %d failed; nothing was written\n", s.Planned, s.Skipped, s.Fail)
			default:
				fmt.Fprintf(o.out, "copied %d, skipped %d, failed %d\n", s.Copied, s.Skipped, s.Fail)
			}
			if s.Fail > 0 {
				var failed []string
				for _, r := range s.Results {
					if r.Outcome == images.Failed {
						failed = append(failed, r.Source)
					}
				}
				return fmt.Errorf("%d image(s) failed (the ✗ lines above say why): %s", s.Fail, strings.Join(failed, ", "))
			}
			return nil
		},
	}
	vf = addValuesFlags(cmd, o, "kubeadm")
	cmd.Flags().StringVar(&to, "to", "", "registry and org to copy to: REGISTRY/ORG (required)")
	cmd.Flags().BoolVar(&mo.Insecure, "insecure", false, "allow plain-HTTP registries (local and test registries)")
	cmd.Flags().BoolVar(&mo.DryRun, "dry-run", false, "print the copy plan (source -> destination) from the render alone, reading no registry, and write nothing")
	cmd.Flags().BoolVar(&mo.ReadRegistries, "read-registries", false, "with --dry-run: also read each source's digest and the destination, to say what is already there")
	return cmd
}

// pinDigests resolves every image the chart deploys to its digest and returns the
// values options with the digests set, after checking that the render carries no
// reference by tag any more.
func pinDigests(ctx context.Context, ch *chart.Chart, opts values.Options, effective map[string]any, insecure bool, out func(string)) (values.Options, error) {
	slots := images.Slots(effective, ch.Metadata.AppVersion, ch.Metadata.Version)
	refs := make([]string, len(slots))
	for i, s := range slots {
		refs[i] = s.Ref
	}
	digests, err := images.Resolve(ctx, refs, images.Options{Insecure: insecure})
	if err != nil {
		return opts, fmt.Errorf("--pin-digests: %w", err)
	}
	over := map[string]any{}
	for k, v := range opts.Overrides {
		over[k] = v
	}
	for _, s := range slots {
		over[s.DigestKey] = digests[s.Ref]
		out(fmt.Sprintf("pinned %s -> %s", s.Ref, digests[s.Ref]))
	}
	opts.Overrides = over
	res, err := values.Resolve(ch, opts)
	if err != nil {
		return opts, err
	}
	r, err := render.Render(ch, res.Supplied, render.RenderOptions{Validated: true})
	if err != nil {
		return opts, err
	}
	imgs, err := images.List(r.Manifest)
	if err != nil {
		return opts, err
	}
	if left := images.Unpinned(imgs); len(left) > 0 {
		return opts, fmt.Errorf("--pin-digests: no digest key for %s (the chart gained an image; add it to images.Slots)", strings.Join(left, ", "))
	}
	return opts, nil
}
