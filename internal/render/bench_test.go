package render_test

import (
	"testing"

	romana "github.com/romana/romanactl"
	"github.com/romana/romanactl/internal/render"
	"github.com/romana/romanactl/internal/values"
)

// BenchmarkRender is a client-side render of validated kubeadm values, what
// `romanactl template` does after validation.
func BenchmarkRender(b *testing.B) {
	ch, err := romana.Chart()
	if err != nil {
		b.Fatal(err)
	}
	res, err := values.Resolve(ch, values.Options{Env: "kubeadm"})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := render.Render(ch, res.Supplied, render.RenderOptions{Validated: true, CrossFieldChecked: true}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLoadChart is loading the embedded chart, done once per command.
func BenchmarkLoadChart(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := romana.Chart(); err != nil {
			b.Fatal(err)
		}
	}
}
