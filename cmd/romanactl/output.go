package main

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"

	"sigs.k8s.io/yaml"

	"github.com/romana/romanactl/internal/values"
)

// checkOutput rejects an -o value the command does not support, as an input error.
func checkOutput(format string, allowed ...string) error {
	if !slices.Contains(allowed, format) {
		return values.Inputf("-o %q: unknown output format; use one of %v", format, allowed)
	}
	return nil
}

// printStructured writes v as JSON or YAML.
func printStructured(w io.Writer, format string, v any) error {
	switch format {
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	case "yaml":
		b, err := yaml.Marshal(v)
		if err != nil {
			return err
		}
		_, err = w.Write(b)
		return err
	}
	return fmt.Errorf("unsupported output format %q", format)
}

func lookupString(vals map[string]any, key string) string {
	s, _ := values.LookupString(vals, key)
	return s
}
