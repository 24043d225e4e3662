package romana

import (
	"testing"
)

// Without the all: prefix on go:embed, files starting with '_' or '.' are dropped
// silently and every render fails on a missing helper.
func TestEmbeddedChartKeepsUnderscoreAndDotFiles(t *testing.T) {
	ch, err := Chart()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, tpl := range ch.Templates {
		if tpl.Name == "templates/_helpers.tpl" {
			found = true
		}
	}
	if !found {
		t.Fatal("templates/_helpers.tpl is missing from the embedded chart")
	}
	files, err := ChartFiles()
	if err != nil {
		t.Fatal(err)
	}
	var helmignore, schema bool
	for _, f := range files {
		helmignore = helmignore || f.Name == ".helmignore"
		schema = schema || f.Name == "values.schema.json"
	}
	if !helmignore || !schema {
		t.Fatalf(".helmignore embedded: %v, values.schema.json embedded: %v", helmignore, schema)
	}
	if ch.Metadata.Name != "romana" || ch.Metadata.AppVersion != "v0.9.3.5" {
		t.Fatalf("chart metadata: got %s %s", ch.Metadata.Name, ch.Metadata.AppVersion)
	}
}
