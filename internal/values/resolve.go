package values

import (
	"helm.sh/helm/v3/pkg/chart"
)

// Resolved are validated values, ready to render.
type Resolved struct {
	// Supplied is what the user gave (environment, files, --set, flags): a release's
	// config.
	Supplied map[string]any
	// Effective is Supplied over the chart defaults: what the templates see.
	Effective map[string]any
}

// Resolve merges the user's values over the chart's and validates the result. It
// fails with an input error, and nothing is rendered, when any value is invalid.
func Resolve(ch *chart.Chart, o Options) (*Resolved, error) {
	supplied, err := Supplied(ch, o)
	if err != nil {
		return nil, err
	}
	effective, err := Effective(ch, supplied)
	if err != nil {
		return nil, &InputError{Err: err}
	}
	if err := ValidateWith(ch, supplied, effective, o.Hints); err != nil {
		return nil, err
	}
	return &Resolved{Supplied: supplied, Effective: effective}, nil
}
