// Package romana embeds the Romana Helm chart into romanactl.
//
// It is a leaf: only cmd/ and tests import it, and the loaded chart is passed down
// to internal/ packages as a *chart.Chart.
package romana

import (
	"embed"
	"fmt"
	"io/fs"
	"strings"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
)

// chartFS holds chart/. The all: prefix matters: without it go:embed drops files whose
// names start with '_' or '.', so templates/_helpers.tpl and .helmignore would vanish
// and every render would fail on a missing helper.
//
//go:embed all:chart
var chartFS embed.FS

// ChartFiles returns the embedded chart's files, with paths relative to chart/.
func ChartFiles() ([]*loader.BufferedFile, error) {
	var files []*loader.BufferedFile
	err := fs.WalkDir(chartFS, "chart", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := chartFS.ReadFile(path)
		if err != nil {
			return err
		}
		files = append(files, &loader.BufferedFile{Name: strings.TrimPrefix(path, "chart/"), Data: data})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read embedded chart: %w", err)
	}
	return files, nil
}

// Chart loads the embedded chart. Each call returns a fresh copy, so callers may
// add templates (as the static-Pod rendering does) without affecting others.
func Chart() (*chart.Chart, error) {
	files, err := ChartFiles()
	if err != nil {
		return nil, err
	}
	ch, err := loader.LoadFiles(files)
	if err != nil {
		return nil, fmt.Errorf("load embedded chart: %w", err)
	}
	return ch, nil
}
