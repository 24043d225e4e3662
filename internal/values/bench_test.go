package values_test

import (
	"testing"

	"github.com/romana/romanactl/internal/values"
)

// BenchmarkResolve is merge + validation of the kubeadm environment, the work done
// before every render.
func BenchmarkResolve(b *testing.B) {
	ch := loadChart(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := values.Resolve(ch, values.Options{Env: "kubeadm"}); err != nil {
			b.Fatal(err)
		}
	}
}
