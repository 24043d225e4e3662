// Package install renders and (in the cluster tier) installs the Romana chart through
// the Helm v3 SDK. It never prints: callers get results and errors, and progress goes
// to an io.Writer they pass in.
package install
