// Package values owns what romanactl knows about the chart's values: the environments
// (values files inside the chart), the precedence of the layers a user gives, the
// dedicated flags and the chart keys they set, and the validation that runs before
// anything is rendered. It knows nothing about cobra or clusters.
package values
